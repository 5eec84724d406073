package orders

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// resolvedBounds are the bounds Resolved enforces, by ResolvedOrder field.
var resolvedBounds = map[string]int{
	"productId": maxProductID, "skuCode": maxSKUCode, "orderType": maxOrderType,
	"periodType": maxPeriodType, "customerId": maxCustomerID, "customerName": maxCustomerName,
}

// The bounds Resolved enforces are the CRDs' own, so they cannot drift
// apart: each status that records a ResolvedOrder (tenant, licence,
// notification) bounds its strings by exactly these; where a resolved
// value is copied on, there is room for it; and the product's productId
// and plans' skuCodes, which a resolved order must match, have the bounds
// past which Resolved refuses one.
func TestBoundsMatchTheCRDs(t *testing.T) {
	for _, plural := range []string{"saastenants", "licenses", "ordernotifications"} {
		for field, bound := range resolvedBounds {
			t.Run(plural+"/"+field, func(t *testing.T) {
				NewWithT(t).Expect(testenv.CRDMaxLength(t, plural, "status", "order", field)).To(Equal(bound))
			})
		}
	}
	for _, tc := range []struct {
		name, plural string
		path         []string
		bound        int
	}{
		{name: "a tenant's skuCode", plural: "saastenants", path: []string{"status", "skuCode"}, bound: maxSKUCode},
		{name: "the summary's order types", plural: "saasproducts", path: []string{"status", "orderNotifications", "byOrderType", "[]", "orderType"}, bound: maxOrderType},
		{name: "the summary's recent order types", plural: "saasproducts", path: []string{"status", "orderNotifications", "recent", "[]", "orderType"}, bound: maxOrderType},
		{name: "the summary's recent SKUs", plural: "saasproducts", path: []string{"status", "orderNotifications", "recent", "[]", "skuCode"}, bound: maxSKUCode},
	} {
		t.Run("copied to "+tc.name, func(t *testing.T) {
			NewWithT(t).Expect(testenv.CRDMaxLength(t, tc.plural, tc.path...)).To(BeNumerically(">=", tc.bound))
		})
	}
	t.Run("a product's productId", func(t *testing.T) {
		NewWithT(t).Expect(testenv.CRDMaxLength(t, "saasproducts", "spec", "productId")).To(Equal(maxProductID))
	})
	t.Run("a plan's skuCode", func(t *testing.T) {
		NewWithT(t).Expect(testenv.CRDMaxLength(t, "saasproducts", "spec", "plans", "[]", "skuCode")).To(Equal(maxSKUCode))
	})
}

// expectFitsTheCRD fails unless every string of r fits the tenant CRD's
// status.order schema, as the API server counts (characters), and is
// valid UTF-8.
func expectFitsTheCRD(g Gomega, t *testing.T, r *saasv1alpha1.ResolvedOrder) {
	t.Helper()
	for field, value := range map[string]string{"productId": r.ProductID, "skuCode": r.SKUCode, "orderType": r.OrderType,
		"periodType": r.PeriodType, "customerId": r.CustomerID, "customerName": r.CustomerName} {
		g.Expect(utf8.ValidString(value)).To(BeTrue(), "%s %q is not valid UTF-8", field, value)
		g.Expect(utf8.RuneCountInString(value)).To(BeNumerically("<=", testenv.CRDMaxLength(t, "saastenants", "status", "order", field)),
			"%s %q does not fit the CRD: every status write would fail with 422", field, value)
	}
}

// Informational text past its CRD bound is cut to it, on a character
// boundary, and the order resolves. Before, orderType and periodType were
// copied whole (a 19-character periodType failed the tenant's every status
// write with 422: periodType's bound was 16), and customerName was cut to
// 128 bytes, splitting a Chinese name's character.
func TestResolvedCutsInformationalTextToTheCRD(t *testing.T) {
	order := &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "MOCKPERIODYEARNEW-000001"}
	for _, tc := range []struct {
		name   string
		change func(*koogallery.OrderInfo)
		want   func(*saasv1alpha1.ResolvedOrder)
	}{
		{name: "a 19-character periodType is kept whole", change: func(i *koogallery.OrderInfo) { i.OrderLine[0].PeriodType = "yearly_subscription" },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.PeriodType = "yearly_subscription" }},
		{name: "a periodType past 32 characters is cut", change: func(i *koogallery.OrderInfo) { i.OrderLine[0].PeriodType = strings.Repeat("p", 40) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.PeriodType = strings.Repeat("p", 32) }},
		{name: "a Chinese periodType is cut by characters", change: func(i *koogallery.OrderInfo) { i.OrderLine[0].PeriodType = strings.Repeat("包年", 20) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.PeriodType = strings.Repeat("包年", 16) }},
		{name: "an orderType past 32 characters is cut", change: func(i *koogallery.OrderInfo) { i.OrderType = "TRIAL_TO_FORMAL_WITH_A_VERY_LONG_SUFFIX" },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.OrderType = "TRIAL_TO_FORMAL_WITH_A_VERY_LONG" }},
		{name: "an orderType of exactly 32 characters is kept", change: func(i *koogallery.OrderInfo) { i.OrderType = strings.Repeat("T", 32) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.OrderType = strings.Repeat("T", 32) }},
		{name: "a Chinese customerName is cut to 128 characters, not bytes", change: func(i *koogallery.OrderInfo) { i.BuyerInfo.CustomerName = strings.Repeat("测", 200) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.CustomerName = strings.Repeat("测", 128) }},
		{name: "a customerName of 43 Chinese characters is kept whole", change: func(i *koogallery.OrderInfo) { i.BuyerInfo.CustomerName = strings.Repeat("测", 43) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.CustomerName = strings.Repeat("测", 43) }},
		{name: "a customerId past 64 characters is cut", change: func(i *koogallery.OrderInfo) { i.BuyerInfo.CustomerID = strings.Repeat("i", 65) },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.CustomerID = strings.Repeat("i", 64) }},
		{name: "a productId and skuCode of exactly 64 characters are kept", change: func(i *koogallery.OrderInfo) {
			i.OrderLine[0].ProductInfo[0].ProductID, i.OrderLine[0].ProductInfo[0].SKUCode = strings.Repeat("P", 64), strings.Repeat("规", 64)
		}, want: func(r *saasv1alpha1.ResolvedOrder) {
			r.ProductID, r.SKUCode = strings.Repeat("P", 64), strings.Repeat("规", 64)
		}},
		{name: "a long productName is not recorded", change: func(i *koogallery.OrderInfo) { i.OrderLine[0].ProductInfo[0].ProductName = strings.Repeat("n", 5000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			info := mockOrder()
			tc.change(info)
			want, err := Resolved(mockOrder(), order)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.want != nil {
				tc.want(want)
			}
			got, err := Resolved(info, order)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(want))
			expectFitsTheCRD(g, t, got)
		})
	}
}

// A productId or skuCode past its bound matches no product or plan (their
// own bounds are the same), and cut it could match one the buyer did not
// buy: the order is unusable, with a message that names the field, its
// length and the bound. Before, it was copied whole, and every status
// write failed with 422 while no condition said why.
func TestResolvedRefusesAnIdentityPastItsBound(t *testing.T) {
	order := &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "MOCKPERIODYEARNEW-000001"}
	for _, tc := range []struct {
		name    string
		change  func(*koogallery.ProductInfo)
		wantMsg string
	}{
		{name: "a 65-character skuCode", change: func(p *koogallery.ProductInfo) { p.SKUCode = strings.Repeat("s", 65) },
			wantMsg: `unusable order: order MOCKPERIODYEARNEW: Query Order's skuCode has 65 characters, more than the 64 of a plan's skuCode, so it matches none: "` + strings.Repeat("s", 64) + `…"`},
		{name: "a 65-character Chinese skuCode", change: func(p *koogallery.ProductInfo) { p.SKUCode = strings.Repeat("规", 65) },
			wantMsg: "Query Order's skuCode has 65 characters, more than the 64 of a plan's skuCode"},
		{name: "a 1000-character productId", change: func(p *koogallery.ProductInfo) { p.ProductID = strings.Repeat("P", 1000) },
			wantMsg: "Query Order's productId has 1000 characters, more than the 64 of a SaaSProduct's productId, so it matches none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			info := mockOrder()
			tc.change(&info.OrderLine[0].ProductInfo[0])
			got, err := Resolved(info, order)
			g.Expect(got).To(BeNil())
			g.Expect(err).To(MatchError(ErrUnusable))
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantMsg)))
			g.Expect(len(err.Error())).To(BeNumerically("<", 400), "the message quotes at most the bound's length of the value")
			var queryErr *QueryError
			g.Expect(errors.As(err, &queryErr)).To(BeFalse(), "asking Query Order again would give the same answer")
			// The order still has its createTime, which sequences it.
			g.Expect(CreateTime(info)).NotTo(BeNil())
		})
	}
}
