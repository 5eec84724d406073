package licensekey

import (
	"fmt"
	"slices"
	"strings"
)

// Revocation reasons.
const (
	// ReasonFrozen: the subscription is frozen; the entry goes when it is unfrozen.
	ReasonFrozen = "Frozen"
	// ReasonReleased: the subscription is released, for good.
	ReasonReleased = "Released"
)

// RevocationList is the signed list of revoked instances of one product, in
// either format. The JSON tags are the legacy payload's.
type RevocationList struct {
	// Version is FormatVersion in a legacy list; 0 in a JWS list.
	Version int `json:"v"`
	// KeyID names the signing key.
	KeyID string `json:"kid"`
	// ProductID is the KooGallery product the list covers.
	ProductID string `json:"pid"`
	// IssuedAt is when the list was signed, Unix seconds; a verifier may
	// refuse lists older than it can tolerate.
	IssuedAt int64 `json:"iat"`
	// Revoked are the revoked instances, sorted by instance ID.
	Revoked []Revocation `json:"revoked"`
	// Format is how the list was written; not part of any payload.
	Format Format `json:"-"`
}

// Revocation is one revoked instance: every key issued for it is revoked.
type Revocation struct {
	// InstanceID is the marketplace instance.
	InstanceID string `json:"iid"`
	// Reason is ReasonFrozen or ReasonReleased.
	Reason string `json:"reason"`
}

// SignRevocationList signs l as a legacy list, with Version and KeyID set
// and the entries sorted.
func (s *Signer) SignRevocationList(l RevocationList) (string, error) {
	l.Version, l.KeyID = FormatVersion, s.id
	l.Revoked = SortRevocations(l.Revoked)
	return s.seal(RevocationPrefix, l)
}

// SortRevocations returns a copy of revoked sorted by instance ID, the order
// both formats list them in; nil becomes empty, so a list always has one.
func SortRevocations(revoked []Revocation) []Revocation {
	out := append([]Revocation{}, revoked...)
	slices.SortFunc(out, func(a, b Revocation) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out
}

// ParseRevocationList decodes a revocation list of either format and
// verifies its signature. A list starting with RevocationPrefix and a dot is
// a legacy list; anything else must be a JWS.
func ParseRevocationList(token string, keys KeySet) (*RevocationList, error) {
	if !isLegacy(token, RevocationPrefix) {
		return parseJWSRevocationList(token, keys)
	}
	input, payload, sig, err := split(token, RevocationPrefix)
	if err != nil {
		return nil, err
	}
	l := &RevocationList{}
	if err := decodeJSON(payload, l); err != nil {
		return nil, err
	}
	if l.Version != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d is not %d", ErrMalformed, l.Version, FormatVersion)
	}
	if err := verifySignature(keys, l.KeyID, input, sig); err != nil {
		return nil, err
	}
	l.Format = FormatLegacy
	return l, nil
}

// find returns the entry revoking instance of product, or nil. A nil list
// revokes nothing; a list of another product says nothing about this one.
func (l *RevocationList) find(productID, instanceID string) *Revocation {
	if l == nil || l.ProductID != productID {
		return nil
	}
	for i := range l.Revoked {
		if l.Revoked[i].InstanceID == instanceID {
			return &l.Revoked[i]
		}
	}
	return nil
}

// IsRevoked reports whether the list revokes the keys of instance of product.
// A list of another product revokes nothing of product, so it reports false:
// check l.ProductID first, as Verify does (ErrWrongProduct), or a key that
// is frozen or released passes forever.
func (l *RevocationList) IsRevoked(productID, instanceID string) bool {
	return l.find(productID, instanceID) != nil
}
