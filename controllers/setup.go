package controllers

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Config is what the controllers need from main.go, or from a test that
// runs them as main.go does.
type Config struct {
	// Namespace is kooper's own namespace: products' keys, TLS and
	// image-pull Secrets, licence keys, tombstones and the products
	// ConfigMap live there.
	Namespace string
	// DirectoryNamespace is where the receiver writes joint-operation
	// directory shards; empty: Namespace.
	DirectoryNamespace string
	// IngressNamespace is where the ingress controller runs; tenant
	// NetworkPolicies let traffic in from it.
	IngressNamespace string
	// MonitoringNamespace is where the monitoring (Prometheus) runs; tenant
	// NetworkPolicies let traffic in from it. Empty: none.
	MonitoringNamespace string
	// ClusterPodCIDRs and ClusterServiceCIDRs are the cluster's pod and
	// service ranges. A joint-operation tenant may reach TCP 443 anywhere
	// but these and the link-local range; left empty, the pods and Services
	// of the cluster are reachable on 443 too (their own NetworkPolicies,
	// other tenants' among them, still apply).
	ClusterPodCIDRs, ClusterServiceCIDRs []netip.Prefix
	// GatewayImage is the SSO gateway's image for products that name none:
	// kooper's own (--gateway-image).
	GatewayImage string
	// ProductsConfigMap names the ConfigMap in Namespace whose entries are
	// SaaSProduct manifests to apply; empty: none.
	ProductsConfigMap string
	// MaxConcurrentReconciles is how many objects of a kind are reconciled
	// at once.
	MaxConcurrentReconciles int
	// ProvisionedStatusDelay is how long a new tenant's Provisioned
	// condition may wait to be written with its Ready
	// (DefaultProvisionedStatusDelay in main.go); 0 writes it at once.
	ProvisionedStatusDelay time.Duration
	// Clock is the time the controllers see; nil is the real clock.
	Clock clock.Clock
	// Charts fetches and renders the charts of products with spec.chart;
	// nil: a new one, shared by the product and tenant controllers.
	Charts *Charts
	// KubeVersion is the API server's version, which charts render for
	// (.Capabilities.KubeVersion); empty: Setup asks the API server once,
	// and fails if it cannot. main.go passes the version it read when it
	// first reached the API server (awaitAPIServer), so that a start during
	// an API server outage waits rather than exits.
	KubeVersion string
	// Orders, Uploads and Usage reach the marketplace's open APIs (Query
	// Order, licence upload, usage push); Setup fails without any of them.
	Orders  OrderClientFactory
	Uploads UploadClientFactory
	Usage   UsageClientFactory
	// Prometheus queries the Prometheus meters, at PrometheusURL unless a
	// product names its own.
	Prometheus    PromQuerier
	PrometheusURL string
	// DirectoryUnclaimedTTL is how long a joint-operation directory whose
	// instance never had a tenant is kept (DefaultDirectoryUnclaimedTTL in
	// main.go); 0 keeps it for ever.
	DirectoryUnclaimedTTL time.Duration
	// KitLoginURL is the login portal's address template delivered to
	// joint-operation tenants (DirectoryOptions.LoginURL); empty is
	// DefaultKitLoginURL.
	KitLoginURL string
	// KeysRetryInterval is how often a licence whose product lacks a
	// signing key looks again; 0 is the licence controller's default.
	KeysRetryInterval time.Duration
	// LicenseKeyFormat is the format of new licence keys of a product that
	// names none (--licence-key-format); empty means JWS.
	LicenseKeyFormat saasv1alpha1.LicenseKeyFormat
	// MeteringClockOffset moves the metering controller's clock (only
	// its) by this much, and MeteringPushSpread is how long after each hour
	// its pushes are spread over (0: DefaultPushSpread). Both are for tests:
	// the chaos suite closes a metering window within a two-minute run
	// (main.go's hidden --metering-* flags).
	MeteringClockOffset time.Duration
	MeteringPushSpread  time.Duration
	// MeteringSkips, when set, names the tenants the metering controller
	// leaves alone; nil, as in production, leaves none. Tests that drive a
	// MeteringReconciler by hand, each on a clock of its own, keep the
	// controller (and its clock) off their tenants with it.
	MeteringSkips func(*saasv1alpha1.SaaSTenant) bool
	// UsagePushMaxRecords is the most records one usage push carries
	// (MeteringOptions.MaxUsageRecords); 0 is the default.
	UsagePushMaxRecords int
}

// errNoMarketplace is a Config without the marketplace's clients: the
// tenant, licence and metering controllers could not run without them.
var errNoMarketplace = errors.New("the controllers need every marketplace client factory: Orders, Uploads and Usage")

// fieldOwner is the server-side apply field manager of every object the
// controllers apply.
const fieldOwner = "kooper"

// The metrics endpoint's authentication and authorisation (main.go,
// --metrics-secure): each scrape's bearer token is checked with a
// TokenReview and its GET on /metrics with a SubjectAccessReview.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Setup registers every controller on mgr, wired as production runs them:
// products, keys Secrets, tenants, licences, directories, retention and
// metering, and the products ConfigMap's when c.ProductsConfigMap names one.
// main.go and every test suite that runs the controllers call it, so none
// can leave a controller out. The controllers are leader-elected: only the
// leader reconciles. It fails before registering anything when c lacks one
// of the marketplace client factories, and otherwise returns the first
// registration error.
func Setup(mgr ctrl.Manager, c Config) error {
	if c.Orders == nil || c.Uploads == nil || c.Usage == nil {
		return errNoMarketplace
	}
	clk := c.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	concurrency := max(c.MaxConcurrentReconciles, 1)
	charts := c.Charts
	if charts == nil {
		charts = &Charts{}
	}
	kubeVersion, err := serverVersion(mgr, c.KubeVersion)
	if err != nil {
		return err
	}
	cl, err := readYourWrites(mgr)
	if err != nil {
		return err
	}
	// One for both kinds that have tombstones: they share the shards.
	issued := &IssuedInstances{Cache: mgr.GetCache(), Reader: mgr.GetAPIReader(), Namespace: c.Namespace}
	if err := mgr.Add(issued); err != nil {
		return err
	}
	steps := []interface{ SetupWithManager(ctrl.Manager) error }{
		&SaaSProductReconciler{Client: cl, Reader: mgr.GetAPIReader(),
			Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-saasproduct")), SecretNamespace: c.Namespace, Charts: charts, KubeVersion: kubeVersion,
			MaxConcurrentReconciles: concurrency, MonitoringNamespace: ptr.To(c.MonitoringNamespace)},
		&KeysSecretReconciler{Client: cl, Reader: mgr.GetAPIReader(),
			Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-keyssecret")), SecretNamespace: c.Namespace},
		&SaaSTenantReconciler{Client: cl, Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-saastenant")), Clock: clk, Orders: c.Orders, Charts: charts, Issued: issued,
			Options: TenantOptions{SecretNamespace: c.Namespace, IngressNamespace: c.IngressNamespace,
				MonitoringNamespace: c.MonitoringNamespace,
				ClusterCIDRs:        slices.Concat(c.ClusterPodCIDRs, c.ClusterServiceCIDRs),
				GatewayImage:        c.GatewayImage,
				FieldOwner:          fieldOwner, MaxConcurrentReconciles: concurrency, KubeVersion: kubeVersion,
				ProvisionedStatusDelay: c.ProvisionedStatusDelay}},
		&LicenseReconciler{Client: cl, Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-license")), Clock: clk, Orders: c.Orders, Uploads: c.Uploads, Issued: issued,
			Options: LicenseOptions{SecretNamespace: c.Namespace, MaxConcurrentReconciles: concurrency,
				KeysRetryInterval: c.KeysRetryInterval, DefaultKeyFormat: c.LicenseKeyFormat}},
		&SaaSDirectoryReconciler{Client: cl, Reader: mgr.GetAPIReader(), Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-saasdirectory")),
			Clock: clk, Options: DirectoryOptions{SecretNamespace: c.Namespace, ShardNamespace: c.DirectoryNamespace, FieldOwner: fieldOwner,
				MaxConcurrentReconciles: concurrency, UnclaimedTTL: c.DirectoryUnclaimedTTL,
				LoginURL: c.KitLoginURL}},
		&RolloutReconciler{Client: cl, Reader: mgr.GetAPIReader(), Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-rollout")),
			Clock: clk, Namespace: c.Namespace, Charts: charts, GatewayImage: c.GatewayImage},
		&RetentionReconciler{Client: cl, Reader: mgr.GetAPIReader(), Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-retention")), Clock: clk},
		&OrderNotificationReconciler{Client: cl, Reader: mgr.GetAPIReader(), Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-ordernotification")),
			Clock: clk, Orders: c.Orders, SecretNamespace: c.Namespace},
		&MeteringReconciler{Client: cl, Reader: mgr.GetAPIReader(),
			Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-metering")), Clock: meteringClock(clk, c.MeteringClockOffset),
			Usage: c.Usage, Prometheus: c.Prometheus,
			Options: MeteringOptions{SecretNamespace: c.Namespace, PrometheusURL: c.PrometheusURL,
				MaxConcurrentReconciles: concurrency, PushSpread: c.MeteringPushSpread, Skips: c.MeteringSkips,
				MaxUsageRecords: c.UsagePushMaxRecords}},
	}
	if c.ProductsConfigMap != "" {
		steps = append(steps, &ProductConfigReconciler{Client: cl, Recorder: BoundedRecorder(mgr.GetEventRecorder("kooper-productconfig")),
			Namespace: c.Namespace, Name: c.ProductsConfigMap})
	}
	for _, s := range steps {
		if err := s.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}

// retryMaxDelay is the longest a failing pass of any of the controllers
// waits before it is tried again (newRetryRateLimiter).
const retryMaxDelay = time.Minute

// newRetryRateLimiter paces the retries of a failing pass of every
// controller Setup registers (controller.Options.RateLimiter; each
// SetupWithManager passes its own, TestEveryControllerCapsItsRetries checks
// them all): 5 ms after the first failure, doubling up to retryMaxDelay,
// and 5 ms again after a success. It is controller-runtime's own for a
// priority queue, but for its cap: controller-runtime's 1000 s left an
// object that failed through an outage of half an hour or more (the
// marketplace's licence upload or usage push, a chart registry, an
// admission webhook, the API server) waiting up to 16m40s after the
// dependency came back: a new chart product's first status.chart, and so
// every buyer of it, or a directory's delivery, a namespace's deletion, an
// order notification whose keys Secret was missing. A minute costs one
// pass a minute for each failing object during the outage; the base stays
// 5 ms, so that a write conflict is retried at once. Query Order
// failures have their own pacing (internal/orders/retry.go). Like
// controller-runtime's for a priority queue, it has no overall token
// bucket (client-go's DefaultTypedControllerRateLimiter has one, 10 a
// second): a bucket's delay grows with the number of failing objects,
// without bound (kubernetes/kubernetes#104554), and would keep the last of
// 10,000 failing tenants waiting 1000 s again.
func newRetryRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, retryMaxDelay)
}

// serverVersion is known, or else the API server's version, asked once
// through the manager's discovery: charts render for it.
func serverVersion(mgr ctrl.Manager, known string) (string, error) {
	if known != "" {
		return known, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return "", fmt.Errorf("failed to reach the API server's discovery: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("failed to read the API server's version: %w", err)
	}
	return v.GitVersion, nil
}
