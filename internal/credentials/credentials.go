// Package credentials derives a tenant's initial admin password from one
// key and the tenant's instance ID, so that the tenant controller, which
// writes the password into the tenant's credentials Secret, and the
// receiver, which encrypts it into queryInstance's appInfo (spec §4.1),
// agree on it without a per-tenant copy of the Secret in kooper's
// namespace (one create per tenant, and one read per appInfo, fewer).
//
// Whoever holds the key can compute every tenant's password: it is kept in
// kooper's namespace, readable by the same two ServiceAccounts that could
// read every copy before.
package credentials

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Username is every tenant's initial admin user name.
const Username = "admin"

// KeySize is the size, in bytes, of a key that Generate makes; NewKey
// refuses a shorter one.
const KeySize = 32

// PasswordLength is the length, in characters, of a derived password.
const PasswordLength = 24

// derivationInfo separates these passwords from anything else the key
// might ever derive; a new scheme gets a new version here, and the old
// one stays, since passwords already delivered never change.
const derivationInfo = "kooper tenant admin password v1\x00"

// The character classes of a password: each appears at least once, as
// password policies ask. Look-alikes (l, o, O, 0, 1, I) are left out.
const (
	lower   = "abcdefghijkmnopqrstuvwxyz"
	upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!#%+-=?@^_"
)

// Key derives passwords. Its ID names it in a tenant's status
// (credentialsKeyID), so a key replaced by another is noticed instead of
// yielding passwords the buyers were never given.
type Key struct {
	secret []byte
	id     string
}

// Generate returns a new random key of KeySize bytes.
func Generate() ([]byte, error) {
	secret := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, secret); err != nil {
		return nil, fmt.Errorf("failed to generate a credentials key: %w", err)
	}
	return secret, nil
}

// NewKey returns the Key of secret, which must have at least KeySize
// bytes.
func NewKey(secret []byte) (Key, error) {
	if len(secret) < KeySize {
		return Key{}, fmt.Errorf("a credentials key has at least %d bytes, this one %d", KeySize, len(secret))
	}
	sum := sha256.Sum256(secret)
	return Key{secret: secret, id: hex.EncodeToString(sum[:8])}, nil
}

// ID is the key's fingerprint: the first 8 bytes of its SHA-256, in hex
// (16 characters). It reveals nothing of the key.
func (k Key) ID() string { return k.id }

// Password is tenant instanceID's initial admin password:
// PasswordLength characters, with at least one of each class (lower and
// upper case letters, digits, symbols), drawn from HKDF-SHA256(key,
// instanceID). The same key and instance always give the same password.
func (k Key) Password(instanceID string) (string, error) {
	// 512 bytes: drawing 24 characters and shuffling them rejects a byte
	// or a pair rarely; running out would take hundreds of rejections.
	stream, err := hkdf.Key(sha256.New, k.secret, nil, derivationInfo+instanceID, 512)
	if err != nil {
		return "", fmt.Errorf("failed to derive a password: %w", err)
	}
	d := &draw{stream: stream}
	out := make([]byte, PasswordLength)
	classes := []string{lower, upper, digits, symbols}
	all := lower + upper + digits + symbols
	for i := range out {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		out[i] = set[d.below(len(set))]
	}
	// Shuffle (Fisher–Yates), so the guaranteed classes are not always in
	// front.
	for i := len(out) - 1; i > 0; i-- {
		j := d.below(i + 1)
		out[i], out[j] = out[j], out[i]
	}
	if d.exhausted {
		return "", errors.New("failed to derive a password: the derived stream ran out")
	}
	return string(out), nil
}

// draw takes uniform numbers from a byte stream by rejection, in kooper's
// own code so that a password never changes with a Go release.
type draw struct {
	stream    []byte
	exhausted bool
}

// below returns a number in [0, n), n ≤ 256, uniformly: a byte at or above
// the largest multiple of n is skipped.
func (d *draw) below(n int) int {
	limit := 256 - 256%n
	for len(d.stream) > 0 {
		b := int(d.stream[0])
		d.stream = d.stream[1:]
		if b < limit {
			return b % n
		}
	}
	d.exhausted = true
	return 0
}
