package controllers

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/restmapping"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/webhook"
)

// The controllers run in a real manager against envtest, as in production;
// only the marketplace (Query Order, licence upload, usage push) and the
// clock are stand-ins.
const operatorNamespace = "kooper-test"

// directoryNamespace is where the receiver writes directory shards and the
// directory controller reads them, apart from kooper's own, as in production.
const directoryNamespace = "kooper-test-directory"

// productsConfigMap is the ConfigMap the ProductConfigReconciler applies.
const productsConfigMap = "kooper-products"

// The cluster facts tenant NetworkPolicies are built from: the monitoring
// namespace, and pod and service ranges shaped like a CCE cluster's.
const monitoringNamespace = "monitoring"

// meteredByHandLabel marks the tenants whose metering a test drives by hand
// (meteringAt), each on a clock of its own: the manager's metering
// controller, on the suite's clock, leaves them alone.
const meteredByHandLabel = "test.kooper.io/metered-by-hand"

func meteredByHand(t *saasv1alpha1.SaaSTenant) bool {
	return t.Labels[meteredByHandLabel] == "true"
}

var (
	testPodCIDRs     = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
	testServiceCIDRs = []netip.Prefix{netip.MustParsePrefix("10.247.0.0/16")}
)

var (
	k8sClient client.Client
	// cachedClient is the manager's client, which reads through its cache.
	cachedClient client.Client
	// managerCache is the manager's cache.
	managerCache cache.Cache
	testEnv      *testenv.Env
	marketplace  *fakeMarketplace
	fakeClock    *clocktesting.FakeClock
	receiverURL  string
	// managerRequests records the LISTs of directories' ConfigMaps that the
	// manager (controllers and receiver) sends, to prove which it skips, and
	// its requests about tenants, to count what a tenant costs.
	managerRequests = testenv.NewRequestLog(testenv.AnyOf(testenv.DirectoryConfigMapLists, testenv.TenantRequests))
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	os.Exit(testenv.RunTests(m, startManager))
}

// startManager registers every reconciler on a manager shaped like main.go's
// and starts it in the background.
func startManager(ctx context.Context, env *testenv.Env) error {
	testEnv = env
	mgr, err := ctrl.NewManager(managerRequests.Config(env.Config), ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  CacheOptions(operatorNamespace),
		MapperProvider:         restmapping.Provider,
	})
	if err != nil {
		return err
	}
	k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	cachedClient, managerCache = mgr.GetClient(), mgr.GetCache()
	for _, ns := range []string{operatorNamespace, directoryNamespace, "elsewhere"} {
		if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	marketplace = newFakeMarketplace()
	fakeClock = clocktesting.NewFakeClock(time.Now())
	err = Setup(mgr, Config{
		Namespace: operatorNamespace, DirectoryNamespace: directoryNamespace, IngressNamespace: "ingress-nginx", ProductsConfigMap: productsConfigMap,
		MonitoringNamespace: monitoringNamespace, ClusterPodCIDRs: testPodCIDRs, ClusterServiceCIDRs: testServiceCIDRs,
		MaxConcurrentReconciles: 4, Clock: fakeClock, KeysRetryInterval: time.Second,
		// A registry a test stops answering fails a pull in seconds, not minutes.
		Charts:        &Charts{FetchTimeout: 2 * time.Second},
		Orders:        MarketplaceOrderClients(marketplace.server.URL),
		Uploads:       MarketplaceUploadClients(marketplace.server.URL),
		Usage:         MarketplaceUsageClients(marketplace.server.URL),
		MeteringSkips: meteredByHand,
	})
	if err != nil {
		return err
	}
	// The callback receiver, from the same manager as in production, so
	// the licence and directory tests can call it as the marketplace
	// would. It runs on the real clock: callbacks are signed with the real
	// time.
	opts := webhook.DefaultOptions()
	opts.Namespace, opts.DirectoryNamespace = operatorNamespace, directoryNamespace
	serverOpts := webhook.DefaultServerOptions()
	serverOpts.Addr, serverOpts.DrainDelay = "127.0.0.1:0", 0 // no endpoints to leave: stop at once
	_, server, err := webhook.Setup(mgr, opts, serverOpts)
	if err != nil {
		return err
	}
	receiverURL, err = testenv.StartServing(ctx, mgr, server.Addr)
	return err
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
