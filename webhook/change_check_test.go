package webhook

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestChangeInstanceCheckRefusesAPlanTheControllersWouldNotRun: "000000 =
// change allowed" (spec §3.8), but the tenant controller refuses to run a
// plan whose quota cannot hold its rollout (QuotaTooSmall): the renewal
// with change was allowed, paid for, and the tenant then stalled on the new
// plan. The receiver now runs the same check on the product as the API
// server holds it, so a quota just raised allows the change at once.
func TestChangeInstanceCheckRefusesAPlanTheControllersWouldNotRun(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)

	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), product)).To(Succeed())
	pods := func(n int64) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(n, resource.DecimalSI)}
	}
	product.Spec.Plans = []saasv1alpha1.Plan{
		{SKUCode: "basic"},
		{SKUCode: "pro", Quota: pods(1)},
		{SKUCode: "pro-max"},
		{SKUCode: "team", Replicas: 2, Quota: corev1.ResourceList{
			corev1.ResourcePods: *resource.NewQuantity(2, resource.DecimalSI), corev1.ResourceRequestsCPU: resource.MustParse("1")}},
	}
	g.Expect(k8sClient.Update(ctxFor(t), product)).To(Succeed())

	check := func(sku string) answer {
		return f.call(t, fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"skuCode":%q}}`, id, sku))
	}
	a := check("pro")
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(`skuCode "pro"`))
	g.Expect(a.Msg).To(ContainSubstring("quota pods=1 cannot hold"))
	a = check("team")
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(`skuCode "team"`))
	g.Expect(a.Msg).To(ContainSubstring("quota pods=2 cannot hold"))
	for _, sku := range []string{"basic", "pro-max"} {
		a = check(sku)
		g.Expect(a.Code).To(Equal("000000"), "%s: %s", sku, a.Msg)
	}

	// The merchant raises pro's quota: allowed at once.
	product.Spec.Plans[1].Quota = pods(4)
	g.Expect(k8sClient.Update(ctxFor(t), product)).To(Succeed())
	a = check("pro")
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
}

// TestChangeInstanceCheckRefusesAPlanChangeTheChartCannotMake: the product
// controller records the pairs of a chart product's plans that render an
// immutable field differently (status.refusedPlanChanges, unordered); a
// tenant changing between them stalls with ObjectInvalid. changeInstanceCheck
// answered 000000 for such a change, which was then paid for and never
// made. It now refuses a change from the plan the tenant runs
// (status.applied, not status.skuCode, which a stalled change has already
// moved) to the other plan of a pair, in either direction, and allows the
// rest.
func TestChangeInstanceCheckRefusesAPlanChangeTheChartCannotMake(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)

	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(f.product), product)).To(Succeed())
	product.Spec.Workload = nil
	product.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: product.Name + "-chart"}}
	product.Spec.Plans = []saasv1alpha1.Plan{{SKUCode: "basic"}, {SKUCode: "pro"}, {SKUCode: "team"}}
	g.Expect(k8sClient.Update(ctx, product)).To(Succeed())
	product.Status.RefusedPlanChanges = []saasv1alpha1.PlanPair{{SKUCodes: []string{"basic", "pro"}}}
	g.Expect(k8sClient.Status().Update(ctx, product)).To(Succeed())

	running := func(applied, desired string) {
		t.Helper()
		tenant := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: id}, tenant)).To(Succeed())
		tenant.Status.SKUCode = desired
		tenant.Status.Applied = &saasv1alpha1.AppliedPlan{SKUCode: applied, Replicas: 1}
		g.Expect(k8sClient.Status().Update(ctx, tenant)).To(Succeed())
	}
	check := func(sku string) answer {
		return f.call(t, fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"skuCode":%q}}`, id, sku))
	}

	running("basic", "basic")
	a := check("pro")
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(`skuCode "pro"`))
	g.Expect(a.Msg).To(ContainSubstring(`plan "basic"`))
	g.Expect(check("team").Code).To(Equal("000000"))
	g.Expect(check("basic").Code).To(Equal("000000"), "no change")

	running("pro", "pro")
	a = check("basic")
	g.Expect(a.Code).To(Equal("000002"), "either way: %s", a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(`plan "pro"`))

	// A change to pro stalled: the tenant still runs basic.
	running("basic", "pro")
	a = check("pro")
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(check("team").Code).To(Equal("000000"))

	// The merchant makes the plans compatible: allowed once the product
	// controller has recorded it.
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(f.product), product)).To(Succeed())
	product.Status.RefusedPlanChanges = nil
	g.Expect(k8sClient.Status().Update(ctx, product)).To(Succeed())
	a = check("pro")
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
}
