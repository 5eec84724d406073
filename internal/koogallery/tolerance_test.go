package koogallery_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/specsign"
)

// This file signs with its own implementation of spec §2.1.2, written from
// the spec and not from koogallery's code, so that a bug the verifier and a
// signer built on it would share cannot make both agree.

// specPayload is the spec's canonical form (internal/specsign).
func specPayload(t *testing.T, body string, stringMap bool) []byte {
	t.Helper()
	payload, err := specsign.Payload(body, stringMap)
	if err != nil {
		t.Fatalf("test body %s: %v", body, err)
	}
	return payload
}

// TestTolerantFormsVerifyAndDecode signs each loosely typed body as the
// marketplace may (as sent, or as its Map<String,String> writes it), checks
// that it verifies and decodes to what it means, and that the body changed
// after signing fails with 000001.
func TestTolerantFormsVerifyAndDecode(t *testing.T) {
	const key, nonce, timestamp = "tolerance-key", "RLLUammMSInlrNWb", "1680508066618"
	now := time.UnixMilli(1680508066618)
	newInstance := func(extra string) string {
		return `{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795"` + extra + `}`
	}
	change := func(productInfo, extra string) string {
		return `{"activity":"changeInstanceCheck","instanceId":"i-0123456789abcdef0123","productInfo":` + productInfo + extra + `}`
	}
	stringInfo := `"{\"productId\":\"OFFI846204237451911168\",\"skuCode\":\"pro\",\"linearValue\":50}"`
	objectInfo := `{"productId":"OFFI846204237451911168","skuCode":"pro","linearValue":50}`
	cases := []struct {
		name      string
		body      string
		stringMap bool
		check     func(g Gomega, req any)
		// from and to alter the body after it was signed.
		from, to string
	}{
		{name: `testFlag "1", the documented form`, body: newInstance(`,"testFlag":"1"`), check: debug(true), from: `"1"`, to: `"0"`},
		{name: "testFlag 1, signed as sent", body: newInstance(`,"testFlag":1`), check: debug(true), from: `:1`, to: `:0`},
		{name: "testFlag 1, signed as a string map", body: newInstance(`,"testFlag":1`), stringMap: true, check: debug(true), from: `:1`, to: `:0`},
		{name: "testFlag true, signed as sent", body: newInstance(`,"testFlag":true`), check: debug(true), from: `true`, to: `false`},
		{name: "testFlag true, signed as a string map", body: newInstance(`,"testFlag":true`), stringMap: true, check: debug(true), from: `true`, to: `false`},
		{name: `testFlag "true"`, body: newInstance(`,"testFlag":"true"`), check: debug(true), from: `"true"`, to: `"false"`},
		{name: "testFlag 0, signed as a string map", body: newInstance(`,"testFlag":0`), stringMap: true, check: debug(false), from: `:0`, to: `:1`},
		{name: "testFlag false, signed as sent", body: newInstance(`,"testFlag":false`), check: debug(false), from: `false`, to: `true`},
		{
			name: "numeric orderLineId, signed as a string map", stringMap: true,
			body:  `{"activity":"newInstance","orderId":"CS1","orderLineId":1001,"businessId":"b","testFlag":1}`,
			check: func(g Gomega, req any) { g.Expect(req.(*koogallery.NewInstanceRequest).OrderLineID).To(Equal("1001")) },
			from:  `1001`, to: `1002`,
		},
		{
			name: "productInfo as a string, signed as sent", body: change(stringInfo, ""),
			check: sku("pro"), from: `pro`, to: `ent`,
		},
		{
			name: "productInfo as a string with testFlag 1, signed as a string map", body: change(stringInfo, `,"testFlag":1`), stringMap: true,
			check: sku("pro"), from: `pro`, to: `ent`,
		},
		{
			name: "productInfo as an object with testFlag 1, signed as a string map", body: change(objectInfo, `,"testFlag":1`), stringMap: true,
			check: sku("pro"), from: `"testFlag":1`, to: `"testFlag":0`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := koogallery.Verifier{Now: func() time.Time { return now }}
			payload := specPayload(t, tc.body, tc.stringMap)
			q := koogallery.SignedQuery{Signature: specsign.Signature(key, nonce, timestamp, payload), Timestamp: timestamp, Nonce: nonce}

			_, canonical, err := v.VerifyBasic([]string{key}, q, []byte(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(canonical)).To(Equal(string(payload)), "the payload that was signed")
			_, req, err := koogallery.DecodeRequest([]byte(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			tc.check(g, req)

			g.Expect(tc.body).To(ContainSubstring(tc.from))
			altered := strings.Replace(tc.body, tc.from, tc.to, 1)
			_, _, err = v.VerifyBasic([]string{key}, q, []byte(altered))
			g.Expect(err).To(MatchError(koogallery.ErrBadSignature), "altered body %s", altered)
			g.Expect(koogallery.CodeOf(err)).To(Equal(koogallery.ResultAuthFailed))
		})
	}
}

func debug(want bool) func(Gomega, any) {
	return func(g Gomega, req any) {
		g.Expect(koogallery.IsDebug(req.(*koogallery.NewInstanceRequest).TestFlag)).To(Equal(want))
	}
}

func sku(want string) func(Gomega, any) {
	return func(g Gomega, req any) {
		info := req.(*koogallery.ChangeInstanceCheckRequest).ProductInfo
		g.Expect(info).NotTo(BeNil())
		g.Expect(info.SKUCode).To(Equal(want))
		g.Expect(info.LinearValue).To(HaveValue(Equal(json.Number("50"))))
	}
}
