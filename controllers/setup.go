package controllers

import (
	"net/netip"
	"slices"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
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
	// ProductsConfigMap names the ConfigMap in Namespace whose entries are
	// SaaSProduct manifests to apply; empty: none.
	ProductsConfigMap string
	// MaxConcurrentReconciles is how many objects of a kind are reconciled
	// at once.
	MaxConcurrentReconciles int
	// Clock is the time the controllers see; nil is the real clock.
	Clock clock.Clock
	// Orders, Uploads and Usage reach the marketplace's open APIs (Query
	// Order, licence upload, usage push). Without Usage no tenant is
	// metered.
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
	// KeysRetryInterval is how often a licence whose product lacks a
	// signing key looks again; 0 is the licence controller's default.
	KeysRetryInterval time.Duration
	// MeteringClockOffset moves the metering controller's clock (only
	// its) by this much, and MeteringPushSpread is how long after each hour
	// its pushes are spread over (0: DefaultPushSpread). Both are for tests:
	// the chaos suite closes a metering window within a two-minute run
	// (main.go's hidden --metering-* flags).
	MeteringClockOffset time.Duration
	MeteringPushSpread  time.Duration
}

// fieldOwner is the server-side apply field manager of every object the
// controllers apply.
const fieldOwner = "kooper"

// The metrics endpoint's authentication and authorisation (main.go,
// --metrics-secure): each scrape's bearer token is checked with a
// TokenReview and its GET on /metrics with a SubjectAccessReview.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Setup registers every controller on mgr, wired as production runs them.
// The controllers are leader-elected: only the leader reconciles.
func Setup(mgr ctrl.Manager, c Config) error {
	clk := c.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	concurrency := max(c.MaxConcurrentReconciles, 1)
	steps := []interface{ SetupWithManager(ctrl.Manager) error }{
		&SaaSProductReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("kooper-saasproduct"), SecretNamespace: c.Namespace},
		&KeysSecretReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("kooper-keyssecret"), SecretNamespace: c.Namespace},
		&TenantReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: mgr.GetEventRecorder("kooper-saastenant"), Clock: clk, Orders: c.Orders,
			Options: TenantOptions{SecretNamespace: c.Namespace, IngressNamespace: c.IngressNamespace,
				MonitoringNamespace: c.MonitoringNamespace,
				ClusterCIDRs:        slices.Concat(c.ClusterPodCIDRs, c.ClusterServiceCIDRs),
				FieldOwner:          fieldOwner, MaxConcurrentReconciles: concurrency}},
		&LicenseReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
			Recorder: mgr.GetEventRecorder("kooper-license"), Clock: clk, Orders: c.Orders, Uploads: c.Uploads,
			Options: LicenseOptions{SecretNamespace: c.Namespace, MaxConcurrentReconciles: concurrency,
				KeysRetryInterval: c.KeysRetryInterval}},
		&DirectoryReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kooper-saasdirectory"),
			Clock: clk, Options: DirectoryOptions{SecretNamespace: c.Namespace, ShardNamespace: c.DirectoryNamespace, FieldOwner: fieldOwner,
				MaxConcurrentReconciles: concurrency, UnclaimedTTL: c.DirectoryUnclaimedTTL}},
		&RetentionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("kooper-retention"), Clock: clk},
	}
	if c.ProductsConfigMap != "" {
		steps = append(steps, &ProductConfigReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("kooper-productconfig"),
			Namespace: c.Namespace, Name: c.ProductsConfigMap})
	}
	if c.Usage != nil {
		steps = append(steps, &MeteringReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("kooper-metering"), Clock: meteringClock(clk, c.MeteringClockOffset),
			Usage: c.Usage, Prometheus: c.Prometheus,
			Options: MeteringOptions{SecretNamespace: c.Namespace, PrometheusURL: c.PrometheusURL,
				MaxConcurrentReconciles: concurrency, PushSpread: c.MeteringPushSpread}})
	}
	for _, s := range steps {
		if err := s.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}
