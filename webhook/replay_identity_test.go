package webhook

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// replayInstant is a clock at which one instant has two timestamps whose
// texts end alike: 1781781781781 ms is 1781781781 s and 781 ms, so the
// seconds timestamp "1781781781" is the milliseconds one with its first
// three characters moved into the nonce.
var replayInstant = time.UnixMilli(1781781781781)

// TestAReplayWithTheNoncesTrailingZeroMovedIntoTheTimestampIsRefused: the
// signature covers nonce and timestamp concatenated with no separator (spec
// §2.1.2 step 6, §2.2), so characters moved from the end of the nonce to the
// start of the timestamp, or back, leave it unchanged. Before, a captured
// callback whose nonce ends in 0, replayed with that 0 moved in front of the
// timestamp (the same instant), was a new nonce with a valid signature and
// was taken again within the window; so was one whose milliseconds
// timestamp gave its first characters to the nonce and was read as
// seconds. Both are refused 000002, for basic and kit callbacks alike.
func TestAReplayWithTheNoncesTrailingZeroMovedIntoTheTimestampIsRefused(t *testing.T) {
	f := newKitFixture(t)
	opts := DefaultOptions()
	opts.Namespace, opts.DirectoryNamespace = operatorNamespace, directoryNamespace
	opts.Now = func() time.Time { return replayInstant }
	r, err := NewReceiver(k8sClient, k8sClient, opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)

	millis := "1781781781781"
	moves := []struct {
		name string
		// The captured callback's nonce is a random one followed by
		// capturedEnd, its timestamp capturedTimestamp; the replay sends
		// the same signature with the random nonce followed by
		// replayedEnd, and replayedTimestamp.
		capturedEnd, capturedTimestamp, replayedEnd, replayedTimestamp string
	}{
		{name: "the nonce's trailing 0 moved in front of the timestamp", capturedEnd: "0", capturedTimestamp: millis, replayedTimestamp: "0" + millis},
		{name: "the timestamp's first characters moved into the nonce, read as seconds", capturedTimestamp: millis, replayedEnd: "178", replayedTimestamp: "1781781781"},
	}
	for _, move := range moves {
		t.Run("basic: "+move.name, func(t *testing.T) {
			g := NewWithT(t)
			body := `{"activity":"queryInstance","instanceId":"i-never-issued"}`
			canonical, err := koogallery.CanonicalPayload([]byte(body))
			g.Expect(err).NotTo(HaveOccurred())
			random := randomNonce()
			nonce, ts := random+move.capturedEnd, move.capturedTimestamp
			signature := koogallery.SignBasic(f.key, nonce, ts, canonical)
			send := func(nonce, ts string) answer {
				q := url.Values{"signature": {signature}, "timestamp": {ts}, "nonce": {nonce}}
				resp, err := http.Post(server.URL+CallbackPathPrefix+f.product.Name+"?"+q.Encode(), "application/json;charset=utf8", strings.NewReader(body))
				g.Expect(err).NotTo(HaveOccurred())
				return decodeAnswer(t, resp)
			}
			g.Expect(send(nonce, ts).Code).To(Equal("000003"), "the captured callback is verified")
			replay := send(random+move.replayedEnd, move.replayedTimestamp)
			g.Expect(replay.Code).To(Equal("000002"), replay.Msg)
		})
		t.Run("kit: "+move.name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			body := tenantSyncBody(instanceID, tenantID, 1)
			canonical, err := koogallery.CanonicalKitPayload([]byte(body))
			g.Expect(err).NotTo(HaveOccurred())
			random := randomNonce()
			nonce, ts := random+move.capturedEnd, move.capturedTimestamp
			signature := koogallery.SignKit(testKitKey, nonce, ts, canonical)
			send := func(nonce, ts string) answer {
				h := http.Header{}
				h.Set("x-sign", signature)
				h.Set("x-timestamp", ts)
				h.Set("x-nonce", nonce)
				return postKitTo(t, server.URL, http.MethodPost, f.product.Name, string(koogallery.KitTenantSync), h, body)
			}
			g.Expect(send(nonce, ts).Code).To(Equal("000000"), "the captured call is verified")
			replay := send(random+move.replayedEnd, move.replayedTimestamp)
			g.Expect(replay.Code).To(Equal("000002"), replay.Msg)
		})
	}
}
