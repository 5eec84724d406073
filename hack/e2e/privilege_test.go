package e2e

import (
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

// clientAs returns a client that acts as a component's ServiceAccount, as
// that component's process does.
func clientAs(g Gomega, e *env, component string) client.Client {
	cfg, err := e.stack.ConfigFor(component)
	g.Expect(err).NotTo(HaveOccurred())
	scheme, err := testenv.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

// testDeniedRows repeats two denied rows of the least-privilege matrix
// (hack/chart/leastprivilege_test.go) on the running stack, with the
// accounts the components run as, as server-side dry runs: the receiver
// may not write Secrets where the keys live (RBAC), the controllers may
// not create a Deployment in kube-system (the admission policy).
func testDeniedRows(t *testing.T, e *env) {
	g := NewWithT(t)
	g.Expect(e.stack.ServiceAccount(localstack.Receiver)).NotTo(Equal(e.stack.ServiceAccount(localstack.Controllers)))

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: localstack.Namespace, Name: "e2e-denied"},
		StringData: map[string]string{"k": "v"}}
	err := clientAs(g, e, localstack.Receiver).Create(e.ctx, secret, client.DryRunAll)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the receiver created a Secret in %s: %v", localstack.Namespace, err)
	g.Expect(err.Error()).To(ContainSubstring(e.stack.ServiceAccount(localstack.Receiver)))

	labels := map[string]string{"app.kubernetes.io/name": "e2e-denied"}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "e2e-denied"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}},
			},
		},
	}
	err = clientAs(g, e, localstack.Controllers).Create(e.ctx, deployment, client.DryRunAll)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the controllers created a Deployment in kube-system: %v", err)
	g.Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy"))
}

// forbiddenLine finds a log line that reports a request the API server
// refused as forbidden.
var forbiddenLine = regexp.MustCompile(`(?im)^.*forbidden.*$`)

// testNothingForbidden checks that neither component has logged a
// forbidden request since it started: each starts informers and sends
// requests only for what its own account may do. A forbidden here is a
// cache or a read that reaches beyond the component's Role, to be fixed
// there.
func testNothingForbidden(t *testing.T, e *env) {
	g := NewWithT(t)
	for _, component := range localstack.Components {
		log, err := e.stack.Log(component)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(strings.TrimSpace(log)).NotTo(BeEmpty())
		g.Expect(forbiddenLine.FindAllString(log, 5)).To(BeEmpty(), "the %s logged forbidden requests", component)
	}
}
