package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A device licence starting late in the year 9999, without an expireTime,
// of an instance whose order sets no expiry, would end validityDays later,
// in the year 10000, which no metav1.Time can hold: the API server refused
// the status, so the upload was never recorded and was sent again on every
// retry. The window ends at the last instant a License can hold instead,
// the key says so too, and the licence is uploaded once.
func TestALicenceWindowPastTheYear9999EndsAtItsLastSecond(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true) // validityDays 365: 9999-06-01 + 365 days is in the year 10000
	instance := newLicenseIn(t, k8sClient, product, "basic", func(l *saasv1alpha1.License) {
		// A one-time purchase: its order sets no expiry, so validityDays decides.
		marketplace.addOrderCharged(l.Spec.OrderID, product.Spec.ProductID, "basic", "", koogallery.ChargingOneTime)
	})
	instance = eventuallyLicense(t, instance.Name, licenseReady)
	g.Expect(instance.Status.Order.ExpireTime).To(BeNil(), "the order sets no expiry")

	event := fmt.Sprintf("evt-%d", tenantSeq.Add(1))
	a := callback(t, product, fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":%q,"effectiveTime":"9999-06-01 00:00:00 z"}`,
		instance.Name, event))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)

	lastSecond := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	application := eventuallyApplication(t, event, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.IssuedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
		licenseHas(saasv1alpha1.DeliveredCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, l)
		licenseReady(g, l)
	})
	g.Expect(application.Status.NotAfter.Time).To(BeTemporally("==", lastSecond))

	// The key the buyer gets says what the status says.
	key := storedKey(t, application)
	claims, err := licensekey.Verify(key, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: licensekey.NewKeySet(signer.PublicKey()),
		Now: time.Date(9999, 7, 1, 0, 0, 0, 0, time.UTC)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.NotAfter).To(Equal(lastSecond.Unix()))

	accepted, attempts := marketplace.uploaded(event)
	g.Expect(accepted).To(Equal([]string{key}))
	g.Expect(attempts).To(Equal(1))
	// Once recorded, the upload is not sent again (watched for a while once
	// the poked pass has run: a reconcile that uploads nothing shows
	// nothing when it is done).
	pokeAndAwaitPass(t, application, "license")
	g.Consistently(func() int {
		_, attempts := marketplace.uploaded(event)
		return attempts
	}).WithTimeout(2 * time.Second).Should(Equal(1))
}

// A label someone else puts on a licence's key Secret (a Velero restore, a
// policy engine) is not kooper's to take off: kooper sets only its own
// labels, so it does not fight a writer that puts the label back through
// the Secret watch. The next key (here an upgrade's) keeps the label.
func TestALabelOnALicenceKeySecretSurvivesTheNextKey(t *testing.T) {
	g := NewWithT(t)
	const restoreLabel = "velero.io/restore-name"
	product, _ := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	oldKey := storedKey(t, l)

	key := client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(l.Name)}
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), key, secret)).To(Succeed())
	patch := client.MergeFrom(secret.DeepCopy())
	secret.Labels[restoreLabel] = "nightly-1"
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())

	upgradeLicenseToPro(t, product, l.Name)
	l = eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Status.SKUCode).To(Equal("pro"))
		licenseReady(g, l)
	})
	g.Expect(storedKey(t, l)).NotTo(Equal(oldKey), "kooper stored the upgrade's key")
	g.Expect(k8sClient.Get(testContext(t), key, secret)).To(Succeed())
	g.Expect(secret.Labels).To(HaveKeyWithValue(restoreLabel, "nightly-1"))
	g.Expect(secret.Labels).To(HaveKeyWithValue(saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue))
	g.Expect(secret.Labels).To(HaveKeyWithValue(saasv1alpha1.InstanceIDLabel, l.Spec.InstanceID))
}
