package licensekey

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newTestSigner(t *testing.T) *Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testClaims() Claims {
	return Claims{
		LicenseID: "i-abc", InstanceID: "i-abc", ProductID: "OFFI1", SKU: "pro",
		Features: []string{"sso", "export", "sso"}, NotBefore: t0.Unix(), NotAfter: t0.AddDate(1, 0, 0).Unix(),
		IssuedAt: t0.Unix(),
	}
}

func TestSignedKeyVerifies(t *testing.T) {
	g := NewWithT(t)
	s := newTestSigner(t)
	token, err := s.Sign(testClaims())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(token).To(HavePrefix("kl1."))
	c, err := Verify(token, VerifyOptions{Keys: NewKeySet(s.PublicKey()), ProductID: "OFFI1", Now: t0.Add(time.Hour)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Features).To(Equal([]string{"export", "sso"}))
	g.Expect(c.KeyID).To(Equal(s.KeyID()))
	g.Expect(c.HasFeature("sso")).To(BeTrue())
	g.Expect(c.HasFeature("reporting")).To(BeFalse())

	again, err := s.Sign(testClaims())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(token), "signing is deterministic")
}

func TestVerifyRefusesEveryWrongKey(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	keys := NewKeySet(s.PublicKey())
	sign := func(change func(*Claims)) string {
		c := testClaims()
		change(&c)
		token, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	good := sign(func(*Claims) {})
	bound := sign(func(c *Claims) { c.Device = "fp-1" })
	foreign, _ := other.Sign(testClaims())
	revoked, _ := s.SignRevocationList(RevocationList{ProductID: "OFFI1", Revoked: []Revocation{{InstanceID: "i-abc", Reason: ReasonReleased}}})
	revokedElsewhere, _ := s.SignRevocationList(RevocationList{ProductID: "OFFI2", Revoked: []Revocation{{InstanceID: "i-abc", Reason: ReasonReleased}}})
	list := func(token string) *RevocationList {
		l, err := ParseRevocationList(token, keys)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(mustDecode(t, parts[1])), `"pro"`, `"max"`, 1))) + "." + parts[2]
	flipped := []byte(good)
	flipped[len(flipped)-2] = map[bool]byte{true: 'B', false: 'A'}[flipped[len(flipped)-2] == 'A']

	tests := []struct {
		name    string
		token   string
		opts    func(*VerifyOptions)
		wantErr error
	}{
		{"valid", good, nil, nil},
		{"expired", good, func(o *VerifyOptions) { o.Now = t0.AddDate(1, 0, 0) }, ErrExpired},
		{"not yet valid", good, func(o *VerifyOptions) { o.Now = t0.Add(-DefaultLeeway - time.Second) }, ErrNotYetValid},
		{"no clock", good, func(o *VerifyOptions) { o.Now = time.Time{} }, ErrNotYetValid},
		{"bound, right device", bound, func(o *VerifyOptions) { o.Fingerprint = "fp-1" }, nil},
		{"bound, wrong device", bound, func(o *VerifyOptions) { o.Fingerprint = "fp-2" }, ErrWrongDevice},
		{"bound, no device", bound, nil, ErrWrongDevice},
		{"tampered payload", tampered, nil, ErrBadSignature},
		{"tampered signature", string(flipped), nil, ErrBadSignature},
		{"unknown key ID", foreign, nil, ErrUnknownKey},
		{"revoked", good, func(o *VerifyOptions) { o.Revoked = list(revoked) }, ErrRevoked},
		{"revoked in another product", good, func(o *VerifyOptions) { o.Revoked = list(revokedElsewhere) }, ErrWrongProduct},
		{"bad encoding: padding", good + "=", nil, ErrMalformed},
		{"bad encoding: standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", nil, ErrMalformed},
		{"bad encoding: two parts", parts[0] + "." + parts[1], nil, ErrMalformed},
		{"wrong prefix", "krl1." + parts[1] + "." + parts[2], nil, ErrMalformed},
		{"payload not JSON", parts[0] + "." + b64.EncodeToString([]byte("nope")) + "." + parts[2], nil, ErrMalformed},
		{"empty", "", nil, ErrMalformed},
		{"too long", strings.Repeat("a", MaxTokenLength+1), nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			opts := VerifyOptions{Keys: keys, ProductID: "OFFI1", Now: t0.Add(time.Hour)}
			expectVerify(g, tt.token, opts, tt.opts, tt.wantErr)
		})
	}
}

// A flipped bit in the last signature character may still decode; either
// way the key must not verify.
func TestFlippedSignatureNeverVerifies(t *testing.T) {
	g := NewWithT(t)
	s := newTestSigner(t)
	good, _ := s.Sign(testClaims())
	for i := len(good) - 86; i < len(good); i++ {
		b := []byte(good)
		b[i] ^= 0x01
		_, err := Verify(string(b), VerifyOptions{Keys: NewKeySet(s.PublicKey()), ProductID: "OFFI1", Now: t0.Add(time.Hour)})
		g.Expect(err).To(HaveOccurred(), "byte %d", i)
	}
}

func TestSignRefusesEmptyWindow(t *testing.T) {
	g := NewWithT(t)
	c := testClaims()
	c.NotAfter = c.NotBefore
	_, err := newTestSigner(t).Sign(c)
	g.Expect(errors.Is(err, ErrMalformed)).To(BeTrue())
}

func TestRevocationListRefusesAnotherSigner(t *testing.T) {
	g := NewWithT(t)
	s, other := newTestSigner(t), newTestSigner(t)
	token, err := other.SignRevocationList(RevocationList{ProductID: "OFFI1"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = ParseRevocationList(token, NewKeySet(s.PublicKey()))
	g.Expect(errors.Is(err, ErrUnknownKey)).To(BeTrue())
	_, err = ParseRevocationList(token, NewKeySet(s.PublicKey(), other.PublicKey()))
	g.Expect(err).NotTo(HaveOccurred())
}

func TestKeysRoundTrip(t *testing.T) {
	g := NewWithT(t)
	s := newTestSigner(t)
	privPEM, err := MarshalPrivateKeyPEM(s.key)
	g.Expect(err).NotTo(HaveOccurred())
	priv, err := ParsePrivateKeyPEM(privPEM)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(priv.Equal(s.key)).To(BeTrue())
	pubPEM, err := MarshalPublicKeyPEM(s.PublicKey())
	g.Expect(err).NotTo(HaveOccurred())
	for _, text := range []string{string(pubPEM), b64.EncodeToString(s.PublicKey()) + "\n"} {
		pub, err := ParsePublicKey([]byte(text))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(KeyID(pub)).To(Equal(s.KeyID()))
	}
	_, err = ParsePublicKey([]byte("not a key"))
	g.Expect(err).To(HaveOccurred())
	_, err = ParsePrivateKeyPEM(pubPEM)
	g.Expect(err).To(HaveOccurred())
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectVerify verifies token with opts, changed by change when it is
// set, and expects wantErr (errors.Is), or success when it is nil.
func expectVerify(g Gomega, token string, opts VerifyOptions, change func(*VerifyOptions), wantErr error) {
	if change != nil {
		change(&opts)
	}
	_, err := Verify(token, opts)
	if wantErr == nil {
		g.Expect(err).NotTo(HaveOccurred())
		return
	}
	g.Expect(errors.Is(err, wantErr)).To(BeTrue(), "got %v, want %v", err, wantErr)
}
