package koogallery

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestSHA1PRNGPrefixes(t *testing.T) {
	g := NewWithT(t)
	long := SHA1PRNG([]byte("test-access-key"), 100)
	g.Expect(long).To(HaveLen(100))
	for _, n := range []int{1, 16, 20, 21, 32, 45, 99} {
		g.Expect(SHA1PRNG([]byte("test-access-key"), n)).To(Equal(long[:n]), "n=%d", n)
	}
	g.Expect(SHA1PRNG([]byte("k"), 0)).To(BeEmpty())
	g.Expect(SHA1PRNG([]byte("k"), -1)).To(BeEmpty())
	g.Expect(SHA1PRNG(nil, 16)).To(HaveLen(16))
}

func TestAESKeyRejectsUnknownType(t *testing.T) {
	g := NewWithT(t)
	for _, typ := range []EncryptType{"3", "0", "AES256", " 1"} {
		_, err := AESKey("test-access-key", typ)
		g.Expect(err).To(MatchError(ContainSubstring("unsupported encryptType")), "type %q", typ)
		_, err = Encrypt("test-access-key", typ, "admin")
		g.Expect(err).To(HaveOccurred())
		_, err = Decrypt("test-access-key", typ, "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==")
		g.Expect(err).To(HaveOccurred())
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	for _, typ := range []EncryptType{EncryptAES256, EncryptAES128, ""} {
		for _, plain := range []string{"", "admin", "0123456789abcde", "0123456789abcdef", "P@ssw0rd!中文😀", strings.Repeat("x", 200)} {
			t.Run(string(typ)+"/"+plain, func(t *testing.T) {
				g := NewWithT(t)
				out, err := Encrypt("test-access-key", typ, plain)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(validIV(out[:16])).To(BeTrue(), "iv %q", out[:16])
				back, err := Decrypt("test-access-key", typ, out)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(back).To(Equal(plain))
			})
		}
	}
}

func TestEncryptUsesFreshIVs(t *testing.T) {
	g := NewWithT(t)
	seen := map[string]bool{}
	for range 50 {
		out, err := Encrypt("test-access-key", EncryptAES256, "admin")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(seen[out[:16]]).To(BeFalse())
		seen[out[:16]] = true
	}
}

func TestEncryptDefaultTypeIsAES256(t *testing.T) {
	g := NewWithT(t)
	out, err := EncryptWithIV("test-access-key", "", "admin", "AbCdEf0123456789")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal("AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ=="))
}

func TestEncryptWithIVRejectsBadIVs(t *testing.T) {
	for _, iv := range []string{"", "AbCdEf012345678", "AbCdEf01234567890", "AbCdEf012345678-", "AbCdEf012345678 ", "AbCdEf01234567é"} {
		_, err := EncryptWithIV("test-access-key", EncryptAES256, "admin", iv)
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("iv must be")), "iv %q", iv)
	}
}

func TestDecryptRejects(t *testing.T) {
	tests := []struct {
		name, secret, value string
		typ                 EncryptType
	}{
		{"empty", "test-access-key", "", EncryptAES256},
		{"iv only", "test-access-key", "AbCdEf0123456789", EncryptAES256},
		{"short iv", "test-access-key", "AbCdEf", EncryptAES256},
		{"iv with symbols", "test-access-key", "AbCdEf012345678+1uZWlt7qGY5l95RVFUEcCQ==", EncryptAES256},
		{"bad base64", "test-access-key", "AbCdEf0123456789!!!!", EncryptAES256},
		{"not a whole block", "test-access-key", "AbCdEf0123456789AAAA", EncryptAES256},
		{"wrong key", "other-key", "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==", EncryptAES256},
		{"wrong type", "test-access-key", "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==", EncryptAES128},
		{"wrong iv", "test-access-key", "AbCdEf01234567881uZWlt7qGY5l95RVFUEcCQ==", EncryptAES256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Decrypt(tt.secret, tt.typ, tt.value)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).NotTo(ContainSubstring(tt.secret))
		})
	}
}

func TestEncryptCredential(t *testing.T) {
	g := NewWithT(t)
	// 79 bytes pad to 80, Base64 108 characters, 124 with the IV.
	out, err := EncryptCredential("test-access-key", EncryptAES256, strings.Repeat("a", 79))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(HaveLen(124))
	// 80 bytes pad to 96, Base64 128 characters, 144 with the IV.
	secret := strings.Repeat("s", 80)
	_, err = EncryptCredential("test-access-key", EncryptAES256, secret)
	g.Expect(err).To(MatchError(ContainSubstring("longer than the 128 allowed")))
	g.Expect(err.Error()).NotTo(ContainSubstring(secret))
	g.Expect(err.Error()).NotTo(ContainSubstring("test-access-key"))
	_, err = EncryptCredential("test-access-key", "9", "admin")
	g.Expect(err).To(HaveOccurred())
}
