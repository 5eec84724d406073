// Command kooper runs the operator: the KooGallery callback receiver on every
// replica and the leader-elected controllers. This file only wires them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"

	// kooper calls the marketplace's open APIs over HTTPS; a FROM scratch
	// image has no CA file, so the roots are compiled in (Mozilla's, pinned
	// by go.sum). Go uses them only when the system has none of its own.
	_ "golang.org/x/crypto/x509roots/fallback"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/controllers"
	"github.com/kooper-io/kooper/internal/apiserverwait"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/promquery"
	"github.com/kooper-io/kooper/internal/restmapping"
	"github.com/kooper-io/kooper/internal/restmetrics"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/webhook"
)

// options are the command-line flags.
type options struct {
	metricsAddr             string
	metricsSecure           bool
	profiling               bool
	probeAddr               string
	receiverAddr            string
	leaderElect             bool
	leaderElectionNS        string
	namespace               string
	directoryNamespace      string
	directoryUnclaimedTTL   time.Duration
	kitLoginURL             string
	components              componentSet
	kubeAPIQPS              float64
	kubeAPIBurst            int
	kubeAPICompression      bool
	maxConcurrentReconciles int
	provisionedStatusDelay  time.Duration
	chartFetchTimeout       time.Duration
	gcPercent               int
	gcPercentAtRest         int
	ingressNamespace        string
	monitoringNamespace     string
	clusterPodCIDRs         []netip.Prefix
	clusterServiceCIDRs     []netip.Prefix
	productsConfigMap       string
	marketplaceURLs         []string
	prometheusURL           string
	prometheusHTTPConfig    string
	prometheusCredentialed  []string
	usagePushMaxRecords     int
	licenceUpload           koogallery.LicenseUploadSettings
	queryOrderTimeZone      *time.Location
	signatureWindow         time.Duration
	bodySign                bool
	maxBodyBytesInFlight    int64
	receiverDrainDelay      time.Duration
	refuseReusedNonces      bool
	pendingResultCode       string
	staleFreezeMargin       time.Duration
	renewalRetryWindow      time.Duration
	freezeRetryWindow       time.Duration
	licenseKeyFormat        saasv1alpha1.LicenseKeyFormat
	oaepHashes              []koogallery.OAEPHash
	canonicalForms          []koogallery.CanonicalForm
	clientSecretErrorCode   string
	gatewayImage            string
	zap                     zap.Options
	// printVersion: print versionString and exit.
	printVersion bool
	// skipNameValidation lets a test run controllers in a second manager
	// of one process; a process of kooper's own has one.
	skipNameValidation bool
	// meteringClockOffset and meteringPushSpread are test-only (see
	// bindTestOnlyFlags).
	meteringClockOffset time.Duration
	meteringPushSpread  time.Duration
}

// parseFlags parses the process's command line; a bad flag prints the
// flag package's error and usage and exits 2.
func parseFlags() options {
	o, _ := parseArgs(flag.CommandLine, os.Args[1:]) // CommandLine exits on an error
	return o
}

// parseArgs registers kooper's flags on fs and parses args into options,
// with the defaults that depend on other flags filled in. Its error is the
// flag package's, which names the flag and the value it refused.
func parseArgs(fs *flag.FlagSet, args []string) (options, error) {
	o := options{zap: zap.Options{Development: false}}
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS (a self-signed certificate) to callers the API server authenticates (TokenReview) and authorises for GET on the /metrics non-resource URL (SubjectAccessReview); false serves plain HTTP to anyone, for local runs and tests.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve Go's runtime profiles (net/http/pprof) under /debug/pprof/ on the metrics endpoint, behind its authentication and authorisation when --metrics-secure; for make bench and for a slow or large operator.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.StringVar(&o.receiverAddr, "receiver-bind-address", webhook.DefaultServerOptions().Addr, "Address the KooGallery callback receiver binds to.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one replica to run the controllers; the receiver runs on every replica regardless.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to --namespace.")
	o.components = componentSet{componentReceiver: true, componentControllers: true}
	fs.Var(&o.components, "components", "Which components this process runs, comma-separated: receiver (every replica, not leader-elected), controllers (leader-elected). The chart runs each in its own Deployment under its own ServiceAccount.")
	fs.DurationVar(&o.directoryUnclaimedTTL, "directory-unclaimed-ttl", controllers.DefaultDirectoryUnclaimedTTL,
		"How long a joint-operation directory (SaaSDirectory and its users' data) whose instance never had a tenant is kept before it is deleted. 0 or less: kept for ever.")
	o.kitLoginURL = controllers.DefaultKitLoginURL
	fs.Func("kit-login-url", "Address of the unified login portal delivered to joint-operation tenants as their SSO Secret's loginUrl, an https URL where {appId} is the application's ID (default "+controllers.DefaultKitLoginURL+"). The spec gives it by example and it may differ between Huawei Cloud's sites (spec 8 item 25).", func(v string) error {
		o.kitLoginURL = v
		return controllers.CheckKitLoginURL(v)
	})
	fs.StringVar(&o.directoryNamespace, "directory-namespace", "", "Namespace where the receiver writes joint-operation directory shards; it must exist (the chart creates it). Default: <namespace>-directory.")
	fs.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "kooper-system"), "kooper's own namespace, where products' keys Secrets live (default: $POD_NAMESPACE, else kooper-system).")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", defaultKubeAPIQPS, "Queries per second the operator may send to the API server; negative (the default) sets no client-side limit and leaves the API server's Priority and Fairness to share it among clients, as controller-runtime does (its workers bound what kooper has in flight). 0 is refused: client-go would take it for its default of 5.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Burst of queries the operator may send to the API server, with a positive --kube-api-qps.")
	fs.BoolVar(&o.kubeAPICompression, "kube-api-compression", false, "Ask the API server for gzip-compressed responses (its lists and watch lists). Off by default, as kube-controller-manager and kube-scheduler run: in the cluster's network, compressing costs the API server and kooper more CPU than the bytes it saves.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 8, "How many tenants are reconciled at once; as many licences, products, directories and metering passes each.")
	fs.DurationVar(&o.provisionedStatusDelay, "provisioned-status-delay", controllers.DefaultProvisionedStatusDelay,
		"How long after a new tenant's objects are applied its Provisioned condition may wait to be written with Ready, in one status write instead of two (the API server's costliest request per tenant); 0 writes it at once.")
	fs.DurationVar(&o.chartFetchTimeout, "chart-fetch-timeout", controllers.DefaultChartFetchTimeout,
		"How long one pull of a product's chart from its OCI registry (manifest and layer) may take before it fails and is retried with backoff; a registry that stops answering would otherwise hold a tenant worker for ever. Positive.")
	fs.IntVar(&o.gcPercent, "gc-percent", 0, "The Go garbage collector's target (GOGC, a percentage of the live heap) while the process works: a restart's lists, a wave of purchases. The heap may grow by this share of what is live before a collection, so it sets the resident set's peak; lower is a smaller peak for more collections. 0 or less (the default 0) is 60 in a process that runs the controllers and Go's own (100) in a receiver alone. GOGC in the environment wins.")
	fs.IntVar(&o.gcPercentAtRest, "gc-percent-at-rest", defaultGCPercentAtRest, "The Go garbage collector's target (GOGC, a percentage of the live heap) once the process has allocated under 1 MiB a second for 10 s, until it allocates 8 MiB a second again; entering rest it returns its free memory to the OS. Lower is a smaller resident set at rest for a little CPU; 0 keeps GOGC as it is.")
	fs.StringVar(&o.ingressNamespace, "ingress-controller-namespace", "kube-system", "Namespace of the ingress controller; tenant NetworkPolicies admit traffic from it (CCE's NGINX Ingress add-on runs in kube-system).")
	fs.StringVar(&o.monitoringNamespace, "monitoring-namespace", "", "Namespace of the monitoring (Prometheus) that scrapes tenants; tenant NetworkPolicies admit traffic from it. Empty: none.")
	fs.Func("cluster-pod-cidrs", "The cluster's pod address ranges, comma-separated (e.g. 172.16.0.0/16; on CCE the cluster's container CIDR). Joint-operation tenants may reach TCP 443 anywhere but these, the service ranges and 169.254.0.0/16; left empty, the cluster's pods are reachable on 443 too.", func(v string) error {
		cidrs, err := tenantobjects.ParseCIDRs(v)
		o.clusterPodCIDRs = append(o.clusterPodCIDRs, cidrs...)
		return err
	})
	fs.Func("cluster-service-cidrs", "The cluster's Service address ranges, comma-separated (e.g. 10.247.0.0/16; on CCE the cluster's service CIDR). See --cluster-pod-cidrs.", func(v string) error {
		cidrs, err := tenantobjects.ParseCIDRs(v)
		o.clusterServiceCIDRs = append(o.clusterServiceCIDRs, cidrs...)
		return err
	})
	fs.StringVar(&o.productsConfigMap, "products-configmap", "", "Name of a ConfigMap in --namespace whose entries are SaaSProduct manifests to apply (the Helm chart's product); empty: none.")
	fs.Func("marketplace-url", "Base URL of the marketplace open APIs, an https `URL` (http for a simulator); repeat for fallbacks (default: "+strings.Join(koogallery.DefaultBaseURLs, ", ")+").", func(v string) error {
		o.marketplaceURLs = append(o.marketplaceURLs, v)
		return checkBaseURL(v)
	})
	defaults := webhook.DefaultOptions()
	fs.Func("prometheus-url", "Base URL of the Prometheus-compatible API that Prometheus meters query when their product names none, an http or https `URL`, e.g. http://prometheus.monitoring:9090 (default: none).", func(v string) error {
		o.prometheusURL = v
		if v == "" {
			return nil
		}
		return checkBaseURL(v)
	})
	fs.StringVar(&o.prometheusHTTPConfig, "prometheus-http-config-file", "", "YAML file of the HTTP client settings of Prometheus meters' queries, in Prometheus's http_config format (authorization, bearer_token_file, basic_auth, tls_config, proxy_url...), e.g. for Huawei Cloud AOM's token; read once at start, while a credentials file it names is read on every query. Empty: none.")
	fs.Func("prometheus-credentials-urls", "Base URLs, comma-separated, besides --prometheus-url whose Prometheus meters' queries get --prometheus-http-config-file's credentials (authorization, bearer token, basic auth, OAuth 2.0, headers): the endpoints products name in spec.metering.prometheusUrl that need them. The credentials go to no other origin (scheme, host, port), so that whoever may edit a SaaSProduct cannot have them sent to a host of their own (default: none).", func(v string) error {
		for _, u := range strings.Split(v, ",") {
			if err := checkBaseURL(u); err != nil {
				return err
			}
			o.prometheusCredentialed = append(o.prometheusCredentialed, u)
		}
		return nil
	})
	fs.Func("usage-push-max-records", fmt.Sprintf("Most records one usage push carries, 1 to %d (default %d). The usage push's API page says %d, one of its error codes says 100 (spec 8 item 19); a push over the marketplace's limit is refused whole on every retry, and its hours are dropped after 21 days, so raise it only once the marketplace confirms a higher limit.", koogallery.MaxUsageRecords, koogallery.DefaultUsagePushMaxRecords, koogallery.MaxUsageRecords), func(v string) (err error) {
		o.usagePushMaxRecords, err = koogallery.ParseUsagePushMaxRecords(v)
		return err
	})
	fs.Func("licence-upload-path-prefix", "Path before the event ID and /file of the licence upload open API (default "+koogallery.LicenseUploadPathPrefix+"). The spec infers this prefix (spec 8 item 26): if the marketplace's differs, every upload fails and paid licences stay UploadFailed.", func(v string) error {
		o.licenceUpload.PathPrefix = v
		return koogallery.CheckLicenseUploadPathPrefix(v)
	})
	fs.Func("licence-upload-part", "Name of the multipart part that carries the licence upload's request (default "+koogallery.LicenseUploadPart+"). The spec infers the upload's multipart layout (spec 8 item 26): if the marketplace's differs, every upload fails and paid licences stay UploadFailed.", func(v string) error {
		o.licenceUpload.Part = v
		return koogallery.CheckLicenseUploadPart(v)
	})
	o.queryOrderTimeZone = time.UTC
	fs.Func("query-order-time-zone", "Time zone of Query Order's createTime and expireTime: UTC (the default) or a fixed offset, ±hh:mm such as +08:00 (Beijing time). The spec does not say which (spec 8 item 18); read as UTC, a time that is Beijing time ends a paid period 8 hours late, while read as +08:00, a time that is UTC freezes the buyer and ends their licence key 8 hours early, so set it only once the marketplace confirms its zone.", func(v string) (err error) {
		o.queryOrderTimeZone, err = orders.ParseTimeZone(v)
		return err
	})
	o.signatureWindow = defaults.SignatureWindow
	fs.Func("signature-window", fmt.Sprintf("How far a callback's timestamp may be from now, either way, before it is refused with 000002: a `duration` of at least %s (default %s).", minSignatureWindow, defaults.SignatureWindow), func(v string) (err error) {
		o.signatureWindow, err = parseSignatureWindow(v)
		return err
	})
	fs.BoolVar(&o.bodySign, "body-sign", defaults.BodySign, "Sign every answer with the Body-Sign header (spec 2.3).")
	fs.Int64Var(&o.maxBodyBytesInFlight, "max-body-bytes-in-flight", defaults.MaxBodyBytesInFlight, "Bytes of callback bodies the receiver reads and decodes at once, all routes together, before and while their signatures are checked: a body reserves its declared Content-Length, or its route's cap (8 MiB for allOrgSync) when it declares none, before it is read, and one that does not fit is answered 000005 at once, unread. At least 8 MiB; keep it well under the receiver's memory limit, since reading and decoding take a few times the body's bytes; 0 keeps the default.")
	fs.DurationVar(&o.receiverDrainDelay, "receiver-drain-delay", webhook.DefaultDrainDelay, "How long a receiver told to stop still answers callbacks, its readiness failing, before it closes its port: a terminating pod leaves its Service's endpoints, and an ELB's backends, some time after it is told, and a call meanwhile would find the port closed. 0 closes it at once.")
	fs.BoolVar(&o.refuseReusedNonces, "refuse-reused-nonces", defaults.RefuseReusedNonces, "Answer 000002 to a signed callback whose nonce, with the same timestamp, was already used within the signature window (the spec recommends it but documents no nonce uniqueness, spec 8 item 5); false lets such a retry through.")
	fs.StringVar(&o.pendingResultCode, "pending-result-code", string(defaults.PendingResultCode), "Answer to newInstance and queryInstance while a tenant is provisioning: 000000 (without appInfo) or 000004.")
	fs.Func("licence-key-format", "Format of new licence keys and of the revocation list of a License product that names none in spec.license.keyFormat: JWS (default) or Legacy (kooper's kl1/krl1 tokens, for software in the field that reads only those).", func(v string) error {
		switch f := saasv1alpha1.LicenseKeyFormat(v); f {
		case saasv1alpha1.LicenseKeyFormatJWS, saasv1alpha1.LicenseKeyFormatLegacy:
			o.licenseKeyFormat = f
			return nil
		}
		return fmt.Errorf("%q is neither JWS nor Legacy", v)
	})
	fs.DurationVar(&o.staleFreezeMargin, "stale-freeze-margin", defaults.StaleFreezeMargin, "A FREEZE is ignored as a stale retry while a renewal order's expiry lies more than this far ahead (docs/lifecycle.md rule F); 0 turns this check off.")
	fs.DurationVar(&o.freezeRetryWindow, "freeze-retry-window", defaults.FreezeRetryWindow, "How long after an UNFREEZE a FREEZE is taken for the retry of the FREEZE that UNFREEZE ended, and not applied (docs/lifecycle.md rule F); 0 turns this check off.")
	fs.DurationVar(&o.renewalRetryWindow, "renewal-retry-window", defaults.RenewalRetryWindow, "How long the marketplace may go on delivering a refreshInstance after its order was created: a renewal received more than this after a refund ends the refund's hold on stale FREEZEs (docs/lifecycle.md rule F); positive.")
	o.oaepHashes = defaults.OAEPHashes
	fs.Func("kit-oaep-hashes", "RSA-OAEP variants tried, in order, to decrypt a joint-operation clientSecret (spec 4.2), from sha256, sha256-mgf1-sha1, sha1 (default: "+joinNames(defaults.OAEPHashes)+").", func(v string) (err error) {
		o.oaepHashes, err = koogallery.ParseOAEPHashes(v)
		return err
	})
	o.canonicalForms = defaults.CanonicalForms
	fs.Func("signature-canonical-forms", "Canonical forms of a callback body (basic and kit) a signature is accepted over, comma-separated, from as-received, sorted-nested, escaped-non-ascii, sorted-nested-escaped-non-ascii (spec 8 item 3: whether the marketplace sorts nested keys or escapes non-ASCII is undocumented). Every form still needs the HMAC key, so more forms cannot let a forger in; a form left out refuses such callbacks with 000001 (default: "+joinNames(defaults.CanonicalForms)+").", func(v string) (err error) {
		o.canonicalForms, err = koogallery.ParseCanonicalForms(v)
		return err
	})
	fs.StringVar(&o.clientSecretErrorCode, "kit-client-secret-error-code", string(defaults.ClientSecretErrorCode), "Answer to an applicationSync whose clientSecret cannot be decrypted: 000005 (an internal error: once the rsaPrivateKey is fixed the buyer syncs again, kit calls not being retried automatically) or 000101 (the sample's code, which the docs define as \"mobile number empty or already used\", pointing the buyer at the wrong cause; spec 8 item 17).")
	fs.StringVar(&o.gatewayImage, "gateway-image", tenantobjects.GatewayImageOfVersion(version), "Image of the SSO login gateway of joint-operation products that name none (spec.workload.sso.gateway.image): kooper's own image, which runs it with its gateway command; the chart sets it to its own image. The default is kooper's image of this build's version (:latest for a build without one).")
	fs.BoolVar(&o.printVersion, "version", false, "Print kooper's version, commit, Go version and platform, then exit.")
	o.zap.BindFlags(fs)
	bindTestOnlyFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.renewalRetryWindow <= 0 {
		// Not "off", as 0 is for --stale-freeze-margin and
		// --freeze-retry-window: a window of no length would end a refund's
		// hold on stale FREEZEs with the first renewal.
		return o, fmt.Errorf("-renewal-retry-window %s: must be positive", o.renewalRetryWindow)
	}
	if o.chartFetchTimeout <= 0 {
		// 0 was taken for the default, and a negative timeout failed every
		// pull at once, for every chart product's tenants.
		return o, fmt.Errorf("-chart-fetch-timeout %s: must be positive", o.chartFetchTimeout)
	}
	if len(o.marketplaceURLs) == 0 {
		o.marketplaceURLs = koogallery.DefaultBaseURLs
	}
	if o.leaderElectionNS == "" {
		o.leaderElectionNS = o.namespace
	}
	if o.directoryNamespace == "" {
		o.directoryNamespace = o.namespace + "-directory"
	}
	return o, nil
}

// checkBaseURL reports whether v can be the base URL of an HTTP API kooper
// calls: an absolute http or https URL with a host. Without its scheme
// (mkt.myhuaweicloud.com) a URL would be taken for a path, and every call
// would fail far from the flag. http is for the marketplace simulator
// (hack/marketplace-sim) and an in-cluster Prometheus.
func checkBaseURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%.128q is not an absolute URL: give its scheme (https:// or http://), then its host", v)
	}
	return nil
}

// minSignatureWindow is the shortest --signature-window: the marketplace's
// sample merchant refuses a callback's timestamp only once it is more than
// 60 s old (spec 2.1.2 step 3), so the marketplace may deliver a callback
// up to 60 s after it signed it, and a shorter window refuses callbacks
// sent in time.
const minSignatureWindow = 60 * time.Second

// parseSignatureWindow parses --signature-window, a Go duration of at
// least minSignatureWindow.
func parseSignatureWindow(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, errors.New("not a Go duration, e.g. 60s or 2m")
	case d < minSignatureWindow:
		return 0, fmt.Errorf("%s is shorter than %s: the marketplace may deliver a callback up to 60 s after it signed it (spec 2.1.2), "+
			"and a shorter window refuses such callbacks with 000002", d, minSignatureWindow)
	}
	return d, nil
}

// testOnlyFlags bend the metering controller's time for kooper's own chaos
// suite (docs/reliability.md, scenario 6), which must see a metering
// window close within a two-minute run. They are left out of -help and of
// the chart; internal/localstack sets them.
var testOnlyFlags = []string{"metering-clock-offset", "metering-push-spread"}

// bindTestOnlyFlags registers testOnlyFlags on fs and makes fs's usage
// text leave them out.
func bindTestOnlyFlags(fs *flag.FlagSet, o *options) {
	fs.DurationVar(&o.meteringClockOffset, "metering-clock-offset", 0,
		"Test only: move the metering controller's clock (only its) by this much, e.g. 42m.")
	fs.DurationVar(&o.meteringPushSpread, "metering-push-spread", controllers.DefaultPushSpread,
		"Test only: spread the tenants' usage pushes over this long after each hour.")
	fs.Usage = func() {
		printUsageWithout(fs, testOnlyFlags)
		fmt.Fprintf(fs.Output(), "\nCommands (instead of the operator):\n"+
			"  kooper %s --upstream=URL [flags]\n    \tThe joint-operation kit SSO login gateway, a tenant pod's sidecar (docs/sso-gateway.md); --help for its flags.\n"+
			"  kooper %s --url=URL --key-file=FILE\n    \tThe chart's helm test: a product's production interface must answer an unknown instance.\n",
			gatewayCommand, selfTestCommand)
	}
}

// printUsageWithout prints fs's usage text without the hidden flags.
func printUsageWithout(fs *flag.FlagSet, hidden []string) {
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shown.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(hidden, f.Name) {
			shown.Var(f.Value, f.Name, f.Usage)
		}
	})
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	shown.PrintDefaults()
}

// joinNames writes names as a flag takes them: comma-separated.
func joinNames[T ~string](names []T) string {
	texts := make([]string, len(names))
	for i, n := range names {
		texts[i] = string(n)
	}
	return strings.Join(texts, ",")
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == selfTestCommand {
		os.Exit(runSelfTest(os.Args[2:], os.Stdout))
	}
	if len(os.Args) > 1 && os.Args[1] == gatewayCommand {
		os.Exit(runGateway(os.Args[2:], os.Stderr))
	}
	o := parseFlags()
	if o.printVersion {
		fmt.Println(versionString())
		return
	}
	ctrl.SetLogger(newLogger(&o.zap))
	if percent := busyGCPercent(o.gcPercent, o.components.has(componentControllers)); setBusyGCPercent(percent, os.LookupEnv) {
		ctrl.Log.Info("Garbage collector target set for while the process works", "gcPercent", percent)
	}
	if limit, err := setMemoryLimit(memlimit.FromCgroup); err != nil {
		ctrl.Log.V(1).Info("Go memory limit not taken from the container", "reason", err.Error())
	} else if limit > 0 {
		ctrl.Log.Info("Go memory limit set below the container's", "bytes", limit)
	}
	cfg, err := loadKubeConfig()
	if err != nil {
		ctrl.Log.Error(err, "Failed to load a Kubernetes configuration")
		os.Exit(1)
	}
	if err := run(ctrl.SetupSignalHandler(), cfg, o); err != nil {
		ctrl.Log.Error(err, "kooper stopped")
		os.Exit(1)
	}
}

// errNoKubeConfig says where kooper looked for an API server and how to
// give it one: controller-runtime's own error for this case names only an
// environment variable of kubectl's past (KUBERNETES_MASTER).
var errNoKubeConfig = errors.New("no Kubernetes configuration found: not in a Pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset), " +
	"and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config); run kooper in a Pod under its ServiceAccount, or give it a kubeconfig with --kubeconfig")

// loadKubeConfig is controller-runtime's GetConfig (--kubeconfig, then
// $KUBECONFIG, the in-cluster configuration, ~/.kube/config), with
// errNoKubeConfig when none of them exists.
func loadKubeConfig() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errNoKubeConfig
	}
	return cfg, err
}

func (o options) receiverOptions() webhook.Options {
	opts := webhook.DefaultOptions()
	opts.Namespace = o.namespace
	opts.DirectoryNamespace = o.directoryNamespace
	opts.SignatureWindow = o.signatureWindow
	opts.BodySign = o.bodySign
	if o.maxBodyBytesInFlight != 0 { // 0, the flag's zero value, keeps the default
		opts.MaxBodyBytesInFlight = o.maxBodyBytesInFlight
	}
	opts.RefuseReusedNonces = o.refuseReusedNonces
	opts.PendingResultCode = koogallery.ResultCode(o.pendingResultCode)
	opts.StaleFreezeMargin = o.staleFreezeMargin
	opts.FreezeRetryWindow = o.freezeRetryWindow
	if o.renewalRetryWindow != 0 { // unset in options built without parseArgs, which refuses 0
		opts.RenewalRetryWindow = o.renewalRetryWindow
	}
	opts.LicenseKeyFormat = o.licenseKeyFormat
	if len(o.oaepHashes) > 0 {
		opts.OAEPHashes = o.oaepHashes
	}
	if len(o.canonicalForms) > 0 {
		opts.CanonicalForms = o.canonicalForms
	}
	if o.clientSecretErrorCode != "" {
		opts.ClientSecretErrorCode = koogallery.ResultCode(o.clientSecretErrorCode)
	}
	return opts
}

// metricsOptions serve the metrics over plain HTTP or, with
// --metrics-secure, over HTTPS behind the API server's authentication and
// authorisation (each component's RBAC may create TokenReviews and
// SubjectAccessReviews for it: webhook/setup.go, controllers/setup.go).
func (o options) metricsOptions() metricsserver.Options {
	opts := metricsserver.Options{BindAddress: o.metricsAddr}
	if o.metricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if o.profiling {
		opts.ExtraHandlers = map[string]http.Handler{
			"/debug/pprof/":        http.HandlerFunc(pprof.Index),
			"/debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
			"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
			"/debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
			"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
		}
	}
	return opts
}

// prometheusClient is the client of Prometheus meters' queries, with the
// HTTP settings of --prometheus-http-config-file if it names a file, whose
// credentials go only to --prometheus-url and --prometheus-credentials-urls.
func (o options) prometheusClient() (promquery.Client, error) {
	if o.prometheusHTTPConfig == "" {
		return promquery.Client{}, nil
	}
	credentialed := o.prometheusCredentialed
	if o.prometheusURL != "" {
		credentialed = append([]string{o.prometheusURL}, credentialed...)
	}
	c, err := promquery.NewClientFromFile(o.prometheusHTTPConfig, credentialed...)
	if err != nil {
		return c, fmt.Errorf("--prometheus-http-config-file: %w", err)
	}
	return c, nil
}

// setupControllers registers the leader-elected controllers, whose charts
// render for kubeVersion (the API server's, such as v1.37.2).
func setupControllers(mgr ctrl.Manager, o options, prometheus promquery.Client, kubeVersion string) error {
	return controllers.Setup(mgr, controllers.Config{
		Namespace: o.namespace, DirectoryNamespace: o.directoryNamespace, IngressNamespace: o.ingressNamespace,
		LicenseKeyFormat:    o.licenseKeyFormat,
		MonitoringNamespace: o.monitoringNamespace, ClusterPodCIDRs: o.clusterPodCIDRs, ClusterServiceCIDRs: o.clusterServiceCIDRs,
		GatewayImage:      o.gatewayImage,
		ProductsConfigMap: o.productsConfigMap, MaxConcurrentReconciles: o.maxConcurrentReconciles,
		ProvisionedStatusDelay: o.provisionedStatusDelay,
		Charts:                 &controllers.Charts{FetchTimeout: o.chartFetchTimeout},
		KubeVersion:            kubeVersion,
		DirectoryUnclaimedTTL:  o.directoryUnclaimedTTL,
		KitLoginURL:            o.kitLoginURL,
		Orders:                 controllers.MarketplaceOrderClientsWith(o.queryOrderTimeZone, o.marketplaceURLs...),
		Uploads:                controllers.MarketplaceUploadClientsWith(o.licenceUpload, o.marketplaceURLs...),
		Usage:                  controllers.MarketplaceUsageClients(o.marketplaceURLs...),
		UsagePushMaxRecords:    o.usagePushMaxRecords,
		Prometheus:             prometheus, PrometheusURL: o.prometheusURL,
		MeteringClockOffset: o.meteringClockOffset,
		MeteringPushSpread:  o.meteringPushSpread,
	})
}

// setupReceiver serves the callback receiver on every replica.
func setupReceiver(mgr ctrl.Manager, o options) (*webhook.Server, error) {
	serverOpts := webhook.DefaultServerOptions()
	serverOpts.Addr = o.receiverAddr
	serverOpts.DrainDelay = o.receiverDrainDelay
	opts := o.receiverOptions()
	opts.Recorder = controllers.BoundedRecorder(mgr.GetEventRecorder("kooper-receiver"))
	_, server, err := webhook.Setup(mgr, opts, serverOpts)
	return server, err
}

// gracefulShutdownTimeout is how long the manager waits for its runnables
// once told to stop: controller-runtime's 30 s, or, when longer, the
// receiver's drain delay, then the time its in-flight callbacks have
// (webhook.ServerOptions.ShutdownTimeout) and a margin; past it the process
// exits and cuts off what is left. The chart's termination grace period is
// the drain delay plus 20 s, past this.
func (o options) gracefulShutdownTimeout() time.Duration {
	const inFlightAndMargin = 15 * time.Second
	return max(30*time.Second, o.receiverDrainDelay+inFlightAndMargin)
}

// cacheSyncWait bounds how long one readiness probe waits for the cache:
// under the kubelet's default probe timeout (1 s), so that a probe gets an
// answer, not a timeout, and a probe by hand does not hang until the sync.
const cacheSyncWait = 500 * time.Millisecond

// cacheSynced is a readiness check: nil once every informer the cache has
// started has listed its objects (on a replica that does not lead, those
// the controllers' field indexes started at setup: tenants, licences,
// products, directories). In a rolling update the old leader is stopped,
// and its Lease released, once the new pod is Ready: ready earlier, the new
// leader would reconcile nothing until its lists of 10,000 tenants
// arrived.
func cacheSynced(c ctrlcache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncWait)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the cache has not synced yet")
		}
		return nil
	}
}

// defaultKubeAPIQPS, negative, sets no client-side rate limit: SIG API
// Machinery's advice since the API server's Priority and Fairness (v1.20),
// and controller-runtime's default since v0.21. A limit sized from one
// machine's cost per tenant bound provisioning on a faster one
// (docs/benchmarks.md); what kooper has in flight is bounded instead by
// its workers (--max-concurrent-reconciles) and, for the receiver, by the
// callbacks the marketplace sends.
const defaultKubeAPIQPS = -1

// errZeroKubeAPIQPS refuses --kube-api-qps=0, which client-go would take
// for its default of 5 queries a second: far below one tenant's requests.
var errZeroKubeAPIQPS = errors.New("--kube-api-qps=0 is not a limit kooper can run under (client-go would take it for 5 a second): " +
	"give a negative value for no client-side limit (the default), or a positive one")

// apiClientConfig is a copy of cfg with the operator's client settings:
// its rate limits (none with a negative --kube-api-qps), and no
// gzip-compressed responses unless --kube-api-compression asks for them.
// It fails with errZeroKubeAPIQPS on a QPS of 0.
func (o options) apiClientConfig(cfg *rest.Config) (*rest.Config, error) {
	if o.kubeAPIQPS == 0 {
		return nil, errZeroKubeAPIQPS
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst
	cfg.DisableCompression = !o.kubeAPICompression
	return cfg, nil
}

// checkNamespaces refuses the namespaces the chart refuses (its
// kooper.checkReleaseNamespace and kooper.directoryNamespace): the
// controllers may write Secrets in --namespace, and the receiver writes its
// users' data in --directory-namespace, so neither may be one of
// Kubernetes' own (kube-*), the directory namespace may not be default,
// shared by the whole cluster, and the two must differ, so the receiver's
// Secret grants never reach the keys.
func (o options) checkNamespaces() error {
	switch {
	case strings.HasPrefix(o.namespace, "kube-"):
		return fmt.Errorf("--namespace=%s: kooper's controllers may write Secrets in their namespace, and kube-* namespaces are Kubernetes' own; run kooper in a namespace of its own", o.namespace)
	case strings.HasPrefix(o.directoryNamespace, "kube-") || o.directoryNamespace == metav1.NamespaceDefault:
		return fmt.Errorf("--directory-namespace=%s: the receiver writes Secrets in it; use a namespace of kooper's own (default: <namespace>-directory)", o.directoryNamespace)
	case o.directoryNamespace == o.namespace:
		return fmt.Errorf("--directory-namespace must differ from --namespace (both %s): the receiver writes Secrets in it, and the products' keys live in --namespace", o.namespace)
	}
	return nil
}

// run starts the components o names and blocks until ctx is done.
func run(ctx context.Context, cfg *rest.Config, o options) error {
	if err := o.checkNamespaces(); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := saasv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := o.apiClientConfig(cfg)
	if err != nil {
		return err
	}
	restmetrics.Count(cfg)

	runControllers, runReceiver := o.components.has(componentControllers), o.components.has(componentReceiver)
	var prometheus promquery.Client
	if runControllers { // a bad file is refused now, not after an outage
		if prometheus, err = o.prometheusClient(); err != nil {
			return err
		}
	}
	kubeVersion, err := apiserverwait.Version(ctx, cfg, o.probeAddr)
	if ctx.Err() != nil {
		return nil // told to stop while waiting: a clean stop, as once started
	}
	if err != nil {
		return err
	}
	cache := webhook.CacheOptions(o.namespace)
	if runControllers {
		cache = controllers.CacheOptions(o.namespace) // a superset of the receiver's
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       o.metricsOptions(),
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect && runControllers,
		LeaderElectionID:              saasv1alpha1.LeaderElectionLeaseName,
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       ptr.To(o.gracefulShutdownTimeout()),
		Cache:                         cache,
		MapperProvider:                restmapping.Provider,
		Controller:                    config.Controller{SkipNameValidation: &o.skipNameValidation},
	})
	if err != nil {
		return fmt.Errorf("failed to create the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if runControllers {
		if err := setupControllers(mgr, o, prometheus, kubeVersion); err != nil {
			return err
		}
	}
	ready := cacheSynced(mgr.GetCache())
	if runReceiver {
		server, err := setupReceiver(mgr, o)
		if err != nil {
			return err
		}
		// The manager starts the receiver only once its cache has synced,
		// so listening implies a synced cache.
		ready = server.Listening
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return err
	}
	if err := mgr.Add(defaultRestingGC(o.gcPercentAtRest, ctrl.Log.WithName("gc"))); err != nil {
		return err
	}

	ctrl.Log.Info("Starting kooper", "components", o.components.String(), "namespace", o.namespace,
		"leaderElection", o.leaderElect && runControllers)
	return mgr.Start(ctx)
}
