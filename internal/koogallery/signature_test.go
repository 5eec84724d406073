package koogallery

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// signedFor signs canonical with key the way the marketplace does, from a
// canonical payload written out by hand rather than computed by the code
// under test.
func signedFor(key, canonical string) SignedQuery {
	return SignedQuery{Signature: SignBasic(key, b1Nonce, b1Timestamp, []byte(canonical)), Timestamp: b1Timestamp, Nonce: b1Nonce}
}

func TestVerifyBasic(t *testing.T) {
	valid := SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}
	nested := `{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"},"orderInfo":[{"price":12.78,"count":5}]}`
	tests := []struct {
		name    string
		keys    []string
		query   SignedQuery
		body    string
		now     time.Time
		window  time.Duration
		want    int
		wantErr error
		code    ResultCode
		// canonical is the payload that was signed, when it is not the
		// body's canonical form as received.
		canonical string
	}{
		{name: "B1", query: valid, body: b1Body},
		{name: "upper-case signature", query: SignedQuery{Signature: strings.ToUpper(b1Signature), Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body},
		{name: "missing timestamp", query: SignedQuery{Signature: b1Signature, Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "missing nonce", query: SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "missing signature", query: SignedQuery{Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingSignature, code: ResultAuthFailed},
		{name: "missing timestamp is reported before missing signature", query: SignedQuery{Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "missing signature is reported before a bad timestamp", query: SignedQuery{Timestamp: "x", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingSignature, code: ResultAuthFailed},
		{name: "non-numeric timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "2023-04-03", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "signed timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "+1680508066618", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "negative timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "-1680508066618", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "fractional timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "1680508066618.0", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "overflowing timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "99999999999999999999", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "stale timestamp", query: valid, body: b1Body, now: b1Time.Add(5 * time.Minute), wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "just past the window", query: valid, body: b1Body, now: b1Time.Add(DefaultWindow + time.Millisecond), wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "exactly at the window's past edge", query: valid, body: b1Body, now: b1Time.Add(DefaultWindow)},
		{name: "future timestamp", query: valid, body: b1Body, now: b1Time.Add(-5 * time.Minute), wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "just beyond the future window", query: valid, body: b1Body, now: b1Time.Add(-DefaultWindow - time.Millisecond), wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "exactly at the window's future edge", query: valid, body: b1Body, now: b1Time.Add(-DefaultWindow)},
		{name: "custom window", query: valid, body: b1Body, now: b1Time.Add(4 * time.Minute), window: 5 * time.Minute},
		{name: "far-future timestamp", query: SignedQuery{Signature: SignBasic(b1Key, b1Nonce, "9223372036854775807", []byte(b1Payload)), Timestamp: "9223372036854775807", Nonce: b1Nonce}, body: b1Body, wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "far-past seconds timestamp", query: SignedQuery{Signature: SignBasic(b1Key, b1Nonce, "1", []byte(b1Payload)), Timestamp: "1", Nonce: b1Nonce}, body: b1Body, wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "zero timestamp", query: SignedQuery{Signature: b1Signature, Timestamp: "0", Nonce: b1Nonce}, body: b1Body, wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "seconds timestamp", query: SignedQuery{Signature: SignBasic(b1Key, b1Nonce, "1680508066", []byte(b1Payload)), Timestamp: "1680508066", Nonce: b1Nonce}, body: b1Body},
		{name: "stale seconds timestamp", query: SignedQuery{Signature: SignBasic(b1Key, b1Nonce, "1680507066", []byte(b1Payload)), Timestamp: "1680507066", Nonce: b1Nonce}, body: b1Body, wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "stale timestamp is reported before a malformed body", query: valid, body: `[`, now: b1Time.Add(time.Hour), wantErr: ErrStaleTimestamp, code: ResultInvalidParam},
		{name: "body is not JSON", query: valid, body: `activity=newInstance`, wantErr: ErrMalformedBody, code: ResultInvalidParam},
		{name: "body is an array", query: valid, body: `[` + b1Body + `]`, wantErr: ErrMalformedBody, code: ResultInvalidParam},
		{name: "body has trailing data", query: valid, body: b1Body + `{}`, wantErr: ErrMalformedBody, code: ResultInvalidParam},
		{name: "body has a duplicate key", query: valid, body: strings.Replace(b1Body, `}`, `,"orderId":"X"}`, 1), wantErr: ErrMalformedBody, code: ResultInvalidParam},
		{name: "malformed body is reported before a bad signature", query: SignedQuery{Signature: "zz", Timestamp: b1Timestamp, Nonce: b1Nonce}, body: `{`, wantErr: ErrMalformedBody, code: ResultInvalidParam},
		{name: "bad signature", query: SignedQuery{Signature: strings.Repeat("ab", 32), Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "signature one character short", query: SignedQuery{Signature: b1Signature[:63], Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "signature with extra bytes", query: SignedQuery{Signature: b1Signature + "00", Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "signature of non-hex characters", query: SignedQuery{Signature: strings.Repeat("zz", 32), Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "signature as base64", query: SignedQuery{Signature: "JxVErNrIJgHQpmFWMcTbVBINXqMvyWhJPIBkKB4SXHo=", Timestamp: b1Timestamp, Nonce: b1Nonce}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "signed with another key", keys: []string{"other-key"}, query: valid, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "different nonce", query: SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: "RLLUammMSInlrNWb"}, body: b1Body, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "same instant, different timestamp text", query: SignedQuery{Signature: b1Signature, Timestamp: "01680508066618", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "timestamp with a leading zero, signed so", query: SignedQuery{Signature: SignBasic(b1Key, b1Nonce, "01680508066618", []byte(b1Payload)), Timestamp: "01680508066618", Nonce: b1Nonce}, body: b1Body, wantErr: ErrMissingParam, code: ResultInvalidParam},
		{name: "reordered keys", query: valid, body: `{"testFlag":"1","orderLineId":"CS2211181819B4LVS-000001","orderId":"CS2211181819B4LVS","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","activity":"newInstance"}`},
		{name: "whitespace changed", query: valid, body: "{\n  \"activity\": \"newInstance\",\n  \"orderId\": \"CS2211181819B4LVS\",\n  \"orderLineId\": \"CS2211181819B4LVS-000001\",\n  \"businessId\": \"87b94795-0603-4e24-8ae5-69420d60e3c8\",\n  \"testFlag\": \"1\"\n}\n"},
		{name: "added null field", query: valid, body: strings.Replace(b1Body, `{`, `{"extra":null,`, 1)},
		{name: "escaped the same", query: valid, body: strings.Replace(b1Body, `"newInstance"`, `"\u006eewInstance"`, 1)},
		{name: "changed value", query: valid, body: strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":"0"`, 1), wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "added field", query: valid, body: strings.Replace(b1Body, `{`, `{"extra":"",`, 1), wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "value changed to the same number: the Map<String,String> form", query: valid, body: strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":1`, 1), canonical: b1Payload},
		{name: "value changed to another number", query: valid, body: strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":0`, 1), wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "value changed to the same number, written otherwise", query: valid, body: strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":1.0`, 1), wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "number signed as received", query: signedFor(b1Key, `{"a":"x","n":1,"t":true}`), body: `{"t":true,"n":1,"a":"x"}`},
		{name: "number signed as a string map writes it", query: signedFor(b1Key, `{"a":"x","n":"1","t":"true"}`), body: `{"t":true,"n":1,"a":"x"}`, canonical: `{"a":"x","n":"1","t":"true"}`},
		{name: "only some numbers signed as strings", query: signedFor(b1Key, `{"a":"x","n":"1","t":true}`), body: `{"t":true,"n":1,"a":"x"}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "number sent as a string but signed as a number", query: signedFor(b1Key, `{"n":1}`), body: `{"n":"1"}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "nested number signed as a string", query: signedFor(b1Key, `{"o":{"n":"1"}}`), body: `{"o":{"n":1}}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "boolean changed after signing", query: signedFor(b1Key, `{"t":"true"}`), body: `{"t":false}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "string productInfo as signed", query: signedFor(b1Key, `{"p":"{\"skuCode\":\"pro\"}"}`), body: `{"p":"{\"skuCode\":\"pro\"}"}`},
		{name: "string productInfo sent as the object", query: signedFor(b1Key, `{"p":"{\"skuCode\":\"pro\"}"}`), body: `{"p":{"skuCode":"pro"}}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "rotated keys: second key matches", keys: []string{"new-key", b1Key}, query: valid, body: b1Body, want: 1},
		{name: "rotated keys: first key matches", keys: []string{b1Key, "old-key"}, query: valid, body: b1Body, want: 0},
		{name: "empty keys are skipped", keys: []string{"", b1Key}, query: valid, body: b1Body, want: 1},
		{name: "no keys", keys: []string{}, query: valid, body: b1Body, wantErr: ErrNoKeys, code: ResultInternalError},
		{name: "only empty keys", keys: []string{""}, query: signedFor("", b1Payload), body: b1Body, wantErr: ErrNoKeys, code: ResultInternalError},
		{name: "nested order as signed", query: signedFor(b1Key, nested), body: nested},
		{name: "nested keys reordered", query: signedFor(b1Key, nested), body: `{"activity":"newInstance","buyerInfo":{"id":"i","name":"n"},"orderInfo":[{"price":12.78,"count":5}]}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "array reordered", query: signedFor(b1Key, `{"a":[1,2]}`), body: `{"a":[2,1]}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "nested null kept", query: signedFor(b1Key, `{"a":{"b":null}}`), body: `{"a":{"b":null}}`},
		{name: "nested null dropped", query: signedFor(b1Key, `{"a":{"b":null}}`), body: `{"a":{}}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "numbers preserved", query: signedFor(b1Key, `{"n":12.78,"q":5}`), body: `{"q":5,"n":12.78}`},
		{name: "number reformatted", query: signedFor(b1Key, `{"n":12.78,"q":5}`), body: `{"q":5.0,"n":12.78}`, wantErr: ErrBadSignature, code: ResultAuthFailed},
		{name: "non-ASCII and HTML characters", query: signedFor(b1Key, `{"memo":"请登录 <admin> & \"go\""}`), body: `{"memo":"\u8bf7\u767b\u5f55 \u003cadmin\u003e \u0026 \"go\""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			keys := tt.keys
			if keys == nil {
				keys = []string{b1Key}
			}
			now := tt.now
			if now.IsZero() {
				now = b1Time
			}
			v := Verifier{Window: tt.window, Now: func() time.Time { return now }}
			idx, canonical, err := v.VerifyBasic(keys, tt.query, []byte(tt.body))
			g.Expect(CodeOf(err)).To(Equal(orSuccess(tt.code)))
			if tt.wantErr != nil {
				g.Expect(err).To(MatchError(tt.wantErr))
				g.Expect(idx).To(Equal(-1))
				g.Expect(canonical).To(BeNil())
				assertSafe(g, err, keys, tt.query.Signature)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(idx).To(Equal(tt.want))
			want, _ := CanonicalPayload([]byte(tt.body))
			if tt.canonical != "" {
				want = []byte(tt.canonical)
			}
			g.Expect(string(canonical)).To(Equal(string(want)))
		})
	}
}

func orSuccess(c ResultCode) ResultCode {
	if c == "" {
		return ResultSuccess
	}
	return c
}

// assertSafe checks that an error message shows neither a key nor the
// signature, since it may be sent back to the marketplace.
func assertSafe(g Gomega, err error, keys []string, signature string) {
	for _, k := range keys {
		if len(k) > 3 {
			g.Expect(err.Error()).NotTo(ContainSubstring(k))
		}
	}
	if len(signature) > 3 {
		g.Expect(strings.ToLower(err.Error())).NotTo(ContainSubstring(strings.ToLower(signature)))
	}
}

func TestVerifyStaleMessage(t *testing.T) {
	g := NewWithT(t)
	v := Verifier{Now: func() time.Time { return b1Time.Add(5 * time.Minute) }}
	_, _, err := v.VerifyBasic([]string{b1Key}, SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(b1Body))
	g.Expect(err).To(MatchError("timestamp 1680508066618 is 5m0s old, outside the 1m0s window: stale timestamp"))
}

func TestVerifyKit(t *testing.T) {
	v := Verifier{Now: func() time.Time { return b1Time }}
	valid := SignedQuery{Signature: k1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}
	tests := []struct {
		name    string
		query   SignedQuery
		body    string
		wantErr error
	}{
		{"K1", valid, k1Body, nil},
		{"reordered with nulls", valid, `{"testFlag":0,"flag":1,"extra":null,"timeStamp":"20220413093539534","name":"huaiweitest","domainName":"https://example.tenantaccount.com","tenantCode":"huawei","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","orderId":"CS1906666666ABCDE","instanceId":"huaiweitest123456"}`, nil},
		{"integer sent as string", valid, strings.Replace(k1Body, `"flag":1`, `"flag":"1"`, 1), ErrBadSignature},
		{"missing x-nonce", SignedQuery{Signature: k1Signature, Timestamp: b1Timestamp}, k1Body, ErrMissingParam},
		{"missing x-sign", SignedQuery{Timestamp: b1Timestamp, Nonce: b1Nonce}, k1Body, ErrMissingSignature},
		{"x-timestamp with a leading zero", SignedQuery{Signature: SignKit(k1Key, b1Nonce, "0"+b1Timestamp, []byte(k1Payload)), Timestamp: "0" + b1Timestamp, Nonce: b1Nonce}, k1Body, ErrMissingParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, _, err := v.VerifyKit([]string{k1Key}, tt.query, []byte(tt.body))
			if tt.wantErr == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(tt.wantErr))
		})
	}
}

// TestRequestsSignedAlikeShareAReplayKey: the signature covers nonce and
// timestamp concatenated (§2.1.2 step 6, §2.2), so two requests that split
// the same characters differently between them carry the same signature;
// their replay keys must be equal too, and differ from those of requests
// signed otherwise.
func TestRequestsSignedAlikeShareAReplayKey(t *testing.T) {
	g := NewWithT(t)
	captured := SignedQuery{Nonce: "abc0", Timestamp: "1781781781781"}
	for _, replayed := range []SignedQuery{
		{Nonce: "abc", Timestamp: "01781781781781"},
		{Nonce: "abc0178", Timestamp: "1781781781"},
	} {
		g.Expect(SignBasic(b1Key, replayed.Nonce, replayed.Timestamp, []byte(b1Payload))).
			To(Equal(SignBasic(b1Key, captured.Nonce, captured.Timestamp, []byte(b1Payload))), "the replay keeps the signature")
		g.Expect(replayed.ReplayKey()).To(Equal(captured.ReplayKey()), "%+v", replayed)
	}
	g.Expect(SignedQuery{Nonce: "abc0", Timestamp: "1781781781782"}.ReplayKey()).NotTo(Equal(captured.ReplayKey()))
	g.Expect(SignedQuery{Nonce: "abd0", Timestamp: "1781781781781"}.ReplayKey()).NotTo(Equal(captured.ReplayKey()))
}

func TestVerifierDefaults(t *testing.T) {
	g := NewWithT(t)
	now := fmt.Sprint(time.Now().UnixMilli())
	q := SignedQuery{Signature: SignBasic(b1Key, b1Nonce, now, []byte(b1Payload)), Timestamp: now, Nonce: b1Nonce}
	_, _, err := Verifier{}.VerifyBasic([]string{b1Key}, q, []byte(b1Body))
	g.Expect(err).NotTo(HaveOccurred())
	_, _, err = Verifier{}.VerifyBasic([]string{b1Key}, SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(b1Body))
	g.Expect(err).To(MatchError(ErrStaleTimestamp))
}

// TestTimestampWindow holds the window's edges in both directions: the
// skew is reported signed, and a refusal says which way it missed.
func TestTimestampWindow(t *testing.T) {
	tests := []struct {
		name       string
		now        time.Time
		timestamp  string
		wantSkew   time.Duration
		wantFuture *bool
		wantMsg    string
	}{
		{name: "on time", now: b1Time, timestamp: b1Timestamp},
		{name: "60 s old", now: b1Time.Add(DefaultWindow), timestamp: b1Timestamp, wantSkew: DefaultWindow},
		{name: "60 s ahead", now: b1Time.Add(-DefaultWindow), timestamp: b1Timestamp, wantSkew: -DefaultWindow},
		{name: "61 s old", now: b1Time.Add(61 * time.Second), timestamp: b1Timestamp, wantSkew: 61 * time.Second, wantFuture: ptr(false), wantMsg: "is 1m1s old, outside the 1m0s window"},
		{name: "61 s ahead", now: b1Time.Add(-61 * time.Second), timestamp: b1Timestamp, wantSkew: -61 * time.Second, wantFuture: ptr(true), wantMsg: "is 1m1s in the future, outside the 1m0s window"},
		{name: "far future saturates", now: b1Time, timestamp: "9223372036854775807", wantSkew: math.MinInt64, wantFuture: ptr(true), wantMsg: "2562047h47m16.854775807s in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			v := Verifier{Now: func() time.Time { return tt.now }}
			skew, err := v.Skew(tt.timestamp)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(skew).To(Equal(tt.wantSkew))
			err = v.checkTimestamp(tt.timestamp)
			if tt.wantFuture == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			var te *TimestampError
			g.Expect(errors.As(err, &te)).To(BeTrue())
			g.Expect(err).To(MatchError(ErrStaleTimestamp))
			g.Expect(te.Future()).To(Equal(*tt.wantFuture))
			g.Expect(te.Skew).To(Equal(tt.wantSkew))
			g.Expect(err.Error()).To(ContainSubstring(tt.wantMsg))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}
	_, err := Verifier{}.Skew("soon")
	NewWithT(t).Expect(err).To(MatchError(ErrMissingParam))
}

func ptr[T any](v T) *T { return &v }

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want ResultCode
	}{
		{nil, ResultSuccess},
		{ErrMissingSignature, ResultAuthFailed},
		{fmt.Errorf("wrapped: %w", ErrBadSignature), ResultAuthFailed},
		{ErrMissingParam, ResultInvalidParam},
		{ErrStaleTimestamp, ResultInvalidParam},
		{ErrMalformedBody, ResultInvalidParam},
		{&ValidationError{Field: "orderId", Reason: "is required"}, ResultInvalidParam},
		{fmt.Errorf("decode: %w", &ValidationError{Field: "x", Reason: "is required"}), ResultInvalidParam},
		{ErrNoKeys, ResultInternalError},
		{errors.New("apiserver unavailable"), ResultInternalError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			NewWithT(t).Expect(CodeOf(tt.err)).To(Equal(tt.want))
		})
	}
}
