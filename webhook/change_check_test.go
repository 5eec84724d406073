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
