package webhook

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A tenant whose password is derived from the credentials key gets it in
// appInfo derived again from the key in the receiver's cache: no copy in
// kooper's namespace, no read. A tenant recorded with another key's
// fingerprint is answered 000005, never with another password.
func TestQueryInstanceDerivesThePasswordFromTheCredentialsKey(t *testing.T) {
	g := NewWithT(t)
	secret := []byte("kooper-test-credentials-key-0123456789")
	key, err := credentials.NewKey(secret)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Create(ctxFor(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: saasv1alpha1.CredentialsKeySecretName,
			Labels: map[string]string{saasv1alpha1.KeysLabel: "true"}},
		Data: map[string][]byte{saasv1alpha1.CredentialsKeySecretKey: secret},
	})).To(Succeed())

	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	makeDerivedServing(t, id, key.ID())
	query := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)
	ready := f.untilAppInfo(t, query)
	want, err := key.Password(id)
	g.Expect(err).NotTo(HaveOccurred())
	app := ready.Info[0].AppInfo
	g.Expect(koogallery.Decrypt(testKey, koogallery.EncryptAES256, app.UserName)).To(Equal(credentials.Username))
	g.Expect(koogallery.Decrypt(testKey, koogallery.EncryptAES256, app.Password)).To(Equal(want))

	other, _ := f.buy(t)
	makeDerivedServing(t, other, "0000000000000000")
	g.Eventually(func() string {
		return f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, other)).Code
	}).Should(Equal("000005"))
}

// makeDerivedServing stands in for the tenant controller of a tenant whose
// password is derived from key keyID: it records the tenant as Ready with
// URLs and credentials, and makes no copy.
func makeDerivedServing(t *testing.T, id, keyID string) {
	t.Helper()
	g := NewWithT(t)
	tenant := getTenant(t, id)
	tenant.Status.Namespace = "tenant-" + id
	tenant.Status.CredentialsSecretName = "kooper-credentials"
	tenant.Status.CredentialsKeyID = keyID
	tenant.Status.FrontEndURL = "https://" + id + ".app.example.com"
	apimeta.SetStatusCondition(&tenant.Status.Conditions, metav1.Condition{
		Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason, Message: "ready"})
	g.Expect(k8sClient.Status().Update(ctxFor(t), tenant)).To(Succeed())
}

// untilAppInfo sends query until its answer carries appInfo, and returns
// that answer.
func (f *fixture) untilAppInfo(t *testing.T, query string) answer {
	t.Helper()
	var ready answer
	NewWithT(t).Eventually(func() *koogallery.AppInfo {
		ready = f.call(t, query)
		if len(ready.Info) == 0 {
			return nil
		}
		return ready.Info[0].AppInfo
	}).ShouldNot(BeNil())
	return ready
}
