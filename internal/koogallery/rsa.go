package koogallery

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // OAEP with SHA-1 is one of the variants the marketplace may use (§4.2).
	_ "crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest merchant key the marketplace accepts (§4.2).
const MinRSABits = 3072

// OAEPHash names an RSA-OAEP variant: the label digest, and the MGF1 digest
// when it differs. The spec does not say which one the marketplace uses
// (§4.2, §8 item 21), so the receiver tries each configured one.
type OAEPHash string

const (
	// OAEPSHA256 is SHA-256 for both the digest and MGF1.
	OAEPSHA256 OAEPHash = "sha256"
	// OAEPSHA256MGF1SHA1 is SHA-256 with MGF1 over SHA-1: what Java's
	// "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" does by default, and so the
	// likely choice of a Java marketplace.
	OAEPSHA256MGF1SHA1 OAEPHash = "sha256-mgf1-sha1"
	// OAEPSHA1 is SHA-1 for both ("OAEPWithSHA-1AndMGF1Padding").
	OAEPSHA1 OAEPHash = "sha1"
)

// DefaultOAEPHashes is the order tried unless configured otherwise: the
// spec's suggestion (SHA-256) first, then Java's default reading of it,
// then SHA-1. A wrong variant fails its padding check, so trying several can
// never produce a wrong plaintext.
var DefaultOAEPHashes = []OAEPHash{OAEPSHA256, OAEPSHA256MGF1SHA1, OAEPSHA1}

// ErrClientSecret means clientSecret could not be decrypted with the
// merchant's key; the sample answers 000101 (§3.11.2).
var ErrClientSecret = errors.New("clientSecret cannot be decrypted with the merchant's RSA key")

// ErrNotBase64 means clientSecret is not Base64, so that no key could
// decrypt it; DecryptClientSecret's error then wraps it and ErrClientSecret.
var ErrNotBase64 = errors.New("clientSecret is not Base64")

// options returns the digests of the variant.
func (h OAEPHash) options() (*rsa.OAEPOptions, error) {
	switch h {
	case OAEPSHA256:
		return &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, nil
	case OAEPSHA256MGF1SHA1:
		return &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}, nil
	case OAEPSHA1:
		return &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}, nil
	}
	return nil, fmt.Errorf("unknown OAEP variant %q; use %s, %s or %s", string(h), OAEPSHA256, OAEPSHA256MGF1SHA1, OAEPSHA1)
}

// ParseOAEPHashes reads a comma-separated list such as "sha256,sha1".
func ParseOAEPHashes(list string) ([]OAEPHash, error) {
	var hashes []OAEPHash
	for _, name := range strings.Split(list, ",") {
		h := OAEPHash(strings.TrimSpace(name))
		if _, err := h.options(); err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// ParseRSAPrivateKey reads a PEM RSA private key, PKCS#8 or PKCS#1, of at
// least MinRSABits.
func ParseRSAPrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the RSA private key is not PEM")
	}
	var key *rsa.PrivateKey
	if parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rsaKey, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("the private key is not an RSA key")
		}
		key = rsaKey
	} else if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return nil, errors.New("the RSA private key is neither PKCS#8 nor PKCS#1")
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; the marketplace needs at least %d", bits, MinRSABits)
	}
	return key, nil
}

// DecryptClientSecret decrypts a Base64 clientSecret with key, trying each
// variant of hashes in order, and returns the plaintext and the variant that
// worked. Every failure wraps ErrClientSecret and says nothing about the key
// or the plaintext.
func DecryptClientSecret(key *rsa.PrivateKey, ciphertext string, hashes []OAEPHash) (string, OAEPHash, error) {
	raw, err := decodeBase64(ciphertext)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrNotBase64, ErrClientSecret)
	}
	for _, h := range hashes {
		opts, err := h.options()
		if err != nil {
			return "", "", err
		}
		if plain, err := key.Decrypt(nil, raw, opts); err == nil {
			return string(plain), h, nil
		}
	}
	return "", "", ErrClientSecret
}

// decodeBase64 accepts standard and URL-safe Base64, padded or not, and
// ignores line breaks, since the encoding is not documented (§8 item 21).
func decodeBase64(s string) ([]byte, error) {
	s = strings.NewReplacer("\r", "", "\n", "", " ", "").Replace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	return nil, errors.New("not Base64")
}

// EncryptClientSecret is the marketplace's side: it encrypts secret for pub
// with variant h and returns standard Base64. The simulator and tests use it.
func EncryptClientSecret(pub *rsa.PublicKey, secret string, h OAEPHash) (string, error) {
	opts, err := h.options()
	if err != nil {
		return "", err
	}
	raw, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, []byte(secret), opts)
	if err != nil {
		return "", fmt.Errorf("failed to encrypt clientSecret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// GenerateRSAKey makes a merchant key pair of bits (at least MinRSABits).
func GenerateRSAKey(bits int) (*rsa.PrivateKey, error) {
	if bits < MinRSABits {
		return nil, fmt.Errorf("an RSA key needs at least %d bits, not %d", MinRSABits, bits)
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// PrivateKeyPEM encodes key as a PKCS#8 PEM block, the form the keys
// Secret's rsaPrivateKey holds.
func PrivateKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicKeyPEM encodes pub as an X.509 SubjectPublicKeyInfo PEM block.
func PublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// PublicKeyBase64 is the SubjectPublicKeyInfo DER in Base64 on one line: the
// PEM body without its armour, which is what Java's X509EncodedKeySpec, and
// so the Seller Console's key field, most likely expect.
func PublicKeyBase64(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
