package licensekey

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// One keys Secret may sign for several products (a Seller Console key that
// serves several production URLs), so the signature alone does not say the
// key is for this software: a key of a cheap product must not unlock a dear
// one, and a list of another product must not pass for this one's, or a
// frozen or released licence would never be revoked.
func TestVerifyRefusesAnotherProductsKeyOrRevocationList(t *testing.T) {
	s := newTestSigner(t)
	keys := NewKeySet(s.PublicKey())
	list := func(token string, err error) *RevocationList {
		if err != nil {
			t.Fatal(err)
		}
		l, err := ParseRevocationList(token, keys)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	legacyList := func(productID string) *RevocationList {
		return list(s.SignRevocationList(RevocationList{ProductID: productID, IssuedAt: t0.Unix(),
			Revoked: []Revocation{{InstanceID: "i-abc", Reason: ReasonReleased}}}))
	}
	jwsRevocations := func(productID string) *RevocationList { return list(jwsList(s, productID, "i-abc"), nil) }
	legacyKey := func(productID string) string {
		c := testClaims()
		c.ProductID = productID
		token, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	jwsKey := signJWS(s.key, jwsHeaderOf(s, LicenseJWSType), jwsPayload()) // of testClaims' product, OFFI1

	tests := []struct {
		name    string
		token   string
		opts    func(*VerifyOptions)
		wantErr error
	}{
		{"legacy key of this product", legacyKey("OFFI1"), nil, nil},
		{"legacy key of another product", legacyKey("OFFI1"), func(o *VerifyOptions) { o.ProductID = "OFFI2" }, ErrWrongProduct},
		{"legacy key naming no product", legacyKey(""), nil, ErrWrongProduct},
		{"legacy key, no product expected", legacyKey("OFFI1"), func(o *VerifyOptions) { o.ProductID = "" }, ErrWrongProduct},
		{"legacy key, revoked by this product's legacy list", legacyKey("OFFI1"), func(o *VerifyOptions) { o.Revoked = legacyList("OFFI1") }, ErrRevoked},
		{"legacy key, another product's legacy list", legacyKey("OFFI1"), func(o *VerifyOptions) { o.Revoked = legacyList("OFFI2") }, ErrWrongProduct},
		{"legacy key, another product's JWS list", legacyKey("OFFI1"), func(o *VerifyOptions) { o.Revoked = jwsRevocations("OFFI2") }, ErrWrongProduct},
		{"JWS key of this product", jwsKey, nil, nil},
		{"JWS key of another product", jwsKey, func(o *VerifyOptions) { o.ProductID = "OFFI2" }, ErrWrongProduct},
		{"JWS key, no product expected", jwsKey, func(o *VerifyOptions) { o.ProductID = "" }, ErrWrongProduct},
		{"JWS key, revoked by this product's JWS list", jwsKey, func(o *VerifyOptions) { o.Revoked = jwsRevocations("OFFI1") }, ErrRevoked},
		{"JWS key, another product's JWS list", jwsKey, func(o *VerifyOptions) { o.Revoked = jwsRevocations("OFFI2") }, ErrWrongProduct},
		{"JWS key, another product's legacy list", jwsKey, func(o *VerifyOptions) { o.Revoked = legacyList("OFFI2") }, ErrWrongProduct},
		// The product is checked before the list's age: a list of another
		// product says nothing, however fresh.
		{"JWS key, another product's fresh list", jwsKey, func(o *VerifyOptions) {
			o.Revoked, o.MaxRevocationAge = jwsRevocations("OFFI2"), time.Hour
		}, ErrWrongProduct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			opts := VerifyOptions{Keys: keys, ProductID: "OFFI1", Now: t0.Add(time.Hour)}
			expectVerify(g, tt.token, opts, tt.opts, tt.wantErr)
		})
	}
}
