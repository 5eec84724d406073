package webhook

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// phone is a value that must never be quoted back: a refusal's resultMsg
// goes into the audit line (docs/personal-data.md).
const phone = "13812345678"

// TestARefusalNamesTheFieldNotItsValue sends a phone number in every place
// a refusal once quoted: the licence times, the nonces of both signatures,
// the kit interface and the product of the URL. Each is refused, naming
// what is wrong and not the value.
func TestARefusalNamesTheFieldNotItsValue(t *testing.T) {
	licence := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := licence.buy(t)
	kit := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	kitBody := tenantSyncBody(instanceID, tenantID, 1)
	basicBody := `{"activity":"queryInstance","instanceId":"i-never-issued"}`

	// A replay is the same request sent again: nonce and timestamp alike,
	// as they are claimed together (koogallery.SignedQuery.ReplayKey).
	basicWithNonce := func() func() answer {
		canonical, err := koogallery.CanonicalPayload([]byte(basicBody))
		if err != nil {
			t.Fatal(err)
		}
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		q := url.Values{"signature": {koogallery.SignBasic(licence.key, phone, ts, canonical)}, "timestamp": {ts}, "nonce": {phone}}
		return func() answer { return post(t, licence.product.Name, q, basicBody) }
	}

	cases := []struct {
		name, code, says string
		send             func() answer
	}{
		{"effectiveTime", "000002", "effectiveTime is not a time", func() answer {
			return licence.call(t, licenseWindowBody(id, "evt-phone-1", phone, "2027-11-22 10:30:15 z"))
		}},
		{"expireTime", "000002", "expireTime is not a time", func() answer {
			return licence.call(t, licenseWindowBody(id, "evt-phone-2", "2026-11-22 10:30:15 z", phone))
		}},
		{"a replayed nonce", "000002", "nonce was already used", func() answer {
			send := basicWithNonce()
			send()
			return send()
		}},
		{"a replayed x-nonce", "000002", "x-nonce was already used", func() answer {
			h := kitHeaders(t, testKitKey, kitBody)
			canonical, err := koogallery.CanonicalKitPayload([]byte(kitBody))
			if err != nil {
				t.Fatal(err)
			}
			h.Set("x-nonce", phone)
			h.Set("x-sign", koogallery.SignKit(testKitKey, phone, h.Get("x-timestamp"), canonical))
			send := func() answer {
				return postKit(t, http.MethodPost, kit.product.Name, string(koogallery.KitTenantSync), h.Clone(), kitBody)
			}
			send()
			return send()
		}},
		{"a kit interface", "000002", "is not supported", func() answer {
			return postKit(t, http.MethodPost, kit.product.Name, phone, kitHeaders(t, testKitKey, kitBody), kitBody)
		}},
		{"a product", "000002", "unknown product", func() answer {
			return postKit(t, http.MethodPost, phone, string(koogallery.KitTenantSync), kitHeaders(t, testKitKey, kitBody), kitBody)
		}},
		{"a basic callback's product", "000002", "unknown product", func() answer {
			return post(t, phone, signedQuery(t, testKey, basicBody), basicBody)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := tc.send()
			g.Expect(a.Code).To(Equal(tc.code), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tc.says))
			g.Expect(a.Msg).NotTo(ContainSubstring(phone))
		})
	}
}

// TestAKeyStoredWithATrailingNewlineVerifies: a keys Secret made with
// kubectl create secret --from-file holds the Seller Console's key with the
// file's newline. Before, the receiver signed with the newline and every
// marketplace callback was refused 000001 (as kubectl kooper check, which
// trimmed the key, reported: "the key differs"). The white space is no part
// of a key: it verifies, the primary and a rotated one alike.
func TestAKeyStoredWithATrailingNewlineVerifies(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(
		`{"stringData":{"basicKey":%q,"basicKey.next":%q}}`, testKey+"\n", "the-next-key\r\n")))
	g.Expect(k8sClient.Patch(ctxFor(t), keysSecretOf(t, f), patch)).To(Succeed())
	g.Eventually(func() string { return f.call(t, statusBody("i-00000000000000000000", "FREEZE")).Code }).
		Should(Equal("000003"), "signed with the key as the Seller Console shows it")
	rotated := &fixture{product: f.product, key: "the-next-key"}
	g.Expect(rotated.call(t, statusBody("i-00000000000000000000", "FREEZE")).Code).To(Equal("000003"))
}
