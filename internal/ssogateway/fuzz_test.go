package ssogateway

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseCallback: no query panics the parser, and what it accepts has a
// code, each parameter printable and bounded, and a state or a tenant.
func FuzzParseCallback(f *testing.F) {
	for _, seed := range []string{"code=abc&state=xyz", "code=abc&tenant=acme", "code=a&code=b", "error=access_denied",
		"code=%00&state=s", "code=" + strings.Repeat("a", maxParam+1) + "&state=s", "state=s;code=c", "%zz", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		cb, err := parseCallback(query)
		if err != nil {
			return
		}
		if cb.Code == "" || (cb.State == "" && cb.Tenant == "") {
			t.Fatalf("accepted %q without a code, or without state and tenant: %+v", query, cb)
		}
		for _, v := range []string{cb.Code, cb.State, cb.Tenant} {
			if len(v) > maxParam || (v != "" && !printableASCII(v)) {
				t.Fatalf("accepted %q with an unbounded or unprintable parameter", query)
			}
		}
	})
}

// FuzzDecodeSession: no cookie value panics the decoder, and only values
// made by a codec with the same keys decode: to the session they were made
// from (the fuzzing workers re-run the setup, and every encoding has a
// fresh IV, so the values themselves differ between processes).
func FuzzDecodeSession(f *testing.F) {
	hashKey, blockKey, err := settings{clientSecret: "s", tenantID: "t", appID: "a"}.cookieKeys()
	if err != nil {
		f.Fatal(err)
	}
	c := newCodec(hashKey, blockKey)
	want := session{User: "alice", Email: "alice@example.com", AccessToken: "at", RefreshToken: "rt", Expiry: 1_800_000_000}
	genuine, err := c.encode(sessionCookie, want)
	if err != nil {
		f.Fatal(err)
	}
	_, loginValue, _ := c.encodeLogin(login{State: strings.Repeat("s", loginNameChars), ReturnTo: "/"}, time.Now())
	for _, seed := range []string{genuine, genuine[:len(genuine)-1], genuine + "A", loginValue, "", "a|b|c", strings.Repeat("A", maxCookieBytes+1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		got, err := c.decodeSession(value)
		if err != nil {
			return
		}
		if got != want {
			t.Fatalf("decoded %q, which the codec did not make, to %+v", value, got)
		}
	})
}
