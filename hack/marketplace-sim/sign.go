package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the simulator's own implementation of how the marketplace
// writes and signs a basic callback (spec §2.1.2) and of the Body-Sign check
// (§2.3). It deliberately does not call internal/koogallery: the receiver
// verifies with that package, so a shared bug there would make both sides
// agree and the conformance run prove nothing. The tests pin this code to
// the spec's vectors B1 and R1.

// field is one member of a callback body. value is a string, a json.Number
// or a nested callbackBody; nil means JSON null.
type field struct {
	name  string
	value any
}

// callbackBody is a JSON object whose members keep the order the
// marketplace sends them in; the signature is computed over a sorted copy.
type callbackBody []field

// wire returns the body as sent: compact JSON, members in their order.
func (b callbackBody) wire() ([]byte, error) {
	var out bytes.Buffer
	if err := writeObject(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// canonical returns RequestPayload (§2.1.2 step 4): top-level members
// sorted by name, nulls dropped, compact JSON. Nested objects keep their
// order, as the marketplace's TreeMap only sorts the top level.
func (b callbackBody) canonical() ([]byte, error) {
	sorted := make(callbackBody, 0, len(b))
	for _, f := range b {
		if f.value != nil {
			sorted = append(sorted, f)
		}
	}
	slices.SortStableFunc(sorted, func(x, y field) int { return strings.Compare(x.name, y.name) })
	return sorted.wire()
}

// canonicalStringMap returns RequestPayload as the marketplace's sample
// writes it after reading the body as Map<String,String> (§2.1.2 step 4):
// like canonical, but with each top-level number written as a string, as
// such a map holds it ("testFlag":1 becomes "testFlag":"1").
func (b callbackBody) canonicalStringMap() ([]byte, error) {
	asStrings := make(callbackBody, len(b))
	for i, f := range b {
		if n, ok := f.value.(jsonNumber); ok {
			f.value = string(n)
		}
		asStrings[i] = f
	}
	return asStrings.canonical()
}

// get returns the string value of the named member, or "".
func (b callbackBody) get(name string) string {
	for _, f := range b {
		if f.name == name {
			if s, ok := f.value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// writeObject writes b as a compact JSON object.
func writeObject(out *bytes.Buffer, b callbackBody) error {
	out.WriteByte('{')
	for i, f := range b {
		if i > 0 {
			out.WriteByte(',')
		}
		writeJSONString(out, f.name)
		out.WriteByte(':')
		if err := writeJSONValue(out, f.value); err != nil {
			return fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	out.WriteByte('}')
	return nil
}

// writeJSONValue writes one member value.
func writeJSONValue(out *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		out.WriteString("null")
	case string:
		writeJSONString(out, v)
	case jsonNumber:
		if !v.valid() {
			return fmt.Errorf("%q is not a JSON number", string(v))
		}
		out.WriteString(string(v))
	case callbackBody:
		return writeObject(out, v)
	case []callbackBody:
		// An array of objects: the kit's userList and orgInfoList.
		out.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := writeObject(out, item); err != nil {
				return err
			}
		}
		out.WriteByte(']')
	default:
		return fmt.Errorf("unsupported value type %T", v)
	}
	return nil
}

// jsonNumber is a number written exactly as given, e.g. linearValue.
type jsonNumber string

// valid reports whether n is a plain non-negative decimal integer, the only
// kind of number the simulator sends.
func (n jsonNumber) valid() bool {
	if n == "" {
		return false
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// writeJSONString writes s the way the marketplace's Jackson serializer
// does: only '"', '\\' and control characters are escaped, and non-ASCII
// stays UTF-8. Go's encoding/json would also escape <, >, &, U+2028 and
// U+2029, which would change the signed bytes. Invalid UTF-8 is replaced
// first, as any JSON parser on the other side would do.
func writeJSONString(out *bytes.Buffer, s string) {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c < 0x20:
			writeControlEscape(out, c)
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}

// writeControlEscape escapes a control character: the short forms JSON has,
// else \u00XX in upper-case hex as Jackson writes it.
func writeControlEscape(out *bytes.Buffer, c byte) {
	short := map[byte]byte{'\b': 'b', '\t': 't', '\n': 'n', '\f': 'f', '\r': 'r'}
	if s, ok := short[c]; ok {
		out.WriteByte('\\')
		out.WriteByte(s)
		return
	}
	fmt.Fprintf(out, `\u%04X`, c)
}

// hmacHex returns the lower-case hex HMAC-SHA256 of msg keyed with key.
func hmacHex(key string, msg []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(msg)
	return hex.EncodeToString(mac.Sum(nil))
}

// signPayload is §2.1.2 steps 5–7: an inner HMAC of the payload, then an
// HMAC of key+nonce+timestamp+inner, both keyed with the basic key.
func signPayload(key, nonce, timestamp string, payload []byte) string {
	inner := hmacHex(key, payload)
	return hmacHex(key, []byte(key+nonce+timestamp+inner))
}

// signedRequest is one callback ready to send. Sending it twice sends the
// exact same request, which is how the replay scenario is made.
type signedRequest struct {
	// activity names the callback, for output.
	activity string
	// query holds signature, timestamp and nonce.
	query url.Values
	// body is the exact bytes sent.
	body []byte
	// path, when set, is sent instead of the production URL's path.
	path string
}

// signBody writes b and signs it as the marketplace does at time at with
// nonce.
func signBody(key string, b callbackBody, at time.Time, nonce string) (signedRequest, error) {
	return signBodyAs(key, b, b.canonical, at, nonce)
}

// signBodyAs writes b and signs the payload canonical returns, b.canonical
// or b.canonicalStringMap.
func signBodyAs(key string, b callbackBody, canonical func() ([]byte, error), at time.Time, nonce string) (signedRequest, error) {
	wire, err := b.wire()
	if err != nil {
		return signedRequest{}, fmt.Errorf("failed to encode the %s body: %w", b.get("activity"), err)
	}
	payload, err := canonical()
	if err != nil {
		return signedRequest{}, fmt.Errorf("failed to canonicalise the %s body: %w", b.get("activity"), err)
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	return signedRequest{
		activity: b.get("activity"),
		query:    url.Values{"signature": {signPayload(key, nonce, ts, payload)}, "timestamp": {ts}, "nonce": {nonce}},
		body:     wire,
	}, nil
}

// signRaw signs bytes that are not a JSON object, such as a truncated body:
// there is no canonical form, so the raw bytes stand in for the payload, as
// a marketplace that signed "whatever it could" would do.
func signRaw(key, activity string, raw []byte, at time.Time, nonce string) signedRequest {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	return signedRequest{
		activity: activity,
		query:    url.Values{"signature": {signPayload(key, nonce, ts, raw)}, "timestamp": {ts}, "nonce": {nonce}},
		body:     raw,
	}
}

// newNonce returns a nonce shaped like the docs' example: 64 upper-case hex
// characters from crypto/rand.
func newNonce() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return strings.ToUpper(hex.EncodeToString(b))
}

// bodySignResult is the outcome of checking an answer's Body-Sign header.
type bodySignResult int

// Body-Sign outcomes.
const (
	// bodySignAbsent: the answer has no Body-Sign header (allowed in V2).
	bodySignAbsent bodySignResult = iota
	// bodySignVerified: the header matches the body and the key.
	bodySignVerified
	// bodySignMismatch: the header is well formed but does not match.
	bodySignMismatch
	// bodySignMalformed: the header is not sign_type="HMAC-SHA256", signature="<base64>".
	bodySignMalformed
)

// String describes the outcome for output.
func (r bodySignResult) String() string {
	switch r {
	case bodySignAbsent:
		return "absent"
	case bodySignVerified:
		return "verified"
	case bodySignMismatch:
		return "DOES NOT VERIFY"
	}
	return "MALFORMED"
}

// errBodySignFormat means the Body-Sign header does not have the §2.3 form.
var errBodySignFormat = errors.New(`Body-Sign is not sign_type="HMAC-SHA256", signature="<base64>"`)

// checkBodySign verifies header (the Body-Sign value, possibly empty)
// against the exact answer bytes: Base64 HMAC-SHA256 keyed with the key
// alone (§2.3), compared in constant time.
func checkBodySign(key, header string, body []byte) bodySignResult {
	if header == "" {
		return bodySignAbsent
	}
	sig, err := parseBodySign(header)
	if err != nil {
		return bodySignMalformed
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sig) {
		return bodySignMismatch
	}
	return bodySignVerified
}

// parseBodySign parses sign_type="HMAC-SHA256", signature="<base64>"; the
// quotes are mandatory (§2.3).
func parseBodySign(header string) ([]byte, error) {
	values := map[string]string{}
	for _, part := range strings.Split(header, ",") {
		name, quoted, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
			return nil, errBodySignFormat
		}
		values[name] = quoted[1 : len(quoted)-1]
	}
	if values["sign_type"] != "HMAC-SHA256" || values["signature"] == "" {
		return nil, errBodySignFormat
	}
	sig, err := base64.StdEncoding.DecodeString(values["signature"])
	if err != nil {
		return nil, errBodySignFormat
	}
	return sig, nil
}
