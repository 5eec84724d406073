package licensekey

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeyID names a public key: the first 8 bytes of SHA-256 over the raw
// 32-byte key, as 16 lower-case hex characters. It is derived, never chosen,
// so a key cannot be published under the wrong name.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// KeySet holds the public keys a verifier trusts, by key ID. Keep retired
// keys in it for as long as keys they signed may still be in use.
type KeySet map[string]ed25519.PublicKey

// NewKeySet returns a set of the given keys.
func NewKeySet(keys ...ed25519.PublicKey) KeySet {
	set := KeySet{}
	for _, k := range keys {
		set.Add(k)
	}
	return set
}

// Add trusts one more key.
func (s KeySet) Add(pub ed25519.PublicKey) {
	s[KeyID(pub)] = pub
}

// ParsePrivateKeyPEM reads a PEM "PRIVATE KEY" block (PKCS #8) holding an
// Ed25519 key, as `openssl genpkey -algorithm ed25519` writes it.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS #8 private key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is a %T, not Ed25519", key)
	}
	return priv, nil
}

// MarshalPrivateKeyPEM writes priv as a PEM "PRIVATE KEY" block (PKCS #8).
func MarshalPrivateKeyPEM(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM writes pub as a PEM "PUBLIC KEY" block (PKIX).
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads a public key as a PEM "PUBLIC KEY" block (PKIX), or
// as the raw 32 bytes in base64 (standard or URL alphabet, padded or not).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q is not a PUBLIC KEY", block.Type)
		}
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a PKIX public key: %w", err)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the public key is a %T, not Ed25519", key)
		}
		return pub, nil
	}
	text := strings.TrimRight(strings.TrimSpace(string(data)), "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if raw, err := enc.DecodeString(text); err == nil && len(raw) == ed25519.PublicKeySize {
			return ed25519.PublicKey(raw), nil
		}
	}
	return nil, errors.New("not a PEM public key nor 32 base64-encoded bytes")
}
