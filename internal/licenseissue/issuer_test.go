package licenseissue

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
)

// The JWS test vector of docs/licence-keys.md: the key from seed bytes
// 00..1f and the claims of the legacy vector (api/licensekey/vectors_test.go).
// If this test changes, the document must change with it.
const (
	vectorLicence = "eyJhbGciOiJFZERTQSIsImtpZCI6IjU2NDc1YWE3NTQ2MzQ3NGMiLCJ0eXAiOiJrb29wZXItbGljZW5jZStqd3QifQ." +
		"eyJpc3MiOiJPRkZJODQ2MjA0MjM3NDUxOTExMTY4Iiwic3ViIjoiaS0zZjlhMmM3ZDFlOGI0YTYwMTJhYiIsImV4cCI6MTgyNzM5NjAwMCwibmJmIjoxNzk1ODYwMDAwLCJpYXQiOjE3OTU4NjAwMDAsImp0aSI6ImktM2Y5YTJjN2QxZThiNGE2MDEyYWIiLCJza3UiOiJwcm8iLCJmZWF0dXJlcyI6WyJleHBvcnQiLCJzc28iXSwiZmluZ2VycHJpbnQiOiI4ZjJjLTAxIn0." +
		"LJ9YHwarvpsaIbSs4qsPn2dZrzLL0gIwklfEMsAJM_7Hv_g8Lo_KZ5c-Bqj6d2m-2PAoZi737cogefdx1Ib_AQ"
	vectorRevoked = "eyJhbGciOiJFZERTQSIsImtpZCI6IjU2NDc1YWE3NTQ2MzQ3NGMiLCJ0eXAiOiJrb29wZXItcmV2b2NhdGlvbnMrand0In0." +
		"eyJpc3MiOiJPRkZJODQ2MjA0MjM3NDUxOTExMTY4IiwiaWF0IjoxNzk1ODcwMDAwLCJyZXZva2VkIjpbeyJzdWIiOiJpLTNmOWEyYzdkMWU4YjRhNjAxMmFiIiwicmVhc29uIjoiUmVsZWFzZWQifV19." +
		"GOTAPVJlULb9CLHU6drkYcgCEBpPId4c3Z-OhpAmG-fXwGc3MpzZMyEYKQnEAbkJ6gMSrBHcDqYDiqzCcTAjBA"
)

func vectorIssuer(t *testing.T) *Issuer {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	i, err := New(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func vectorClaims() licensekey.Claims {
	return licensekey.Claims{LicenseID: "i-3f9a2c7d1e8b4a6012ab", InstanceID: "i-3f9a2c7d1e8b4a6012ab",
		ProductID: "OFFI846204237451911168", SKU: "pro", Features: []string{"sso", "export"},
		NotBefore: 1795860000, NotAfter: 1827396000, Device: "8f2c-01", IssuedAt: 1795860000}
}

func vectorList() licensekey.RevocationList {
	return licensekey.RevocationList{ProductID: "OFFI846204237451911168", IssuedAt: 1795870000,
		Revoked: []licensekey.Revocation{{InstanceID: "i-3f9a2c7d1e8b4a6012ab", Reason: licensekey.ReasonReleased}}}
}

// golang-jwt writes the documented vector, and api/licensekey's
// standard-library verifier reads it back.
func TestDocumentedJWSVector(t *testing.T) {
	g := NewWithT(t)
	i := vectorIssuer(t)
	token, err := i.Sign(vectorClaims(), licensekey.FormatJWS)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token).To(Equal(vectorLicence))
	list, err := i.SignRevocationList(vectorList(), licensekey.FormatJWS)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list).To(Equal(vectorRevoked))

	keys := licensekey.NewKeySet(i.PublicKey())
	at := time.Unix(1800000000, 0)
	c, err := licensekey.Verify(vectorLicence, licensekey.VerifyOptions{ProductID: vectorClaims().ProductID, Keys: keys, Now: at, Fingerprint: "8f2c-01"})
	g.Expect(err).NotTo(HaveOccurred())
	want := vectorClaims()
	want.KeyID, want.Features, want.Format = i.KeyID(), []string{"export", "sso"}, licensekey.FormatJWS
	g.Expect(*c).To(Equal(want))
	revoked, err := licensekey.ParseRevocationList(vectorRevoked, keys)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = licensekey.Verify(vectorLicence, licensekey.VerifyOptions{ProductID: vectorClaims().ProductID, Keys: keys, Now: at, Fingerprint: "8f2c-01", Revoked: revoked})
	g.Expect(err).To(MatchError(licensekey.ErrRevoked))
}

// Both formats say the same: a key verifies to the same claims, format
// aside, and a list of either format revokes a key of either.
func TestFormatsAgree(t *testing.T) {
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	i, err := New(priv)
	g.Expect(err).NotTo(HaveOccurred())
	keys := licensekey.NewKeySet(i.PublicKey())
	claims := vectorClaims()
	claims.Device, claims.Features = "", nil
	at := time.Unix(1800000000, 0)
	var got []licensekey.Claims
	for _, f := range []licensekey.Format{licensekey.FormatJWS, licensekey.FormatLegacy} {
		token, err := i.Sign(claims, f)
		g.Expect(err).NotTo(HaveOccurred())
		c, err := licensekey.Verify(token, licensekey.VerifyOptions{ProductID: vectorClaims().ProductID, Keys: keys, Now: at})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(c.Format).To(Equal(f))
		g.Expect(c.Features).To(BeEmpty())
		c.Format, c.Version = "", 0
		got = append(got, *c)
		for _, lf := range []licensekey.Format{licensekey.FormatJWS, licensekey.FormatLegacy} {
			text, err := i.SignRevocationList(vectorList(), lf)
			g.Expect(err).NotTo(HaveOccurred())
			list, err := licensekey.ParseRevocationList(text, keys)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(list.Format).To(Equal(lf))
			_, err = licensekey.Verify(token, licensekey.VerifyOptions{ProductID: vectorClaims().ProductID, Keys: keys, Now: at, Revoked: list})
			g.Expect(err).To(MatchError(licensekey.ErrRevoked), "key %s, list %s", f, lf)
		}
	}
	g.Expect(got[0]).To(Equal(got[1]))

	empty, err := i.SignRevocationList(licensekey.RevocationList{ProductID: "OFFI1", IssuedAt: 1}, licensekey.FormatJWS)
	g.Expect(err).NotTo(HaveOccurred())
	list, err := licensekey.ParseRevocationList(empty, keys)
	g.Expect(err).NotTo(HaveOccurred(), "an empty list still has its revoked array")
	g.Expect(list.Revoked).To(BeEmpty())
}

// A stock JOSE library, golang-jwt's own parser, verifies a kooper key
// with nothing but the public key, and refuses an expired one.
func TestStockLibraryVerifies(t *testing.T) {
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	i, err := New(priv)
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	claims := vectorClaims()
	claims.NotBefore, claims.NotAfter, claims.IssuedAt = now.Add(-time.Hour).Unix(), now.Add(time.Hour).Unix(), now.Unix()
	token, err := i.Sign(claims, licensekey.FormatJWS)
	g.Expect(err).NotTo(HaveOccurred())
	keyFunc := func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != i.KeyID() || t.Header["typ"] != licensekey.LicenseJWSType {
			return nil, errors.New("not a licence key of this key")
		}
		return i.PublicKey(), nil
	}
	parsed, err := jwt.ParseWithClaims(token, &licenceClaims{}, keyFunc, jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(claims.ProductID), jwt.WithSubject(claims.InstanceID), jwt.WithIssuedAt())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.Claims.(*licenceClaims).Features).To(Equal([]string{"export", "sso"}))

	claims.NotAfter = now.Add(-time.Minute).Unix()
	expired, err := i.Sign(claims, licensekey.FormatJWS)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = jwt.ParseWithClaims(expired, &licenceClaims{}, keyFunc, jwt.WithValidMethods([]string{"EdDSA"}))
	g.Expect(err).To(MatchError(jwt.ErrTokenExpired))
}

func TestSignRefuses(t *testing.T) {
	g := NewWithT(t)
	i := vectorIssuer(t)
	_, err := i.Sign(vectorClaims(), "PASETO")
	g.Expect(err).To(MatchError(ContainSubstring("unknown licence key format")))
	_, err = i.SignRevocationList(vectorList(), "")
	g.Expect(err).To(MatchError(ContainSubstring("unknown revocation list format")))
	for _, f := range []licensekey.Format{licensekey.FormatJWS, licensekey.FormatLegacy} {
		c := vectorClaims()
		c.NotAfter = c.NotBefore
		_, err = i.Sign(c, f)
		g.Expect(err).To(MatchError(licensekey.ErrMalformed), "an empty window, %s", f)
	}
	_, err = New(ed25519.PrivateKey("short"))
	g.Expect(err).To(HaveOccurred())
}
