package orders

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// mockAnswer is the real answer for MOCKPERIODYEARNEW quoted in spec §6.3.
const mockAnswer = `{"resultCode":"MKT.0000","resultMsg":"Success","orderInfo":{"orderId":"MOCKPERIODYEARNEW","orderType":"NEW","createTime":"20241121090846","orderLine":[{"orderLineId":"MOCKPERIODYEARNEW-000001","chargingMode":"PERIOD","periodType":"year","periodNumber":1,"expireTime":"20251121235959","productInfo":[{"productId":"OFFI846204237451911168","skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d","linearValue":50,"productName":"MOCK测试商品,测试规格,基础版,包周期"}],"extendParams":[{"name":"emailDomainName","value":"test.xxxx.com"},{"name":"ip","value":"127.0.0.1"}],"currency":"100","currencyAfterDiscount":"100"}],"buyerInfo":{"mobilePhone":"18688888888","email":null,"customerId":"459bbbec25d24749b2eb83be37b602a8","customerName":"mock_user_01","customerRealName":"测试用户1","customerType":0,"userId":null,"userName":null},"extendParams":[]}}`

// FuzzQueryOrderAnswer decodes a Query Order answer as
// koogallery.Client.QueryOrder does and resolves it: nothing panics, an
// order either resolves to values that fit their CRD bounds (so its status
// can be written) or fails as unusable with a message, Integer fields
// sent as anything (integer, in the mock answer) never fail the decode, and
// String fields sent as a number or boolean (integer bare, when it is one)
// decode as its text.
func FuzzQueryOrderAnswer(f *testing.F) {
	f.Add([]byte(mockAnswer), "1")
	loose := strings.NewReplacer(`"periodNumber":1`, `"periodNumber":"1"`, `"customerType":0`, `"customerType":"0"`, `"linearValue":50`, `"linearValue":""`)
	f.Add([]byte(loose.Replace(mockAnswer)), "")
	// String fields written as numbers and booleans (issue 16).
	f.Add([]byte(numbersForStrings.Replace(mockAnswer)), "true")
	f.Add([]byte(mockAnswer), "99.50")
	f.Add([]byte(mockAnswer), "20251121235959")
	f.Add([]byte(strings.Replace(mockAnswer, `"periodType":"year"`, `"periodType":"yearly_subscription"`, 1)), "0")
	f.Add([]byte(strings.Replace(mockAnswer, `"skuCode":"0a4d1578`, `"skuCode":"`+strings.Repeat("s", 60)+`0a4d1578`, 1)), "x")
	f.Add([]byte(strings.Replace(mockAnswer, `"customerName":"mock_user_01"`, `"customerName":"`+strings.Repeat("测", 130)+`"`, 1)), " 12 ")
	f.Add([]byte(strings.Replace(mockAnswer, `"orderType":"NEW"`, `"orderType":"`+strings.Repeat("\\u00e9", 40)+`"`, 1)), "1e3")
	f.Add([]byte(`{"resultCode":"MKT.0000","orderInfo":{"orderLine":[{"productInfo":[{}]}]}}`), "-5")
	f.Add([]byte(`{"resultCode":"MKT.0000","orderInfo":null}`), "99999999999999999999")
	// Whole numbers written as decimals or with an exponent: linearValue 50.
	f.Add([]byte(mockAnswer), "50.0")
	f.Add([]byte(mockAnswer), "5e1")
	f.Fuzz(func(t *testing.T, body []byte, integer string) {
		var answer koogallery.QueryOrderResponse
		if json.Unmarshal(body, &answer) == nil {
			resolveEveryLine(t, answer.OrderInfo)
		}
		// The Integer fields of the mock answer, sent as a string.
		text, err := json.Marshal(integer)
		if err != nil {
			return
		}
		v := string(text)
		looseBody := strings.NewReplacer(`"periodNumber":1`, `"periodNumber":`+v, `"customerType":0`, `"customerType":`+v, `"linearValue":50`, `"linearValue":`+v).Replace(mockAnswer)
		answer = koogallery.QueryOrderResponse{}
		if err := json.Unmarshal([]byte(looseBody), &answer); err != nil {
			t.Fatalf("the mock answer with its Integer fields %s does not decode: %v", v, err)
		}
		resolved, err := Resolved(answer.OrderInfo, &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"})
		if err != nil {
			t.Fatalf("the mock answer with its Integer fields %s does not resolve: %v", v, err)
		}
		// The decode keeps a JSON number's text as sent, so the order
		// holds what ParseLinearValue reads of it (0 when it reads none,
		// or the text is no JSON number, such as 0001).
		var want int64
		if trimmed := strings.TrimSpace(integer); isJSONNumber(trimmed) {
			want, _ = ParseLinearValue(json.Number(trimmed))
		}
		if resolved.LinearValue != want {
			t.Fatalf("linearValue %s resolved as %d, not %d", v, resolved.LinearValue, want)
		}
		checkBareStrings(t, strings.TrimSpace(integer))
	})
}

// isJSONNumber reports whether s is one JSON number literal, such as 50,
// -3, 2.5 or 1e3 (what the client keeps of an Integer field).
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s))
}

// numbersForStrings writes String fields of the mock answer as numbers and
// booleans, as the marketplace may (issue 16).
var numbersForStrings = strings.NewReplacer(`"orderType":"NEW"`, `"orderType":true`, `"createTime":"20241121090846"`, `"createTime":20241121090846`,
	`"expireTime":"20251121235959"`, `"expireTime":20251121235959`, `"currency":"100"`, `"currency":100`,
	`"mobilePhone":"18688888888"`, `"mobilePhone":18688888888`, `"value":"test.xxxx.com"`, `"value":5`, `"email":null`, `"email":false`)

// checkBareStrings writes literal, when it is a JSON number or boolean,
// bare into String fields of the mock answer at each level (orderInfo, a
// line, its product, an extended parameter, the buyer): the answer must
// decode, each field reading literal's text exactly, and resolve as any
// answer does.
func checkBareStrings(t *testing.T, literal string) {
	t.Helper()
	isNumber := literal != "" && (literal[0] == '-' || literal[0] >= '0' && literal[0] <= '9') && json.Valid([]byte(literal))
	if !isNumber && literal != "true" && literal != "false" {
		return
	}
	body := strings.NewReplacer(`"createTime":"20241121090846"`, `"createTime":`+literal, `"currency":"100"`, `"currency":`+literal,
		`"skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d"`, `"skuCode":`+literal, `"value":"127.0.0.1"`, `"value":`+literal,
		`"mobilePhone":"18688888888"`, `"mobilePhone":`+literal).Replace(mockAnswer)
	var answer koogallery.QueryOrderResponse
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatalf("the mock answer with String fields %s does not decode: %v", literal, err)
	}
	line := answer.OrderInfo.OrderLine[0]
	for name, got := range map[string]string{"createTime": answer.OrderInfo.CreateTime, "currency": line.Currency,
		"skuCode": line.ProductInfo[0].SKUCode, "extendParams value": line.ExtendParams[1].Value, "mobilePhone": answer.OrderInfo.BuyerInfo.MobilePhone} {
		if got != literal {
			t.Fatalf("%s sent as %s reads as %q", name, literal, got)
		}
	}
	resolveEveryLine(t, answer.OrderInfo)
}

// resolveEveryLine resolves info for no line ID and for each of its lines'
// IDs an applied order can hold (the CRD bounds them to 64), and checks
// the outcome.
func resolveEveryLine(t *testing.T, info *koogallery.OrderInfo) {
	t.Helper()
	lineIDs := []string{""}
	if info != nil {
		for _, l := range info.OrderLine {
			if l.OrderLineID != "" && utf8.RuneCountInString(l.OrderLineID) <= 64 {
				lineIDs = append(lineIDs, l.OrderLineID)
			}
		}
	}
	for _, lineID := range lineIDs {
		resolved, err := Resolved(info, &saasv1alpha1.AppliedOrder{OrderID: "CS1", OrderLineID: lineID})
		if err != nil {
			if !errors.Is(err, ErrUnusable) || err.Error() == "" {
				t.Fatalf("line %q: an error that is not ErrUnusable: %v", lineID, err)
			}
			continue
		}
		checkFits(t, resolved)
	}
}

// checkFits fails t unless every value of r fits its CRD bound (the
// constants, which TestBoundsMatchTheCRDs ties to the schemas), so that a
// status holding r can be written.
func checkFits(t *testing.T, r *saasv1alpha1.ResolvedOrder) {
	t.Helper()
	for _, f := range []struct {
		name, value string
		bound       int
	}{
		{"productId", r.ProductID, maxProductID}, {"skuCode", r.SKUCode, maxSKUCode}, {"orderType", r.OrderType, maxOrderType},
		{"periodType", r.PeriodType, maxPeriodType}, {"customerId", r.CustomerID, maxCustomerID}, {"customerName", r.CustomerName, maxCustomerName},
	} {
		if n := utf8.RuneCountInString(f.value); n > f.bound || !utf8.ValidString(f.value) {
			t.Fatalf("%s %q: %d characters (bound %d), valid UTF-8 %v", f.name, f.value, n, f.bound, utf8.ValidString(f.value))
		}
	}
	if r.PeriodNumber < 0 || r.PeriodNumber > 1000 || r.LinearValue < 0 {
		t.Fatalf("periodNumber %d or linearValue %d out of bounds", r.PeriodNumber, r.LinearValue)
	}
	if _, ok := chargingModeNames[r.ChargingMode]; !ok && r.ChargingMode != "" {
		t.Fatalf("chargingMode %q is not in the CRD's enum", r.ChargingMode)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("%+v does not marshal: %v", r, err)
	}
}

// chargingModeNames are the values ChargingMode's CRD enum allows.
var chargingModeNames = map[saasv1alpha1.ChargingMode]bool{
	saasv1alpha1.ChargingPeriod: true, saasv1alpha1.ChargingOneTime: true, saasv1alpha1.ChargingOnDemand: true, saasv1alpha1.ChargingOnDemandPackage: true,
}
