package koogallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// specBodies are the callback bodies of the spec, used as fuzz seeds.
var specBodies = []string{
	b1Body, k1Body, upgradeBody, refreshBody, statusBody, licenseBody, changeBody, queryBody, releaseBody,
	`{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"},"orderInfo":[{"price":12.78,"count":5,"x":null}]}`,
	`{"memo":"\u8bf7 <a> & \"q\" \u2028","n":null}`,
	`{"a":1} `, `[]`, `{"a":1,"a":2}`, `{`, ``,
	// Loosely typed forms the marketplace may send (issue 16).
	`{"activity":"newInstance","orderId":1,"orderLineId":"CS1-000001","businessId":true,"testFlag":1}`,
	`{"activity":"newInstance","orderId":"CS1","orderLineId":"CS1-000001","businessId":"b","testFlag":true}`,
	`{"activity":"newInstance","orderId":"CS1","orderLineId":"CS1-000001","businessId":"b","testFlag":"true"}`,
	`{"activity":"queryInstance","instanceId":12.50,"testFlag":0}`,
	`{"activity":"changeInstanceCheck","instanceId":"i-1","productInfo":"{\"skuCode\":\"pro\",\"linearValue\":\"50\"}","testFlag":1}`,
	`{"activity":"changeInstanceCheck","instanceId":"i-1","productInfo":{"productId":7,"skuCode":1,"linearValue":50}}`,
	`{"activity":1,"testFlag":false}`,
	// orderNotify (§3.9).
	`{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`,
	`{"activity":"orderNotify","orderId":1,"orderLineId":null,"testFlag":1}`,
}

// forms returns the canonical payloads VerifyBasic accepts a signature
// over: as received and, with a top-level number or boolean, the
// Map<String,String> form. It is nil for a body that does not parse.
func forms(body []byte) [][]byte {
	members, err := parseObject(body)
	if err != nil {
		return nil
	}
	out := [][]byte{canonicalPayload(members, false)}
	if hasScalar(members) {
		out = append(out, canonicalPayload(members, true))
	}
	return out
}

// sameDecoding fails t unless a and b decode alike: same activity, same
// request, same error.
func sameDecoding(t *testing.T, a, b []byte) {
	t.Helper()
	activityA, reqA, errA := DecodeRequest(a)
	activityB, reqB, errB := DecodeRequest(b)
	if activityA != activityB || !reflect.DeepEqual(reqA, reqB) || fmt.Sprint(errA) != fmt.Sprint(errB) {
		t.Fatalf("%q decodes to %q %#v %v, but %q to %q %#v %v", a, activityA, reqA, errA, b, activityB, reqB, errB)
	}
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

// FuzzDecodeRequestStringMapForm: a body and its Map<String,String> form
// (every top-level number and boolean written as a string) decode alike.
// This is what makes it safe for VerifyBasic to accept a signature over
// either form.
func FuzzDecodeRequestStringMapForm(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if fs := forms(body); len(fs) == 2 {
			sameDecoding(t, body, fs[1])
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
	f.Add([]byte(b1Body), []byte(strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":1`, 1)), b1Nonce, b1Timestamp)
	f.Add([]byte(strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":true`, 1)), []byte(b1Body), b1Nonce, b1Timestamp)
	f.Add([]byte(strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":1`, 1)), []byte(strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":0`, 1)), b1Nonce, b1Timestamp)
	// One canonical form, so that forms below says exactly which bodies a
	// signature covers (the other forms are fuzzed by FuzzCanonicalForms).
	v := Verifier{Now: func() time.Time { return b1Time }, Forms: []CanonicalForm{FormAsReceived}}
	f.Fuzz(func(t *testing.T, original, mutated []byte, nonce, garbage string) {
		// Arbitrary query values must never panic.
		_, _, _ = v.VerifyBasic([]string{b1Key}, SignedQuery{Signature: garbage, Timestamp: garbage, Nonce: nonce}, mutated)
		_, _, _ = v.VerifyKit([]string{b1Key}, SignedQuery{Signature: garbage, Timestamp: b1Timestamp, Nonce: garbage}, mutated)

		signedForms := forms(original)
		if signedForms == nil || nonce == "" {
			return
		}
		checkFuzzedTimestamp(t, v, signedForms[0], original, nonce, garbage)
		// The marketplace may have signed either form of original; the
		// mutated body must verify exactly when one of its own forms is
		// the signed payload, and then mean what original meant.
		mutatedForms := forms(mutated)
		for _, signedPayload := range signedForms {
			q := SignedQuery{Signature: SignBasic(b1Key, nonce, b1Timestamp, signedPayload), Timestamp: b1Timestamp, Nonce: nonce}
			_, canonical, err := v.VerifyBasic([]string{"other", b1Key}, q, mutated)
			same := slices.ContainsFunc(mutatedForms, func(p []byte) bool { return bytes.Equal(p, signedPayload) })
			switch {
			case err == nil && !same:
				t.Fatalf("%q verified with the signature of %q", mutated, signedPayload)
			case err != nil && same:
				t.Fatalf("%q has the signed canonical payload %q but failed: %v", mutated, signedPayload, err)
			case err == nil && !bytes.Equal(canonical, signedPayload):
				t.Fatalf("returned canonical payload %q, signed %q", canonical, signedPayload)
			case err == nil:
				sameDecoding(t, original, mutated)
			}
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
