package koogallery

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var signTime = time.Date(2024, 3, 17, 14, 42, 37, 0, time.UTC)

func testSigner() Signer {
	return Signer{AccessKeyID: "AK123", SecretAccessKey: "SK-secret-value", Now: func() time.Time { return signTime }}
}

func lookupTestSecret(ak string) (string, bool) {
	if ak == "AK123" {
		return "SK-secret-value", true
	}
	return "", false
}

func newSignedRequest(g Gomega, method, rawURL string, body []byte) *http.Request {
	req, err := http.NewRequest(method, rawURL, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	g.Expect(testSigner().Sign(req, body)).To(Succeed())
	return req
}

func TestSignSetsDateAndAuthorization(t *testing.T) {
	g := NewWithT(t)
	req := newSignedRequest(g, http.MethodGet, "https://mkt.example.com"+QueryOrderPath+"?orderId=MOCKPERIODYEARNEW", nil)
	g.Expect(req.Header.Get(HeaderSdkDate)).To(Equal("20240317T144237Z"))
	g.Expect(req.Header.Get("Authorization")).To(MatchRegexp(`^SDK-HMAC-SHA256 Access=AK123, SignedHeaders=content-type;host;x-sdk-date, Signature=[0-9a-f]{64}$`))
	g.Expect(req.Header.Get("Authorization")).NotTo(ContainSubstring("SK-secret-value"))

	// Signing again (a retry) replaces Authorization instead of signing it.
	first := req.Header.Get("Authorization")
	g.Expect(testSigner().Sign(req, nil)).To(Succeed())
	g.Expect(req.Header.Values("Authorization")).To(Equal([]string{first}))
}

func TestSignKeepsAGivenDate(t *testing.T) {
	g := NewWithT(t)
	req, _ := http.NewRequest(http.MethodGet, "https://h.example.com/", nil)
	req.Header.Set(HeaderSdkDate, "20191115T033655Z")
	g.Expect(testSigner().Sign(req, nil)).To(Succeed())
	g.Expect(req.Header.Get(HeaderSdkDate)).To(Equal("20191115T033655Z"))
}

func TestSignNeedsCredentials(t *testing.T) {
	g := NewWithT(t)
	req, _ := http.NewRequest(http.MethodGet, "https://h.example.com/", nil)
	g.Expect(Signer{AccessKeyID: "ak"}.Sign(req, nil)).To(HaveOccurred())
	g.Expect(Signer{SecretAccessKey: "sk"}.Sign(req, nil)).To(HaveOccurred())
	g.Expect(req.Header.Get("Authorization")).To(BeEmpty())
}

func TestCanonicalRequestParts(t *testing.T) {
	tests := []struct {
		name, url, wantURI, wantQuery string
	}{
		{"root", "https://h.example.com", "/", ""},
		{"root slash", "https://h.example.com/", "/", ""},
		{"trailing slash kept", "https://h.example.com/a/b/", "/a/b/", ""},
		{"segments encoded", "https://h.example.com/a%20b/c~d/%E8%AF%B7", "/a%20b/c~d/%E8%AF%B7/", ""},
		{"encoded slash stays in its segment", "https://h.example.com/a%2Fb/c", "/a%2Fb/c/", ""},
		{"query sorted by name then value", "https://h.example.com/p?b=2&a=3&a=1&c", "/p/", "a=1&a=3&b=2&c="},
		{"query RFC 3986 encoded", "https://h.example.com/p?q=a+b&r=%E8%AF%B7&s=x%2Fy%3D%26~", "/p/", "q=a%20b&r=%E8%AF%B7&s=x%2Fy%3D%26~"},
		{"name order beats value order", "https://h.example.com/p?a-b=1&a=2", "/p/", "a=2&a-b=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			u, err := url.Parse(tt.url)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(canonicalURI(u)).To(Equal(tt.wantURI))
			g.Expect(canonicalQuery(u)).To(Equal(tt.wantQuery))
		})
	}
}

func TestCanonicalHeaders(t *testing.T) {
	g := NewWithT(t)
	req, _ := http.NewRequest(http.MethodPost, "https://h.example.com/p", nil)
	req.Host = "override.example.com"
	req.Header.Set("X-Sdk-Date", "20240317T144237Z")
	req.Header.Add("X-Multi", " b ")
	req.Header.Add("X-Multi", "a")
	signed := SignedHeaders(req)
	g.Expect(signed).To(Equal([]string{"host", "x-multi", "x-sdk-date"}))
	g.Expect(canonicalHeaders(req, signed)).To(Equal("host:override.example.com\nx-multi:a\nx-multi:b\nx-sdk-date:20240317T144237Z\n"))
}

func TestVerifyAPIGSignature(t *testing.T) {
	body := []byte(`{"a":1}`)
	target := "https://mkt.example.com/api/x?orderId=O1&orderLineId=O1-000001"
	tests := []struct {
		name    string
		mutate  func(req *http.Request) []byte
		now     time.Time
		wantErr string
	}{
		{name: "valid", mutate: func(*http.Request) []byte { return body }},
		{name: "upper-case signature", mutate: func(req *http.Request) []byte {
			auth := req.Header.Get("Authorization")
			i := strings.LastIndex(auth, "=")
			req.Header.Set("Authorization", auth[:i+1]+strings.ToUpper(auth[i+1:]))
			return body
		}},
		{name: "unsigned header added", mutate: func(req *http.Request) []byte { req.Header.Set("User-Agent", "x"); return body }},
		{name: "skew within limit", now: signTime.Add(-14 * time.Minute), mutate: func(*http.Request) []byte { return body }},
		{name: "body changed", mutate: func(*http.Request) []byte { return []byte(`{"a":2}`) }, wantErr: "signature does not match"},
		{name: "query changed", mutate: func(req *http.Request) []byte { req.URL.RawQuery = "orderId=O2"; return body }, wantErr: "signature does not match"},
		{name: "path changed", mutate: func(req *http.Request) []byte { req.URL.Path = "/api/y"; return body }, wantErr: "signature does not match"},
		{name: "method changed", mutate: func(req *http.Request) []byte { req.Method = http.MethodPut; return body }, wantErr: "signature does not match"},
		{name: "host changed", mutate: func(req *http.Request) []byte { req.Host = "evil.example.com"; return body }, wantErr: "signature does not match"},
		{name: "signed header changed", mutate: func(req *http.Request) []byte { req.Header.Set("Content-Type", "text/plain"); return body }, wantErr: "signature does not match"},
		{name: "date outside skew", now: signTime.Add(16 * time.Minute), mutate: func(*http.Request) []byte { return body }, wantErr: "away from now"},
		{name: "date in the future", now: signTime.Add(-16 * time.Minute), mutate: func(*http.Request) []byte { return body }, wantErr: "away from now"},
		{name: "bad date", mutate: func(req *http.Request) []byte { req.Header.Set(HeaderSdkDate, "yesterday"); return body }, wantErr: "is not yyyyMMddTHHmmssZ"},
		{name: "no authorization", mutate: func(req *http.Request) []byte { req.Header.Del("Authorization"); return body }, wantErr: "does not use SDK-HMAC-SHA256"},
		{name: "other scheme", mutate: func(req *http.Request) []byte { req.Header.Set("Authorization", "Bearer x"); return body }, wantErr: "does not use SDK-HMAC-SHA256"},
		{name: "incomplete authorization", mutate: func(req *http.Request) []byte {
			req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=AK123, SignedHeaders=host;x-sdk-date")
			return body
		}, wantErr: "lacks Access"},
		{name: "unknown access key", mutate: func(req *http.Request) []byte {
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "AK123", "AK999", 1))
			return body
		}, wantErr: "unknown access key"},
		{name: "x-sdk-date not signed", mutate: func(req *http.Request) []byte {
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), ";x-sdk-date", "", 1))
			return body
		}, wantErr: "must include host and x-sdk-date"},
		{name: "signed headers unsorted", mutate: func(req *http.Request) []byte {
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "content-type;host", "host;content-type", 1))
			return body
		}, wantErr: "sorted and unique"},
		{name: "signature not hex", mutate: func(req *http.Request) []byte {
			auth := req.Header.Get("Authorization")
			req.Header.Set("Authorization", auth[:strings.LastIndex(auth, "=")+1]+"zz")
			return body
		}, wantErr: "signature does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			req := newSignedRequest(g, http.MethodPost, target, body)
			sent := tt.mutate(req)
			now := tt.now
			if now.IsZero() {
				now = signTime
			}
			err := VerifyAPIGSignature(req, sent, lookupTestSecret, now, 15*time.Minute)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ErrAPIGAuth))
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
			g.Expect(err.Error()).NotTo(ContainSubstring("SK-secret-value"))
		})
	}
}
