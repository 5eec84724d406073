package licensekey

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
)

// Format is how a token is written. Verify, Parse and ParseRevocationList
// accept both; a product's license.keyFormat chooses the one kooper issues.
type Format string

const (
	// FormatJWS: a compact JWS (RFC 7515) signed with EdDSA over Ed25519
	// (RFC 8037), its claims JWT claims (RFC 7519), which any JOSE library
	// verifies.
	FormatJWS Format = "JWS"
	// FormatLegacy: kooper's own token, "kl1.<payload>.<signature>" or
	// "krl1.<payload>.<signature>" (format version 1).
	FormatLegacy Format = "Legacy"
)

// The protected header of every JWS token kooper issues. Its "typ" keeps
// the two kinds apart: a revocation list can never pass for a licence key,
// nor the other way round.
const (
	// JWSAlgorithm is the only "alg" accepted: EdDSA, with an Ed25519 key.
	JWSAlgorithm = "EdDSA"
	// LicenseJWSType is the "typ" of a licence key.
	LicenseJWSType = "kooper-licence+jwt"
	// RevocationJWSType is the "typ" of a revocation list.
	RevocationJWSType = "kooper-revocations+jwt"
)

// jwsHeader is the JOSE header of a JWS token. Other parameters are
// ignored, except "crit": nothing kooper issues needs an extension, so a
// token that says it does is refused (RFC 7515 §4.1.11).
type jwsHeader struct {
	Algorithm string          `json:"alg"`
	KeyID     string          `json:"kid"`
	Type      string          `json:"typ"`
	Critical  json.RawMessage `json:"crit"`
}

// jwsLicence is the JWS payload of a licence key: JWT registered claims
// where one fits, kooper's own otherwise.
type jwsLicence struct {
	Issuer      string   `json:"iss"` // the KooGallery product ID
	Subject     string   `json:"sub"` // the marketplace instance ID
	ID          string   `json:"jti"` // the kooper License the key was issued for
	IssuedAt    *int64   `json:"iat"`
	NotBefore   *int64   `json:"nbf"`
	Expiry      *int64   `json:"exp"`
	SKU         string   `json:"sku"`
	Features    []string `json:"features"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

// jwsRevocations is the JWS payload of a revocation list.
type jwsRevocations struct {
	Issuer   string       `json:"iss"`
	IssuedAt *int64       `json:"iat"`
	Revoked  []jwsRevoked `json:"revoked"`
}

type jwsRevoked struct {
	Subject string `json:"sub"`
	Reason  string `json:"reason"`
}

// jws is a JWS token split and decoded, not yet verified.
type jws struct {
	header                           jwsHeader
	payload, signingInput, signature []byte
}

// splitJWS checks the compact serialization of a token of type typ
// (header.payload.signature, each unpadded base64url) and its header: alg
// exactly EdDSA, typ exactly typ, a kid, no crit.
func splitJWS(token, typ string) (*jws, error) {
	token = strings.TrimSpace(token)
	if len(token) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS <header>.<payload>.<signature>", ErrMalformed)
	}
	header, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not unpadded base64url", ErrMalformed)
	}
	t := &jws{signingInput: []byte(parts[0] + "." + parts[1])}
	if err := decodeJSON(header, &t.header); err != nil {
		return nil, fmt.Errorf("%w (header)", err)
	}
	switch h := t.header; {
	case h.Algorithm != JWSAlgorithm:
		return nil, fmt.Errorf("%w: alg %q is not %s", ErrMalformed, h.Algorithm, JWSAlgorithm)
	case h.Type != typ:
		return nil, fmt.Errorf("%w: typ %q is not %s", ErrMalformed, h.Type, typ)
	case h.KeyID == "":
		return nil, fmt.Errorf("%w: no kid", ErrMalformed)
	case h.Critical != nil:
		return nil, fmt.Errorf("%w: crit names extensions this verifier does not know", ErrMalformed)
	}
	if t.payload, err = b64.DecodeString(parts[1]); err != nil {
		return nil, fmt.Errorf("%w: payload is not unpadded base64url", ErrMalformed)
	}
	if t.signature, err = b64.DecodeString(parts[2]); err != nil || len(t.signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not 64 bytes of unpadded base64url", ErrMalformed)
	}
	return t, nil
}

// parseJWSLicence decodes a JWS licence key into a Token.
func parseJWSLicence(token string) (*Token, error) {
	t, err := splitJWS(token, LicenseJWSType)
	if err != nil {
		return nil, err
	}
	var p jwsLicence
	if err := decodeJSON(t.payload, &p); err != nil {
		return nil, err
	}
	if p.IssuedAt == nil || p.NotBefore == nil || p.Expiry == nil {
		return nil, fmt.Errorf("%w: iat, nbf and exp are required", ErrMalformed)
	}
	if p.Issuer == "" {
		return nil, fmt.Errorf("%w: no iss (product ID)", ErrMalformed)
	}
	tok := &Token{signingInput: t.signingInput, signature: t.signature, Claims: Claims{
		KeyID: t.header.KeyID, LicenseID: p.ID, InstanceID: p.Subject, ProductID: p.Issuer, SKU: p.SKU,
		Features: p.Features, NotBefore: *p.NotBefore, NotAfter: *p.Expiry, Device: p.Fingerprint,
		IssuedAt: *p.IssuedAt, Format: FormatJWS,
	}}
	if err := tok.Claims.check(); err != nil {
		return nil, err
	}
	return tok, nil
}

// parseJWSRevocationList decodes a JWS revocation list and verifies its
// signature.
func parseJWSRevocationList(token string, keys KeySet) (*RevocationList, error) {
	t, err := splitJWS(token, RevocationJWSType)
	if err != nil {
		return nil, err
	}
	var p jwsRevocations
	if err := decodeJSON(t.payload, &p); err != nil {
		return nil, err
	}
	if p.Issuer == "" || p.IssuedAt == nil || p.Revoked == nil {
		return nil, fmt.Errorf("%w: iss, iat and revoked are required", ErrMalformed)
	}
	if err := verifySignature(keys, t.header.KeyID, t.signingInput, t.signature); err != nil {
		return nil, err
	}
	l := &RevocationList{KeyID: t.header.KeyID, ProductID: p.Issuer, IssuedAt: *p.IssuedAt,
		Revoked: make([]Revocation, 0, len(p.Revoked)), Format: FormatJWS}
	for _, r := range p.Revoked {
		l.Revoked = append(l.Revoked, Revocation{InstanceID: r.Subject, Reason: r.Reason})
	}
	return l, nil
}
