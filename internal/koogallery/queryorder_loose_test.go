package koogallery

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// Query Order's Integer fields (periodNumber, linearValue, customerType;
// spec §6.3) read as loosely as the callbacks' (issue 16): a number, a
// string holding one, and an empty string or null as absent. None of them
// decides which order or plan is meant, so a value that is not a number
// reads as absent too, and the order still resolves. Before, json.Unmarshal
// refused "1" for an int and "" for a json.Number: the whole answer
// "failed to decode", and the order was asked for again for ever.
func TestQueryOrderReadsIntegerFieldsLoosely(t *testing.T) {
	number := func(s string) *json.Number { n := json.Number(s); return &n }
	for _, tc := range []struct {
		name, from, to string
		periodNumber   int
		linearValue    *json.Number
		customerType   int
	}{
		{name: "the mock order as sent", periodNumber: 1, linearValue: number("50")},
		{name: "periodNumber as a string", from: `"periodNumber":1`, to: `"periodNumber":"1"`, periodNumber: 1, linearValue: number("50")},
		{name: "periodNumber as a string with spaces", from: `"periodNumber":1`, to: `"periodNumber":" 12 "`, periodNumber: 12, linearValue: number("50")},
		{name: "periodNumber empty", from: `"periodNumber":1`, to: `"periodNumber":""`, linearValue: number("50")},
		{name: "periodNumber null", from: `"periodNumber":1`, to: `"periodNumber":null`, linearValue: number("50")},
		{name: "periodNumber absent", from: `"periodNumber":1,`, to: ``, linearValue: number("50")},
		{name: "periodNumber a word", from: `"periodNumber":1`, to: `"periodNumber":"one"`, linearValue: number("50")},
		{name: "periodNumber a fraction", from: `"periodNumber":1`, to: `"periodNumber":1.5`, linearValue: number("50")},
		{name: "periodNumber past 32 bits", from: `"periodNumber":1`, to: `"periodNumber":99999999999999999999`, linearValue: number("50")},
		{name: "periodNumber a boolean", from: `"periodNumber":1`, to: `"periodNumber":true`, linearValue: number("50")},
		{name: "periodNumber an object", from: `"periodNumber":1`, to: `"periodNumber":{"n":1}`, linearValue: number("50")},
		{name: "customerType as a string", from: `"customerType":0`, to: `"customerType":"0"`, periodNumber: 1, linearValue: number("50")},
		{name: "customerType 1 as a string", from: `"customerType":0`, to: `"customerType":"1"`, periodNumber: 1, linearValue: number("50"), customerType: 1},
		{name: "customerType empty", from: `"customerType":0`, to: `"customerType":""`, periodNumber: 1, linearValue: number("50")},
		{name: "customerType a word", from: `"customerType":0`, to: `"customerType":"enterprise"`, periodNumber: 1, linearValue: number("50")},
		{name: "linearValue as a string", from: `"linearValue":50`, to: `"linearValue":"50"`, periodNumber: 1, linearValue: number("50")},
		{name: "linearValue empty", from: `"linearValue":50`, to: `"linearValue":""`, periodNumber: 1},
		{name: "linearValue blank", from: `"linearValue":50`, to: `"linearValue":"  "`, periodNumber: 1},
		{name: "linearValue null", from: `"linearValue":50`, to: `"linearValue":null`, periodNumber: 1},
		{name: "linearValue a word", from: `"linearValue":50`, to: `"linearValue":"fifty"`, periodNumber: 1},
		{name: "linearValue a fraction, kept as sent", from: `"linearValue":50`, to: `"linearValue":"2.50"`, periodNumber: 1, linearValue: number("2.50")},
		{name: "linearValue past int64, kept as sent", from: `"linearValue":50`, to: `"linearValue":123456789012345678901234567890`, periodNumber: 1,
			linearValue: number("123456789012345678901234567890")},
		{name: "all three loose at once", from: `"periodNumber":1`, to: `"periodNumber":"3"`, periodNumber: 3, linearValue: number("50")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := mockPeriodYearNew
			if tc.from != "" {
				g.Expect(body).To(ContainSubstring(tc.from))
				body = strings.Replace(body, tc.from, tc.to, 1)
			}
			if tc.name == "all three loose at once" {
				body = strings.NewReplacer(`"customerType":0`, `"customerType":""`, `"linearValue":50`, `"linearValue":"50"`).Replace(body)
			}
			m := newMarketplace(t, answerWith(http.StatusOK, body))
			order, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(order.OrderLine).To(HaveLen(1))
			line := order.OrderLine[0]
			g.Expect(line.PeriodNumber).To(Equal(tc.periodNumber))
			g.Expect(line.ProductInfo).To(HaveLen(1))
			g.Expect(line.ProductInfo[0].LinearValue).To(Equal(tc.linearValue))
			g.Expect(order.BuyerInfo.CustomerType).To(Equal(tc.customerType))
			// The rest of the answer reads as before.
			g.Expect(line.ProductInfo[0].SKUCode).To(Equal("0a4d1578-5295-46a7-92d4-7c803dccc51d"))
			g.Expect(line.ProductInfo[0].ProductName).To(Equal("MOCK测试商品,测试规格,基础版,包周期"))
			g.Expect(line.ExtendParams).To(HaveLen(2))
			g.Expect(order.BuyerInfo.CustomerName).To(Equal("mock_user_01"))
		})
	}
}

// Loose reading does not hide what is wrong with a field the spec types as
// a String or a list: such an answer still fails, naming the field.
func TestQueryOrderStillRefusesABrokenLine(t *testing.T) {
	for _, tc := range []struct{ name, from, to, field string }{
		{name: "productInfo not a list", from: `"productInfo":[`, to: `"productInfo":7,"x":[`, field: "productInfo"},
		{name: "expireTime an object", from: `"expireTime":"20251121235959"`, to: `"expireTime":{}`, field: "expireTime"},
		{name: "skuCode a list", from: `"skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d"`, to: `"skuCode":[]`, field: "skuCode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := strings.Replace(mockPeriodYearNew, tc.from, tc.to, 1)
			g.Expect(body).NotTo(Equal(mockPeriodYearNew))
			m := newMarketplace(t, answerWith(http.StatusOK, body))
			_, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
			g.Expect(err).To(MatchError(And(ContainSubstring("failed to decode answer"), ContainSubstring(tc.field))))
		})
	}
}
