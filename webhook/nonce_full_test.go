package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// TestAFullNonceMemoNeverForgetsALiveNonce fills a nonce memo of four with
// nonces claimed a second apart, all still within twice the signature
// window (a replay of each may still carry a timestamp the window accepts),
// then claims a new nonce and replays the first. Before, the new claim
// dropped the older half of the memo and was accepted, and the replay of
// the first nonce was then taken for a new callback; a nonce was also
// forgotten at exactly twice the window, when its replay's timestamp can
// still be at the window's edge.
func TestAFullNonceMemoNeverForgetsALiveNonce(t *testing.T) {
	g := NewWithT(t)
	window := koogallery.DefaultWindow
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	r := &Receiver{
		opts:   Options{SignatureWindow: window, RefuseReusedNonces: true, Now: func() time.Time { return now }},
		nonces: newNonceCache(2*window, 4),
	}
	steps := []struct {
		name  string
		at    time.Duration
		nonce string
		want  bool
	}{
		{"first", 0, "n1", true},
		{"second", time.Second, "n2", true},
		{"third", 2 * time.Second, "n3", true},
		{"fourth: the memo is full", 3 * time.Second, "n4", true},
		{"a new nonce while every remembered one is live", 4 * time.Second, "n5", false},
		{"the first replayed", 5 * time.Second, "n1", false},
		{"the first replayed at twice the window", 2 * window, "n1", false},
		{"a new nonce once the first is outside the window", 2*window + time.Millisecond, "n5", true},
		{"the second replayed, still live", 2*window + time.Millisecond, "n2", false},
	}
	for _, step := range steps {
		now = start.Add(step.at)
		g.Expect(r.nonceRefusal(step.nonce) == nil).To(Equal(step.want), step.name)
	}
}

// TestAFullNonceMemoAnswersRetry sends signed callbacks to a receiver whose
// nonce memo holds four: the fifth new nonce within the window is answered
// 000005, so the marketplace retries, and a replay of the first is refused.
// Before, the fifth was accepted and the first's replay answered as a new
// callback (000003, the instance is unknown).
func TestAFullNonceMemoAnswersRetry(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	opts := DefaultOptions()
	opts.Namespace = operatorNamespace
	r, err := NewReceiver(k8sClient, k8sClient, opts)
	g.Expect(err).NotTo(HaveOccurred())
	r.nonces = newNonceCache(2*opts.SignatureWindow, 4)
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	send := func(q string, body string) answer {
		resp, err := http.Post(server.URL+CallbackPathPrefix+f.product.Name+"?"+q, "application/json;charset=utf8", strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		return decodeAnswer(t, resp)
	}

	body := `{"activity":"queryInstance","instanceId":"i-never-issued"}`
	first := signedQuery(t, f.key, body).Encode()
	g.Expect(send(first, body).Code).To(Equal("000003"))
	for range 3 {
		g.Expect(send(signedQuery(t, f.key, body).Encode(), body).Code).To(Equal("000003"))
	}
	full := send(signedQuery(t, f.key, body).Encode(), body)
	g.Expect(full.Code).To(Equal("000005"), full.Msg)
	g.Expect(full.Msg).To(ContainSubstring("nonce"))
	replay := send(first, body)
	g.Expect(replay.Code).To(BeElementOf("000002", "000005"), replay.Msg)
}
