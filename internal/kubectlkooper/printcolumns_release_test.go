package kubectlkooper

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// `kubectl get licenses` shows, by default, that a licence's key is
// revoked for good: an application's spec.state stays Active when its
// instance is released (or its record deleted), and releasing removes the
// Frozen condition, so only the Released condition says so.
func TestLicenseColumnsShowRelease(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	n := seq.Add(1)
	licence := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("l-test%014d", n)},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: fmt.Sprintf("i-test%012d", n), ProductName: "columns",
			EventID: fmt.Sprintf("EVENT%d", n), DeviceFingerprint: "device-1", State: saasv1alpha1.StateActive},
	}
	g.Expect(k8sClient.Create(ctx, licence)).To(Succeed())
	message := "Released: the licence key is revoked for good"
	licence.Status.Conditions = []metav1.Condition{
		{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: saasv1alpha1.RevokedReason, Message: message, LastTransitionTime: metav1.Now()},
		{Type: saasv1alpha1.ReleasedCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.RevokedReason, Message: message, LastTransitionTime: metav1.Now()},
	}
	g.Expect(k8sClient.Status().Update(ctx, licence)).To(Succeed())

	cells := defaultCells(getTable(t, "licenses", licence.Name))
	g.Expect(cells).To(And(HaveKeyWithValue("State", "Active"), HaveKeyWithValue("Frozen", BeNil()),
		HaveKeyWithValue("Released", "True")), "the key is revoked for good: shown without -o wide")
}
