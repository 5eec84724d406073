package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestKeygenWritesASecretWhosePublicKeyPubkeyPrints(t *testing.T) {
	g := NewWithT(t)
	var manifest, notes bytes.Buffer
	g.Expect(run([]string{"keygen", "--secret", "crm-keys", "--namespace", "kooper"}, nil, &manifest, &notes)).To(Equal(0), notes.String())
	g.Expect(manifest.String()).To(And(ContainSubstring("name: crm-keys"), ContainSubstring("namespace: kooper"), ContainSubstring("rsaPrivateKey: ")))
	lines := strings.Split(strings.TrimSpace(notes.String()), "\n")
	registered := lines[len(lines)-1]

	var printed, errs bytes.Buffer
	g.Expect(run([]string{"pubkey"}, &manifest, &printed, &errs)).To(Equal(0), errs.String())
	g.Expect(strings.TrimSpace(printed.String())).To(Equal(registered))
	der, err := base64.StdEncoding.DecodeString(registered)
	g.Expect(err).NotTo(HaveOccurred())
	pub, err := x509.ParsePKIXPublicKey(der)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pub).NotTo(BeNil())
}

func TestPubkeyReadsAPEMFileAndRefusesBadInput(t *testing.T) {
	g := NewWithT(t)
	file := filepath.Join(t.TempDir(), "key.pem")
	var out, errs bytes.Buffer
	g.Expect(run([]string{"keygen", "--private", file}, nil, &out, &errs)).To(Equal(0), errs.String())
	info, err := os.Stat(file)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	out.Reset()
	g.Expect(run([]string{"pubkey", "--pem", file}, nil, &out, &errs)).To(Equal(0), errs.String())
	g.Expect(out.String()).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))

	for name, args := range map[string][]string{
		"short key":       {"keygen", "--bits", "2048"},
		"unknown command": {"rotate"},
		"two files":       {"pubkey", file, file},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(run(args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})).NotTo(Equal(0))
		})
	}
	g.Expect(run([]string{"pubkey"}, strings.NewReader("hello"), &bytes.Buffer{}, &bytes.Buffer{})).To(Equal(1))
}
