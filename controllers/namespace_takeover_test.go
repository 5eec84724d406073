package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// decidedFirstPass passes a tenant once its first provisioning pass is decided:
// provisioned, or stalled.
func decidedFirstPass(g Gomega, tenant *saasv1alpha1.SaaSTenant) {
	g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.ProvisionedCondition) ||
		apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeTrue(),
		"neither Provisioned nor Stalled: %v", tenant.Status.Conditions)
}

// TestATenantWhoseNamespaceIsAnotherTenantsStallsAndLeavesItUntouched:
// a tenant's namespace is <namespacePrefix>-<instanceId>, so a product
// with prefix "tenant-i" and a hand-made tenant "N" name the namespace of
// buyer tenant "i-N" under the default prefix. Its apply fell back from
// AlreadyExists to a forced server-side apply that relabelled the
// victim's namespace as the intruder's: the victim's release was then
// refused, and the intruder's marked the namespace, with the victim's
// data, for deletion. Now the intruder stalls with
// NamespaceOfAnotherTenant, records no namespace and applies nothing; its
// release leaves the victim's namespace alone.
func TestATenantWhoseNamespaceIsAnotherTenantsStallsAndLeavesItUntouched(t *testing.T) {
	g := NewWithT(t)
	victimProduct := newTenantProduct(t, nil)
	victim := newTenant(t, victimProduct, "basic", nil)
	eventuallyTenant(t, victim.Name, provisioned)
	ns := "tenant-" + victim.Name
	before := getObject(t, &corev1.Namespace{}, "", ns)
	policyBefore := getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)

	intruderProduct := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.NamespacePrefix = "tenant-i"
		p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](0)
	})
	id := strings.TrimPrefix(victim.Name, "i-")
	intruder := newTenant(t, intruderProduct, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Name, tn.Spec.InstanceID = id, id })
	g.Expect(tenantobjects.NamespaceName(intruderProduct, intruder.Spec.InstanceID)).To(Equal(ns), "the two tenants name one namespace")

	stalled := eventuallyTenant(t, intruder.Name, decidedFirstPass)
	after := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(after.Labels).To(Equal(before.Labels), "the victim's namespace keeps its labels")
	g.Expect(getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName).ResourceVersion).To(Equal(policyBefore.ResourceVersion),
		"nothing of the intruder's is applied in the victim's namespace")
	hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.NamespaceOfAnotherTenantReason)(g, stalled)
	msg := apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message
	g.Expect(msg).To(ContainSubstring("namespace " + ns))
	g.Expect(msg).To(ContainSubstring(saasv1alpha1.InstanceIDLabel + "=" + victim.Name))
	g.Expect(msg).To(ContainSubstring(`namespacePrefix "tenant-i"`))
	g.Expect(stalled.Status.Namespace).To(BeEmpty(), "a namespace of another tenant's is never recorded as the intruder's: its release works from that record")

	setState(t, intruder.Name, saasv1alpha1.StateReleased)
	eventuallyTenant(t, intruder.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.DataDeletedReason))
	released := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(released.DeletionTimestamp).To(BeNil(), "the intruder's release deletes no namespace")
	g.Expect(released.Annotations).NotTo(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(released.Labels).To(Equal(before.Labels))
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})).To(Succeed(),
		"the victim's workload runs on")
	poke(t, victim)
	eventuallyTenant(t, victim.Name, provisioned)
}

// staleNamespace is a cache that holds namespace ns as it was: the API
// server may hold it otherwise, or not at all.
type staleNamespace struct {
	client.Client
	ns *corev1.Namespace
}

func (c staleNamespace) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if ns, ok := obj.(*corev1.Namespace); ok && key.Name == c.ns.Name {
		c.ns.DeepCopyInto(ns)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// TestANamespaceOfAnotherTenantIsRefusedOnTheAPIServersWord: the cache
// only points at a namespace that may be another tenant's; whether the
// tenant stalls is decided on the namespace as the API server holds it. A
// cache that has not caught up (the namespace relabelled as the tenant's,
// or gone) must not stall it; one the API server confirms must.
func TestANamespaceOfAnotherTenantIsRefusedOnTheAPIServersWord(t *testing.T) {
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-takeover-own"},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-takeover-own", ProductName: "crm"}}
	labels := func(instanceID, product string) map[string]string {
		return map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
			saasv1alpha1.InstanceIDLabel: instanceID, saasv1alpha1.ProductLabel: product}
	}
	for i, c := range []struct {
		name        string
		cached      map[string]string
		stored      map[string]string // nil: the API server has no such namespace
		wantStalled bool
	}{
		{"the cache and the API server say another tenant's", labels("i-other", "crm"), labels("i-other", "crm"), true},
		{"the cache and the API server say another product's", labels("i-takeover-own", "erp"), labels("i-takeover-own", "erp"), true},
		{"the cache says another's, the API server the tenant's", labels("i-other", "crm"), labels("i-takeover-own", "crm"), false},
		{"the cache says another's, the API server has none", labels("i-other", "crm"), nil, false},
		{"the cache and the API server say the tenant's", labels("i-takeover-own", "crm"), labels("i-takeover-own", "crm"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			name := fmt.Sprintf("takeover-%d-%d", tenantSeq.Add(1), i)
			if c.stored != nil {
				g.Expect(k8sClient.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: c.stored}})).To(Succeed())
			}
			r := tenantReconcilerLikeSetup(t, staleNamespace{Client: k8sClient, ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: c.cached}}})
			own := tenant.DeepCopy()

			o := r.refuseNamespaceOfAnother(testContext(t), own, name)
			g.Expect(o.isStalled()).To(Equal(c.wantStalled), "outcome %+v", o)
			if c.wantStalled {
				hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.NamespaceOfAnotherTenantReason)(g, own)
			} else {
				g.Expect(o.proceeds()).To(BeTrue(), "outcome %+v", o)
			}
		})
	}
}
