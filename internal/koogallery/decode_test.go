package koogallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// long returns a string of n characters (multi-byte, to check that lengths
// are counted in characters).
func long(n int) string {
	return strings.Repeat("请", n)
}

// withField returns body with field set to the raw JSON value, or removed
// when raw is empty.
func withField(body, field, raw string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		panic(err)
	}
	if raw == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(raw)
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func quoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const (
	queryBody   = `{"activity":"queryInstance","instanceId":"a, b ,,c","testFlag":"1"}`
	releaseBody = `{"activity":"releaseInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001"}`
	notifyBody  = `{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`
	changeBody  = `{"activity":"changeInstanceCheck","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","productInfo":{"productId":"OFFI846204237451911168","skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d","linearValue":50,"productName":"基础版"}}`
)

func TestDecodeRequestValid(t *testing.T) {
	fifty := json.Number("50")
	tests := []struct {
		name     string
		body     string
		activity Activity
		want     any
	}{
		{"newInstance", b1Body, ActivityNewInstance, &NewInstanceRequest{Activity: "newInstance", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", BusinessID: "87b94795-0603-4e24-8ae5-69420d60e3c8", TestFlag: "1"}},
		{"queryInstance", queryBody, ActivityQueryInstance, &QueryInstanceRequest{Activity: "queryInstance", InstanceID: "a, b ,,c", TestFlag: "1"}},
		{"refreshInstance", refreshBody, ActivityRefreshInstance, &RefreshInstanceRequest{Activity: "refreshInstance", Scene: "RENEWAL", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", ExpireTime: "20221124023618256", TestFlag: "1"}},
		{"updateInstanceStatus", statusBody, ActivityUpdateInstanceStatus, &UpdateInstanceStatusRequest{Activity: "updateInstanceStatus", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", Status: "FREEZE", TestFlag: "1"}},
		{"releaseInstance", releaseBody, ActivityReleaseInstance, &ReleaseInstanceRequest{Activity: "releaseInstance", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001"}},
		{"releaseInstance without order", `{"activity":"releaseInstance","instanceId":"i"}`, ActivityReleaseInstance, &ReleaseInstanceRequest{Activity: "releaseInstance", InstanceID: "i"}},
		{"upgradeInstance", upgradeBody, ActivityUpgradeInstance, &UpgradeInstanceRequest{Activity: "upgradeInstance", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", TestFlag: "0"}},
		{"changeInstanceCheck", changeBody, ActivityChangeInstanceCheck, &ChangeInstanceCheckRequest{Activity: "changeInstanceCheck", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", ProductInfo: &ProductInfo{ProductID: "OFFI846204237451911168", SKUCode: "0a4d1578-5295-46a7-92d4-7c803dccc51d", LinearValue: &fifty, ProductName: "基础版"}}},
		{"getLicenseAsync", licenseBody, ActivityGetLicenseAsync, &GetLicenseAsyncRequest{Activity: "getLicenseAsync", InstanceID: "RA2****4LVS", EffectiveTime: "2023-10-27 10:30:15 z", ExpireTime: "2024-10-27 10:30:15 z", EventID: "8****e5694*****c8", DeviceFingerprint: "8******6034e2*****60e1"}},
		{"orderNotify", notifyBody, ActivityOrderNotify, &OrderNotifyRequest{Activity: "orderNotify", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", TestFlag: "0"}},
		{"orderNotify without testFlag (read as 0)", withField(notifyBody, "testFlag", ""), ActivityOrderNotify, &OrderNotifyRequest{Activity: "orderNotify", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001"}},
		{"orderNotify with a numeric orderId", withField(notifyBody, "orderId", "2211181819"), ActivityOrderNotify, &OrderNotifyRequest{Activity: "orderNotify", OrderID: "2211181819", OrderLineID: "CS2211181819B4LVS-000001", TestFlag: "0"}},
		{"unknown fields are tolerated", withField(withField(b1Body, "trialFlag", `"1"`), "buyerInfo", `{"a":[1,null]}`), ActivityNewInstance, &NewInstanceRequest{Activity: "newInstance", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", BusinessID: "87b94795-0603-4e24-8ae5-69420d60e3c8", TestFlag: "1"}},
		{"field names are case-sensitive", withField(b1Body, "OrderId", `"other"`), ActivityNewInstance, &NewInstanceRequest{Activity: "newInstance", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", BusinessID: "87b94795-0603-4e24-8ae5-69420d60e3c8", TestFlag: "1"}},
		{"null optional field is absent", withField(b1Body, "testFlag", `null`), ActivityNewInstance, &NewInstanceRequest{Activity: "newInstance", OrderID: "CS2211181819B4LVS", OrderLineID: "CS2211181819B4LVS-000001", BusinessID: "87b94795-0603-4e24-8ae5-69420d60e3c8"}},
		{"maximum lengths", withField(b1Body, "orderId", quoted(long(64))), ActivityNewInstance, &NewInstanceRequest{Activity: "newInstance", OrderID: long(64), OrderLineID: "CS2211181819B4LVS-000001", BusinessID: "87b94795-0603-4e24-8ae5-69420d60e3c8", TestFlag: "1"}},
		{"escaped strings", `{"activity":"\u0071ueryInstance","instanceId":"\u8bf7"}`, ActivityQueryInstance, &QueryInstanceRequest{Activity: "queryInstance", InstanceID: "请"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			activity, req, err := DecodeRequest([]byte(tt.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(activity).To(Equal(tt.activity))
			g.Expect(req).To(Equal(tt.want))
		})
	}
}

func TestDecodeRequestInvalid(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantMsg string
	}{
		{"missing activity", withField(b1Body, "activity", ""), "activity is required"},
		{"null activity", withField(b1Body, "activity", "null"), "activity is required"},
		{"empty activity", withField(b1Body, "activity", `""`), "activity is required"},
		{"activity is an object", withField(b1Body, "activity", `{}`), "activity must be a string"},
		{"activity is a number", withField(b1Body, "activity", `1`), `activity: unknown activity (its value is not a name and is not shown)`},
		{"activity is an e-mail address", withField(b1Body, "activity", `"li.lei@example.cn"`), `activity: unknown activity (its value is not a name and is not shown)`},
		{"activity is too long for a name", withField(b1Body, "activity", `"`+strings.Repeat("a", 33)+`"`), `activity: unknown activity (its value is not a name and is not shown)`},
		{"activity is a name kooper does not handle", withField(b1Body, "activity", `"getLicense"`), `activity: unknown activity "getLicense"`},
		{"unknown activity", `{"activity":"x"}`, `activity: unknown activity "x"`},
		{"legacy activity", `{"activity":"expireInstance","instanceId":"i"}`, `activity: unknown activity "expireInstance"`},
		{"activity in the wrong case", `{"activity":"NewInstance"}`, `activity: unknown activity "NewInstance"`},

		{"newInstance without orderId", withField(b1Body, "orderId", ""), "orderId is required"},
		{"newInstance without orderLineId", withField(b1Body, "orderLineId", ""), "orderLineId is required"},
		{"newInstance without businessId", withField(b1Body, "businessId", ""), "businessId is required"},
		{"newInstance with an empty orderId", withField(b1Body, "orderId", `""`), "orderId is required"},
		{"newInstance with a long orderId", withField(b1Body, "orderId", quoted(long(65))), "orderId is longer than 64 characters"},
		{"newInstance with a long orderLineId", withField(b1Body, "orderLineId", quoted(long(65))), "orderLineId is longer than 64 characters"},
		{"newInstance with a long businessId", withField(b1Body, "businessId", quoted(long(65))), "businessId is longer than 64 characters"},
		{"newInstance with an object orderId", withField(b1Body, "orderId", `{}`), "orderId must be a string"},
		{"newInstance with an array businessId", withField(b1Body, "businessId", `["b"]`), "businessId must be a string"},
		{"newInstance with a long numeric orderId", withField(b1Body, "orderId", strings.Repeat("1", 65)), "orderId is longer than 64 characters"},
		{"newInstance with testFlag 2", withField(b1Body, "testFlag", `"2"`), "testFlag must be 0 or 1"},
		{"newInstance with testFlag 2 as a number", withField(b1Body, "testFlag", `2`), "testFlag must be 0 or 1"},
		{"newInstance with testFlag 1.0", withField(b1Body, "testFlag", `1.0`), "testFlag must be 0 or 1"},
		{"newInstance with testFlag yes", withField(b1Body, "testFlag", `"yes"`), "testFlag must be 0 or 1"},
		{"newInstance with testFlag TRUE", withField(b1Body, "testFlag", `"TRUE"`), "testFlag must be 0 or 1"},
		{"newInstance with an object testFlag", withField(b1Body, "testFlag", `{"v":1}`), "testFlag must be a string"},

		{"orderNotify without orderId", withField(notifyBody, "orderId", ""), "orderId is required"},
		{"orderNotify with a null orderLineId", withField(notifyBody, "orderLineId", "null"), "orderLineId is required"},
		{"orderNotify with a long orderLineId", withField(notifyBody, "orderLineId", quoted(long(65))), "orderLineId is longer than 64 characters"},
		{"orderNotify with testFlag 2", withField(notifyBody, "testFlag", `"2"`), "testFlag must be 0 or 1"},

		{"queryInstance without instanceId", withField(queryBody, "instanceId", ""), "instanceId is required"},
		{"queryInstance with only commas", withField(queryBody, "instanceId", `" , ,"`), "instanceId is required"},
		{"queryInstance with a long ID", withField(queryBody, "instanceId", quoted("a,"+long(65))), "instanceId is longer than 64 characters"},
		{"queryInstance with too many IDs", withField(queryBody, "instanceId", quoted(strings.Repeat("i,", 101))), "instanceId has 101 IDs, more than 100"},
		{"queryInstance with a bad testFlag", withField(queryBody, "testFlag", `"01"`), "testFlag must be 0 or 1"},
		{"queryInstance with an array instanceId", withField(queryBody, "instanceId", `["a"]`), "instanceId must be a string"},

		{"refreshInstance without scene", withField(refreshBody, "scene", ""), "scene must be one of TRIAL_TO_FORMAL, RENEWAL, UNSUBSCRIBE_RENEWAL_PERIOD, RENEWAL_CHANGE"},
		{"refreshInstance with a bad scene", withField(refreshBody, "scene", `"renewal"`), "scene must be one of TRIAL_TO_FORMAL, RENEWAL, UNSUBSCRIBE_RENEWAL_PERIOD, RENEWAL_CHANGE"},
		{"refreshInstance without orderId", withField(refreshBody, "orderId", ""), "orderId is required"},
		{"refreshInstance without orderLineId", withField(refreshBody, "orderLineId", ""), "orderLineId is required"},
		{"refreshInstance without instanceId", withField(refreshBody, "instanceId", ""), "instanceId is required"},
		{"refreshInstance without expireTime", withField(refreshBody, "expireTime", ""), "expireTime is required"},
		{"refreshInstance with a long instanceId", withField(refreshBody, "instanceId", quoted(long(65))), "instanceId is longer than 64 characters"},
		{"refreshInstance with a long productId", withField(refreshBody, "productId", quoted(long(65))), "productId is longer than 64 characters"},
		{"refreshInstance with a long expireTime", withField(refreshBody, "expireTime", quoted(strings.Repeat("1", 21))), "expireTime is longer than 20 characters"},
		{"refreshInstance with a bad expireTime", withField(refreshBody, "expireTime", `"2022-11-24T02:36:18Z"`), "expireTime must be yyyyMMddHHmmss or yyyyMMddHHmmssSSS (UTC)"},
		{"refreshInstance with an impossible expireTime", withField(refreshBody, "expireTime", `"20220230000000"`), "expireTime must be yyyyMMddHHmmss or yyyyMMddHHmmssSSS (UTC)"},
		{"refreshInstance with a bad testFlag", withField(refreshBody, "testFlag", `"yes"`), "testFlag must be 0 or 1"},

		{"updateInstanceStatus without instanceId", withField(statusBody, "instanceId", ""), "instanceId is required"},
		{"updateInstanceStatus with a long instanceId", withField(statusBody, "instanceId", quoted(long(65))), "instanceId is longer than 64 characters"},
		{"updateInstanceStatus without status", withField(statusBody, "status", ""), "status must be FREEZE or UNFREEZE"},
		{"updateInstanceStatus with a bad status", withField(statusBody, "status", `"freeze"`), "status must be FREEZE or UNFREEZE"},
		{"updateInstanceStatus with a bad testFlag", withField(statusBody, "testFlag", `"-1"`), "testFlag must be 0 or 1"},

		{"releaseInstance without instanceId", withField(releaseBody, "instanceId", ""), "instanceId is required"},
		{"releaseInstance with a long orderId", withField(releaseBody, "orderId", quoted(long(65))), "orderId is longer than 64 characters"},
		{"releaseInstance with a long orderLineId", withField(releaseBody, "orderLineId", quoted(long(65))), "orderLineId is longer than 64 characters"},
		{"releaseInstance with a bad testFlag", withField(releaseBody, "testFlag", `"x"`), "testFlag must be 0 or 1"},

		{"upgradeInstance without instanceId", withField(upgradeBody, "instanceId", ""), "instanceId is required"},
		{"upgradeInstance without orderId", withField(upgradeBody, "orderId", ""), "orderId is required"},
		{"upgradeInstance without orderLineId", withField(upgradeBody, "orderLineId", ""), "orderLineId is required"},
		{"upgradeInstance with a long orderId", withField(upgradeBody, "orderId", quoted(long(65))), "orderId is longer than 64 characters"},
		{"upgradeInstance with a bad testFlag", withField(upgradeBody, "testFlag", `"00"`), "testFlag must be 0 or 1"},

		{"changeInstanceCheck without instanceId", withField(changeBody, "instanceId", ""), "instanceId is required"},
		{"changeInstanceCheck without productInfo", withField(changeBody, "productInfo", ""), "productInfo is required"},
		{"changeInstanceCheck with a null productInfo", withField(changeBody, "productInfo", "null"), "productInfo is required"},
		{"changeInstanceCheck with a numeric productInfo", withField(changeBody, "productInfo", `1`), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with an array productInfo", withField(changeBody, "productInfo", `[{}]`), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with a string holding an array", withField(changeBody, "productInfo", `"[{}]"`), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with a string holding broken JSON", withField(changeBody, "productInfo", quoted(`{"skuCode":`)), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with a string holding an object and more", withField(changeBody, "productInfo", quoted(`{}{}`)), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with an empty string productInfo", withField(changeBody, "productInfo", `""`), "productInfo must be an object, or a string holding one"},
		{"changeInstanceCheck with an object skuCode", withField(changeBody, "productInfo", `{"skuCode":{}}`), "productInfo.skuCode must be a string"},
		{"changeInstanceCheck with a bad linearValue", withField(changeBody, "productInfo", `{"linearValue":"many"}`), "productInfo.linearValue must be a number"},
		{"changeInstanceCheck with a boolean linearValue", withField(changeBody, "productInfo", `{"linearValue":true}`), "productInfo.linearValue must be a number"},
		{"changeInstanceCheck with a long skuCode", withField(changeBody, "productInfo", `{"skuCode":`+quoted(long(65))+`}`), "productInfo.skuCode is longer than 64 characters"},
		{"changeInstanceCheck with a long skuCode in a string", withField(changeBody, "productInfo", quoted(`{"skuCode":`+quoted(long(65))+`}`)), "productInfo.skuCode is longer than 64 characters"},
		{"changeInstanceCheck with a bad testFlag", withField(changeBody, "testFlag", `"2"`), "testFlag must be 0 or 1"},

		{"getLicenseAsync without instanceId", withField(licenseBody, "instanceId", ""), "instanceId is required"},
		{"getLicenseAsync without effectiveTime", withField(licenseBody, "effectiveTime", ""), "effectiveTime is required"},
		{"getLicenseAsync without eventId", withField(licenseBody, "eventId", ""), "eventId is required"},
		{"getLicenseAsync with a long effectiveTime", withField(licenseBody, "effectiveTime", quoted(long(33))), "effectiveTime is longer than 32 characters"},
		{"getLicenseAsync with a long expireTime", withField(licenseBody, "expireTime", quoted(long(33))), "expireTime is longer than 32 characters"},
		{"getLicenseAsync with a long eventId", withField(licenseBody, "eventId", quoted(long(65))), "eventId is longer than 64 characters"},
		{"getLicenseAsync with a long deviceFingerprint", withField(licenseBody, "deviceFingerprint", quoted(long(1025))), "deviceFingerprint is longer than 1024 characters"},
		{"getLicenseAsync with a bad testFlag", withField(licenseBody, "testFlag", `"3"`), "testFlag must be 0 or 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, req, err := DecodeRequest([]byte(tt.body))
			g.Expect(req).To(BeNil())
			var verr *ValidationError
			g.Expect(errors.As(err, &verr)).To(BeTrue(), "error %v is a *ValidationError", err)
			g.Expect(err).To(MatchError(tt.wantMsg))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}
}

// TestDecodeRequestReadsLooseTypes: where a string is documented, a number
// or boolean is read as its text; testFlag's 1, "1", true and "true" all
// mean debug; where an object is documented, a string holding it is read
// as the object.
func TestDecodeRequestReadsLooseTypes(t *testing.T) {
	fifty, five := json.Number("50"), json.Number("5")
	wantInfo := &ProductInfo{ProductID: "OFFI846204237451911168", SKUCode: "0a4d1578-5295-46a7-92d4-7c803dccc51d", LinearValue: &fifty, ProductName: "基础版"}
	newInstance := func(orderID, businessID, testFlag string) *NewInstanceRequest {
		return &NewInstanceRequest{Activity: "newInstance", OrderID: orderID, OrderLineID: "CS2211181819B4LVS-000001", BusinessID: businessID, TestFlag: testFlag}
	}
	const order, business = "CS2211181819B4LVS", "87b94795-0603-4e24-8ae5-69420d60e3c8"
	change := func(info *ProductInfo, testFlag string) *ChangeInstanceCheckRequest {
		return &ChangeInstanceCheckRequest{Activity: "changeInstanceCheck", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", ProductInfo: info, TestFlag: testFlag}
	}
	tests := []struct {
		name string
		body string
		want any
	}{
		{`testFlag "1"`, withField(b1Body, "testFlag", `"1"`), newInstance(order, business, "1")},
		{"testFlag 1", withField(b1Body, "testFlag", `1`), newInstance(order, business, "1")},
		{"testFlag true", withField(b1Body, "testFlag", `true`), newInstance(order, business, "1")},
		{`testFlag "true"`, withField(b1Body, "testFlag", `"true"`), newInstance(order, business, "1")},
		{`testFlag "0"`, withField(b1Body, "testFlag", `"0"`), newInstance(order, business, "0")},
		{"testFlag 0", withField(b1Body, "testFlag", `0`), newInstance(order, business, "0")},
		{"testFlag false", withField(b1Body, "testFlag", `false`), newInstance(order, business, "0")},
		{`testFlag "false"`, withField(b1Body, "testFlag", `"false"`), newInstance(order, business, "0")},
		{"numeric orderId", withField(b1Body, "orderId", `123`), newInstance("123", business, "1")},
		{"orderId as a number with a fraction", withField(b1Body, "orderId", `12.50`), newInstance("12.50", business, "1")},
		{"orderId as a number with an exponent", withField(b1Body, "orderId", `1E3`), newInstance("1E3", business, "1")},
		{"boolean businessId", withField(b1Body, "businessId", `true`), newInstance(order, "true", "1")},
		{"numeric orderId of 64 digits", withField(b1Body, "orderId", strings.Repeat("9", 64)), newInstance(strings.Repeat("9", 64), business, "1")},
		{"queryInstance with a numeric instanceId", `{"activity":"queryInstance","instanceId":42,"testFlag":1}`, &QueryInstanceRequest{Activity: "queryInstance", InstanceID: "42", TestFlag: "1"}},
		{"updateInstanceStatus with testFlag true", withField(statusBody, "testFlag", `true`), &UpdateInstanceStatusRequest{Activity: "updateInstanceStatus", InstanceID: "10e758d0-31ad-4c4b-8f1b-81d03469a10e", Status: "FREEZE", TestFlag: "1"}},
		{"productInfo as an object", changeBody, change(wantInfo, "")},
		{"productInfo as a string holding the object", withField(changeBody, "productInfo", quoted(`{"productId":"OFFI846204237451911168","skuCode":"0a4d1578-5295-46a7-92d4-7c803dccc51d","linearValue":50,"productName":"基础版"}`)), change(wantInfo, "")},
		{"productInfo as a string with spaces and a null", withField(changeBody, "productInfo", quoted(" {\n \"productId\": \"OFFI846204237451911168\", \"skuCode\": \"0a4d1578-5295-46a7-92d4-7c803dccc51d\", \"linearValue\": 50, \"productName\": \"基础版\", \"x\": null }\n")), change(wantInfo, "")},
		{"productInfo with loose fields", withField(withField(changeBody, "productInfo", `{"productId":7,"skuCode":1,"linearValue":"50"}`), "testFlag", `1`), change(&ProductInfo{ProductID: "7", SKUCode: "1", LinearValue: &fifty}, "1")},
		{"productInfo string with loose fields", withField(changeBody, "productInfo", quoted(`{"skuCode":1,"linearValue":"50"}`)), change(&ProductInfo{SKUCode: "1", LinearValue: &fifty}, "")},
		// linearValue as Query Order's answerNumber reads it: an empty string
		// or "null" is absent, and spaces around a number are trimmed.
		{"linearValue empty", withField(changeBody, "productInfo", `{"skuCode":"s","linearValue":""}`), change(&ProductInfo{SKUCode: "s"}, "")},
		{"linearValue spaces only", withField(changeBody, "productInfo", `{"skuCode":"s","linearValue":"  "}`), change(&ProductInfo{SKUCode: "s"}, "")},
		{`linearValue "null"`, withField(changeBody, "productInfo", `{"skuCode":"s","linearValue":"null"}`), change(&ProductInfo{SKUCode: "s"}, "")},
		{"linearValue with a leading space", withField(changeBody, "productInfo", `{"skuCode":"s","linearValue":" 5"}`), change(&ProductInfo{SKUCode: "s", LinearValue: &five}, "")},
		{"linearValue with spaces in a string productInfo", withField(changeBody, "productInfo", quoted(`{"skuCode":"s","linearValue":" 5 "}`)), change(&ProductInfo{SKUCode: "s", LinearValue: &five}, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, req, err := DecodeRequest([]byte(tt.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(req).To(Equal(tt.want))
		})
	}
}

func TestDecodeRequestUnknownActivity(t *testing.T) {
	g := NewWithT(t)
	activity, req, err := DecodeRequest([]byte(`{"activity":"x","instanceId":"i"}`))
	g.Expect(activity).To(Equal(Activity("x")))
	g.Expect(req).To(BeNil())
	g.Expect(err).To(Equal(&ValidationError{Field: "activity", Reason: `unknown activity "x"`}))
}

func TestDecodeRequestMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"trailing data":  b1Body + `{"activity":"releaseInstance"}`,
		"trailing text":  b1Body + `x`,
		"not JSON":       `activity=newInstance`,
		"array":          `[` + b1Body + `]`,
		"duplicate key":  `{"activity":"newInstance","activity":"releaseInstance"}`,
		"empty body":     ``,
		"truncated body": b1Body[:40],
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, req, err := DecodeRequest([]byte(body))
			g.Expect(req).To(BeNil())
			g.Expect(err).To(MatchError(ErrMalformedBody))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}
}

func TestInstanceIDs(t *testing.T) {
	g := NewWithT(t)
	g.Expect(QueryInstanceRequest{InstanceID: " a, b ,,c ,"}.InstanceIDs()).To(Equal([]string{"a", "b", "c"}))
	g.Expect(QueryInstanceRequest{InstanceID: "a"}.InstanceIDs()).To(Equal([]string{"a"}))
	g.Expect(QueryInstanceRequest{InstanceID: " , "}.InstanceIDs()).To(BeEmpty())
	g.Expect(QueryInstanceRequest{}.InstanceIDs()).To(BeEmpty())
}

func TestIsDebug(t *testing.T) {
	g := NewWithT(t)
	g.Expect(IsDebug("1")).To(BeTrue())
	// The decoder turns 1, true and "true" into "1"; IsDebug sees only that.
	for _, flag := range []string{"", "0", "true", " 1", "01"} {
		g.Expect(IsDebug(flag)).To(BeFalse(), "testFlag %q", flag)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&ValidationError{Field: "orderId", Reason: "is required"}).Error()).To(Equal("orderId is required"))
	g.Expect((&ValidationError{Field: "status", Reason: "must be FREEZE or UNFREEZE"}).Error()).To(Equal("status must be FREEZE or UNFREEZE"))
	g.Expect((&ValidationError{Field: "activity", Reason: `unknown activity "x"`}).Error()).To(Equal(`activity: unknown activity "x"`))
	g.Expect((&ValidationError{Reason: "body is empty"}).Error()).To(Equal("body is empty"))
}

// TestDecodeCallbackRichNewInstance: the older rich newInstance body (§8
// item 29) decodes to the request a minimal body for the same order line
// would, but for businessId, which it does not carry; every other body
// decodes as DecodeRequest decodes it.
func TestDecodeCallbackRichNewInstance(t *testing.T) {
	const line = `"orderId":"CS1","orderLineId":"CS1-000001","chargingMode":"PERIOD","productInfo":{"productName":"基础版"}`
	rich := func(top, lines string) string {
		return `{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"}` + top + `,"orderInfo":` + lines + `,"testFlag":"0"}`
	}
	want := func(businessID string) *NewInstanceRequest {
		return &NewInstanceRequest{Activity: "newInstance", OrderID: "CS1", OrderLineID: "CS1-000001", BusinessID: businessID, TestFlag: "0", RichBody: true}
	}
	tests := []struct {
		name    string
		body    string
		want    *NewInstanceRequest
		wantErr string
	}{
		{name: "IDs in orderInfo[0]", body: rich(``, `[{`+line+`}]`), want: want("")},
		{name: "IDs in orderInfo[0], and a businessId", body: rich(`,"businessId":"b-1"`, `[{`+line+`}]`), want: want("b-1")},
		// Which line is this instance's? Taking the first would answer
		// another line's instance and leave this one unprovisioned.
		{name: "several order lines and no IDs at the top level", body: rich(``, `[{`+line+`},{"orderId":"CS2","orderLineId":"CS2-000001"}]`),
			wantErr: "orderInfo: holds 2 order lines and the body names none at its top level (orderId, orderLineId): which line this instance is for cannot be told"},
		{name: "several order lines, the top level naming one", body: rich(`,"orderId":"CS1","orderLineId":"CS1-000001"`, `[{"orderId":"CS9","orderLineId":"CS9-000001"},{"orderId":"CS8","orderLineId":"CS8-000001"}]`), want: want("")},
		{name: "orderInfo an object", body: rich(``, `{`+line+`}`), want: want("")},
		{name: "numeric IDs in orderInfo[0]", body: rich(``, `[{"orderId":1,"orderLineId":2}]`),
			want: &NewInstanceRequest{Activity: "newInstance", OrderID: "1", OrderLineID: "2", TestFlag: "0", RichBody: true}},
		{name: "IDs at the top level, no businessId", body: rich(`,"orderId":"CS1","orderLineId":"CS1-000001"`, `[{"orderId":"CS9","orderLineId":"CS9-000001"}]`), want: want("")},
		{name: "top level wins whole: orderLineId is not taken from orderInfo", body: rich(`,"orderId":"CS1"`, `[{`+line+`}]`), wantErr: "orderLineId is required"},
		{name: "orderInfo[0] without orderLineId", body: rich(``, `[{"orderId":"CS1"}]`), wantErr: "orderLineId is required"},
		{name: "orderInfo empty", body: rich(``, `[]`), wantErr: "orderInfo must be an array of order lines, an order line, or either as a JSON string"},
		{name: "orderInfo a string", body: rich(``, `"CS1"`), wantErr: "orderInfo must be an array of order lines, an order line, or either as a JSON string"},
		{name: "orderInfo an empty string", body: rich(``, `""`), wantErr: "orderInfo must be an array of order lines, an order line, or either as a JSON string"},
		{name: "orderInfo an array sent as a JSON string", body: rich(``, strconv.Quote(`[{`+line+`}]`)), want: want("")},
		{name: "orderInfo an object sent as a JSON string", body: rich(``, strconv.Quote(`{`+line+`}`)), want: want("")},
		{name: "orderInfo a string of a string", body: rich(``, strconv.Quote(strconv.Quote(`[{`+line+`}]`))), wantErr: "orderInfo must be an array of order lines, an order line, or either as a JSON string"},
		{name: "orderInfo[0] not an object", body: rich(``, `[1]`), wantErr: "orderInfo must be an array of order lines, an order line, or either as a JSON string"},
		{name: "orderInfo[0].orderId an object", body: rich(``, `[{"orderId":{},"orderLineId":"x"}]`), wantErr: "orderInfo[0].orderId must be a string"},
		{name: "orderInfo[0].orderId too long", body: rich(``, `[{"orderId":"`+strings.Repeat("x", 65)+`","orderLineId":"x"}]`), wantErr: "orderId is longer than 64"},
		{name: "a bad testFlag still refused", body: strings.Replace(rich(``, `[{`+line+`}]`), `"testFlag":"0"`, `"testFlag":"2"`, 1), wantErr: "testFlag must be 0 or 1"},
		{name: "minimal body without businessId still refused", body: withField(b1Body, "businessId", ""), wantErr: "businessId is required"},
		{name: "minimal body without orderId still refused", body: withField(b1Body, "orderId", ""), wantErr: "orderId is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			activity, req, err := DecodeCallback([]byte(tt.body))
			g.Expect(activity).To(Equal(ActivityNewInstance))
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
				g.Expect(req).To(BeNil())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(req).To(Equal(tt.want))
		})
	}

	// Any body DecodeRequest reads, DecodeCallback reads alike.
	for _, body := range specBodies {
		a1, r1, e1 := DecodeRequest([]byte(body))
		a2, r2, e2 := DecodeCallback([]byte(body))
		if e1 == nil {
			NewWithT(t).Expect([]any{a2, r2, e2}).To(Equal([]any{a1, r1, nil}), body)
		}
	}
}

// FuzzDecodeCallback: DecodeCallback reads what DecodeRequest reads alike,
// refuses only with 000002, and what it returns validates.
func FuzzDecodeCallback(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{"activity":"newInstance","orderInfo":[{"orderId":"CS1","orderLineId":"CS1-000001"}]}`))
	f.Add([]byte(`{"activity":"newInstance","orderId":"CS1","orderInfo":{"orderLineId":"x"},"testFlag":1}`))
	f.Add([]byte(`{"activity":"newInstance","orderInfo":"[{\"orderId\":\"a\"}]","businessId":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		activity, req, err := DecodeCallback(body)
		if err != nil {
			if req != nil || CodeOf(err) != ResultInvalidParam {
				t.Fatalf("request %v with error %v (%s)", req, err, CodeOf(err))
			}
			return
		}
		r, ok := req.(request)
		if !ok || r.Validate() != nil {
			t.Fatalf("activity %q decoded to an invalid request %#v", activity, req)
		}
		if a, plain, err := DecodeRequest(body); err == nil && (a != activity || !reflect.DeepEqual(plain, req)) {
			t.Fatalf("DecodeRequest read %#v, DecodeCallback %#v", plain, req)
		}
		if n, ok := req.(*NewInstanceRequest); ok && n.RichBody && !bytes.Contains(body, []byte(`"orderInfo"`)) {
			t.Fatalf("a body without orderInfo read as rich: %#v", n)
		}
	})
}
