package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestDeletingTheCRDsKeepsTenantNamespaces deletes the SaaSTenant CRD, which
// deletes every tenant at once (Capsule #1181 is this accident), and checks
// that tenant namespaces, data and workloads all survive. It runs on a
// control plane of its own, since it removes a CRD.
func TestDeletingTheCRDsKeepsTenantNamespaces(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.StartWith(func(e *envtest.Environment) { e.ControlPlaneStopTimeout = 5 * time.Second })
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: CacheOptions(operatorNamespace),
		// Another manager in this process registered the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect((&SaaSTenantReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("kooper-saastenant"), Clock: clocktesting.NewFakeClock(time.Now()),
		Orders:  MarketplaceOrderClients(marketplace.server.URL),
		Options: TenantOptions{SecretNamespace: operatorNamespace, IngressNamespace: "ingress-nginx", FieldOwner: "kooper"},
	}).SetupWithManager(mgr)).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()

	// A product with the Delete policy: the most dangerous case.
	product := newTenantProductIn(t, c, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.DeleteData
	})
	tenant := newTenantIn(t, c, product, "basic", nil)
	ns := "tenant-" + tenant.Name
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})
	}).Should(Succeed())

	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "saastenants.saas.kooper.io"}}
	g.Expect(c.Delete(ctx, crd)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(crd), crd)) }).
		Should(BeTrue(), "the tenants' finalizers must not hold the CRD")

	namespace := &corev1.Namespace{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Annotations).NotTo(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{})).To(Succeed())
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tenantobjects.CredentialsSecretName}, &corev1.Secret{})).To(Succeed())
}
