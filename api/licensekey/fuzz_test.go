package licensekey

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzParseToken: no input panics, and nothing but the signer's own keys
// verifies: a mutated key either fails or decodes to the very same claims.
func FuzzParseToken(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	s, err := NewSigner(seed)
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.Sign(testClaims())
	if err != nil {
		f.Fatal(err)
	}
	list, _ := s.SignRevocationList(RevocationList{ProductID: "OFFI1", Revoked: []Revocation{{InstanceID: "i-abc", Reason: ReasonFrozen}}})
	for _, seedInput := range []string{good, list, "", "kl1..", "kl1.e30.", "kl1.bnVsbA." + good[len(good)-86:]} {
		f.Add(seedInput)
	}
	keys := NewKeySet(s.PublicKey())
	want, _ := Parse(good)
	f.Fuzz(func(t *testing.T, token string) {
		if tok, err := Parse(token); err == nil && tok.Claims.NotAfter <= tok.Claims.NotBefore {
			t.Fatalf("Parse accepted an empty window: %+v", tok.Claims)
		}
		_, _ = ParseRevocationList(token, keys)
		c, err := Verify(token, VerifyOptions{Keys: keys, ProductID: want.Claims.ProductID, Now: t0.Add(time.Hour)})
		if err != nil {
			return
		}
		if c.ProductID != want.Claims.ProductID || c.InstanceID != want.Claims.InstanceID || c.SKU != want.Claims.SKU || c.NotAfter != want.Claims.NotAfter {
			t.Fatalf("a mutated key verified with other claims: %+v", c)
		}
	})
}

// FuzzParseJWS: the same properties for the JWS format, seeded with keys and
// lists as kooper writes them and with the refusals of
// TestVerifyJWSRefusesEveryWrongKey.
func FuzzParseJWS(f *testing.F) {
	s, err := NewSigner(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		f.Fatal(err)
	}
	header := jwsHeaderOf(s, LicenseJWSType)
	good := signJWS(s.key, header, jwsPayload())
	list := jwsList(s, "OFFI1", "i-abc")
	for _, seedInput := range []string{good, list, "", "..", "e30.e30.", good + ".", good[:len(good)-1],
		signJWS(s.key, header, jwsPayload(`]}`, `],"fingerprint":"fp-1"}`)),
		signJWS(s.key, strings.Replace(header, "EdDSA", "none", 1), jwsPayload()),
		signJWS(s.key, strings.Replace(header, `}`, `,"crit":["exp"]}`, 1), jwsPayload()),
		signJWS(s.key, header, jwsPayload(fmt.Sprint(t0.AddDate(1, 0, 0).Unix()), "1.8e9")),
	} {
		f.Add(seedInput)
	}
	keys := NewKeySet(s.PublicKey())
	want, _ := Parse(good)
	f.Fuzz(func(t *testing.T, token string) {
		if tok, err := Parse(token); err == nil && tok.Claims.NotAfter <= tok.Claims.NotBefore {
			t.Fatalf("Parse accepted an empty window: %+v", tok.Claims)
		}
		if l, err := ParseRevocationList(token, keys); err == nil && l.Format == FormatJWS && strings.TrimSpace(token) != list {
			t.Fatalf("a mutated list verified: %q", token)
		}
		c, err := Verify(token, VerifyOptions{Keys: keys, ProductID: want.Claims.ProductID, Now: t0.Add(time.Hour)})
		if err != nil {
			return
		}
		if c.ProductID != want.Claims.ProductID || c.InstanceID != want.Claims.InstanceID || c.SKU != want.Claims.SKU || c.NotAfter != want.Claims.NotAfter || c.Device != "" {
			t.Fatalf("a mutated key verified with other claims: %+v", c)
		}
	})
}
