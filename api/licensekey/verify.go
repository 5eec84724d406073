package licensekey

import (
	"errors"
	"fmt"
	"time"
)

// ErrWrongProduct is what Verify wraps when the licence key, or the
// revocation list, is for another product than VerifyOptions.ProductID, or
// when VerifyOptions.ProductID is empty.
var ErrWrongProduct = errors.New("wrong product")

// DefaultLeeway is the clock skew Verify allows a key's start (nbf) when
// VerifyOptions.Leeway is zero: 5 minutes, the skew Kerberos allows by
// default.
const DefaultLeeway = 5 * time.Minute

// NoLeeway, as VerifyOptions.Leeway, has Verify allow no clock skew: a key
// is refused until its very start (nbf).
const NoLeeway time.Duration = -1

// VerifyOptions is what a verifier knows.
type VerifyOptions struct {
	// Keys are the trusted public keys. Required.
	Keys KeySet
	// ProductID is the KooGallery product ID of the software verifying the
	// key, as the claims name it (Claims.ProductID: "iss" in a JWS key,
	// "pid" in a legacy one), for example "OFFI846204237451911168".
	// Required: one signing key may serve several products, so a key of
	// any other product, perhaps a cheaper one, would verify too.
	ProductID string
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
	// Leeway is how far this device's clock may lag the issuer's, as a
	// duration (for example 10 * time.Minute), counted in whole seconds
	// as nbf is. A key's start (nbf) is the issuer's clock at issue, so a
	// device a few minutes behind would refuse a key just issued: Verify
	// accepts a key from Leeway before its start (ErrNotYetValid before
	// that). Zero means DefaultLeeway (5 minutes); any negative value,
	// such as NoLeeway, means none. Expiry (exp) gets no leeway: a key is
	// refused from its expiry on (ErrExpired), whatever Leeway says.
	Leeway time.Duration
}

// Verify checks, in this order, that opts names a product, the token's
// form (either format), its signature, that it is a key of opts.ProductID,
// its validity window (from opts.Leeway before nbf, ErrNotYetValid earlier;
// up to exp with no leeway, ErrExpired from exp on), its device binding,
// that opts.Revoked is a list of opts.ProductID, that list's age, and the
// key's revocation; it returns the claims the key grants. Every failure
// wraps one of the Err values: a key or a revocation list of another
// product, or an empty opts.ProductID, wraps ErrWrongProduct.
func Verify(token string, opts VerifyOptions) (*Claims, error) {
	if opts.ProductID == "" {
		return nil, fmt.Errorf("%w: VerifyOptions.ProductID is empty: say which product this software is", ErrWrongProduct)
	}
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
	case c.ProductID != opts.ProductID:
		return nil, fmt.Errorf("%w: the licence key is for another product, %q, not %q", ErrWrongProduct, c.ProductID, opts.ProductID)
	case opts.Now.IsZero():
		return nil, fmt.Errorf("%w: no current time to check the window against", ErrNotYetValid)
	case opts.Now.Add(leeway(opts)).Unix() < c.NotBefore:
		return nil, fmt.Errorf("%w: valid from %s, and this device's clock reads %s (leeway %s)",
			ErrNotYetValid, unixUTC(c.NotBefore), unixUTC(now), leeway(opts))
	case now >= c.NotAfter:
		return nil, fmt.Errorf("%w: valid until %s", ErrExpired, unixUTC(c.NotAfter))
	case c.Device != "" && c.Device != opts.Fingerprint:
		return nil, ErrWrongDevice
	}
	if err := checkRevocation(c, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// leeway is the clock skew opts allow a key's start: see
// VerifyOptions.Leeway.
func leeway(opts VerifyOptions) time.Duration {
	switch {
	case opts.Leeway == 0:
		return DefaultLeeway
	case opts.Leeway < 0:
		return 0
	}
	return opts.Leeway
}

// checkRevocation refuses c when opts.Revoked revokes it, and refuses
// opts.Revoked when it is another product's (it would revoke nothing of
// this one, so a frozen or released key would pass forever) or older than
// opts.MaxRevocationAge. c is already known to be of opts.ProductID.
func checkRevocation(c *Claims, opts VerifyOptions) error {
	l := opts.Revoked
	switch {
	case l == nil:
		return nil
	case l.ProductID != opts.ProductID:
		return fmt.Errorf("%w: the revocation list is for another product, %q, not %q", ErrWrongProduct, l.ProductID, opts.ProductID)
	case opts.MaxRevocationAge > 0 && opts.Now.Sub(time.Unix(l.IssuedAt, 0)) > opts.MaxRevocationAge:
		return fmt.Errorf("%w: signed %s", ErrStaleRevocationList, unixUTC(l.IssuedAt))
	}
	if r := l.find(c.ProductID, c.InstanceID); r != nil {
		return fmt.Errorf("%w: instance %s is %s", ErrRevoked, c.InstanceID, r.Reason)
	}
	return nil
}

func unixUTC(s int64) string {
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}
