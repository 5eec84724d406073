package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

// The sample licence product (config/samples/saas_v1alpha1_saasproduct_license.yaml).
const (
	licenseProduct   = "cad-desktop"
	licenseProductID = "OFFI900000000000000001"
	licenseSKU       = "cad-standard"
)

var (
	// A JWS key (the default format: its header starts {" and so eyJ) or a
	// legacy kl1 key.
	licenceKeyPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|kl1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	instanceIDPattern = regexp.MustCompile(`"instanceId": "([^"]+)"`)
)

// testLicence buys the sample licence product through the simulator,
// verifies the key with kubectl kooper license verify as the merchant's software would,
// renews it and releases it.
func testLicence(t *testing.T, e *env) {
	g := NewWithT(t)
	publicKey := installLicenceProduct(t, g, e)
	url := strings.TrimSuffix(e.stack.ReceiverURL, localstack.Product) + licenseProduct
	sim := func(args ...string) string {
		out, err := e.stack.Sim(e.ctx, append(args, "--url", url)...)
		g.Expect(err).NotTo(HaveOccurred(), out)
		return out
	}

	// --show-credentials: without it the simulator prints no licence key.
	out := sim("new-instance", "--sim-url", e.stack.SimURL, "--order-id", orderID("licence"),
		"--product-id", licenseProductID, "--sku", licenseSKU, "--wait", "1m", "--show-credentials")
	instance := instanceIDPattern.FindStringSubmatch(out)
	g.Expect(instance).NotTo(BeNil(), out)
	firstKey := licenceKeyPattern.FindString(out)
	g.Expect(firstKey).NotTo(BeEmpty(), "no licence key in appInfo.memo:\n%s", out)
	g.Expect(e.verify(publicKey, firstKey)).To(Succeed())

	// A renewal re-issues the key with the new window: valid in two years'
	// time, when the first key has expired.
	newExpiry := time.Now().UTC().AddDate(2, 0, 0).Truncate(time.Second)
	sim("refresh-instance", "--sim-url", e.stack.SimURL, "--instance-id", instance[1], "--order-id", orderID("licence-renew"),
		"--product-id", licenseProductID, "--sku", licenseSKU, "--expire-time", newExpiry.Format("20060102150405"))
	var renewedKey string
	g.Eventually(func() string {
		renewedKey = licenceKeyPattern.FindString(sim("query-instance", "--instance-id", instance[1], "--show-credentials"))
		return renewedKey
	}).ShouldNot(Or(BeEmpty(), Equal(firstKey)))
	later := newExpiry.AddDate(0, -1, 0).Format(time.RFC3339)
	g.Expect(e.verify(publicKey, renewedKey, "--at", later)).To(Succeed())
	g.Expect(e.verify(publicKey, firstKey, "--at", later)).To(MatchError(ContainSubstring("expired")))

	// A release revokes it: the signed revocation list names it.
	sim("release-instance", "--instance-id", instance[1])
	revoked := strings.TrimSuffix(url, "/") + "/licenses/revoked"
	g.Eventually(func() error {
		return e.verify(publicKey, renewedKey, "--revoked", revoked)
	}).Should(MatchError(ContainSubstring("revoked")))
}

// installLicenceProduct makes a signing key with kubectl kooper license keygen,
// puts it in the product's keys Secret and creates the sample product. It
// returns the public key's path.
func installLicenceProduct(t *testing.T, g Gomega, e *env) string {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	out, err := exec.Command(e.stack.Binary("kubectl-kooper"), "license", "keygen", "--private", private, "--public", public).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	signingKey, err := os.ReadFile(private)
	g.Expect(err).NotTo(HaveOccurred())

	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "samples", "saas_v1alpha1_saasproduct_license.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(yaml.UnmarshalStrict(data, product)).To(Succeed())

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: product.Spec.KeysSecretName, Namespace: localstack.Namespace},
		StringData: map[string]string{
			saasv1alpha1.BasicKeySecretKey:          localstack.BasicKey,
			saasv1alpha1.AccessKeyIDSecretKey:       "QTWAOYTTINDUT2QVKYUC",
			saasv1alpha1.SecretAccessKeySecretKey:   "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
			saasv1alpha1.LicenseSigningKeySecretKey: string(signingKey),
		},
	}
	g.Expect(e.stack.Client.Create(e.ctx, secret)).To(Succeed())
	g.Expect(e.stack.Client.Create(e.ctx, product)).To(Succeed())
	return public
}

// verify runs kubectl kooper license verify on key and returns its error output
// as an error when the key is refused.
func (e *env) verify(publicKey, key string, args ...string) error {
	args = append(append([]string{"license", "verify", "--public", publicKey, "--product", licenseProductID}, args...), key)
	out, err := exec.CommandContext(e.ctx, e.stack.Binary("kubectl-kooper"), args...).CombinedOutput()
	if err != nil {
		return &verifyError{out: string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (v *verifyError) Error() string { return strings.TrimSpace(v.out) }
