package kubectlkooper

import (
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// kit keygen prints a Secret manifest in kooper's namespace whose public
// key kit pubkey prints again, from the manifest or from the Secret in the
// cluster.
func TestKitKeygenWritesASecretWhosePublicKeyPubkeyPrints(t *testing.T) {
	g := NewWithT(t)
	r := kooper("kit", "keygen", "--secret", "crm-kit-rsa")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(ContainSubstring("name: crm-kit-rsa"), ContainSubstring("namespace: "+kooperNamespace), ContainSubstring("rsaPrivateKey: ")))
	lines := strings.Split(strings.TrimSpace(r.errOut), "\n")
	registered := lines[len(lines)-1]

	printed := cli(r.out, "kit", "pubkey")
	g.Expect(printed.code).To(Equal(ExitOK), printed.output())
	g.Expect(strings.TrimSpace(printed.out)).To(Equal(registered))
	der, err := base64.StdEncoding.DecodeString(registered)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = x509.ParsePKIXPublicKey(der)
	g.Expect(err).NotTo(HaveOccurred())

	secret := &corev1.Secret{}
	g.Expect(yaml.Unmarshal([]byte(r.out), secret)).To(Succeed())
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	fromCluster := kooper("kit", "pubkey", "--secret", "crm-kit-rsa")
	g.Expect(fromCluster.code).To(Equal(ExitOK), fromCluster.output())
	g.Expect(strings.TrimSpace(fromCluster.out)).To(Equal(registered))
	g.Expect(kooper("kit", "pubkey", "--secret", "no-such-secret").errOut).To(ContainSubstring("failed to read Secret kooper-test/no-such-secret"))
}

func TestKitPubkeyReadsAPEMFileAndRefusesBadInput(t *testing.T) {
	g := NewWithT(t)
	file := filepath.Join(t.TempDir(), "key.pem")
	r := cli("", "kit", "keygen", "--private", file)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(BeEmpty(), "the key went to the file")
	info, err := os.Stat(file)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	r = cli("", "kit", "pubkey", "--pem", file)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))
	r = cli("hello", "kit", "pubkey")
	g.Expect(r.code).To(Equal(ExitFailed))
	g.Expect(r.errOut).To(ContainSubstring("neither a PEM private key nor a Secret with rsaPrivateKey"))
}

// kit keygen --patch prints a JSON merge patch that puts rsaPrivateKey into
// the product's keys Secret, where kooper reads it: kit pubkey --secret of
// that Secret then prints the public key keygen said to register.
func TestKitKeygenPatchGoesIntoTheKeysSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newProduct(t, "kit")
	r := kooper("kit", "keygen", "--patch")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	lines := strings.Split(strings.TrimSpace(r.errOut), "\n")
	registered := lines[len(lines)-1]
	g.Expect(r.out).To(HavePrefix(`{"data":{"rsaPrivateKey":"`))

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: product.Spec.KeysSecretName}}
	g.Expect(k8sClient.Patch(ctx, secret, client.RawPatch(types.MergePatchType, []byte(r.out)))).To(Succeed())
	g.Expect(secret.Data).To(HaveKey(saasv1alpha1.BasicKeySecretKey), "merged beside the other keys")
	fromCluster := kooper("kit", "pubkey", "--secret", product.Spec.KeysSecretName)
	g.Expect(fromCluster.code).To(Equal(ExitOK), fromCluster.output())
	g.Expect(strings.TrimSpace(fromCluster.out)).To(Equal(registered))
	g.Expect(strings.TrimSpace(cli(r.out, "kit", "pubkey").out)).To(Equal(registered), "pubkey reads the patch too")

	g.Expect(kooper("kit", "keygen", "--patch", "--secret", "x").code).To(Equal(ExitUsage))
}
