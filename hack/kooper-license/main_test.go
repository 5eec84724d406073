package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
)

// The CLI round trip: keygen, sign with the generated key (as the
// controller does), then inspect and verify, including each refusal.
func TestKeygenInspectVerify(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	var out, errOut bytes.Buffer
	g.Expect(run([]string{"keygen", "--private", priv, "--public", pub}, nil, &out, &errOut)).To(Equal(0), errOut.String())
	g.Expect(out.String()).To(And(ContainSubstring("key ID "), ContainSubstring("public key (raw, base64url) ")))
	info, err := os.Stat(priv)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	g.Expect(run([]string{"keygen", "--private", priv, "--public", pub}, nil, &out, &errOut)).To(Equal(1), "never overwrites a key")

	data, err := os.ReadFile(priv)
	g.Expect(err).NotTo(HaveOccurred())
	key, err := licensekey.ParsePrivateKeyPEM(data)
	g.Expect(err).NotTo(HaveOccurred())
	signer, err := licensekey.NewSigner(key)
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	token, err := signer.Sign(licensekey.Claims{InstanceID: "i-1", ProductID: "OFFL1", SKU: "pro", Features: []string{"sso"},
		NotBefore: now.Add(-time.Hour).Unix(), NotAfter: now.Add(time.Hour).Unix(), Device: "fp-1", IssuedAt: now.Unix()})
	g.Expect(err).NotTo(HaveOccurred())
	list, err := signer.SignRevocationList(licensekey.RevocationList{ProductID: "OFFL1", Revoked: []licensekey.Revocation{{InstanceID: "i-1", Reason: "Released"}}})
	g.Expect(err).NotTo(HaveOccurred())
	revoked := filepath.Join(dir, "revoked")
	g.Expect(os.WriteFile(revoked, []byte(list), 0o600)).To(Succeed())

	out.Reset()
	g.Expect(run([]string{"inspect", "-"}, strings.NewReader(token+"\n"), &out, &errOut)).To(Equal(0))
	g.Expect(out.String()).To(And(ContainSubstring("NOT checked"), ContainSubstring(`"sku": "pro"`)))

	cases := []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"valid", []string{"--public", pub, "--fingerprint", "fp-1"}, 0, "licence key valid"},
		{"wrong device", []string{"--public", pub, "--fingerprint", "fp-2"}, 1, "another device"},
		{"expired", []string{"--public", pub, "--fingerprint", "fp-1", "--at", now.Add(2 * time.Hour).UTC().Format(time.RFC3339)}, 1, "expired"},
		{"revoked", []string{"--public", pub, "--fingerprint", "fp-1", "--revoked", revoked}, 1, "revoked"},
		{"no public key", []string{"--fingerprint", "fp-1"}, 2, "--public"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var out, errOut bytes.Buffer
			g.Expect(run(append(append([]string{"verify"}, tc.args...), token), nil, &out, &errOut)).To(Equal(tc.want), errOut.String())
			g.Expect(out.String() + errOut.String()).To(ContainSubstring(tc.out))
		})
	}
}

// Issue 35: issue and revocations sign in either format, and inspect and
// verify read both, a key of one format with a list of the other too.
func TestIssueAndRevocationsInBothFormats(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	var out, errOut bytes.Buffer
	g.Expect(run([]string{"keygen", "--private", priv, "--public", pub}, nil, &out, &errOut)).To(Equal(0), errOut.String())
	sign := func(args ...string) string {
		var out, errOut bytes.Buffer
		g.Expect(run(args, nil, &out, &errOut)).To(Equal(0), errOut.String())
		return strings.TrimSpace(out.String())
	}
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	for _, keyFormat := range []string{"JWS", "Legacy"} {
		key := sign("issue", "--private", priv, "--format", keyFormat, "--product", "OFFL1", "--instance", "i-1",
			"--sku", "pro", "--feature", "sso", "--feature", "export", "--fingerprint", "fp-1", "--days", "30")
		for _, listFormat := range []string{"JWS", "Legacy"} {
			t.Run(keyFormat+" key, "+listFormat+" list", func(t *testing.T) {
				revoked, others := filepath.Join(t.TempDir(), "revoked"), filepath.Join(t.TempDir(), "others")
				g := NewWithT(t)
				g.Expect(os.WriteFile(revoked, []byte(sign("revocations", "--private", priv, "--format", listFormat, "--product", "OFFL1",
					"--frozen", "i-1", "--released", "i-2")), 0o600)).To(Succeed())
				g.Expect(os.WriteFile(others, []byte(sign("revocations", "--private", priv, "--format", listFormat, "--product", "OFFL1",
					"--released", "i-2")), 0o600)).To(Succeed())
				cases := []struct {
					name string
					args []string
					want int
					out  string
				}{
					{"valid", []string{"--fingerprint", "fp-1", "--revoked", others}, 0, `"format": "` + keyFormat + `"`},
					{"revoked", []string{"--fingerprint", "fp-1", "--revoked", revoked}, 1, "revoked: instance i-1 is Frozen"},
					{"expired", []string{"--fingerprint", "fp-1", "--at", time.Now().AddDate(0, 0, 31).UTC().Format(time.RFC3339)}, 1, "expired"},
					{"wrong device", []string{"--fingerprint", "fp-2"}, 1, "another device"},
					{"list too old", []string{"--fingerprint", "fp-1", "--revoked", others, "--max-revocation-age", "1h", "--at", later}, 1, "revocation list too old"},
				}
				for _, tc := range cases {
					var out, errOut bytes.Buffer
					args := append(append([]string{"verify", "--public", pub}, tc.args...), key)
					g.Expect(run(args, nil, &out, &errOut)).To(Equal(tc.want), "%s: %s", tc.name, errOut.String())
					g.Expect(out.String()+errOut.String()).To(ContainSubstring(tc.out), tc.name)
				}
			})
		}
		out.Reset()
		g.Expect(run([]string{"inspect", key}, nil, &out, &errOut)).To(Equal(0))
		g.Expect(out.String()).To(And(ContainSubstring(`"format": "`+keyFormat+`"`), ContainSubstring(`"features": [
    "export",
    "sso"
  ]`), ContainSubstring(`"dev": "fp-1"`)))
	}

	for _, args := range [][]string{
		{"issue", "--private", priv, "--product", "OFFL1", "--instance", "i-1", "--format", "PASETO"},
		{"issue", "--private", priv, "--product", "OFFL1"},
		{"issue", "--private", priv, "--product", "OFFL1", "--instance", "i-1", "--not-after", "tomorrow"},
		{"revocations", "--private", priv},
	} {
		g.Expect(run(args, nil, &out, &errOut)).To(Equal(2), "%v", args)
	}
}
