package orders

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// mockOrder is the shape of the marketplace's mock order MOCKPERIODYEARNEW
// (spec §6.3), as koogallery.Client.QueryOrder decodes it.
func mockOrder() *koogallery.OrderInfo {
	fifty := json.Number("50")
	return &koogallery.OrderInfo{
		OrderID:    "MOCKPERIODYEARNEW",
		OrderType:  koogallery.OrderNew,
		CreateTime: "20241121090846",
		OrderLine: []koogallery.OrderLine{{
			OrderLineID:  "MOCKPERIODYEARNEW-000001",
			ChargingMode: koogallery.ChargingPeriod,
			PeriodType:   "year",
			PeriodNumber: 1,
			ExpireTime:   "20251121235959",
			ProductInfo: []koogallery.ProductInfo{{
				ProductID: "OFFI846204237451911168", SKUCode: "0a4d1578-5295-46a7-92d4-7c803dccc51d", LinearValue: &fifty,
			}},
		}},
		BuyerInfo: &koogallery.BuyerInfo{MobilePhone: "18688888888", Email: "buyer@example.com",
			CustomerID: "459bbbec25d24749b2eb83be37b602a8", CustomerName: "mock_user_01", CustomerRealName: "测试用户1"},
	}
}

func TestResolved(t *testing.T) {
	order := &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "MOCKPERIODYEARNEW-000001"}
	want := func() *saasv1alpha1.ResolvedOrder {
		return &saasv1alpha1.ResolvedOrder{
			OrderID: "MOCKPERIODYEARNEW", OrderType: koogallery.OrderNew,
			ProductID: "OFFI846204237451911168", SKUCode: "0a4d1578-5295-46a7-92d4-7c803dccc51d",
			ChargingMode: saasv1alpha1.ChargingPeriod, PeriodType: "year", PeriodNumber: 1, LinearValue: 50,
			ExpireTime: &metav1.Time{Time: time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)},
			CreateTime: &metav1.Time{Time: time.Date(2024, 11, 21, 9, 8, 46, 0, time.UTC)}, TimeZone: "UTC",
			CustomerID: "459bbbec25d24749b2eb83be37b602a8", CustomerName: "mock_user_01",
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*koogallery.OrderInfo, *saasv1alpha1.AppliedOrder)
		want   func(*saasv1alpha1.ResolvedOrder)
	}{
		{name: "the mock order: no buyer contact details kept"},
		{name: "no line ID: a single-line order's only line", change: func(_ *koogallery.OrderInfo, o *saasv1alpha1.AppliedOrder) { o.OrderLineID = "" }},
		{name: "the line asked for, of several", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			other := i.OrderLine[0]
			other.OrderLineID, other.ProductInfo = "MOCKPERIODYEARNEW-000002", []koogallery.ProductInfo{{ProductID: "OTHER", SKUCode: "other"}}
			i.OrderLine = append([]koogallery.OrderLine{other}, i.OrderLine...)
		}},
		{name: "an on-demand package", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].ChargingMode = koogallery.ChargingOnDemandPackage
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.ChargingMode = saasv1alpha1.ChargingOnDemandPackage }},
		{name: "an unknown charging mode is left unset", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].ChargingMode = "BARTER"
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.ChargingMode = "" }},
		{name: "a period number clamped to 1000", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].PeriodNumber = 5000
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.PeriodNumber = 1000 }},
		{name: "a negative period number clamped to 0", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].PeriodNumber = -1
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.PeriodNumber = 0 }},
		{name: "no linear value", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].ProductInfo[0].LinearValue = nil
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.LinearValue = 0 }},
		{name: "a negative linear value is left unset", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			minus := json.Number("-3")
			i.OrderLine[0].ProductInfo[0].LinearValue = &minus
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.LinearValue = 0 }},
		{name: "a fractional linear value is left unset", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			half := json.Number("2.5")
			i.OrderLine[0].ProductInfo[0].LinearValue = &half
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.LinearValue = 0 }},
		{name: "a linear value written as a decimal", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			decimal := json.Number("50.0")
			i.OrderLine[0].ProductInfo[0].LinearValue = &decimal
		}},
		{name: "a linear value written with an exponent", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			exponent := json.Number("5e1")
			i.OrderLine[0].ProductInfo[0].LinearValue = &exponent
		}},
		{name: "a linear value written with a negative exponent", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			exponent := json.Number("500E-1")
			i.OrderLine[0].ProductInfo[0].LinearValue = &exponent
		}},
		{name: "a linear value beyond int64 is left unset", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			huge := json.Number("1e19")
			i.OrderLine[0].ProductInfo[0].LinearValue = &huge
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.LinearValue = 0 }},
		{name: "an expiry with milliseconds", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].ExpireTime = "20251121235959000"
		}},
		{name: "times that do not parse are left unset", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.OrderLine[0].ExpireTime, i.CreateTime = "", "2024-11-21"
		}, want: func(r *saasv1alpha1.ResolvedOrder) { r.ExpireTime, r.CreateTime = nil, nil }},
		{name: "no buyer", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) { i.BuyerInfo = nil },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.CustomerID, r.CustomerName = "", "" }},
		{name: "a buyer's account cut to its bounds", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) {
			i.BuyerInfo.CustomerID, i.BuyerInfo.CustomerName = strings.Repeat("i", 100), strings.Repeat("n", 200)
		}, want: func(r *saasv1alpha1.ResolvedOrder) {
			r.CustomerID, r.CustomerName = strings.Repeat("i", 64), strings.Repeat("n", 128)
		}},
		{name: "a trial", change: func(i *koogallery.OrderInfo, _ *saasv1alpha1.AppliedOrder) { i.OrderType = koogallery.OrderTrial },
			want: func(r *saasv1alpha1.ResolvedOrder) { r.OrderType = koogallery.OrderTrial }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			info, o, w := mockOrder(), *order, want()
			if tc.change != nil {
				tc.change(info, &o)
			}
			if tc.want != nil {
				tc.want(w)
			}
			got, err := Resolved(info, &o)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(w))
		})
	}
}

// An answer without the order's line (or with a line but no product) is
// unusable: an error that is not a QueryError, so RecordFailure leaves it
// to the rate limiter.
func TestResolvedWithoutTheOrderLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		info   func() *koogallery.OrderInfo
		lineID string
	}{
		{name: "another line ID", info: mockOrder, lineID: "MOCKPERIODYEARNEW-000009"},
		{name: "no line ID on a two-line order", lineID: "", info: func() *koogallery.OrderInfo {
			i := mockOrder()
			i.OrderLine = append(i.OrderLine, koogallery.OrderLine{OrderLineID: "MOCKPERIODYEARNEW-000002"})
			return i
		}},
		{name: "no lines", lineID: "MOCKPERIODYEARNEW-000001", info: func() *koogallery.OrderInfo {
			i := mockOrder()
			i.OrderLine = nil
			return i
		}},
		{name: "a line without a product", lineID: "MOCKPERIODYEARNEW-000001", info: func() *koogallery.OrderInfo {
			i := mockOrder()
			i.OrderLine[0].ProductInfo = nil
			return i
		}},
		{name: "no order info at all", lineID: "MOCKPERIODYEARNEW-000001", info: func() *koogallery.OrderInfo { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Resolved(tc.info(), &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: tc.lineID})
			g.Expect(got).To(BeNil())
			g.Expect(err).To(MatchError(ErrUnusable))
			g.Expect(err).To(MatchError(ContainSubstring(`order MOCKPERIODYEARNEW has no line %q with a product`, tc.lineID)))
			var queryErr *QueryError
			g.Expect(errors.As(err, &queryErr)).To(BeFalse())
			_, after := failure(err, time.Now(), time.Now())
			g.Expect(after).To(BeZero())
		})
	}
}

func TestDebug(t *testing.T) {
	product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI1", Debug: &saasv1alpha1.DebugPolicy{SKUCode: "debug-sku"}}}
	got := Debug(product, &saasv1alpha1.AppliedOrder{OrderID: "DEBUGORDER", OrderLineID: "DEBUGORDER-000001"})
	NewWithT(t).Expect(got).To(Equal(&saasv1alpha1.ResolvedOrder{OrderID: "DEBUGORDER", OrderType: "DEBUG", ProductID: "OFFI1", SKUCode: "debug-sku"}))
}

func TestQueryErrorWrapsTheClientsError(t *testing.T) {
	g := NewWithT(t)
	cause := errors.New("failed to query order CS1: HTTP 500")
	var err error = &QueryError{Err: cause}
	g.Expect(err).To(MatchError("failed to query order CS1: HTTP 500"))
	g.Expect(errors.Is(err, cause)).To(BeTrue())
}

// TestParseLinearValueReadsWholeNumbersInAnyForm: linearValue is an
// Integer (spec §6.3), but a JSON encoder may write 50 as 50.0 or 5e1; a
// package sized by it (quotaPerLinearValue) must not stall as if Query
// Order had given none. What is no whole number in int64 is refused,
// saying why.
func TestParseLinearValueReadsWholeNumbersInAnyForm(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int64
		err  string
	}{
		{text: "50", want: 50},
		{text: "50.0", want: 50},
		{text: "50.000000", want: 50},
		{text: "5e1", want: 50},
		{text: "5E+1", want: 50},
		{text: "500e-1", want: 50},
		{text: "0", want: 0},
		{text: "-0", want: 0},
		{text: "9223372036854775807", want: 9223372036854775807},
		{text: "9.223372036854775807e18", want: 9223372036854775807},
		{text: "2.5", err: "linearValue 2.5 is not a whole number"},
		{text: "50.00000000000000000000000000000000000000000000000000000000001", err: "is not a whole number"},
		{text: "1e-1000000000", err: "linearValue 1e-1000000000 is not a whole number"},
		{text: "-3", err: "linearValue -3 is negative"},
		{text: "9223372036854775808", err: "linearValue 9223372036854775808 is larger than 9223372036854775807"},
		{text: "1e1000000000", err: "linearValue 1e1000000000 is larger than 9223372036854775807"},
		{text: "fifty", err: `linearValue "fifty" is no number`},
		{text: "1" + strings.Repeat("0", 64), err: "linearValue of 65 characters is no number kooper reads"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseLinearValue(json.Number(tc.text))
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// TestAQueryOrderAnswerWithAWholeDecimalLinearValueResolvesIt: through the
// client's decoding, as a number or a string holding one, linearValue
// 50.0 or 5e1 is 50, and 2.5 is none.
func TestAQueryOrderAnswerWithAWholeDecimalLinearValueResolvesIt(t *testing.T) {
	for literal, want := range map[string]int64{`50.0`: 50, `"5e1"`: 50, `5E+1`: 50, `2.5`: 0, `"2.50"`: 0} {
		t.Run(literal, func(t *testing.T) {
			g := NewWithT(t)
			var answer koogallery.QueryOrderResponse
			body := strings.Replace(mockAnswer, `"linearValue":50`, `"linearValue":`+literal, 1)
			g.Expect(json.Unmarshal([]byte(body), &answer)).To(Succeed())
			resolved, err := Resolved(answer.OrderInfo, &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resolved.LinearValue).To(Equal(want))
		})
	}
}
