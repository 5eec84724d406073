package kubectlkooper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
)

// cli runs a command that needs no cluster, with stdin.
func cli(stdin string, args ...string) result {
	return kooperWith(time.Now, stdin, args...)
}

// The round trip: keygen, sign with the generated key (as the controller
// does), then inspect and verify, including each refusal.
func TestLicenseKeygenInspectVerify(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	r := cli("", "license", "keygen", "--private", priv, "--public", pub)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(ContainSubstring("key ID "), ContainSubstring("public key (raw, base64url) ")))
	rawPublic := strings.Fields(strings.Split(r.out, "public key (raw, base64url) ")[1])[0]
	info, err := os.Stat(priv)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	g.Expect(cli("", "license", "keygen", "--private", priv, "--public", pub).code).To(Equal(ExitFailed), "never overwrites a key")

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

	r = cli(token+"\n", "license", "inspect", "-")
	g.Expect(r.code).To(Equal(ExitOK))
	g.Expect(r.out).To(And(ContainSubstring("NOT checked"), ContainSubstring(`"sku": "pro"`), ContainSubstring(`"iid": "i-1"`)))

	cases := []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"valid", []string{"--public", pub, "--fingerprint", "fp-1"}, ExitOK, "licence key valid"},
		{"valid, the raw public key given inline", []string{"--public", rawPublic, "--fingerprint", "fp-1"}, ExitOK, "licence key valid"},
		{"a public key file that does not exist", []string{"--public", filepath.Join(dir, "nothing.pem")}, ExitFailed, "no such file"},
		{"wrong device", []string{"--public", pub, "--fingerprint", "fp-2"}, ExitFailed, "another device"},
		{"no --fingerprint for a device-bound key", []string{"--public", pub}, ExitFailed, "pass --fingerprint <the device's fingerprint>"},
		{"expired", []string{"--public", pub, "--fingerprint", "fp-1", "--at", now.Add(2 * time.Hour).UTC().Format(time.RFC3339)}, ExitFailed, "expired"},
		{"revoked", []string{"--public", pub, "--fingerprint", "fp-1", "--revoked", revoked}, ExitFailed, "revoked"},
		{"no public key", []string{"--fingerprint", "fp-1"}, ExitUsage, `required flag(s) "public" not set`},
		{"another product's key", []string{"--public", pub, "--fingerprint", "fp-1", "--product", "OFFL2"}, ExitFailed, "another product"},
		{"bad --at", []string{"--public", pub, "--at", "tomorrow"}, ExitUsage, "not RFC 3339"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := cli("", append(append([]string{"license", "verify", "--product", "OFFL1"}, tc.args...), token)...)
			g.Expect(r.code).To(Equal(tc.want), r.output())
			g.Expect(r.output()).To(ContainSubstring(tc.out))
		})
	}
}

// issue and revocations issue sign in either format; inspect prints each
// format's own claim names; verify reads both, a key of one format with a
// list of the other too; revocations verify reads a list from a file or
// stdin and prints it.
func TestLicenseIssueAndRevocationsInBothFormats(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	g.Expect(cli("", "license", "keygen", "--private", priv, "--public", pub).code).To(Equal(ExitOK))
	sign := func(args ...string) string {
		r := cli("", append([]string{"license"}, args...)...)
		g.Expect(r.code).To(Equal(ExitOK), r.output())
		return strings.TrimSpace(r.out)
	}
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	claimNames := map[string][]string{
		"JWS":    {`"iss": "OFFL1"`, `"sub": "i-1"`, `"jti": "i-1"`, `"fingerprint": "fp-1"`},
		"Legacy": {`"pid": "OFFL1"`, `"iid": "i-1"`, `"lid": "i-1"`, `"dev": "fp-1"`},
	}
	for _, keyFormat := range []string{"JWS", "Legacy"} {
		key := sign("issue", "--private", priv, "--format", keyFormat, "--product", "OFFL1", "--instance", "i-1",
			"--sku", "pro", "--feature", "sso", "--feature", "export", "--fingerprint", "fp-1", "--days", "30")
		for _, listFormat := range []string{"JWS", "Legacy"} {
			t.Run(keyFormat+" key, "+listFormat+" list", func(t *testing.T) {
				g := NewWithT(t)
				revoked, others := filepath.Join(t.TempDir(), "revoked"), filepath.Join(t.TempDir(), "others")
				list := sign("revocations", "issue", "--private", priv, "--format", listFormat, "--product", "OFFL1", "--frozen", "i-1", "--released", "i-2")
				g.Expect(os.WriteFile(revoked, []byte(list), 0o600)).To(Succeed())
				g.Expect(os.WriteFile(others, []byte(sign("revocations", "issue", "--private", priv, "--format", listFormat, "--product", "OFFL1",
					"--released", "i-2")), 0o600)).To(Succeed())
				cases := []struct {
					name string
					args []string
					want int
					out  string
				}{
					{"valid", []string{"--fingerprint", "fp-1", "--revoked", others}, ExitOK, `"format": "` + keyFormat + `"`},
					{"revoked", []string{"--fingerprint", "fp-1", "--revoked", revoked}, ExitFailed, "revoked: instance i-1 is Frozen"},
					{"expired", []string{"--fingerprint", "fp-1", "--at", time.Now().AddDate(0, 0, 31).UTC().Format(time.RFC3339)}, ExitFailed, "expired"},
					{"wrong device", []string{"--fingerprint", "fp-2"}, ExitFailed, "another device"},
					{"list too old", []string{"--fingerprint", "fp-1", "--revoked", others, "--max-revocation-age", "1h", "--at", later}, ExitFailed, "revocation list too old"},
				}
				for _, tc := range cases {
					r := cli("", append(append([]string{"license", "verify", "--public", pub, "--product", "OFFL1"}, tc.args...), key)...)
					g.Expect(r.code).To(Equal(tc.want), "%s: %s", tc.name, r.output())
					g.Expect(r.output()).To(ContainSubstring(tc.out), tc.name)
				}

				r := cli(list, "license", "revocations", "verify", "--public", pub, "-")
				g.Expect(r.code).To(Equal(ExitOK), r.output())
				var view revocationListView
				g.Expect(json.Unmarshal([]byte(strings.SplitN(r.out, "\n", 2)[1]), &view)).To(Succeed())
				g.Expect(view.Format).To(Equal(licensekey.Format(listFormat)))
				g.Expect(view.Revoked).To(HaveLen(2))
				if listFormat == "JWS" {
					g.Expect(view.Issuer).To(Equal("OFFL1"))
					g.Expect(view.Revoked).To(ContainElement(revokedView{Subject: "i-1", Reason: "Frozen"}))
				} else {
					g.Expect(view.ProductID).To(Equal("OFFL1"))
					g.Expect(view.Revoked).To(ContainElement(revokedView{InstanceID: "i-1", Reason: "Frozen"}))
				}
				g.Expect(cli("", "license", "revocations", "verify", "--public", priv, revoked).code).To(Equal(ExitFailed), "a private key is no public key")
			})
		}
		r := cli("", "license", "inspect", key)
		g.Expect(r.code).To(Equal(ExitOK))
		g.Expect(r.out).To(And(ContainSubstring(`"format": "`+keyFormat+`"`), ContainSubstring(`"features": [
    "export",
    "sso"
  ]`)))
		for _, name := range claimNames[keyFormat] {
			g.Expect(r.out).To(ContainSubstring(name), keyFormat)
		}
	}
	otherKey := filepath.Join(dir, "other.pem")
	g.Expect(cli("", "license", "keygen", "--private", otherKey, "--public", filepath.Join(dir, "other-public.pem")).code).To(Equal(ExitOK))
	list := sign("revocations", "issue", "--private", otherKey, "--product", "OFFL1")
	r := cli(list, "license", "revocations", "verify", "--public", pub, "-")
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(ContainSubstring("revocation list NOT valid"))

	for _, args := range [][]string{
		{"license", "issue", "--private", priv, "--product", "OFFL1", "--instance", "i-1", "--format", "PASETO"},
		{"license", "issue", "--private", priv, "--product", "OFFL1"},
		{"license", "issue", "--private", priv, "--product", "OFFL1", "--instance", "i-1", "--not-after", "tomorrow"},
		{"license", "revocations", "issue", "--private", priv},
		{"license", "revocations", "verify", "--public", pub},
	} {
		g.Expect(cli("", args...).code).To(Equal(ExitUsage), "%v", args)
	}
}

// A --revoked URL that serves no revocation list says what it answered and
// where the list is: the receiver's JSON answer to a path it serves no list
// at (the old documented path), and a 404 for a product it does not know.
func TestRevokedURLThatIsNoListSaysWhereTheListIs(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	pub := filepath.Join(dir, "public.pem")
	g.Expect(cli("", "license", "keygen", "--private", filepath.Join(dir, "signing.pem"), "--public", pub).code).To(Equal(ExitOK))
	cases := []struct {
		name, url string
		says      []string
	}{
		{"a callback path", receiverURL + "/koogallery/revocations/crm", []string{"answered HTTP 200 OK with resultCode 000002", "not a revocation list"}},
		{"an unknown product", receiverURL + "/koogallery/nothing/licenses/revoked", []string{"answered HTTP 404 Not Found", "not a revocation list"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			for _, args := range [][]string{{"license", "verify", "--public", pub, "--product", "OFFL1", "--revoked", tc.url, "KEY"}, {"license", "revocations", "verify", "--public", pub, tc.url}} {
				r := cli("", args...)
				g.Expect(r.code).To(Equal(ExitFailed), r.output())
				for _, s := range append(tc.says, "https://<receiver>/koogallery/<product>/licenses/revoked") {
					g.Expect(r.errOut).To(ContainSubstring(s))
				}
				g.Expect(r.errOut).NotTo(ContainSubstring("malformed"))
			}
		})
	}
}
