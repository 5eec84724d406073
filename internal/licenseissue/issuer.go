// Package licenseissue signs kooper's licence keys and revocation lists in
// the format a product chooses: a compact JWS (RFC 7515) signed with EdDSA
// over Ed25519 (RFC 8037), written with github.com/golang-jwt/jwt, or the
// legacy kl1/krl1 token, written by api/licensekey's signer.
//
// Verifying stays in api/licensekey, which uses the standard library only
// so that merchants' Go programs can import it; docs/licence-keys.md defines
// both formats for verifiers in any language.
package licenseissue

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kooper-io/kooper/api/licensekey"
)

// Issuer signs with one Ed25519 private key, in either format.
type Issuer struct {
	key    ed25519.PrivateKey
	legacy *licensekey.Signer
}

// LastInstant is the latest end a licence window can have: the last second
// of the year 9999, the last a Kubernetes time (metav1.Time, RFC 3339)
// holds. A License whose status or spec held a later one would be refused
// by the API server, so a longer window ends then, and no window can start
// at it or later.
var LastInstant = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// New returns an issuer for priv.
func New(priv ed25519.PrivateKey) (*Issuer, error) {
	legacy, err := licensekey.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	return &Issuer{key: priv, legacy: legacy}, nil
}

// KeyID names the issuer's key (licensekey.KeyID), the JWS header's kid.
func (i *Issuer) KeyID() string { return i.legacy.KeyID() }

// PublicKey is the key verifiers need.
func (i *Issuer) PublicKey() ed25519.PublicKey { return i.legacy.PublicKey() }

// licenceClaims is the JWS payload of a licence key.
type licenceClaims struct {
	jwt.RegisteredClaims
	SKU         string   `json:"sku"`
	Features    []string `json:"features"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

// revocationClaims is the JWS payload of a revocation list.
type revocationClaims struct {
	jwt.RegisteredClaims
	Revoked []revokedInstance `json:"revoked"`
}

type revokedInstance struct {
	Subject string `json:"sub"`
	Reason  string `json:"reason"`
}

// Sign returns the licence key for c in format f, its features in
// canonical form. A JWS key is checked with licensekey.Parse before it is
// returned, so kooper never hands out a key its own verifier refuses.
func (i *Issuer) Sign(c licensekey.Claims, f licensekey.Format) (string, error) {
	switch f {
	case licensekey.FormatLegacy:
		return i.legacy.Sign(c)
	case licensekey.FormatJWS:
	default:
		return "", fmt.Errorf("unknown licence key format %q", f)
	}
	claims := licenceClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.ProductID, Subject: c.InstanceID, ID: c.LicenseID,
			IssuedAt: unix(c.IssuedAt), NotBefore: unix(c.NotBefore), ExpiresAt: unix(c.NotAfter),
		},
		SKU: c.SKU, Features: licensekey.CanonicalFeatures(c.Features), Fingerprint: c.Device,
	}
	token, err := i.sign(licensekey.LicenseJWSType, claims)
	if err != nil {
		return "", err
	}
	if _, err := licensekey.Parse(token); err != nil {
		return "", err
	}
	return token, nil
}

// SignRevocationList signs l in format f, its entries sorted by instance.
func (i *Issuer) SignRevocationList(l licensekey.RevocationList, f licensekey.Format) (string, error) {
	switch f {
	case licensekey.FormatLegacy:
		return i.legacy.SignRevocationList(l)
	case licensekey.FormatJWS:
	default:
		return "", fmt.Errorf("unknown revocation list format %q", f)
	}
	claims := revocationClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: l.ProductID, IssuedAt: unix(l.IssuedAt)},
		Revoked:          []revokedInstance{},
	}
	for _, r := range licensekey.SortRevocations(l.Revoked) {
		claims.Revoked = append(claims.Revoked, revokedInstance{Subject: r.InstanceID, Reason: r.Reason})
	}
	return i.sign(licensekey.RevocationJWSType, claims)
}

// sign writes claims as a compact JWS with the header
// {"alg":"EdDSA","kid":<key ID>,"typ":typ}.
func (i *Issuer) sign(typ string, claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = i.KeyID()
	t.Header["typ"] = typ
	token, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("failed to sign the %s: %w", typ, err)
	}
	return token, nil
}

// unix is a JWT NumericDate of Unix seconds; jwt writes it as an integer.
func unix(s int64) *jwt.NumericDate {
	return jwt.NewNumericDate(time.Unix(s, 0))
}
