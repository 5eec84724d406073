package licensekey

import (
	"fmt"
	"time"
)

// VerifyOptions is what a verifier knows.
type VerifyOptions struct {
	// Keys are the trusted public keys. Required.
	Keys KeySet
	// Now is the current time. Required: a verifier that cannot tell the
	// time cannot check a window.
	Now time.Time
	// Fingerprint is this device's fingerprint. A key bound to a device
	// verifies only where Fingerprint equals it.
	Fingerprint string
	// Revoked, when set, is a revocation list already verified with
	// ParseRevocationList; a key whose instance it lists is refused.
	Revoked *RevocationList
	// MaxRevocationAge, when set with Revoked, refuses every key while the
	// list was signed longer ago than this (ErrStaleRevocationList): a list
	// that old may no longer name every revoked instance. Zero trusts a
	// list of any age.
	MaxRevocationAge time.Duration
}

// Verify checks, in this order, the token's form (either format), its
// signature, its validity window, its device binding and its revocation,
// and returns the claims it grants. Every failure wraps one of the Err
// values.
func Verify(token string, opts VerifyOptions) (*Claims, error) {
	t, err := Parse(token)
	if err != nil {
		return nil, err
	}
	c := &t.Claims
	if err := verifySignature(opts.Keys, c.KeyID, t.signingInput, t.signature); err != nil {
		return nil, err
	}
	now := opts.Now.Unix()
	switch {
	case opts.Now.IsZero():
		return nil, fmt.Errorf("%w: no current time to check the window against", ErrNotYetValid)
	case now < c.NotBefore:
		return nil, fmt.Errorf("%w: valid from %s", ErrNotYetValid, unixUTC(c.NotBefore))
	case now >= c.NotAfter:
		return nil, fmt.Errorf("%w: valid until %s", ErrExpired, unixUTC(c.NotAfter))
	case c.Device != "" && c.Device != opts.Fingerprint:
		return nil, ErrWrongDevice
	}
	if opts.Revoked != nil && opts.MaxRevocationAge > 0 && opts.Now.Sub(time.Unix(opts.Revoked.IssuedAt, 0)) > opts.MaxRevocationAge {
		return nil, fmt.Errorf("%w: signed %s", ErrStaleRevocationList, unixUTC(opts.Revoked.IssuedAt))
	}
	if r := opts.Revoked.find(c.ProductID, c.InstanceID); r != nil {
		return nil, fmt.Errorf("%w: instance %s is %s", ErrRevoked, c.InstanceID, r.Reason)
	}
	return c, nil
}

func unixUTC(s int64) string {
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}
