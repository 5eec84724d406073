package licensekey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Legacy token prefixes. Each is part of the signed bytes, so a signature
// over a revocation list can never pass for a licence key, nor the other way
// round.
const (
	// LicensePrefix starts every licence key of format version 1.
	LicensePrefix = "kl1"
	// RevocationPrefix starts every revocation list of format version 1.
	RevocationPrefix = "krl1"
	// FormatVersion is the "v" of every legacy payload this package writes.
	FormatVersion = 1
	// MaxTokenLength bounds what Parse reads, so hostile input stays cheap.
	MaxTokenLength = 64 << 10
)

// Errors Verify and the parsers wrap, so callers can tell failures apart
// with errors.Is.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrUnknownKey   = errors.New("signed with an unknown key")
	ErrBadSignature = errors.New("bad signature")
	ErrNotYetValid  = errors.New("licence not yet valid")
	ErrExpired      = errors.New("licence expired")
	ErrWrongDevice  = errors.New("licence bound to another device")
	ErrRevoked      = errors.New("licence revoked")
	// ErrStaleRevocationList: the revocation list is older than
	// VerifyOptions.MaxRevocationAge.
	ErrStaleRevocationList = errors.New("revocation list too old")
)

var b64 = base64.RawURLEncoding.Strict()

// Claims are what a licence key grants, in either format. Times are Unix
// seconds, UTC. The JSON tags are the legacy payload's, and their order is
// its canonical order; docs/licence-keys.md maps each to its JWS claim.
type Claims struct {
	// Version is FormatVersion in a legacy key; 0 in a JWS key, whose
	// header's typ says what it is.
	Version int `json:"v"`
	// KeyID names the signing key (see KeyID).
	KeyID string `json:"kid"`
	// LicenseID is the kooper License object the key was issued for.
	LicenseID string `json:"lid"`
	// InstanceID is the marketplace instance; revocation is by instance.
	InstanceID string `json:"iid"`
	// ProductID is the KooGallery product ID.
	ProductID string `json:"pid"`
	// SKU is the KooGallery specification (plan) code.
	SKU string `json:"sku"`
	// Features are the plan's features, sorted, without duplicates.
	Features []string `json:"features"`
	// NotBefore is the first second the key is valid.
	NotBefore int64 `json:"nbf"`
	// NotAfter is the first second the key is no longer valid.
	NotAfter int64 `json:"exp"`
	// Device is the device fingerprint the key is bound to; empty for none.
	Device string `json:"dev,omitempty"`
	// IssuedAt is when the key was signed.
	IssuedAt int64 `json:"iat"`
	// Format is how the key was written; not part of any payload.
	Format Format `json:"-"`
}

// HasFeature reports whether the key grants feature.
func (c *Claims) HasFeature(feature string) bool {
	return slices.Contains(c.Features, feature)
}

// Signer signs licence keys and revocation lists with one private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for priv.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("an Ed25519 private key is 64 bytes")
	}
	pub, _ := priv.Public().(ed25519.PublicKey)
	return &Signer{key: priv, id: KeyID(pub)}, nil
}

// KeyID names the signer's key.
func (s *Signer) KeyID() string { return s.id }

// PublicKey is the key verifiers need.
func (s *Signer) PublicKey() ed25519.PublicKey {
	pub, _ := s.key.Public().(ed25519.PublicKey)
	return pub
}

// Sign returns the legacy licence key for c, with Version and KeyID set and
// the features put in canonical form. kooper issues JWS keys with
// github.com/golang-jwt/jwt (internal/licenseissue); this package only
// verifies them, so that it keeps to the standard library.
func (s *Signer) Sign(c Claims) (string, error) {
	c.Version, c.KeyID, c.Format = FormatVersion, s.id, FormatLegacy
	c.Features = CanonicalFeatures(c.Features)
	if err := c.checkLegacy(); err != nil {
		return "", err
	}
	return s.seal(LicensePrefix, c)
}

// CanonicalFeatures sorts features and drops duplicates; nil becomes empty,
// so the payload always has a list.
func CanonicalFeatures(features []string) []string {
	out := append([]string{}, features...)
	slices.Sort(out)
	return slices.Compact(out)
}

// seal encodes v canonically and signs prefix + "." + payload.
func (s *Signer) seal(prefix string, v any) (string, error) {
	payload, err := canonicalJSON(v)
	if err != nil {
		return "", err
	}
	input := prefix + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(ed25519.Sign(s.key, []byte(input))), nil
}

// canonicalJSON is compact JSON in struct field order, without HTML
// escaping and without a trailing newline.
func canonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("failed to encode the payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkLegacy is check, and the legacy payload's version.
func (c *Claims) checkLegacy() error {
	if c.Version != FormatVersion {
		return fmt.Errorf("%w: format version %d is not %d", ErrMalformed, c.Version, FormatVersion)
	}
	return c.check()
}

// check rejects claims no issuer should sign and no verifier should accept.
func (c *Claims) check() error {
	switch {
	case c.KeyID == "":
		return fmt.Errorf("%w: no key ID", ErrMalformed)
	case c.InstanceID == "":
		return fmt.Errorf("%w: no instance ID", ErrMalformed)
	case c.NotAfter <= c.NotBefore:
		return fmt.Errorf("%w: the window ends before it starts", ErrMalformed)
	}
	return nil
}

// Token is a parsed, not yet verified, licence key.
type Token struct {
	// Claims are the decoded payload. Trust them only after Verify.
	Claims Claims
	// signingInput is the bytes the signature covers; signature the signature.
	signingInput, signature []byte
}

// Parse decodes a licence key of either format without verifying it: use
// it to inspect a key, and Verify to trust one. A key starting with
// LicensePrefix and a dot is a legacy key; anything else must be a JWS.
func Parse(token string) (*Token, error) {
	if isLegacy(token, LicensePrefix) {
		return parseLegacy(token)
	}
	return parseJWSLicence(token)
}

// isLegacy reports whether token is a legacy token of prefix.
func isLegacy(token, prefix string) bool {
	return strings.HasPrefix(strings.TrimSpace(token), prefix+".")
}

// parseLegacy decodes a legacy licence key.
func parseLegacy(token string) (*Token, error) {
	input, payload, sig, err := split(token, LicensePrefix)
	if err != nil {
		return nil, err
	}
	t := &Token{signingInput: input, signature: sig}
	if err := decodeJSON(payload, &t.Claims); err != nil {
		return nil, err
	}
	t.Claims.Format = FormatLegacy
	if err := t.Claims.checkLegacy(); err != nil {
		return nil, err
	}
	return t, nil
}

// split checks the shape prefix.payload.signature and decodes both parts.
func split(token, prefix string) (input, payload, sig []byte, err error) {
	token = strings.TrimSpace(token)
	if len(token) > MaxTokenLength {
		return nil, nil, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != prefix {
		return nil, nil, nil, fmt.Errorf("%w: not %s.<payload>.<signature>", ErrMalformed, prefix)
	}
	if payload, err = b64.DecodeString(parts[1]); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: payload is not unpadded base64url", ErrMalformed)
	}
	if sig, err = b64.DecodeString(parts[2]); err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, nil, fmt.Errorf("%w: signature is not 64 bytes of unpadded base64url", ErrMalformed)
	}
	return []byte(parts[0] + "." + parts[1]), payload, sig, nil
}

// decodeJSON decodes exactly one JSON object.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: payload is not the expected JSON: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the payload", ErrMalformed)
	}
	return nil
}

// verifySignature checks sig over input with the key named kid.
func verifySignature(keys KeySet, kid string, input, sig []byte) error {
	pub, ok := keys[kid]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if !ed25519.Verify(pub, input, sig) {
		return ErrBadSignature
	}
	return nil
}
