package webhook

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// The benchmarks compare the receiver with baselines measured in the same
// run, since absolute times on shared machines are noise:
//   - BenchmarkBareHandler vs BenchmarkProtocolWork and BenchmarkQueryInstanceCached:
//     the cost of verifying, decoding and answering a callback;
//   - BenchmarkRawCreate vs BenchmarkNewInstanceEndToEnd: the cost of the
//     receiver on top of the API server write it exists to make.

const benchBody = `{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","testFlag":"1"}`

var benchAnswer = []byte(`{"resultCode":"000000","resultMsg":"success.","instanceId":"i-0123456789abcdef0123"}`)

// BenchmarkBareHandler is the floor: a net/http handler that reads the body
// and writes a fixed answer.
func BenchmarkBareHandler(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(benchAnswer)
	})
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/koogallery/crm", strings.NewReader(benchBody))
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkProtocolWork is what every callback costs before any API call:
// verify the signature, decode the request, encode and sign the answer.
func BenchmarkProtocolWork(b *testing.B) {
	verifier := koogallery.Verifier{Window: koogallery.DefaultWindow}
	queries := signedQueries(b, benchBody, b.N)
	body := []byte(benchBody)
	b.ResetTimer()
	for i := range b.N {
		q := queries[i]
		signed := koogallery.SignedQuery{Signature: q.Get("signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}
		if _, _, err := verifier.VerifyBasic([]string{testKey}, signed, body); err != nil {
			b.Fatal(err)
		}
		if _, _, err := koogallery.DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
		out, err := koogallery.EncodeResponse(&koogallery.NewInstanceResponse{
			Response: koogallery.Response{ResultCode: koogallery.ResultSuccess, ResultMsg: "success."}, InstanceID: "i-0123456789abcdef0123"})
		if err != nil {
			b.Fatal(err)
		}
		_ = koogallery.BodySign(testKey, out)
	}
}

// BenchmarkQueryInstanceCached runs the whole receiver for a queryInstance,
// whose reads come from the manager's cache: the receiver's overhead
// without an API server write.
func BenchmarkQueryInstanceCached(b *testing.B) {
	t := &testing.T{}
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	if t.Failed() {
		b.Fatal("fixture failed")
	}
	body := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)
	queries := signedQueries(b, body, b.N)
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, CallbackPathPrefix+f.product.Name+"?"+queries[i].Encode(), strings.NewReader(body))
		req.SetPathValue("product", f.product.Name)
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), `"resultCode":"000000"`) {
			b.Fatalf("unexpected answer %s", rec.Body.String())
		}
	}
}

// BenchmarkNewInstanceEndToEnd buys a new tenant per iteration over HTTP:
// verify, decode, create the SaaSTenant in the API server, answer.
func BenchmarkNewInstanceEndToEnd(b *testing.B) {
	t := &testing.T{}
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	for b.Loop() {
		a := f.call(t, newInstanceBody(newOrderID()))
		if a.Code != "000000" {
			b.Fatalf("unexpected answer %s", a.raw)
		}
	}
}

// BenchmarkRawCreate is the API server's own cost for the same object: a
// client Create of an equivalent SaaSTenant.
func BenchmarkRawCreate(b *testing.B) {
	ctx := b.Context()
	for b.Loop() {
		orderID := newOrderID()
		id := instanceID(orderID, orderID+"-000001")
		tenant := &saasv1alpha1.SaaSTenant{
			ObjectMeta: metav1.ObjectMeta{Name: id, Labels: map[string]string{saasv1alpha1.ProductLabel: "bench"}},
			Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: "bench", OrderID: orderID, OrderLineID: orderID + "-000001",
				Orders: []saasv1alpha1.AppliedOrder{{OrderID: orderID, Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}}},
		}
		if err := k8sClient.Create(ctx, tenant); err != nil {
			b.Fatal(err)
		}
	}
}

// signedQueries signs body n times, each with its own nonce, ahead of the
// timed loop (each must be used within the signature window).
func signedQueries(b *testing.B, body string, n int) []url.Values {
	b.Helper()
	t := &testing.T{}
	queries := make([]url.Values, n)
	for i := range queries {
		queries[i] = signedQuery(t, testKey, body)
	}
	return queries
}
