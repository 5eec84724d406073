package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// TestAFreshTenantDoesNotAdoptAnUnlabelledNamespace: a hand-made tenant
// of a product with prefix "ingress" and instance "nginx-N" names
// namespace ingress-nginx-N, which another program made and kooper never
// labelled. The cache holds only kooper's namespaces, so nothing refused
// it: the namespace create answered AlreadyExists, and the forced
// server-side apply that followed labelled it as the tenant's, set Pod
// Security restricted and a deny-all NetworkPolicy on it (that program's
// outage), and the tenant's release or deletion then marked or deleted it
// with that program's data. The envtest suite installs no admission
// policy (on Kubernetes before 1.30 the chart installs none either): what
// refuses here is the controller's own guard. Now the tenant stalls with
// NamespaceNotKoopers, records no namespace and applies nothing there;
// its deletion by hand leaves the namespace alone.
func TestAFreshTenantDoesNotAdoptAnUnlabelledNamespace(t *testing.T) {
	g := NewWithT(t)
	id := fmt.Sprintf("nginx-%d", tenantSeq.Add(1))
	ns := "ingress-" + id
	g.Expect(k8sClient.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}}})).To(Succeed())
	g.Expect(k8sClient.Create(testContext(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ingress-controller-leader"},
		Data: map[string]string{"holder": "the other program"}})).To(Succeed())
	before := getObject(t, &corev1.Namespace{}, "", ns)

	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.NamespacePrefix = "ingress" })
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Name, tn.Spec.InstanceID = id, id })
	g.Expect(tenantobjects.NamespaceName(product, tenant.Spec.InstanceID)).To(Equal(ns))

	stalled := eventuallyTenant(t, tenant.Name, decidedFirstPass)
	hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.NamespaceNotKoopersReason)(g, stalled)
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring("namespace " + ns))
	g.Expect(stalled.Status.Namespace).To(BeEmpty(), "a namespace not kooper's is never recorded as the tenant's: its release works from that record")
	expectUntouched := func(why string) {
		t.Helper()
		after := getObject(t, &corev1.Namespace{}, "", ns)
		g.Expect(after.DeletionTimestamp).To(BeNil(), why)
		g.Expect(after.Labels).To(Equal(before.Labels), why)
		g.Expect(after.Annotations).To(Equal(before.Annotations), why)
		policies := &networkingv1.NetworkPolicyList{}
		g.Expect(k8sClient.List(testContext(t), policies, client.InNamespace(ns))).To(Succeed())
		g.Expect(policies.Items).To(BeEmpty(), why)
		quotas := &corev1.ResourceQuotaList{}
		g.Expect(k8sClient.List(testContext(t), quotas, client.InNamespace(ns))).To(Succeed())
		g.Expect(quotas.Items).To(BeEmpty(), why)
		secrets := &corev1.SecretList{}
		g.Expect(k8sClient.List(testContext(t), secrets, client.InNamespace(ns))).To(Succeed())
		g.Expect(secrets.Items).To(BeEmpty(), why)
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: "ingress-controller-leader"}, &corev1.ConfigMap{})).To(Succeed(), why)
	}
	expectUntouched("nothing of the tenant's is applied in a namespace that is not kooper's")

	g.Expect(k8sClient.Delete(testContext(t), stalled)).To(Succeed())
	eventuallyGone(t, k8sClient, stalled, "the finalizer goes")
	expectUntouched("the tenant's deletion by hand neither marks nor deletes a namespace that is not kooper's")
}
