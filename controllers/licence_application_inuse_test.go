package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A licence application (getLicenseAsync) keeps the state the receiver
// gave it, Active, for good: it is released with its instance. It held its
// product by its own state, so once the instance was released the
// product's deletion waited for ever, its InUse Event naming the
// application as a live licence, and the keys Secret stayed held with it.
// It lets go once its instance is released and its key revoked.
func TestALicenceApplicationLetsItsProductGoOnceItsInstanceIsReleased(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	product, _ := newLicenseProduct(t, true)
	instance := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	application := newApplication(t, product, instance.Name, fmt.Sprintf("EVT%d", tenantSeq.Add(1)))
	eventuallyLicense(t, application.Name, licenseReady)

	g.Expect(k8sClient.Delete(ctx, product)).To(Succeed())
	expectEventSaying(t, product.Name, saasv1alpha1.InUseReason, application.Name)
	g.Consistently(isGone(t, product)).Should(BeFalse(), "an application of a live instance holds its product")

	updateLicense(t, instance.Name, func(l *saasv1alpha1.License) { l.Spec.State = saasv1alpha1.StateReleased })
	eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
	g.Eventually(isGone(t, product)).Should(BeTrue(), "released with its instance, the application lets its product go")

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: product.Spec.KeysSecretName}}
	g.Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
	g.Eventually(isGone(t, secret)).Should(BeTrue(), "once no product names them, the keys may go")
}

func TestWhatHoldsALicenceProductForAnApplication(t *testing.T) {
	released := []metav1.Condition{{Type: saasv1alpha1.ReleasedCondition, Status: metav1.ConditionTrue}}
	now := metav1.Now()
	// As the receiver stores one: Active, and never changed after.
	application := func() *saasv1alpha1.License {
		return &saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{InstanceID: "i-1", EventID: "EVT1", State: saasv1alpha1.StateActive}}
	}
	for _, tc := range []struct {
		name   string
		change func(*saasv1alpha1.License)
		want   bool
	}{
		{"an application of a live instance", func(*saasv1alpha1.License) {}, true},
		{"an application of a frozen instance (revoked until unfrozen)", func(l *saasv1alpha1.License) {
			l.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue}}
		}, true},
		{"an application released with its instance", func(l *saasv1alpha1.License) { l.Status.Conditions = released }, false},
		{"an application deleted", func(l *saasv1alpha1.License) {
			l.DeletionTimestamp, l.Finalizers = &now, []string{saasv1alpha1.Finalizer}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := application()
			tc.change(l)
			NewWithT(t).Expect(licenceHoldsProduct(l)).To(Equal(tc.want))
		})
	}
}
