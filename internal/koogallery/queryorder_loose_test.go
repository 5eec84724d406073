package koogallery

import (
	"context"
	"encoding/json"
	"fmt"
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
		{name: "expireTime an object", from: `"expireTime":"20251121235959"`, to: `"expireTime":{}`, field: "orderLine.expireTime"},
		{name: "skuCode a list", from: `"skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d"`, to: `"skuCode":[]`, field: "skuCode"},
		// String fields read loosely still refuse an object or a list.
		{name: "orderId an object", from: `"orderId":"MOCKPERIODYEARNEW"`, to: `"orderId":{"id":1}`, field: "orderId"},
		{name: "orderLineId a list", from: `"orderLineId":"MOCKPERIODYEARNEW-000001"`, to: `"orderLineId":[1001]`, field: "orderLineId"},
		{name: "currency an object", from: `"currency":"100"`, to: `"currency":{"amount":100}`, field: "currency"},
		{name: "productName a list", from: `"productName":"MOCK`, to: `"productName":[],"x":"MOCK`, field: "productName"},
		{name: "an extendParams value an object", from: `"value":"test.xxxx.com"`, to: `"value":{}`, field: "orderLine.extendParams.value"},
		{name: "mobilePhone a list", from: `"mobilePhone":"18688888888"`, to: `"mobilePhone":["18688888888"]`, field: "buyerInfo.mobilePhone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := strings.Replace(mockPeriodYearNew, tc.from, tc.to, 1)
			g.Expect(body).NotTo(Equal(mockPeriodYearNew))
			m := newMarketplace(t, answerWith(http.StatusOK, body))
			_, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
			g.Expect(err).To(MatchError(And(ContainSubstring("failed to decode answer"), ContainSubstring(tc.field))))
			g.Expect(err.Error()).To(ContainSubstring("QueryOrderResponse.orderInfo."), "the path is the answer's")
			g.Expect(err.Error()).NotTo(ContainSubstring("plain"), "the path is the answer's")
		})
	}
}

// mockOrder is what the mock answer (mockPeriodYearNew, spec §6.3) decodes
// to, field for field: the nulls read as empty, the empty extendParams as
// an empty list.
func mockOrder() OrderInfo {
	fifty := json.Number("50")
	return OrderInfo{
		OrderID: "MOCKPERIODYEARNEW", OrderType: OrderNew, CreateTime: "20241121090846",
		OrderLine: []OrderLine{{
			OrderLineID: "MOCKPERIODYEARNEW-000001", ChargingMode: ChargingPeriod, PeriodType: "year", PeriodNumber: 1,
			ExpireTime: "20251121235959",
			ProductInfo: []ProductInfo{{ProductID: "OFFI846204237451911168", SKUCode: "0a4d1578-5295-46a7-92d4-7c803dccc51d",
				LinearValue: &fifty, ProductName: "MOCK测试商品,测试规格,基础版,包周期"}},
			ExtendParams: []NameValue{{Name: "emailDomainName", Value: "test.xxxx.com"}, {Name: "ip", Value: "127.0.0.1"}},
			Currency:     "100", CurrencyAfterDiscount: "100",
		}},
		BuyerInfo: &BuyerInfo{MobilePhone: "18688888888", CustomerID: "459bbbec25d24749b2eb83be37b602a8",
			CustomerName: "mock_user_01", CustomerRealName: "测试用户1"},
		ExtendParams: []NameValue{},
	}
}

// Query Order's String fields (spec §6.3) read as the callbacks read theirs
// (issue 16): a number or boolean as its text exactly as sent (99.50 stays
// "99.50"), null as empty. Before, json.Unmarshal refused a number for a
// string: the whole answer "failed to decode" (or, for resultMsg, was taken
// for a failed call), so the paid order was asked for again for ever; every
// number and boolean row below failed so, the null rows passed already.
func TestQueryOrderReadsStringFieldsLoosely(t *testing.T) {
	line := func(o *OrderInfo) *OrderLine { return &o.OrderLine[0] }
	product := func(o *OrderInfo) *ProductInfo { return &o.OrderLine[0].ProductInfo[0] }
	for _, f := range []struct {
		field, from, to, number string
		set                     func(o *OrderInfo, v string)
	}{
		{"resultMsg", `"resultMsg":"Success"`, `"resultMsg":%s`, "0", func(*OrderInfo, string) {}},
		{"orderId", `"orderId":"MOCKPERIODYEARNEW"`, `"orderId":%s`, "1001", func(o *OrderInfo, v string) { o.OrderID = v }},
		{"orderType", `"orderType":"NEW"`, `"orderType":%s`, "1", func(o *OrderInfo, v string) { o.OrderType = v }},
		{"createTime", `"createTime":"20241121090846"`, `"createTime":%s`, "20241121090846", func(o *OrderInfo, v string) { o.CreateTime = v }},
		{"orderLineId", `"orderLineId":"MOCKPERIODYEARNEW-000001"`, `"orderLineId":%s`, "1001", func(o *OrderInfo, v string) { line(o).OrderLineID = v }},
		{"chargingMode", `"chargingMode":"PERIOD"`, `"chargingMode":%s`, "2", func(o *OrderInfo, v string) { line(o).ChargingMode = v }},
		{"periodType", `"periodType":"year"`, `"periodType":%s`, "12", func(o *OrderInfo, v string) { line(o).PeriodType = v }},
		{"expireTime", `"expireTime":"20251121235959"`, `"expireTime":%s`, "20251121235959", func(o *OrderInfo, v string) { line(o).ExpireTime = v }},
		{"currency", `"currency":"100"`, `"currency":%s`, "100", func(o *OrderInfo, v string) { line(o).Currency = v }},
		{"currencyAfterDiscount", `"currencyAfterDiscount":"100"`, `"currencyAfterDiscount":%s`, "99.50", func(o *OrderInfo, v string) { line(o).CurrencyAfterDiscount = v }},
		{"productId", `"productId":"OFFI846204237451911168"`, `"productId":%s`, "846204237451911168", func(o *OrderInfo, v string) { product(o).ProductID = v }},
		{"skuCode", `"skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d"`, `"skuCode":%s`, "123", func(o *OrderInfo, v string) { product(o).SKUCode = v }},
		{"productName", `"productName":"MOCK测试商品,测试规格,基础版,包周期"`, `"productName":%s`, "7", func(o *OrderInfo, v string) { product(o).ProductName = v }},
		{"a line's extendParams name", `"name":"emailDomainName"`, `"name":%s`, "5", func(o *OrderInfo, v string) { line(o).ExtendParams[0].Name = v }},
		{"a line's extendParams value", `"value":"test.xxxx.com"`, `"value":%s`, "5", func(o *OrderInfo, v string) { line(o).ExtendParams[0].Value = v }},
		{"an order's extendParams value", `"extendParams":[]`, `"extendParams":[{"name":"n","value":%s}]`, "5",
			func(o *OrderInfo, v string) { o.ExtendParams = []NameValue{{Name: "n", Value: v}} }},
		{"mobilePhone", `"mobilePhone":"18688888888"`, `"mobilePhone":%s`, "18688888888", func(o *OrderInfo, v string) { o.BuyerInfo.MobilePhone = v }},
		{"email", `"email":null`, `"email":%s`, "5", func(o *OrderInfo, v string) { o.BuyerInfo.Email = v }},
		{"customerId", `"customerId":"459bbbec25d24749b2eb83be37b602a8"`, `"customerId":%s`, "459", func(o *OrderInfo, v string) { o.BuyerInfo.CustomerID = v }},
		{"customerName", `"customerName":"mock_user_01"`, `"customerName":%s`, "1", func(o *OrderInfo, v string) { o.BuyerInfo.CustomerName = v }},
		{"customerRealName", `"customerRealName":"测试用户1"`, `"customerRealName":%s`, "1", func(o *OrderInfo, v string) { o.BuyerInfo.CustomerRealName = v }},
		{"userId", `"userId":null`, `"userId":%s`, "1", func(o *OrderInfo, v string) { o.BuyerInfo.UserID = v }},
		{"userName", `"userName":null`, `"userName":%s`, "-1", func(o *OrderInfo, v string) { o.BuyerInfo.UserName = v }},
	} {
		for _, sent := range []struct{ literal, text string }{{f.number, f.number}, {"true", "true"}, {"false", "false"}, {"null", ""}} {
			t.Run(f.field+" as "+sent.literal, func(t *testing.T) {
				g := NewWithT(t)
				g.Expect(mockPeriodYearNew).To(ContainSubstring(f.from))
				body := strings.Replace(mockPeriodYearNew, f.from, fmt.Sprintf(f.to, sent.literal), 1)
				m := newMarketplace(t, answerWith(http.StatusOK, body))
				order, err := testClient([]*marketplace{m}, m.URL).QueryOrder(context.Background(), "MOCKPERIODYEARNEW", "")
				g.Expect(err).NotTo(HaveOccurred())
				want := mockOrder()
				f.set(&want, sent.text)
				g.Expect(*order).To(Equal(want))
			})
		}
	}
}

// The spec's answer decodes exactly as it did before String fields were
// read loosely: every field, nulls as empty.
func TestQueryOrderDecodesTheMockAnswerAsBefore(t *testing.T) {
	g := NewWithT(t)
	var answer QueryOrderResponse
	g.Expect(json.Unmarshal([]byte(mockPeriodYearNew), &answer)).To(Succeed())
	want := mockOrder()
	g.Expect(answer).To(Equal(QueryOrderResponse{ResultCode: OpenAPISuccess, ResultMsg: "Success", OrderInfo: &want}))
}
