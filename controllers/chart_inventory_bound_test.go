package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// lostInventoryTenant is a tenant, not stored, whose status lost its
// inventory (a restore from a backup without status), with its namespace
// made and known.
func lostInventoryTenant(t *testing.T, prefix string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	d := bareTenantNamespace(t, prefix)
	d.Tenant.UID = uuid.NewUUID()
	d.Tenant.Status.Namespace = d.Namespace
	return d.Tenant
}

// labelAsTenants creates, in tenant's namespace, n PodDisruptionBudgets
// and then one Ingress called web, each labelled as the tenant's: more
// than a render holds once n is maxInventory, as only objects labelled by
// hand can be. The Ingress is of the kind recoverInventory lists last.
func labelAsTenants(t *testing.T, tenant *saasv1alpha1.SaaSTenant, n int) {
	t.Helper()
	g := NewWithT(t)
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: tenant.Status.Namespace, Name: name, Labels: tenantLabels(tenant.Spec.InstanceID)}
	}
	for i := range n {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: meta(fmt.Sprintf("pdb-%d", i)), Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		g.Expect(k8sClient.Create(testContext(t), pdb)).To(Succeed())
	}
	prefix := networkingv1.PathTypePrefix
	ingress := &networkingv1.Ingress{ObjectMeta: meta("web"), Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
		Host: tenant.Spec.InstanceID + ".example.com",
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
			Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
	g.Expect(k8sClient.Create(testContext(t), ingress)).To(Succeed())
}

// inventoryReconciler is a tenant reconciler that reads and writes the
// API server directly, as the freeze and release steps need.
func inventoryReconciler(reader client.Reader) *SaaSTenantReconciler {
	return &SaaSTenantReconciler{Client: k8sClient, Reader: reader, Scheme: k8sClient.Scheme(), Options: TenantOptions{FieldOwner: fieldOwner}}
}

// A rebuilt inventory was cut to the schema's bound without a word, and
// freeze and release acted on what was left: the Ingress, listed last,
// went on serving a frozen or departed buyer. Everything found is acted
// on, nothing cut is recorded, and the step fails naming the count.
func TestARebuiltInventoryOverTheBoundIsActedOnWholeAndFailsLoudly(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(ctx context.Context, r *SaaSTenantReconciler, tn *saasv1alpha1.SaaSTenant) error
	}{
		{"freeze", func(ctx context.Context, r *SaaSTenantReconciler, tn *saasv1alpha1.SaaSTenant) error {
			return r.stopChart(ctx, tn, saasv1alpha1.FreezeDisableIngress)
		}},
		{"release", func(ctx context.Context, r *SaaSTenantReconciler, tn *saasv1alpha1.SaaSTenant) error {
			return r.removeChartWorkloads(ctx, tn, tn.Status.Namespace)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := lostInventoryTenant(t, "i-bound")
			labelAsTenants(t, tenant, maxInventory)

			err := tc.stop(testContext(t), inventoryReconciler(k8sClient), tenant)
			g.Expect(absent(t, &networkingv1.Ingress{}, tenant.Status.Namespace, "web")()).To(BeTrue(), "the Ingress must not serve")
			g.Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("%d objects", maxInventory+1))))
			g.Expect(len(tenant.Status.Inventory)).To(BeNumerically("<=", maxInventory), "the schema refuses a longer inventory")
			g.Expect(tenant.Status.Inventory).To(BeEmpty(), "no cut inventory is recorded")
		})
	}
}

// countingLists counts the lists sent to the API server.
type countingLists struct {
	client.Reader
	lists atomic.Int32
}

func (c *countingLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.lists.Add(1)
	return c.Reader.List(ctx, list, opts...)
}

// A frozen chart tenant whose lost inventory was rebuilt from nothing
// recorded an empty one, which the API server does not store (inventory is
// omitempty): each of its passes listed every kind again. The next pass
// lists nothing.
func TestAnInventoryRebuiltFromNothingIsListedOnce(t *testing.T) {
	g := NewWithT(t)
	tenant := lostInventoryTenant(t, "i-none")
	counting := &countingLists{Reader: k8sClient}
	r := inventoryReconciler(counting)

	g.Expect(r.stopChart(testContext(t), tenant, saasv1alpha1.FreezeScaleToZero)).To(Succeed())
	g.Expect(counting.lists.Load()).To(BeNumerically(">=", len(releasedKinds)))
	listed := counting.lists.Load()

	// The next pass reads the tenant as stored: no inventory.
	stored := &saasv1alpha1.SaaSTenant{ObjectMeta: tenant.ObjectMeta, Spec: tenant.Spec,
		Status: saasv1alpha1.SaaSTenantStatus{Namespace: tenant.Status.Namespace}}
	g.Expect(r.stopChart(testContext(t), stored, saasv1alpha1.FreezeScaleToZero)).To(Succeed())
	g.Expect(counting.lists.Load()).To(Equal(listed), "the pass after lists nothing again")

	// Another tenant (a restore makes a new UID) lists again.
	restored := stored.DeepCopy()
	restored.UID = uuid.NewUUID()
	restored.Status.Inventory = nil
	g.Expect(r.stopChart(testContext(t), restored, saasv1alpha1.FreezeScaleToZero)).To(Succeed())
	g.Expect(counting.lists.Load()).To(BeNumerically(">", listed))
}
