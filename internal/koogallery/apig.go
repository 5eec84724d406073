package koogallery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// API Gateway signing constants (§6.1).
const (
	// APIGAlgorithm names the signing algorithm in Authorization and in the
	// string to sign.
	APIGAlgorithm = "SDK-HMAC-SHA256"
	// HeaderSdkDate carries the signing time.
	HeaderSdkDate = "X-Sdk-Date"
	// SdkDateFormat is the layout of X-Sdk-Date: yyyyMMdd'T'HHmmss'Z', UTC.
	SdkDateFormat = "20060102T150405Z"
)

// ErrAPIGAuth is wrapped by every VerifyAPIGSignature failure.
var ErrAPIGAuth = errors.New("api gateway authentication failed")

// Signer signs open-API requests with the merchant's AK/SK the way Huawei
// API Gateway expects ("SDK-HMAC-SHA256", §6.1).
type Signer struct {
	// AccessKeyID is the AK; it is sent in clear in Authorization.
	AccessKeyID string
	// SecretAccessKey is the SK; it only keys the HMAC.
	SecretAccessKey string
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
}

// Sign adds X-Sdk-Date (unless already set) and Authorization to req. body
// must be the exact bytes that will be sent (nil for none). Every header on
// the request is signed, plus host, as the official SDK does.
func (s Signer) Sign(req *http.Request, body []byte) error {
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return errors.New("access key ID and secret access key are required to sign a request")
	}
	if req.URL == nil {
		return errors.New("request has no URL to sign")
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	date := req.Header.Get(HeaderSdkDate)
	if date == "" {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		date = now().UTC().Format(SdkDateFormat)
		req.Header.Set(HeaderSdkDate, date)
	}
	req.Header.Del("Authorization")
	signed := SignedHeaders(req)
	sts := StringToSign(CanonicalRequest(req, body, signed), date)
	req.Header.Set("Authorization", fmt.Sprintf("%s Access=%s, SignedHeaders=%s, Signature=%s",
		APIGAlgorithm, s.AccessKeyID, strings.Join(signed, ";"), APIGSignature(s.SecretAccessKey, sts)))
	return nil
}

// SignedHeaders returns the lower-cased names of every header on req plus
// host, sorted and without duplicates.
func SignedHeaders(req *http.Request) []string {
	names := []string{"host"}
	for name := range req.Header {
		names = append(names, strings.ToLower(name))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// CanonicalRequest returns the canonical request of §6.1 step 1 for the
// given signed header names (lower case, sorted): method, canonical URI,
// canonical query, canonical headers, signed headers and the body's SHA-256,
// joined with newlines.
func CanonicalRequest(req *http.Request, body []byte, signedHeaders []string) string {
	sum := sha256.Sum256(body)
	return strings.Join([]string{
		strings.ToUpper(req.Method),
		canonicalURI(req.URL),
		canonicalQuery(req.URL),
		canonicalHeaders(req, signedHeaders),
		strings.Join(signedHeaders, ";"),
		hex.EncodeToString(sum[:]),
	}, "\n")
}

// StringToSign returns §6.1 step 2: the algorithm, X-Sdk-Date and the hex
// SHA-256 of the canonical request, joined with newlines.
func StringToSign(canonicalRequest, sdkDate string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return APIGAlgorithm + "\n" + sdkDate + "\n" + hex.EncodeToString(sum[:])
}

// APIGSignature returns §6.1 step 3: the lower-case hex HMAC-SHA256 of the
// string to sign keyed with the SK.
func APIGSignature(secretAccessKey, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256([]byte(secretAccessKey), []byte(stringToSign)))
}

// canonicalURI encodes each path segment and always ends in "/"; the
// request's own path is not changed. Segments are taken from the escaped
// path so that an encoded "/" inside a segment stays inside it.
func canonicalURI(u *url.URL) string {
	segments := strings.Split(u.EscapedPath(), "/")
	for i, s := range segments {
		if unescaped, err := url.PathUnescape(s); err == nil {
			s = unescaped
		}
		segments[i] = rfc3986Escape(s)
	}
	path := strings.Join(segments, "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return path
}

// canonicalQuery encodes each parameter's name and value with RFC 3986,
// sorts by encoded name and then encoded value, and joins them with "&".
func canonicalQuery(u *url.URL) string {
	type pair struct{ name, value string }
	var pairs []pair
	for name, values := range u.Query() {
		for _, v := range values {
			pairs = append(pairs, pair{rfc3986Escape(name), rfc3986Escape(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	joined := make([]string, len(pairs))
	for i, p := range pairs {
		joined[i] = p.name + "=" + p.value
	}
	return strings.Join(joined, "&")
}

// canonicalHeaders writes one "name:value\n" line per value of each signed
// header (values trimmed, then sorted). host comes from the request's Host,
// which Go keeps outside Header.
func canonicalHeaders(req *http.Request, signedHeaders []string) string {
	lower := make(map[string][]string, len(req.Header))
	for name, values := range req.Header {
		key := strings.ToLower(name)
		lower[key] = append(lower[key], values...)
	}
	var b strings.Builder
	for _, name := range signedHeaders {
		values := lower[name]
		if name == "host" {
			values = []string{requestHost(req)}
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.TrimSpace(v)
		}
		slices.Sort(trimmed)
		for _, v := range trimmed {
			b.WriteString(name + ":" + v + "\n")
		}
	}
	return b.String()
}

// requestHost is the host the request is (or was) sent to.
func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// rfc3986Escape percent-encodes everything except the unreserved characters
// A–Z a–z 0–9 - _ . ~ (url.QueryEscape would turn spaces into "+").
func rfc3986Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// apigAuthorization is a parsed Authorization header.
type apigAuthorization struct {
	access        string
	signedHeaders []string
	signature     string
}

// parseAPIGAuthorization parses
// "SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...".
func parseAPIGAuthorization(header string) (apigAuthorization, error) {
	rest, ok := strings.CutPrefix(header, APIGAlgorithm+" ")
	if !ok {
		return apigAuthorization{}, fmt.Errorf("authorization does not use %s: %w", APIGAlgorithm, ErrAPIGAuth)
	}
	var auth apigAuthorization
	for _, part := range strings.Split(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "Access":
			auth.access = value
		case "SignedHeaders":
			auth.signedHeaders = strings.Split(value, ";")
		case "Signature":
			auth.signature = value
		}
	}
	if auth.access == "" || auth.signature == "" || len(auth.signedHeaders) == 0 {
		return apigAuthorization{}, fmt.Errorf("authorization lacks Access, SignedHeaders or Signature: %w", ErrAPIGAuth)
	}
	return auth, nil
}

// VerifyAPIGSignature checks an AK/SK-signed request the way API Gateway
// does, for the marketplace simulator: Authorization must parse, host and
// x-sdk-date must be signed, X-Sdk-Date must be within maxSkew of now, the
// access key must be known to lookupSecret, and the signature must match
// (compared in constant time). Errors wrap ErrAPIGAuth and never contain a
// key or a signature.
func VerifyAPIGSignature(req *http.Request, body []byte, lookupSecret func(ak string) (string, bool), now time.Time, maxSkew time.Duration) error {
	auth, err := parseAPIGAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if err := checkSignedHeaders(auth.signedHeaders); err != nil {
		return err
	}
	date := req.Header.Get(HeaderSdkDate)
	if err := checkSdkDate(date, now, maxSkew); err != nil {
		return err
	}
	secret, ok := lookupSecret(auth.access)
	if !ok || secret == "" {
		return fmt.Errorf("unknown access key: %w", ErrAPIGAuth)
	}
	want := hmacSHA256([]byte(secret), []byte(StringToSign(CanonicalRequest(req, body, auth.signedHeaders), date)))
	got, err := hex.DecodeString(auth.signature)
	if err != nil || !hmac.Equal(want, got) {
		return fmt.Errorf("signature does not match: %w", ErrAPIGAuth)
	}
	return nil
}

// checkSignedHeaders requires sorted, unique, lower-case names that include
// host and x-sdk-date, so a signature cannot leave out what makes it unique.
func checkSignedHeaders(names []string) error {
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		return fmt.Errorf("SignedHeaders must be sorted and unique: %w", ErrAPIGAuth)
	}
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) {
			return fmt.Errorf("SignedHeaders must be lower case: %w", ErrAPIGAuth)
		}
	}
	if !slices.Contains(names, "host") || !slices.Contains(names, "x-sdk-date") {
		return fmt.Errorf("SignedHeaders must include host and x-sdk-date: %w", ErrAPIGAuth)
	}
	return nil
}

// checkSdkDate parses X-Sdk-Date and rejects it outside maxSkew of now.
func checkSdkDate(date string, now time.Time, maxSkew time.Duration) error {
	t, err := time.Parse(SdkDateFormat, date)
	if err != nil {
		return fmt.Errorf("X-Sdk-Date %.32q is not yyyyMMddTHHmmssZ: %w", date, ErrAPIGAuth)
	}
	// Abs, unlike negation, cannot overflow.
	if skew := now.Sub(t).Abs(); skew > maxSkew {
		return fmt.Errorf("X-Sdk-Date %s is %s away from now, more than %s: %w", date, skew, maxSkew, ErrAPIGAuth)
	}
	return nil
}
