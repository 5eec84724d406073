package webhook

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestNothingIsAcknowledgedWhenTheAPIServerIsDown runs a receiver against a
// control plane of its own, stops that API server, and checks a purchase is
// answered 000005 (so the marketplace retries), quickly, rather than 000000.
func TestNothingIsAcknowledgedWhenTheAPIServerIsDown(t *testing.T) {
	g := NewWithT(t)
	// The API server is stopped with SIGTERM and, after this long, SIGKILL;
	// a graceful stop with open watches takes longer than the test needs.
	env, err := testenv.StartWith(func(e *envtest.Environment) {
		e.ControlPlaneStopTimeout = time.Second
	})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()

	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "keys"},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: testKey},
	})).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", KeysSecretName: "keys",
			URLs:     &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "app:1", Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}}},
			Plans:    []saasv1alpha1.Plan{{SKUCode: "basic"}},
		},
	}
	g.Expect(c.Create(ctx, product)).To(Succeed())

	mgr, err := newManager(env)
	g.Expect(err).NotTo(HaveOccurred())
	r, err := NewReceiver(mgr.GetClient(), mgr.GetAPIReader(), receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = mgr.Start(ctx) }()
	// Warm the cache with what the receiver reads, as a running operator has it.
	g.Eventually(func() error {
		return mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(product), &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed())
	g.Eventually(func() error {
		return mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "keys"}, &corev1.Secret{})
	}).Should(Succeed())
	f := &fixture{product: product, key: testKey}
	g.Expect(serveDirect(t, r, f, newInstanceBody(newOrderID())).Code).To(Equal("000000"))

	if err := env.ControlPlane.APIServer.Stop(); err != nil {
		g.Expect(err.Error()).To(ContainSubstring("timeout waiting for process kube-apiserver to stop"), "it is killed then")
	}
	start := time.Now()
	a := serveDirect(t, r, f, newInstanceBody(newOrderID()))
	g.Expect(a.status).To(Equal(http.StatusOK))
	g.Expect(a.Code).To(Equal("000005"), a.Msg)
	g.Expect(a.Msg).To(Equal("the order could not be stored"))
	g.Expect(time.Since(start)).To(BeNumerically("<", 4*time.Second), "the marketplace waits at most 5 s")
}
