package controllers

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// changeOrder changes the order the fake marketplace answers for orderID.
func (m *fakeMarketplace) changeOrder(orderID string, change func(*koogallery.OrderInfo)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orders[orderID]
	change(&o)
	m.orders[orderID] = o
}

// Informational text of a Query Order answer longer than the tenant's CRD
// allows is recorded cut to its bound, and the tenant provisions. Before,
// it was recorded whole: every status write failed with 422 (periodType's
// bound was 16), and the tenant never provisioned, with no condition to
// say why.
func TestLongInformationalTextInAQueryOrderAnswerStillProvisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*koogallery.OrderInfo)
		want   func(g Gomega, order *saasv1alpha1.ResolvedOrder)
	}{
		{name: "a 19-character periodType", change: func(o *koogallery.OrderInfo) { o.OrderLine[0].PeriodType = "yearly_subscription" },
			want: func(g Gomega, order *saasv1alpha1.ResolvedOrder) {
				g.Expect(order.PeriodType).To(Equal("yearly_subscription"))
			}},
		{name: "a periodType, an orderType and a customerName past their bounds", change: func(o *koogallery.OrderInfo) {
			o.OrderLine[0].PeriodType, o.OrderType, o.BuyerInfo.CustomerName = strings.Repeat("p", 40), strings.Repeat("T", 40), strings.Repeat("测", 200)
		}, want: func(g Gomega, order *saasv1alpha1.ResolvedOrder) {
			g.Expect(order.PeriodType).To(Equal(strings.Repeat("p", 32)))
			g.Expect(order.OrderType).To(Equal(strings.Repeat("T", 32)))
			g.Expect(order.CustomerName).To(Equal(strings.Repeat("测", 128)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, nil)
			tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { marketplace.changeOrder(tn.Spec.OrderID, tc.change) })
			got := eventuallyTenant(t, tenant.Name, provisioned)
			hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, got)
			g.Expect(got.Status.Order).NotTo(BeNil())
			g.Expect(got.Status.Order.SKUCode).To(Equal("basic"))
			tc.want(g, got.Status.Order)
		})
	}
}

// A Query Order answer whose skuCode is longer than any plan's can be
// (64) selects no plan: the tenant says so on OrderResolved, naming the
// field, its length and the bound, instead of failing every status write
// with 422 (before, no condition was ever written).
func TestAnOverlongSKUCodeInAQueryOrderAnswerIsReported(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		marketplace.changeOrder(tn.Spec.OrderID, func(o *koogallery.OrderInfo) { o.OrderLine[0].ProductInfo[0].SKUCode = strings.Repeat("b", 65) })
	})
	got := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.OrderUnusableReason))
	msg := apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.OrderResolvedCondition).Message
	g.Expect(msg).To(And(HavePrefix("unusable order: order "+tenant.Spec.OrderID),
		ContainSubstring("skuCode has 65 characters, more than the 64 of a plan's skuCode, so it matches none")))
	g.Expect(got.Status.Order).To(BeNil())
	g.Expect(apimeta.IsStatusConditionTrue(got.Status.Conditions, saasv1alpha1.ProvisionedCondition)).To(BeFalse())
}
