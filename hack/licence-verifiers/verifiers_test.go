package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
	"github.com/kooper-io/kooper/internal/licenseissue"
)

// runMainEnv makes the test binary run this package's main, the Go
// verifier, instead of the tests: the Go verifier then runs as a program of
// its own, as the Java and Python ones do, without a separate build.
const runMainEnv = "KOOPER_LICENCE_VERIFIER_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// verifier is one language's verifier: the command that runs it, before
// its arguments.
type verifier struct {
	name    string
	command []string
	// legacy: it also accepts the legacy format (only api/licensekey does).
	legacy bool
	// firstOnly: run the first case only.
	firstOnly bool
}

// verifiers finds Java and Python, or skips when one is missing, but only
// outside CI: where $CI is set, hack/install-licence-verifiers.sh has
// installed both (make test runs it), and a missing one fails the test.
func verifiers(t *testing.T) []verifier {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	list := []verifier{{name: "Go", command: []string{self}, legacy: true}}
	var missing []string
	java, errJava := exec.LookPath("java")
	javac, errJavac := exec.LookPath("javac")
	if errJava == nil && errJavac == nil {
		// The documented command, java Verify.java, compiles the file on
		// every run (about 1.5 s); it runs the first case, and the class
		// compiled once runs them all.
		classes := t.TempDir()
		if out, err := exec.Command(javac, "-d", classes, "Verify.java").CombinedOutput(); err != nil {
			t.Fatalf("javac Verify.java: %v\n%s", err, out)
		}
		list = append(list, verifier{name: "Java", command: []string{java, "-cp", classes, "Verify"}},
			verifier{name: "Java source launcher", command: []string{java, "Verify.java"}, firstOnly: true})
	} else {
		missing = append(missing, "java and javac (JDK 15 or later)")
	}
	if python := pythonWithCryptography(); python != "" {
		list = append(list, verifier{name: "Python", command: []string{python, "verify.py"}})
	} else {
		missing = append(missing, "python3 with the cryptography package")
	}
	if len(missing) > 0 {
		msg := "missing " + strings.Join(missing, " and ") + ": run hack/install-licence-verifiers.sh (Debian's default-jdk-headless and python3-cryptography)"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI ($CI is set) must run every verifier", msg)
		}
		t.Skip("SKIPPED the cross-language verifiers: " + msg)
	}
	return list
}

// pythonWithCryptography is the Python that can import cryptography:
// Debian's /usr/bin/python3 first (python3-cryptography installs there; the
// first python3 on PATH may be another, such as pyenv's), then python3.
func pythonWithCryptography() string {
	for _, python := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(python, "-c", "import cryptography").Run() == nil {
			return python
		}
	}
	return ""
}

// Issue 35: a kooper-issued key and revocation list verify from Java (the
// JDK's own Ed25519) and Python (cryptography), with verifiers written from
// RFC 7515 and 8037 alone, and from Go with api/licensekey; each refuses a
// tampered claim, an expired key, a revoked instance, another device, a
// stale list, a list passed for a key, and a key or a list of another
// product than its own (one signing key may serve several products).
func TestVerifiersInEveryLanguage(t *testing.T) {
	vs := verifiers(t)
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	issuer, err := licenseissue.New(priv)
	g.Expect(err).NotTo(HaveOccurred())
	publicKey := base64.RawURLEncoding.EncodeToString(issuer.PublicKey())
	now := time.Now()
	claims := licensekey.Claims{LicenseID: "i-3f9a2c7d1e8b4a6012ab", InstanceID: "i-3f9a2c7d1e8b4a6012ab", ProductID: "OFFI846204237451911168",
		SKU: "pro", Features: []string{"sso", "export"}, NotBefore: now.Add(-time.Hour).Unix(), NotAfter: now.Add(time.Hour).Unix(),
		Device: "8f2c-01", IssuedAt: now.Unix()}
	sign := func(change func(*licensekey.Claims), f licensekey.Format) string {
		c := claims
		if change != nil {
			change(&c)
		}
		token, err := issuer.Sign(c, f)
		g.Expect(err).NotTo(HaveOccurred())
		return token
	}
	productList := func(f licensekey.Format, productID string, issuedAt time.Time, revoked ...string) string {
		l := licensekey.RevocationList{ProductID: productID, IssuedAt: issuedAt.Unix()}
		for _, id := range revoked {
			l.Revoked = append(l.Revoked, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonFrozen})
		}
		token, err := issuer.SignRevocationList(l, f)
		g.Expect(err).NotTo(HaveOccurred())
		return token
	}
	list := func(issuedAt time.Time, revoked ...string) string {
		return productList(licensekey.FormatJWS, claims.ProductID, issuedAt, revoked...)
	}
	ofAnotherProduct := func(c *licensekey.Claims) { c.ProductID = "OFFI-OTHER" }
	good := sign(nil, licensekey.FormatJWS)
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	g.Expect(err).NotTo(HaveOccurred())
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"sku":"pro"`), []byte(`"sku":"max"`), 1)) + "." + parts[2]
	g.Expect(tampered).NotTo(Equal(good))
	others := list(now, "i-other")

	cases := []struct {
		name        string
		fingerprint string
		key         string
		list        string
		wantOut     string // on stdout when valid, on stderr when not
		wantInvalid bool
		legacyOnly  bool
		jwsOnly     bool // for the verifiers that read JWS alone
	}{
		{name: "valid, with a list that revokes others", fingerprint: "8f2c-01", key: good, list: others, wantOut: claims.InstanceID},
		{name: "valid, no list", fingerprint: "8f2c-01", key: good, wantOut: "sso"},
		{name: "tampered claim", fingerprint: "8f2c-01", key: tampered, wantOut: "signature", wantInvalid: true},
		{name: "expired", fingerprint: "8f2c-01", key: sign(func(c *licensekey.Claims) {
			c.NotBefore, c.NotAfter = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}, licensekey.FormatJWS), wantOut: "expired", wantInvalid: true},
		// nbf is the issuer's clock: a device a little behind it accepts a
		// key just issued (5 minutes of skew), one far behind does not.
		{name: "valid, on a device a minute behind the issuer", fingerprint: "8f2c-01", key: sign(func(c *licensekey.Claims) {
			c.NotBefore = now.Add(time.Minute).Unix()
		}, licensekey.FormatJWS), wantOut: "sso"},
		{name: "not yet valid, ten minutes before its start", fingerprint: "8f2c-01", key: sign(func(c *licensekey.Claims) {
			c.NotBefore = now.Add(10 * time.Minute).Unix()
		}, licensekey.FormatJWS), wantOut: "not yet valid", wantInvalid: true},
		{name: "revoked", fingerprint: "8f2c-01", key: good, list: list(now, "i-other", claims.InstanceID), wantOut: "revoked", wantInvalid: true},
		{name: "another device", fingerprint: "4d1e-02", key: good, wantOut: "device", wantInvalid: true},
		{name: "a key of another product", fingerprint: "8f2c-01", key: sign(ofAnotherProduct, licensekey.FormatJWS), wantOut: "another product", wantInvalid: true},
		{name: "another product's list, revoking this instance", fingerprint: "8f2c-01", key: good,
			list: productList(licensekey.FormatJWS, "OFFI-OTHER", now, claims.InstanceID), wantOut: "another product", wantInvalid: true},
		{name: "stale list", fingerprint: "8f2c-01", key: good, list: list(now.Add(-48 * time.Hour)), wantOut: "too old", wantInvalid: true},
		{name: "a list for a key", fingerprint: "8f2c-01", key: others, wantOut: "kooper-licence+jwt", wantInvalid: true},
		// A trial found the Java verifier compared the JSON-escaped text
		// (kooper's JSON writes < as \u003c) with the device's fingerprint.
		{name: "valid, bound to a fingerprint JSON escapes", fingerprint: `dev<1>&"x\`, key: sign(func(c *licensekey.Claims) { c.Device = `dev<1>&"x\` }, licensekey.FormatJWS), wantOut: "sso"},
		{name: "a legacy key, to a JWS-only verifier", fingerprint: "8f2c-01", key: sign(nil, licensekey.FormatLegacy), wantOut: "NOT valid", wantInvalid: true, jwsOnly: true},
		{name: "legacy key", fingerprint: "8f2c-01", key: sign(nil, licensekey.FormatLegacy), list: others, wantOut: claims.InstanceID, legacyOnly: true},
		{name: "a legacy key of another product", fingerprint: "8f2c-01", key: sign(ofAnotherProduct, licensekey.FormatLegacy),
			wantOut: "another product", wantInvalid: true, legacyOnly: true},
		{name: "a legacy key, another product's legacy list revoking it", fingerprint: "8f2c-01", key: sign(nil, licensekey.FormatLegacy),
			list: productList(licensekey.FormatLegacy, "OFFI-OTHER", now, claims.InstanceID), wantOut: "another product", wantInvalid: true, legacyOnly: true},
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			for i, tc := range cases {
				if tc.legacyOnly && !v.legacy || tc.jwsOnly && v.legacy || v.firstOnly && i > 0 {
					continue
				}
				g := NewWithT(t)
				args := append(append([]string{}, v.command[1:]...), publicKey, claims.ProductID, tc.fingerprint, tc.key)
				if tc.list != "" {
					args = append(args, tc.list)
				}
				cmd := exec.Command(v.command[0], args...)
				cmd.Env = append(os.Environ(), runMainEnv+"=1")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				if !tc.wantInvalid {
					g.Expect(err).NotTo(HaveOccurred(), "%s: %s", tc.name, stderr.String())
					g.Expect(stdout.String()).To(ContainSubstring(tc.wantOut), tc.name)
					continue
				}
				var exit *exec.ExitError
				g.Expect(err).To(BeAssignableToTypeOf(exit), "%s: want a refusal, got %v; stdout %s", tc.name, err, stdout.String())
				g.Expect(stdout.String()).To(BeEmpty(), tc.name)
				g.Expect(stderr.String()).To(And(ContainSubstring("licence key NOT valid"), ContainSubstring(tc.wantOut)), tc.name)
			}
		})
	}
}
