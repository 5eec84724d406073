package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
)

// An object the tenant controller's applier creates in a fresh namespace
// (its fields under kooper's Update manager) loses a field kooper later
// stops setting, as one it applied would (issue 26's "first write as
// create"): before the change is applied, its managed fields go to kooper's
// Apply manager, and the apply drops the mark with the field.
func TestAnObjectCreatedInAFreshNamespaceLosesAFieldKooperStopsSetting(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "created-not-applied"}}
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, ns))).To(Succeed())
	r := &SaaSTenantReconciler{Client: k8sClient, Reader: k8sClient, Scheme: k8sClient.Scheme(), Options: TenantOptions{FieldOwner: fieldOwner}}
	desired := func(labels map[string]string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "settings", Labels: labels}, Data: data}
	}

	fresh := r.applier()
	fresh.FreshNamespace = true
	_, err := fresh.Apply(ctx, desired(map[string]string{"tier": "basic", "dropped-later": "yes"}, map[string]string{"a": "1", "b": "2"}))
	g.Expect(err).NotTo(HaveOccurred())
	stored := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "settings"}, stored)).To(Succeed())
	g.Expect(stored.Annotations).To(HaveKeyWithValue(saasv1alpha1.FieldsOwnerAnnotation, apply.CreatedValue))
	g.Expect(managers(stored)).To(ConsistOf("kooper/Update"), "created, not applied")

	_, err = r.applier().Apply(ctx, desired(map[string]string{"tier": "pro"}, map[string]string{"a": "1"}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "settings"}, stored)).To(Succeed())
	g.Expect(stored.Labels).To(Equal(map[string]string{"tier": "pro"}), "the label kooper stopped setting is gone")
	g.Expect(stored.Data).To(Equal(map[string]string{"a": "1"}), "and the key")
	g.Expect(stored.Annotations).NotTo(HaveKey(saasv1alpha1.FieldsOwnerAnnotation), "and the mark")
	g.Expect(managers(stored)).To(ConsistOf("kooper/Apply"))
}

// managers names obj's field managers as manager/operation.
func managers(obj client.Object) []string {
	var out []string
	for _, m := range obj.GetManagedFields() {
		out = append(out, m.Manager+"/"+string(m.Operation))
	}
	return out
}
