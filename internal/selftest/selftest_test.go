package selftest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// receiver answers as kooper's would for an unknown instance, after
// checking the signature with the same verifier.
func receiver(t *testing.T, key string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		code := koogallery.ResultInstanceNotFound
		_, _, err := koogallery.Verifier{}.VerifyBasic([]string{key},
			koogallery.SignedQuery{Signature: q.Get("signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}, body)
		var req koogallery.QueryInstanceRequest
		switch {
		case err != nil:
			code = koogallery.CodeOf(err)
		case json.Unmarshal(body, &req) != nil || req.Activity != "queryInstance" || !strings.HasPrefix(req.InstanceID, "selftest-") || req.TestFlag != "1":
			code = "000002"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"resultCode": string(code), "resultMsg": "answer"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTheSelfTestIsSignedAsTheReceiverVerifies(t *testing.T) {
	srv := receiver(t, "the-basic-key")
	cases := []struct {
		name string
		key  string
		at   time.Time
		code string
	}{
		{"the product's key, now", "the-basic-key", time.Now(), "000003"},
		{"another key", "not-the-key", time.Now(), "000001"},
		{"a clock ten minutes off", "the-basic-key", time.Now().Add(-10 * time.Minute), "000002"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := QueryUnknownInstance(context.Background(), srv.Client(), srv.URL+"/koogallery/crm", c.key, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if res.Code != c.code || res.OK() != (c.code == "000003") {
				t.Fatalf("answer %s (OK %v), want %s", res.Code, res.OK(), c.code)
			}
		})
	}
}

func TestTheSelfTestSaysWhatIsWrongWithoutTheSignature(t *testing.T) {
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
	}))
	defer html.Close()
	if _, err := QueryUnknownInstance(context.Background(), html.Client(), html.URL+"/koogallery/crm", "k", time.Now()); err == nil ||
		!strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("a proxy's error page: %v", err)
	}
	if _, err := QueryUnknownInstance(context.Background(), http.DefaultClient, "ftp://kooper/koogallery/crm", "k", time.Now()); err == nil {
		t.Fatal("a URL that is not http(s) must be refused")
	}
	_, err := QueryUnknownInstance(context.Background(), http.DefaultClient, "http://127.0.0.1:1/koogallery/crm", "k", time.Now())
	if err == nil || strings.Contains(err.Error(), "signature=") {
		t.Fatalf("an unreachable receiver: %v (the message must not carry the signed URL)", err)
	}
}
