package kubectlkooper

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

// A licence keygen whose public key cannot be written leaves no private key
// behind: a rerun after the cause is fixed succeeds instead of failing on
// "file exists" until the user deletes a key no one ever saw the ID of.
func TestALicenceKeygenThatFailsLeavesNoPrivateKey(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "dist", "public.pem")

	r := cli("", "license", "keygen", "--private", priv, "--public", pub)
	g.Expect(r.code).To(Equal(ExitFailed), r.output())
	_, err := os.Stat(priv)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "the private key of a failed keygen was left at %s", priv)

	g.Expect(os.MkdirAll(filepath.Dir(pub), 0o755)).To(Succeed())
	r = cli("", "license", "keygen", "--private", priv, "--public", pub)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
}

// The same file for both keys is refused before anything is written: the
// public key would overwrite the private one, which is lost.
func TestALicenceKeygenRefusesOneFileForBothKeys(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")

	r := cli("", "license", "keygen", "--private", key, "--public", filepath.Join(dir, ".", "k.pem"))
	g.Expect(r.code).To(Equal(ExitUsage), r.output())
	g.Expect(r.output()).To(ContainSubstring("--private and --public name the same file"))
	_, err := os.Stat(key)
	g.Expect(os.IsNotExist(err)).To(BeTrue())
}

// kit keygen --private never overwrites an existing file: it may hold the
// key the Seller Console has, and a file made readable before would keep
// its mode with an RSA private key in it.
func TestAKitKeygenNeverOverwritesAFile(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	priv := filepath.Join(dir, "kit.pem")
	g.Expect(os.WriteFile(priv, []byte("the key in use\n"), 0o644)).To(Succeed())

	r := cli("", "kit", "keygen", "--private", priv)
	g.Expect(r.code).To(Equal(ExitFailed), r.output())
	data, err := os.ReadFile(priv)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(Equal("the key in use\n"))

	fresh := filepath.Join(dir, "new.pem")
	r = cli("", "kit", "keygen", "--private", fresh)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	info, err := os.Stat(fresh)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
}
