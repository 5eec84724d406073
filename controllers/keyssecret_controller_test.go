package controllers

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
)

// expectWarningSaying waits for a Warning Event about the named object,
// with reason, whose note contains every one of texts.
func expectWarningSaying(t *testing.T, name, reason string, texts ...string) {
	t.Helper()
	note := make([]types.GomegaMatcher, 0, len(texts))
	for _, text := range texts {
		note = append(note, ContainSubstring(text))
	}
	NewWithT(t).Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), list, client.InNamespace(operatorNamespace))).To(Succeed())
		g.Expect(list.Items).To(ContainElement(SatisfyAll(HaveField("Regarding.Name", name), HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", reason), HaveField("Note", SatisfyAll(note...)))))
	}).Should(Succeed())
}

// credentialsKeyAnnotation reads the credentials key fingerprint recorded
// on the Secret key names ("" without one).
func credentialsKeyAnnotation(t *testing.T, key client.ObjectKey) func() (string, error) {
	return func() (string, error) {
		secret := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
		err := k8sClient.Get(testContext(t), key, secret)
		return secret.Annotations[saasv1alpha1.CredentialsKeyIDAnnotation], err
	}
}

// setCredentialsKey replaces the key the credentials key's Secret holds, as
// a restore of another installation's backup, or an edit by hand, would.
func setCredentialsKey(t *testing.T, key client.ObjectKey, data []byte) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Data: map[string][]byte{saasv1alpha1.CredentialsKeySecretKey: data}}
	NewWithT(t).Expect(k8sClient.Patch(testContext(t), secret, client.MergeFrom(&corev1.Secret{}))).To(Succeed())
}

// The credentials key's Secret carries the fingerprint of the key it holds.
// Replaced by a key that is not the one the tenants' passwords were derived
// from (another installation's backup restored, an edit by hand), its
// fingerprint changes and a Warning Event says which key, for how many
// tenants, the receiver now misses (it answers their queryInstance 000005);
// data that is no key loses the fingerprint, with a Warning Event too.
func TestACredentialsKeyReplacedIsFingerprintedAndWarnedOf(t *testing.T) {
	g := NewWithT(t)
	ref := client.ObjectKey{Namespace: operatorNamespace, Name: saasv1alpha1.CredentialsKeySecretName}
	tenant := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	named := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.CredentialsKeyID).NotTo(BeEmpty())
	}).Status.CredentialsKeyID
	stored := getObject(t, &corev1.Secret{}, ref.Namespace, ref.Name)
	ours := stored.Data[saasv1alpha1.CredentialsKeySecretKey]
	original, err := credentials.NewKey(ours)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(original.ID()).To(Equal(named))
	g.Eventually(credentialsKeyAnnotation(t, ref)).Should(Equal(original.ID()), "the key's fingerprint is recorded")
	t.Cleanup(func() {
		// The other tests' tenants were derived from the original key.
		setCredentialsKey(t, ref, ours)
		NewWithT(t).Eventually(credentialsKeyAnnotation(t, ref)).Should(Equal(original.ID()))
	})

	data, err := credentials.Generate()
	g.Expect(err).NotTo(HaveOccurred())
	other, err := credentials.NewKey(data)
	g.Expect(err).NotTo(HaveOccurred())
	setCredentialsKey(t, ref, data)
	g.Eventually(credentialsKeyAnnotation(t, ref)).Should(Equal(other.ID()))
	expectWarningSaying(t, ref.Name, saasv1alpha1.CredentialsKeyMismatchReason,
		"derived from key "+original.ID(), other.ID(), "000005", "restored from a backup")

	setCredentialsKey(t, ref, []byte("not a key"))
	g.Eventually(credentialsKeyAnnotation(t, ref)).Should(Equal(saasv1alpha1.CredentialsKeyIDNone), "no key: says so, for describe")
	expectWarningSaying(t, ref.Name, saasv1alpha1.CredentialsKeyInvalidReason, "000005")
}

// The tenants are listed only when the key a credentials key Secret holds
// is not the one last checked: not on every reconcile of the Secret, nor
// for any other Secret.
func TestTheTenantsAreListedOnlyForAKeyNotYetChecked(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kooper-key-%d", tenantSeq.Add(1))}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	data, err := credentials.Generate()
	g.Expect(err).NotTo(HaveOccurred())
	key, err := credentials.NewKey(data)
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{saasv1alpha1.CredentialsKeySecretName, "some-keys"} {
		g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
			Data: map[string][]byte{saasv1alpha1.CredentialsKeySecretKey: data}})).To(Succeed())
	}

	counting := &tenantListsCounted{Client: k8sClient}
	recorder := events.NewFakeRecorder(10)
	r := &KeysSecretReconciler{Client: counting, Reader: k8sClient, Recorder: recorder, SecretNamespace: ns.Name}
	for range 2 {
		for _, name := range []string{saasv1alpha1.CredentialsKeySecretName, "some-keys"} {
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns.Name, Name: name}})
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
	g.Expect(counting.lists).To(Equal(1), "once, for the credentials key, at its first reconcile")
	g.Eventually(credentialsKeyAnnotation(t, client.ObjectKey{Namespace: ns.Name, Name: saasv1alpha1.CredentialsKeySecretName})).
		Should(Equal(key.ID()))
	g.Eventually(credentialsKeyAnnotation(t, client.ObjectKey{Namespace: ns.Name, Name: "some-keys"})).
		Should(BeEmpty(), "another Secret is no credentials key")
}

// tenantListsCounted reads and writes through the API server, but lists
// through the manager's cache, as the reconciler does, counting the lists
// of tenants.
type tenantListsCounted struct {
	client.Client
	lists int
}

func (c *tenantListsCounted) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*saasv1alpha1.SaaSTenantList); ok {
		c.lists++
	}
	return cachedClient.List(ctx, list, opts...)
}

// A mismatch Event names the keys the most tenants were derived from, a
// few of them, and counts the rest.
func TestKeyMismatchNoteNamesAFewKeys(t *testing.T) {
	g := NewWithT(t)
	g.Expect(keyMismatchNote("held", map[string]int{"a": 1})).To(HavePrefix(
		"The passwords of 1 tenant were derived from key a, not from key held, which this Secret holds: the receiver answers queryInstance 000005"))
	g.Expect(keyMismatchNote("held", map[string]int{"a": 1, "b": 5, "c": 2, "d": 2, "e": 1})).To(HavePrefix(
		"The passwords of 5 tenants were derived from key b, of 2 tenants from key c, of 2 tenants from key d, " +
			"of 2 tenants more from 2 other keys, not from key held"))
}
