package koogallery

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

// One 3072-bit key serves every test: generating it takes a second or more.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := GenerateRSAKey(MinRSABits)
	if err != nil {
		panic(err)
	}
	return key
})

func TestDecryptClientSecretTriesEachConfiguredVariant(t *testing.T) {
	key := testRSAKey()
	for _, variant := range DefaultOAEPHashes {
		t.Run(string(variant), func(t *testing.T) {
			g := NewWithT(t)
			ciphertext, err := EncryptClientSecret(&key.PublicKey, "s3cr3t-client", variant)
			g.Expect(err).NotTo(HaveOccurred())
			plain, used, err := DecryptClientSecret(key, ciphertext, DefaultOAEPHashes)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(plain).To(Equal("s3cr3t-client"))
			g.Expect(used).To(Equal(variant))

			// Not configured: refused, even though the key is right.
			var others []OAEPHash
			for _, h := range DefaultOAEPHashes {
				if h != variant {
					others = append(others, h)
				}
			}
			_, _, err = DecryptClientSecret(key, ciphertext, others)
			g.Expect(err).To(MatchError(ErrClientSecret))
		})
	}
}

func TestDecryptClientSecretRefusesBadInput(t *testing.T) {
	key := testRSAKey()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forOther, _ := EncryptClientSecret(&other.PublicKey, "x", OAEPSHA256)
	good, _ := EncryptClientSecret(&key.PublicKey, "x", OAEPSHA256)
	cases := []struct{ name, ciphertext string }{
		{"empty", ""},
		{"not Base64", "%%%"},
		{"another key's ciphertext", forOther},
		{"truncated", good[:len(good)-8]},
		{"plaintext", "s3cr3t"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, _, err := DecryptClientSecret(key, tt.ciphertext, DefaultOAEPHashes)
			g.Expect(errors.Is(err, ErrClientSecret)).To(BeTrue(), "%v", err)
		})
	}
}

func TestDecryptClientSecretAcceptsURLSafeAndWrappedBase64(t *testing.T) {
	g := NewWithT(t)
	key := testRSAKey()
	std, err := EncryptClientSecret(&key.PublicKey, "x", OAEPSHA1)
	g.Expect(err).NotTo(HaveOccurred())
	urlSafe := strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(std), "=")
	wrapped := std[:64] + "\n" + std[64:]
	for _, c := range []string{urlSafe, wrapped} {
		plain, _, err := DecryptClientSecret(key, c, DefaultOAEPHashes)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(plain).To(Equal("x"))
	}
}

func TestRSAKeysRoundTripAndRefuseShortKeys(t *testing.T) {
	g := NewWithT(t)
	key := testRSAKey()
	pemKey, err := PrivateKeyPEM(key)
	g.Expect(err).NotTo(HaveOccurred())
	parsed, err := ParseRSAPrivateKey(pemKey)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed.Equal(key)).To(BeTrue())
	pub, err := PublicKeyPEM(&key.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(pub)).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))
	b64, err := PublicKeyBase64(&key.PublicKey)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(pub)).To(ContainSubstring(b64[:64]))

	short, err := rsa.GenerateKey(rand.Reader, 2048)
	g.Expect(err).NotTo(HaveOccurred())
	shortPEM, _ := PrivateKeyPEM(short)
	_, err = ParseRSAPrivateKey(shortPEM)
	g.Expect(err).To(MatchError(ContainSubstring("at least 3072")))
	_, err = ParseRSAPrivateKey([]byte("not pem"))
	g.Expect(err).To(HaveOccurred())
	_, err = GenerateRSAKey(2048)
	g.Expect(err).To(HaveOccurred())
}

func TestParseOAEPHashes(t *testing.T) {
	g := NewWithT(t)
	hashes, err := ParseOAEPHashes("sha1, sha256-mgf1-sha1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(hashes).To(Equal([]OAEPHash{OAEPSHA1, OAEPSHA256MGF1SHA1}))
	_, err = ParseOAEPHashes("md5")
	g.Expect(err).To(MatchError(ContainSubstring("unknown OAEP variant")))
}
