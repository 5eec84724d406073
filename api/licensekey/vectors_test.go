package licensekey

import (
	"crypto/ed25519"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The test vector of docs/licence-keys.md: the key from seed bytes 00..1f.
// If this test changes, the document must change with it.
const (
	vectorPublicKey = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
	vectorKeyID     = "56475aa75463474c"
	vectorLicence   = "kl1.eyJ2IjoxLCJraWQiOiI1NjQ3NWFhNzU0NjM0NzRjIiwibGlkIjoiaS0zZjlhMmM3ZDFlOGI0YTYwMTJhYiIsImlpZCI6ImktM2Y5YTJjN2QxZThiNGE2MDEyYWIiLCJwaWQiOiJPRkZJODQ2MjA0MjM3NDUxOTExMTY4Iiwic2t1IjoicHJvIiwiZmVhdHVyZXMiOlsiZXhwb3J0Iiwic3NvIl0sIm5iZiI6MTc5NTg2MDAwMCwiZXhwIjoxODI3Mzk2MDAwLCJkZXYiOiI4ZjJjLTAxIiwiaWF0IjoxNzk1ODYwMDAwfQ.RrnYfDiOqv2AmZ_ahPL5HNUr13lYLk3pgje8bTqUlGr8_7QG-QJFqdcsX_qpuv0e8cWNT-n8aOPE7l06fBZfDA"
	vectorRevoked   = "krl1.eyJ2IjoxLCJraWQiOiI1NjQ3NWFhNzU0NjM0NzRjIiwicGlkIjoiT0ZGSTg0NjIwNDIzNzQ1MTkxMTE2OCIsImlhdCI6MTc5NTg3MDAwMCwicmV2b2tlZCI6W3siaWlkIjoiaS0zZjlhMmM3ZDFlOGI0YTYwMTJhYiIsInJlYXNvbiI6IlJlbGVhc2VkIn1dfQ.saAbNd7jtcoQ-yCG8jZ3nKNDt9sgwuud9XTckuFWAzdyIV-ynGZJMiyfGDg6AsMryExa8YohNpEALphUdw2UDQ"
)

func TestDocumentedVector(t *testing.T) {
	g := NewWithT(t)
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	s, err := NewSigner(ed25519.NewKeyFromSeed(seed))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b64.EncodeToString(s.PublicKey())).To(Equal(vectorPublicKey))
	g.Expect(s.KeyID()).To(Equal(vectorKeyID))

	token, err := s.Sign(Claims{LicenseID: "i-3f9a2c7d1e8b4a6012ab", InstanceID: "i-3f9a2c7d1e8b4a6012ab",
		ProductID: "OFFI846204237451911168", SKU: "pro", Features: []string{"sso", "export"},
		NotBefore: 1795860000, NotAfter: 1827396000, Device: "8f2c-01", IssuedAt: 1795860000})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token).To(Equal(vectorLicence))
	list, err := s.SignRevocationList(RevocationList{ProductID: "OFFI846204237451911168", IssuedAt: 1795870000,
		Revoked: []Revocation{{InstanceID: "i-3f9a2c7d1e8b4a6012ab", Reason: ReasonReleased}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list).To(Equal(vectorRevoked))

	pub, err := ParsePublicKey([]byte(vectorPublicKey))
	g.Expect(err).NotTo(HaveOccurred())
	keys := NewKeySet(pub)
	at := time.Unix(1800000000, 0)
	_, err = Verify(vectorLicence, VerifyOptions{Keys: keys, ProductID: "OFFI846204237451911168", Now: at, Fingerprint: "8f2c-01"})
	g.Expect(err).NotTo(HaveOccurred())
	revoked, err := ParseRevocationList(vectorRevoked, keys)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = Verify(vectorLicence, VerifyOptions{Keys: keys, ProductID: "OFFI846204237451911168", Now: at, Fingerprint: "8f2c-01", Revoked: revoked})
	g.Expect(err).To(MatchError(ErrRevoked))
}
