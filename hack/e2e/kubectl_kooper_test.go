package e2e

import (
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/webhook"
)

// kubectlKooper runs the plugin the stack built against the local cluster.
func (e *env) kubectlKooper(args ...string) (string, error) {
	args = append([]string{"--kubeconfig", e.stack.Cluster.Kubeconfig}, args...)
	out, err := exec.CommandContext(e.ctx, e.stack.Binary("kubectl-kooper"), args...).CombinedOutput()
	return string(out), err
}

// receiverBase is the stack receiver's base URL: the production URL
// without /koogallery/<product>. The receiver runs on this machine, so
// check and buy reach it directly rather than through a port-forward.
func (e *env) receiverBase() string {
	return strings.TrimSuffix(e.stack.ReceiverURL, webhook.CallbackPathPrefix+localstack.Product)
}

// testKubectlKooperCheck runs the preflight on the installed chart, without
// -n: it finds kooper's namespace from its Deployments, and every check
// passes (the Pods through kwok, the Lease held by the controllers, the
// product's keys, a signed self-call, the clock, the admission policy).
func testKubectlKooperCheck(t *testing.T, e *env) {
	g := NewWithT(t)
	out, err := e.kubectlKooper("check", "--receiver-url", e.receiverBase())
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(And(ContainSubstring("kooper in namespace "+localstack.Namespace), ContainSubstring("checks passed."),
		MatchRegexp(`receiver/%s\s+PASS`, localstack.Product)))
}

// testKubectlKooperTenants lists the tenant bought and describes it: Ready,
// its Deployment Current through kwok, and appInfo delivered.
func testKubectlKooperTenants(t *testing.T, e *env) {
	g := NewWithT(t)
	out, err := e.kubectlKooper("tenants", "--product", localstack.Product)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`%s\s+%s\s+\S+\s+Active\s+\S+\s+True\s+newInstance`, e.tenant, localstack.Product))
	out, err = e.kubectlKooper("describe", e.tenant)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(And(MatchRegexp(`queryInstance:\s+appInfo Delivered`), Not(ContainSubstring("is missing")),
		MatchRegexp(`Deployment\s+\S+\s+Current`)))
}
