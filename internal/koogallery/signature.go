package koogallery

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// DefaultWindow is how far a callback's timestamp may be from now, in either
// direction. The sample rejects callbacks older than 60 s (§2.1.2 step 3).
const DefaultWindow = 60 * time.Second

// BodySignHeader is the response header that carries BodySign (§2.3).
const BodySignHeader = "Body-Sign"

// Sentinel errors of signature verification. Their messages are safe to send
// back to the marketplace in resultMsg; CodeOf maps them to result codes.
var (
	// ErrMissingParam means the timestamp or nonce is missing, empty or not
	// a valid value (000002).
	ErrMissingParam = errors.New("invalid request parameter")
	// ErrMissingSignature means the signature is missing (000001).
	ErrMissingSignature = errors.New("missing signature")
	// ErrStaleTimestamp means the timestamp is outside the window (000002).
	ErrStaleTimestamp = errors.New("stale timestamp")
	// ErrMalformedBody means the body is not exactly one JSON object with
	// unique top-level keys (000002).
	ErrMalformedBody = errors.New("malformed body")
	// ErrBadSignature means no configured key produces the signature (000001).
	ErrBadSignature = errors.New("signature does not match")
	// ErrNoKeys means the verifier was given no usable key; it is a
	// configuration problem on our side, so it maps to 000005.
	ErrNoKeys = errors.New("no signing key configured")
)

// secondsBelow is the bound under which a timestamp is read as seconds
// rather than milliseconds (§8 item 1): 10^11 ms is March 1973, while 10^11 s
// is far in the future, so the two ranges cannot be confused.
const secondsBelow = 100_000_000_000

// SignedQuery holds the three signature values of a callback: the query
// parameters signature, timestamp and nonce of a basic callback, or the
// headers x-sign, x-timestamp and x-nonce of a kit callback.
type SignedQuery struct {
	// Signature is the hex HMAC-SHA256 signature, in either case.
	Signature string
	// Timestamp is the request time in Unix epoch milliseconds, as sent.
	Timestamp string
	// Nonce is the random string the marketplace chose.
	Nonce string
}

// ReplayKey is the part of the signed message that a request chooses: its
// nonce and timestamp, concatenated as they are signed (§2.1.2 step 6,
// §2.2). The scheme puts no separator between them, so a request that moves
// characters from one to the other (a nonce's trailing "0" in front of the
// timestamp) keeps its signature; it keeps its ReplayKey too. Remember
// this, not the nonce alone, to refuse replays.
func (q SignedQuery) ReplayKey() string { return q.Nonce + q.Timestamp }

// Verifier checks callback signatures and timestamps. The zero value uses
// DefaultWindow and the system clock.
type Verifier struct {
	// Window is the maximum distance between the timestamp and now, in
	// either direction; zero means DefaultWindow.
	Window time.Duration
	// Now returns the current time; nil means time.Now. Tests fix it.
	Now func() time.Time
	// Forms are the canonical forms a signature is accepted over (§8 item
	// 3); nil means DefaultCanonicalForms, all of them, which is safe: see
	// there. Unknown forms are ignored; if none is known, every request
	// fails with a configuration error (000005).
	Forms []CanonicalForm
}

// signFunc computes a raw signature over a canonical payload.
type signFunc func(key, nonce, timestamp string, payload []byte) []byte

// SignBasic returns the lower-case hex signature of a basic callback (§2.1.2
// steps 5–7): HMAC-SHA256 keyed with key over key+nonce+timestamp+inner,
// where inner is the hex HMAC-SHA256 of the canonical payload.
func SignBasic(key, nonce, timestamp string, canonicalPayload []byte) string {
	return hex.EncodeToString(signBasic(key, nonce, timestamp, canonicalPayload))
}

// SignKit returns the lower-case hex x-sign of a kit callback (§2.2): like
// SignBasic but with the canonical payload itself in place of the inner hash.
func SignKit(key, nonce, timestamp string, canonicalPayload []byte) string {
	return hex.EncodeToString(signKit(key, nonce, timestamp, canonicalPayload))
}

// signBasic is SignBasic without the hex encoding, for hmac.Equal.
func signBasic(key, nonce, timestamp string, payload []byte) []byte {
	inner := hex.EncodeToString(hmacSHA256([]byte(key), payload))
	return hmacSHA256([]byte(key), []byte(key+nonce+timestamp+inner))
}

// signKit is SignKit without the hex encoding, for hmac.Equal.
func signKit(key, nonce, timestamp string, payload []byte) []byte {
	msg := make([]byte, 0, len(key)+len(nonce)+len(timestamp)+len(payload))
	msg = append(append(append(append(msg, key...), nonce...), timestamp...), payload...)
	return hmacSHA256([]byte(key), msg)
}

// hmacSHA256 returns the raw HMAC-SHA256 of msg keyed with key.
func hmacSHA256(key, msg []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// VerifyBasic verifies a basic or licence callback (§2.1.2) against each of
// keys in turn, so that a key can be rotated by listing the new one beside
// the old. It returns the index of the key that matched and the canonical
// payload that was signed; on error the index is -1. The checks run in the
// order of the spec, so the first failing one decides the result code (see
// CodeOf).
//
// The signature is accepted over each of the verifier's canonical forms
// (Forms, §8 item 3), and the payload returned is the one that matched. A
// body whose top level holds a number or boolean (say "testFlag":1) is
// also verified, in each form, as the marketplace's sample writes it after
// reading the body as Map<String,String>, with each such value as a string
// ("testFlag":"1"). Any of these signatures is accepted; the decoder reads
// all of them alike (see DecodeRequest), so a body changed from one form to
// another means what was signed. Any other change fails with
// ErrBadSignature (000001).
func (v Verifier) VerifyBasic(keys []string, q SignedQuery, body []byte) (matchedKey int, canonical []byte, err error) {
	return v.verify(keys, q, body, signBasic, true)
}

// VerifyKit verifies a joint-operation kit callback (§2.2); see VerifyBasic.
// The kit sample reads bodies as Map<String,Object>, so top-level numbers
// are never read as strings; the verifier's Forms apply as for VerifyBasic.
func (v Verifier) VerifyKit(keys []string, q SignedQuery, body []byte) (matchedKey int, canonical []byte, err error) {
	return v.verify(keys, q, body, signKit, false)
}

// verify runs the checks of §2.1.2 steps 2–8 with the given signing scheme,
// over each of the verifier's canonical forms and, with stringMap, their
// Map<String,String> forms too.
func (v Verifier) verify(keys []string, q SignedQuery, body []byte, sign signFunc, stringMap bool) (int, []byte, error) {
	if err := requireParams(q); err != nil {
		return -1, nil, err
	}
	if err := v.checkTimestamp(q.Timestamp); err != nil {
		return -1, nil, err
	}
	members, err := parseObject(body)
	if err != nil {
		return -1, nil, err
	}
	forms, err := v.payloads(members, stringMap && hasScalar(members))
	if err != nil {
		return -1, nil, err
	}
	matched, form, err := matchKey(keys, q, forms, sign)
	if err != nil {
		return -1, nil, err
	}
	return matched, forms[form], nil
}

// payloads returns the distinct canonical payloads of members in the
// verifier's forms, in their order, each followed by its Map<String,String>
// form when stringMap. A form is only written again when the body could
// read differently in it: sorting needs a nested value, escaping a byte
// beyond ASCII.
func (v Verifier) payloads(members []member, stringMap bool) ([][]byte, error) {
	forms := v.Forms
	if forms == nil {
		forms = DefaultCanonicalForms
	}
	nested := slices.ContainsFunc(members, func(m member) bool { return m.value[0] == '{' || m.value[0] == '[' })
	nonASCII := slices.ContainsFunc(members, func(m member) bool { return !isASCII(m.key) || !isASCII(m.value) })
	var out [][]byte
	add := func(p []byte) {
		if !slices.ContainsFunc(out, func(q []byte) bool { return bytes.Equal(p, q) }) {
			out = append(out, p)
		}
	}
	known := false
	var written []style
	for _, f := range forms {
		s, err := f.style()
		if err != nil {
			continue
		}
		known = true
		// An unneeded step is dropped: the payload would be the same, and
		// is not written again (a flat ASCII body has one form).
		s.sortNested = s.sortNested && nested
		s.escapeNonASCII = s.escapeNonASCII && nonASCII
		if slices.Contains(written, s) {
			continue
		}
		written = append(written, s)
		p, err := canonicalPayloadStyle(members, false, s)
		if err != nil {
			return nil, err
		}
		add(p)
		if stringMap {
			if p, err = canonicalPayloadStyle(members, true, s); err != nil {
				return nil, err
			}
			add(p)
		}
	}
	if !known {
		return nil, errors.New("no known canonical form configured")
	}
	return out, nil
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// requireParams implements §2.1.2 step 2: timestamp and nonce first (000002),
// then the signature (000001).
func requireParams(q SignedQuery) error {
	switch {
	case q.Timestamp == "":
		return fmt.Errorf("timestamp is missing: %w", ErrMissingParam)
	case q.Nonce == "":
		return fmt.Errorf("nonce is missing: %w", ErrMissingParam)
	case q.Signature == "":
		return ErrMissingSignature
	}
	return nil
}

// TimestampError is a timestamp outside the window (§2.1.2 step 3), in
// either direction; errors.Is(err, ErrStaleTimestamp) holds for it.
type TimestampError struct {
	// Timestamp is the value as sent.
	Timestamp string
	// Skew is now minus the timestamp: positive when the timestamp lies in
	// the past, negative when it lies in the future. It saturates at the
	// limits of time.Duration.
	Skew time.Duration
	// Window is the window the timestamp missed.
	Window time.Duration
}

func (e *TimestampError) Error() string {
	if e.Future() {
		return fmt.Sprintf("timestamp %s is %s in the future, outside the %s window: %v", e.Timestamp, magnitude(e.Skew).Round(time.Millisecond), e.Window, ErrStaleTimestamp)
	}
	return fmt.Sprintf("timestamp %s is %s old, outside the %s window: %v", e.Timestamp, e.Skew.Round(time.Millisecond), e.Window, ErrStaleTimestamp)
}

// Unwrap makes errors.Is(err, ErrStaleTimestamp) hold.
func (e *TimestampError) Unwrap() error { return ErrStaleTimestamp }

// Future reports whether the timestamp lies ahead of now.
func (e *TimestampError) Future() bool { return e.Skew < 0 }

// magnitude is |d|, saturating: -math.MinInt64 does not fit a Duration.
func magnitude(d time.Duration) time.Duration {
	switch {
	case d == math.MinInt64:
		return math.MaxInt64
	case d < 0:
		return -d
	}
	return d
}

// Skew returns now minus the timestamp raw (decimal epoch milliseconds, or
// seconds below 10^11; §8 item 1): positive when raw lies in the past,
// negative in the future, saturating at the limits of time.Duration. A
// timestamp that is not such a number is an error wrapping ErrMissingParam.
func (v Verifier) Skew(raw string) (time.Duration, error) {
	ts, err := parseTimestamp(raw)
	if err != nil {
		return 0, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return now().Sub(ts), nil
}

// checkTimestamp implements §2.1.2 step 3, in both directions: a timestamp
// more than the window from now is a *TimestampError.
func (v Verifier) checkTimestamp(raw string) error {
	skew, err := v.Skew(raw)
	if err != nil {
		return err
	}
	window := v.Window
	if window <= 0 {
		window = DefaultWindow
	}
	// The skew is compared, never negated: a saturated far-future skew
	// negated would overflow and let the timestamp in.
	if skew > window || skew < -window {
		return &TimestampError{Timestamp: raw, Skew: skew, Window: window}
	}
	return nil
}

// parseTimestamp reads decimal epoch milliseconds, or seconds when the value
// is below secondsBelow. A leading zero is refused: the marketplace writes
// the number of milliseconds (§2.1.1, §2.2), which has none, and with one
// allowed a nonce's trailing "0" could move in front of the timestamp and
// keep both the instant and the signature.
func parseTimestamp(raw string) (time.Time, error) {
	if !isDigits(raw) {
		return time.Time{}, fmt.Errorf("timestamp must be decimal epoch milliseconds: %w", ErrMissingParam)
	}
	if len(raw) > 1 && raw[0] == '0' {
		return time.Time{}, fmt.Errorf("timestamp must not start with a zero: %w", ErrMissingParam)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp is out of range: %w", ErrMissingParam)
	}
	if n < secondsBelow {
		return time.Unix(n, 0), nil
	}
	return time.UnixMilli(n), nil
}

// isDigits reports whether s is non-empty and only ASCII digits; ParseInt
// alone would also accept a sign.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matchKey returns the index of the first key, and of the first of the
// canonical forms, whose signature equals q.Signature. The comparison is on
// decoded bytes with hmac.Equal, so hex case does not matter and timing
// reveals nothing about the expected value.
func matchKey(keys []string, q SignedQuery, forms [][]byte, sign signFunc) (key, form int, err error) {
	if !hasKey(keys) {
		return -1, -1, ErrNoKeys
	}
	got, err := hex.DecodeString(q.Signature)
	if err != nil || len(got) != sha256.Size {
		return -1, -1, fmt.Errorf("signature is not 64 hex characters: %w", ErrBadSignature)
	}
	key, form = -1, -1
	for i, k := range keys {
		// An empty key would let anyone sign; treat it as not configured.
		if k == "" {
			continue
		}
		// Every key and form is tried even after a match, so the time
		// taken does not tell which key signed.
		for j, canonical := range forms {
			if hmac.Equal(sign(k, q.Nonce, q.Timestamp, canonical), got) && key < 0 {
				key, form = i, j
			}
		}
	}
	if key < 0 {
		return -1, -1, ErrBadSignature
	}
	return key, form, nil
}

// hasKey reports whether keys holds at least one non-empty key.
func hasKey(keys []string) bool {
	for _, k := range keys {
		if k != "" {
			return true
		}
	}
	return false
}

// CodeOf maps an error from this package to the result code the marketplace
// should see (§5): signature errors are 000001, parameter and body errors
// (including *ValidationError) 000002, nil is 000000, and anything else is an
// internal error, 000005, so that the marketplace retries.
func CodeOf(err error) ResultCode {
	var verr *ValidationError
	switch {
	case err == nil:
		return ResultSuccess
	case errors.Is(err, ErrMissingSignature), errors.Is(err, ErrBadSignature):
		return ResultAuthFailed
	case errors.Is(err, ErrMissingParam), errors.Is(err, ErrStaleTimestamp),
		errors.Is(err, ErrMalformedBody), errors.As(err, &verr):
		return ResultInvalidParam
	}
	return ResultInternalError
}

// BodySign returns the value of the Body-Sign response header (§2.3) for the
// exact response bytes: Base64 of HMAC-SHA256 keyed with the key alone.
func BodySign(key string, responseBody []byte) string {
	sig := base64.StdEncoding.EncodeToString(hmacSHA256([]byte(key), responseBody))
	return `sign_type="HMAC-SHA256", signature="` + sig + `"`
}
