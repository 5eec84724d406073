package koogallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// specBodies are the callback bodies of the spec, used as fuzz seeds.
var specBodies = []string{
	b1Body, k1Body, upgradeBody, refreshBody, statusBody, licenseBody, changeBody, queryBody, releaseBody,
	`{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"},"orderInfo":[{"price":12.78,"count":5,"x":null}]}`,
	`{"memo":"\u8bf7 <a> & \"q\" \u2028","n":null}`,
	`{"a":1} `, `[]`, `{"a":1,"a":2}`, `{`, ``,
}

func FuzzCanonicalPayload(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := CanonicalPayload(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("error %v does not wrap ErrMalformedBody", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output %q is not valid JSON", out)
		}
		again, err := CanonicalPayload(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q became %q (%v)", out, again, err)
		}
		if want, got := decodeWithoutTopNulls(t, body), decodeWithoutTopNulls(t, out); !reflect.DeepEqual(want, got) {
			t.Fatalf("canonical form %q means %v, the body meant %v", out, got, want)
		}
	})
}

// decodeWithoutTopNulls decodes a JSON object, keeping numbers as written,
// and drops its top-level nulls.
func decodeWithoutTopNulls(t *testing.T, data []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("failed to decode %q: %v", data, err)
	}
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	return m
}

func FuzzDecodeRequest(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		activity, req, err := DecodeRequest(body)
		if err != nil {
			if req != nil {
				t.Fatalf("request %v returned with error %v", req, err)
			}
			if code := CodeOf(err); code != ResultInvalidParam {
				t.Fatalf("error %v maps to %s, want %s", err, code, ResultInvalidParam)
			}
			return
		}
		r, ok := req.(request)
		if !ok || r.Validate() != nil {
			t.Fatalf("activity %q decoded to an invalid request %#v", activity, req)
		}
	})
}

func FuzzVerifyBasic(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b), []byte(b), b1Nonce, b1Timestamp)
		f.Add([]byte(b), []byte(b+" "), "n", "x")
		f.Add([]byte(b), []byte(b), "n", "9223372036854775807")
		f.Add([]byte(b), []byte(b), "n", "1680508006618")
	}
	f.Add([]byte(b1Body), []byte(`{"testFlag":"1","activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","x":null}`), b1Nonce, "")
	v := Verifier{Now: func() time.Time { return b1Time }}
	f.Fuzz(func(t *testing.T, original, mutated []byte, nonce, garbage string) {
		// Arbitrary query values must never panic.
		_, _, _ = v.VerifyBasic([]string{b1Key}, SignedQuery{Signature: garbage, Timestamp: garbage, Nonce: nonce}, mutated)
		_, _, _ = v.VerifyKit([]string{b1Key}, SignedQuery{Signature: garbage, Timestamp: b1Timestamp, Nonce: garbage}, mutated)

		signedPayload, err := CanonicalPayload(original)
		if err != nil || nonce == "" {
			return
		}
		checkFuzzedTimestamp(t, v, signedPayload, original, nonce, garbage)
		q := SignedQuery{Signature: SignBasic(b1Key, nonce, b1Timestamp, signedPayload), Timestamp: b1Timestamp, Nonce: nonce}
		_, canonical, err := v.VerifyBasic([]string{"other", b1Key}, q, mutated)
		mutatedPayload, perr := CanonicalPayload(mutated)
		same := perr == nil && bytes.Equal(mutatedPayload, signedPayload)
		switch {
		case err == nil && !same:
			t.Fatalf("%q verified with the signature of %q", mutated, original)
		case err != nil && same:
			t.Fatalf("%q has the signed canonical payload but failed: %v", mutated, err)
		case err == nil && !bytes.Equal(canonical, signedPayload):
			t.Fatalf("returned canonical payload %q, signed %q", canonical, signedPayload)
		}
	})
}

// checkFuzzedTimestamp signs with an arbitrary timestamp: it may verify only
// if it is a number within the window of the verifier's clock.
func checkFuzzedTimestamp(t *testing.T, v Verifier, payload, body []byte, nonce, timestamp string) {
	q := SignedQuery{Signature: SignBasic(b1Key, nonce, timestamp, payload), Timestamp: timestamp, Nonce: nonce}
	if _, _, err := v.VerifyBasic([]string{b1Key}, q, body); err != nil {
		return
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		t.Fatalf("timestamp %q verified but does not parse: %v", timestamp, err)
	}
	if d := v.Now().Sub(ts).Abs(); d > DefaultWindow {
		t.Fatalf("timestamp %q verified %s away from now", timestamp, d)
	}
}

func FuzzDecrypt(f *testing.F) {
	f.Add("test-access-key", "1", "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==")
	f.Add("test-access-key", "2", "AbCdEf0123456789TjaOqohZTv953LAxuKMRcQ==")
	f.Add("test-access-key", "", "AbCdEf0123456789")
	f.Add("k", "3", "")
	f.Add("", "1", "AbCdEf0123456789AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, secret, typ, value string) {
		_, _ = Decrypt(secret, EncryptType(typ), value)
		// Whatever the value, it must survive a round trip as plaintext.
		out, err := EncryptWithIV(secret, EncryptType(typ), value, "AbCdEf0123456789")
		if err != nil {
			return
		}
		back, err := Decrypt(secret, EncryptType(typ), out)
		if err != nil || back != value {
			t.Fatalf("round trip of %q gave %q (%v)", value, back, err)
		}
	})
}

// FuzzUsageUnits: a usage value parses back to what was written, and what
// is written always has the marketplace's form (at most 4 decimals).
func FuzzUsageUnits(f *testing.F) {
	for _, seed := range []string{"99", "0.6667", "2.5", "0", "0.0001", "12.30", "1e3", "-1", "1.23456", ""} {
		f.Add(seed)
	}
	form := regexp.MustCompile(`^[0-9]+(\.[0-9]{0,3}[1-9])?$`)
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUsageUnits(s)
		if err != nil {
			return
		}
		if u < 0 {
			t.Fatalf("%q parsed as negative %d", s, u)
		}
		out := u.String()
		if !form.MatchString(out) {
			t.Fatalf("%d written as %q", u, out)
		}
		if back, err := ParseUsageUnits(out); err != nil || back != u {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, u, out, back, err)
		}
	})
}
