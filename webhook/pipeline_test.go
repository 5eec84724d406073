package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// TestPipelineAnswersEveryBadInputWithACodeAndMessage covers what happens
// before any activity handler: the route, the body, the signature, the
// timestamp, the nonce and the activity.
func TestPipelineAnswersEveryBadInputWithACodeAndMessage(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	valid := newInstanceBody(newOrderID())
	signedWith := func(key, body string, tweak func(url.Values)) url.Values {
		q := signedQuery(t, key, body)
		if tweak != nil {
			tweak(q)
		}
		return q
	}
	staleTS := strconv.FormatInt(time.Now().Add(-2*time.Minute).UnixMilli(), 10)
	futureTS := strconv.FormatInt(time.Now().Add(2*time.Minute).UnixMilli(), 10)

	cases := []struct {
		name     string
		product  string
		query    func() url.Values
		body     string
		wantCode string
		wantMsg  string
	}{
		{
			name: "unknown product", product: "no-such-product", body: valid,
			query:    func() url.Values { return signedWith(testKey, valid, nil) },
			wantCode: "000002", wantMsg: `unknown product "no-such-product"`,
		},
		{
			name: "signature made with another key", body: valid,
			query:    func() url.Values { return signedWith("wrong-key", valid, nil) },
			wantCode: "000001", wantMsg: "signature",
		},
		{
			name: "no signature", body: valid,
			query:    func() url.Values { return signedWith(testKey, valid, func(q url.Values) { q.Del("signature") }) },
			wantCode: "000001", wantMsg: "signature",
		},
		{
			name: "no timestamp", body: valid,
			query:    func() url.Values { return signedWith(testKey, valid, func(q url.Values) { q.Del("timestamp") }) },
			wantCode: "000002", wantMsg: "timestamp",
		},
		{
			name: "no nonce", body: valid,
			query:    func() url.Values { return signedWith(testKey, valid, func(q url.Values) { q.Del("nonce") }) },
			wantCode: "000002", wantMsg: "nonce",
		},
		{
			name: "timestamp two minutes old", body: valid,
			query:    func() url.Values { return resign(testKey, valid, staleTS) },
			wantCode: "000002", wantMsg: "timestamp",
		},
		{
			name: "timestamp two minutes ahead", body: valid,
			query:    func() url.Values { return resign(testKey, valid, futureTS) },
			wantCode: "000002", wantMsg: "timestamp",
		},
		{
			name: "body changed after signing", body: strings.Replace(valid, "newInstance", "queryInstance", 1),
			query:    func() url.Values { return signedWith(testKey, valid, nil) },
			wantCode: "000001", wantMsg: "signature",
		},
		{
			name: "malformed JSON", body: `{"activity":"newInstance",`,
			query:    func() url.Values { return signedWith(testKey, `{}`, nil) },
			wantCode: "000002",
		},
		{
			name: "unknown activity", body: `{"activity":"expireInstance","instanceId":"i-1"}`,
			query:    func() url.Values { return signedWith(testKey, `{"activity":"expireInstance","instanceId":"i-1"}`, nil) },
			wantCode: "000002", wantMsg: "expireInstance",
		},
		{
			name: "missing orderId", body: `{"activity":"newInstance","orderLineId":"x-1","businessId":"b"}`,
			query: func() url.Values {
				return signedWith(testKey, `{"activity":"newInstance","orderLineId":"x-1","businessId":"b"}`, nil)
			},
			wantCode: "000002", wantMsg: "orderId",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := tc.product
			if product == "" {
				product = f.product.Name
			}
			a := post(t, product, tc.query(), tc.body)
			g.Expect(a.status).To(Equal(http.StatusOK))
			g.Expect(a.header.Get("Content-Type")).To(HavePrefix("application/json"))
			g.Expect(a.Code).To(Equal(tc.wantCode), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tc.wantMsg))
			g.Expect(a.Msg).NotTo(ContainSubstring(testKey))
		})
	}
}

// resign signs body with an explicit timestamp.
func resign(key, body, ts string) url.Values {
	canonical, _ := koogallery.CanonicalPayload([]byte(body))
	nonce := randomNonce()
	return url.Values{"signature": {koogallery.SignBasic(key, nonce, ts, canonical)}, "timestamp": {ts}, "nonce": {nonce}}
}

func TestPipelineRefusesAReplayedNonce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	body := newInstanceBody(newOrderID())
	q := signedQuery(t, f.key, body)
	g.Expect(post(t, f.product.Name, q, body).Code).To(Equal("000000"))
	replay := post(t, f.product.Name, q, body)
	g.Expect(replay.Code).To(Equal("000002"))
	g.Expect(replay.Msg).To(ContainSubstring("nonce"))
}

// TestAReusedNonceIsLetThroughWhenTheMerchantSaysSo: the spec documents no
// nonce uniqueness (§8 item 5), so --refuse-reused-nonces=false lets a
// retry that reuses one through, basic and kit calls alike; it is answered
// as the first was (every callback is idempotent).
func TestAReusedNonceIsLetThroughWhenTheMerchantSaysSo(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	opts := DefaultOptions()
	opts.Namespace, opts.RefuseReusedNonces = operatorNamespace, false
	r, err := NewReceiver(k8sClient, k8sClient, opts)
	g.Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)

	body := newInstanceBody(newOrderID())
	q := signedQuery(t, f.key, body)
	target := server.URL + CallbackPathPrefix + f.product.Name + "?" + q.Encode()
	var ids []string
	for range 2 {
		resp, err := http.Post(target, "application/json;charset=utf8", strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		a := decodeAnswer(t, resp)
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		ids = append(ids, a.InstanceID)
	}
	g.Expect(ids[1]).To(Equal(ids[0]), "one purchase, answered twice")
}

func TestPipelineRefusesAnOversizedBody(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	body := newInstanceBody(newOrderID(), `"padding":"`+strings.Repeat("x", 64<<10)+`"`)
	a := post(t, f.product.Name, signedQuery(t, f.key, body), body)
	g.Expect(a.status).To(Equal(http.StatusOK))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring("exceeds 65536 bytes"))
}

func TestPipelineRefusesMethodsOtherThanPost(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	resp, err := http.Get(receiverURL + CallbackPathPrefix + f.product.Name)
	g.Expect(err).NotTo(HaveOccurred())
	a := decodeAnswer(t, resp)
	g.Expect(a.status).To(Equal(http.StatusOK))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring("POST"))
}

func TestPipelineAcceptsReorderedKeysNullsAndWhitespace(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	// The marketplace signs the canonical form; the same fields sent in
	// another order, with whitespace and an extra null field, still verify.
	signed := `{"activity":"newInstance","businessId":"b-1","orderId":"` + orderID + `","orderLineId":"` + orderID + `-000001"}`
	sent := `{ "businessId" : "b-1", "orderLineId":"` + orderID + `-000001",` + "\n" +
		`"testFlag": null, "orderId":"` + orderID + `", "activity":"newInstance"}`
	q := signedQuery(t, f.key, signed)
	a := post(t, f.product.Name, q, sent)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(instanceID(orderID, orderID+"-000001")))
}

func TestPipelineAcceptsARotatedKeyAndSignsTheAnswerWithIt(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	body := newInstanceBody(newOrderID())
	a := post(t, f.product.Name, signedQuery(t, "the-next-key", body), body)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.header.Get("Body-Sign")).To(Equal(koogallery.BodySign("the-next-key", a.raw)))

	a = f.call(t, newInstanceBody(newOrderID()))
	g.Expect(a.header.Get("Body-Sign")).To(Equal(koogallery.BodySign(testKey, a.raw)))
}

func TestPipelineAnswers000005WhenTheKeysSecretIsMissing(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	patch := []byte(`{"spec":{"keysSecretName":"missing-keys"}}`)
	g.Expect(k8sClient.Patch(ctxFor(t), f.product, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
	g.Eventually(func() string { return f.call(t, newInstanceBody(newOrderID())).Code }).Should(Equal("000005"))
	a := f.call(t, newInstanceBody(newOrderID()))
	g.Expect(a.Msg).To(Equal("the product's keys are not configured"))
}

func TestPipelineNeverWritesAnythingButJSONWith200(t *testing.T) {
	g := NewWithT(t)
	resp, err := http.Post(receiverURL+CallbackPathPrefix+"x", "text/plain", bytes.NewBufferString("not json"))
	g.Expect(err).NotTo(HaveOccurred())
	a := decodeAnswer(t, resp)
	g.Expect(a.status).To(Equal(http.StatusOK))
	g.Expect(a.Code).To(Equal("000002"))
}
