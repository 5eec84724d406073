package webhook

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// deeplyNestedBody is valid JSON of about 60 KB nested 10,000 deep
// (json.Valid's own limit): before the receiver bounded nesting, verifying
// it cost about a second of CPU in a verification slot, unauthenticated.
func deeplyNestedBody() string {
	const levels = 9_998
	return `{"é":1,"a":` + strings.Repeat(`{"a":`, levels) + `1` + strings.Repeat(`}`, levels+1)
}

// TestADeeplyNestedCallbackIsAnsweredAsMalformed: anyone can send such a
// body with any signature; it is answered as every other malformed body,
// HTTP 200 JSON with 000002 saying why, on the basic and the kit routes.
func TestADeeplyNestedCallbackIsAnsweredAsMalformed(t *testing.T) {
	body := deeplyNestedBody()
	anySignature := strings.Repeat("ab", 32)
	expectMalformed := func(t *testing.T, a answer, elapsed time.Duration) {
		g := NewWithT(t)
		g.Expect(a.status).To(Equal(http.StatusOK))
		g.Expect(a.header.Get("Content-Type")).To(HavePrefix("application/json"))
		g.Expect(a.Code).To(Equal(string(koogallery.ResultInvalidParam)), "answer %s", a.raw)
		g.Expect(a.Msg).To(ContainSubstring("nests objects and arrays more than"))
		t.Logf("answered %s in %s", a.raw, elapsed)
	}

	t.Run("basic callback", func(t *testing.T) {
		f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
		q := url.Values{
			"signature": {anySignature},
			"timestamp": {strconv.FormatInt(time.Now().UnixMilli(), 10)},
			"nonce":     {randomNonce()},
		}
		start := time.Now()
		a := post(t, f.product.Name, q, body)
		expectMalformed(t, a, time.Since(start))
	})

	t.Run("kit callback", func(t *testing.T) {
		f := newKitFixture(t)
		h := http.Header{}
		h.Set("x-sign", anySignature)
		h.Set("x-timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
		h.Set("x-nonce", randomNonce())
		start := time.Now()
		a := postKit(t, http.MethodPost, f.product.Name, string(koogallery.KitAllOrgSync), h, body)
		expectMalformed(t, a, time.Since(start))
	})
}
