package kubectlkooper

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/productkeys"
	"github.com/kooper-io/kooper/internal/selftest"
)

// checkKind is the kind of check's -o json|yaml document.
const checkKind = "CheckReport"

// crdPlurals are kooper's kinds (group saas.kooper.io, config/crd/bases).
var crdPlurals = []string{"saasproducts", "saastenants", "licenses", "saasdirectories", "ordernotifications"}

// checkFlags are check's flags.
type checkFlags struct {
	receiverURL  string
	maxClockSkew time.Duration
	timeout      time.Duration
	output       string
}

func newCheckCommand(e *env) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check [--receiver-url URL] [--max-clock-skew 5s] [-o json|yaml]",
		Short: "Preflight before registering the production URL; exit 1 when any check fails",
		Long: `Check, before registering the production URL in the Seller Console, that kooper can answer:
  - crd/<name>:        each of kooper's CRDs is installed, Established, and serves and stores v1alpha1;
  - pods/<component>:  the receiver and the controllers each have a Ready Pod in kooper's namespace;
  - lease:             a controllers replica holds the leader Lease, renewed in time (with
                       --leader-elect=false, the controllers run at most one replica);
  - keys/<product>:    each SaaSProduct's keys Secret holds the keys it needs (names only are shown);
  - receiver/<product>: the receiver answers a signed queryInstance for an unknown instance with
                       000003, through a port-forward to its Service (or --receiver-url);
  - clock:             this machine's clock is within --max-clock-skew of the API server's
                       (the receiver refuses a signature more than 60 s off);
  - admission-policy:  the ValidatingAdmissionPolicy confining the controllers, and its binding;
                       passed, saying so, where none of kooper's is installed (Kubernetes < 1.30,
                       or admissionPolicy.enabled=false: the controllers are confined by RBAC only).
Exit 1 when any check fails, each failure saying why. A check whose read the API server
refuses you fails saying which permission it needs (docs/kubectl-kooper.md lists them all).`,
		Example: `  kubectl kooper check
  kubectl kooper check --receiver-url https://crm.example.com -o yaml`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if f.output != "" && f.output != "json" && f.output != "yaml" {
				return usagef("-o is json or yaml, not %q", f.output)
			}
			if f.maxClockSkew <= 0 {
				return usagef("--max-clock-skew must be more than 0, not %s", f.maxClockSkew)
			}
			base, _, err := parseReceiverURL(f.receiverURL)
			if err != nil {
				return err
			}
			f.receiverURL = base
			c, err := e.clients()
			if err != nil {
				return err
			}
			ns := e.namespace(cmd.Context(), c)
			r := f.run(cmd.Context(), e, c, ns)
			if f.output != "" {
				if err := printReport(e, checkKind, r, f.output); err != nil {
					return err
				}
			} else {
				r.print(e.Streams.Out)
			}
			if !r.Passed {
				return errChecksFailed
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&f.receiverURL, "receiver-url", "", "the receiver's base URL (https://crm.example.com) or a production URL (https://crm.example.com/koogallery/<product>: its base is used) instead of a port-forward to its Service")
	cmd.Flags().DurationVar(&f.maxClockSkew, "max-clock-skew", 5*time.Second, "the most this machine's clock may differ from the API server's")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for each receiver answer (KooGallery waits 5 s)")
	addOutputFlag(cmd, &f.output, "json or yaml (default: a table of the checks)")
	return cmd
}

// checkResult is one check's outcome.
type checkResult struct {
	// Name is the check and what it is about, e.g. "keys/crm".
	Name string `json:"name"`
	// Passed is true when the precondition holds.
	Passed bool `json:"passed"`
	// Detail says what was seen and, on failure, what to do.
	Detail string `json:"detail"`
	// Forbidden is true when the check failed because the API server
	// refused the user a read it needs (Detail names it), not because of
	// what it found.
	Forbidden bool `json:"forbidden,omitempty"`
}

// checkReport is every check's outcome.
type checkReport struct {
	Namespace string        `json:"namespace"`
	Passed    bool          `json:"passed"`
	Checks    []checkResult `json:"checks"`
}

func pass(name, format string, args ...any) checkResult {
	return checkResult{Name: name, Passed: true, Detail: fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) checkResult {
	return checkResult{Name: name, Detail: fmt.Sprintf(format, args...)}
}

// A permission is one request a check makes, as RBAC names it: resource
// may hold a subresource ("pods/portforward"); namespace is empty for a
// cluster-wide one.
type permission struct {
	verb, group, resource, namespace string
}

// String is the permission as a person reads it, such as "get
// customresourcedefinitions.apiextensions.k8s.io (cluster-wide)" or
// "create pods/portforward (in namespace kooper-system)".
func (p permission) String() string {
	resource := p.resource
	if p.group != "" {
		resource += "." + p.group
	}
	where := "cluster-wide"
	if p.namespace != "" {
		where = "in namespace " + p.namespace
	}
	return fmt.Sprintf("%s %s (%s)", p.verb, resource, where)
}

// denied is the failure of a check the user may not make request p for:
// their permissions, not kooper, keep it from being checked.
func denied(name string, p permission) checkResult {
	return checkResult{Name: name, Forbidden: true,
		Detail: fmt.Sprintf("you may not %s; this check needs it: run check as a user who may (docs/kubectl-kooper.md, check, lists what it reads)", p)}
}

// readFailed is the failure of a check whose request p failed with err:
// denied when the API server refused it (Forbidden), else format and args
// followed by err.
func readFailed(name string, p permission, err error, format string, args ...any) checkResult {
	if apierrors.IsForbidden(err) {
		return denied(name, p)
	}
	return fail(name, format+": %v", append(args, err)...)
}

// firstDenied is the first of needs the API server says the user may not
// do (a SelfSubjectAccessReview each, which every authenticated user may
// create), for a failure whose error does not say whether it was refused
// (a port-forward's). found is false when all are allowed or a review
// fails.
func firstDenied(ctx context.Context, set kubernetes.Interface, needs ...permission) (p permission, found bool) {
	for _, p := range needs {
		resource, subresource, _ := strings.Cut(p.resource, "/")
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: p.verb, Group: p.group, Namespace: p.namespace,
				Resource: resource, Subresource: subresource},
		}}
		answer, err := set.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return permission{}, false
		}
		if !answer.Status.Allowed {
			return p, true
		}
	}
	return permission{}, false
}

// run runs every check in order.
func (f *checkFlags) run(ctx context.Context, e *env, c *clients, ns string) *checkReport {
	r := &checkReport{Namespace: ns}
	r.Checks = append(r.Checks, checkCRDs(ctx, c.client)...)
	r.Checks = append(r.Checks, checkPods(ctx, c.client, ns)...)
	r.Checks = append(r.Checks, checkLease(ctx, c.client, ns, e.Now()))
	keys, results := checkKeys(ctx, c.client, ns)
	r.Checks = append(r.Checks, results...)
	r.Checks = append(r.Checks, f.checkReceiver(ctx, e, c, ns, keys)...)
	r.Checks = append(r.Checks, checkClock(ctx, c.config, e.Now, f.maxClockSkew))
	r.Checks = append(r.Checks, checkAdmissionPolicy(ctx, c.client, ns))
	r.Passed = !slices.ContainsFunc(r.Checks, func(c checkResult) bool { return !c.Passed })
	return r
}

// print writes the report as a table and a summary line.
func (r *checkReport) print(w io.Writer) {
	rows := [][]string{{"CHECK", "RESULT", "DETAIL"}}
	failed, forbidden := 0, 0
	for _, c := range r.Checks {
		result := "PASS"
		if !c.Passed {
			result, failed = "FAIL", failed+1
		}
		if c.Forbidden {
			forbidden++
		}
		rows = append(rows, []string{c.Name, result, c.Detail})
	}
	fmt.Fprintf(w, "kooper in namespace %s:\n", r.Namespace)
	printRows(w, rows)
	if forbidden > 0 {
		fmt.Fprintf(w, "%d of %d checks failed, %d of them because you may not read what they need: run check as a user who may, and fix the rest before registering the production URL.\n",
			failed, len(r.Checks), forbidden)
		return
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d of %d checks failed: fix them before registering the production URL.\n", failed, len(r.Checks))
		return
	}
	fmt.Fprintf(w, "All %d checks passed.\n", len(r.Checks))
}

// checkCRDs checks each of kooper's CRDs is Established and serves and
// stores v1alpha1.
func checkCRDs(ctx context.Context, c client.Client) []checkResult {
	out := make([]checkResult, 0, len(crdPlurals))
	for _, plural := range crdPlurals {
		name := plural + "." + saasv1alpha1.GroupVersion.Group
		out = append(out, checkCRD(ctx, c, "crd/"+plural, name))
	}
	return out
}

func checkCRD(ctx context.Context, c client.Client, check, name string) checkResult {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return fail(check, "CRD %s is not installed: install the chart with crds.enabled=true, or kubectl apply -f config/crd/bases", name)
		}
		return readFailed(check, permission{verb: "get", group: apiextensionsv1.GroupName, resource: "customresourcedefinitions"}, err, "failed to read CRD %s", name)
	}
	established := slices.ContainsFunc(crd.Status.Conditions, func(cond apiextensionsv1.CustomResourceDefinitionCondition) bool {
		return cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue
	})
	if !established {
		return fail(check, "CRD %s is not Established yet", name)
	}
	want := saasv1alpha1.GroupVersion.Version
	for _, v := range crd.Spec.Versions {
		if v.Name == want && v.Served && v.Storage {
			return pass(check, "%s serves and stores %s", name, want)
		}
	}
	return fail(check, "CRD %s does not serve and store %s, the version this kooper uses: upgrade the chart's CRDs", name, want)
}

// checkPods checks each component has a Ready Pod in ns.
func checkPods(ctx context.Context, c client.Client, ns string) []checkResult {
	out := make([]checkResult, 0, 2)
	for _, component := range []string{componentReceiver, componentControllers} {
		check := "pods/" + component
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(ns), componentSelector(component)); err != nil {
			out = append(out, readFailed(check, permission{verb: "list", resource: "pods", namespace: ns}, err, "failed to list Pods in %s", ns))
			continue
		}
		ready := 0
		for i := range pods.Items {
			if podReady(&pods.Items[i]) {
				ready++
			}
		}
		if ready == 0 {
			out = append(out, fail(check, "no Ready %s Pod in %s (%d found): see kubectl -n %s describe pods -l %s=%s",
				component, ns, len(pods.Items), ns, componentLabel, component))
			continue
		}
		out = append(out, pass(check, "%d of %d %s Pods Ready", ready, len(pods.Items), component))
	}
	return out
}

// checkLease checks a controllers replica holds the leader Lease and
// renewed it within its duration, as of now. With leader election off
// (the chart's leaderElection.enabled false: every controllers Deployment
// in ns runs --leader-elect=false) no one holds the Lease, so it checks
// instead that at most one controllers replica runs.
func checkLease(ctx context.Context, c client.Client, ns string, now time.Time) checkResult {
	const check = "lease"
	off, deployments, replicas, listErr := leaderElectionOff(ctx, c, ns)
	if off {
		where := "--leader-elect=false on Deployment " + strings.Join(deployments, ", ")
		if replicas > 1 {
			return fail(check, "leader election is off (%s) and %d replicas run: each reconciles every object; scale to 1 replica, or turn leader election on (the chart's leaderElection.enabled)",
				where, replicas)
		}
		return pass(check, "leader election is off (%s): no Lease is held, and with %d replica no two reconcile at once", where, replicas)
	}
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: saasv1alpha1.LeaderElectionLeaseName}, lease); err != nil {
		if apierrors.IsNotFound(err) && apierrors.IsForbidden(listErr) {
			// No one holds it, which is right with leader election off:
			// only the Deployments say whether it is.
			return denied(check, permission{verb: "list", group: appsv1.GroupName, resource: "deployments", namespace: ns})
		}
		if apierrors.IsNotFound(err) {
			return fail(check, "no Lease %s/%s: no controllers replica was ever elected leader", ns, saasv1alpha1.LeaderElectionLeaseName)
		}
		return readFailed(check, permission{verb: "get", group: coordinationv1.GroupName, resource: "leases", namespace: ns}, err,
			"failed to read Lease %s/%s", ns, saasv1alpha1.LeaderElectionLeaseName)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" || lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return fail(check, "Lease %s/%s is held by no one: the controllers are not running", ns, lease.Name)
	}
	since := now.Sub(lease.Spec.RenewTime.Time)
	if since > time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second {
		return fail(check, "Lease %s/%s held by %s expired: last renewed %s ago, for %ds", ns, lease.Name, holder,
			since.Round(time.Second), *lease.Spec.LeaseDurationSeconds)
	}
	return pass(check, "held by %s, renewed %s ago", holder, since.Round(time.Second))
}

// leaderElectionOff reports whether ns has controllers Deployments and
// every one runs with leader election off, with their namespace/names and
// their replicas in all (an unset spec.replicas counts 1). It reports
// false when there is none or they cannot be listed (err says why): the
// Lease decides.
func leaderElectionOff(ctx context.Context, c client.Client, ns string) (off bool, deployments []string, replicas int32, err error) {
	list := &appsv1.DeploymentList{}
	if err := c.List(ctx, list, client.InNamespace(ns), componentSelector(componentControllers)); err != nil || len(list.Items) == 0 {
		return false, nil, 0, err
	}
	for i := range list.Items {
		d := &list.Items[i]
		if leaderElects(d.Spec.Template.Spec.Containers) {
			return false, nil, 0, nil
		}
		deployments = append(deployments, d.Namespace+"/"+d.Name)
		replicas += ptr.Deref(d.Spec.Replicas, 1)
	}
	return true, deployments, replicas, nil
}

// leaderElects reports kooper's --leader-elect as its flag package reads
// it from the containers' command and args: -leader-elect or
// --leader-elect, alone (true) or =<bool>; the last one wins; none before
// a "--" is read; true, its default, when none is given.
func leaderElects(containers []corev1.Container) bool {
	elects := true
	for _, container := range containers {
		for _, arg := range slices.Concat(container.Command, container.Args) {
			if arg == "--" {
				break
			}
			name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
			if name != "leader-elect" || !strings.HasPrefix(arg, "-") {
				continue
			}
			if !hasValue {
				elects = true
			} else if b, err := strconv.ParseBool(value); err == nil {
				elects = b
			}
		}
	}
	return elects
}

// productKey is a product and its basicKey, for the receiver's self-call.
type productKey struct {
	product string
	key     string
}

// checkKeys checks each product's keys Secret holds the keys it needs
// (SaaSProduct.RequiredSecretKeys), each in a form the part using it
// accepts, naming missing or unusable keys, never values. It
// returns the basic keys of the products that passed.
func checkKeys(ctx context.Context, c client.Client, ns string) ([]productKey, []checkResult) {
	products := &saasv1alpha1.SaaSProductList{}
	if err := c.List(ctx, products); err != nil {
		return nil, []checkResult{readFailed("keys", permission{verb: "list", group: saasv1alpha1.GroupVersion.Group, resource: "saasproducts"}, err,
			"failed to list SaaSProducts")}
	}
	if len(products.Items) == 0 {
		return nil, []checkResult{fail("keys", "no SaaSProduct: the production URL /koogallery/<product> names one (the chart's product value, or kubectl apply)")}
	}
	var keys []productKey
	var out []checkResult
	for i := range products.Items {
		p := &products.Items[i]
		key, result := checkProductKeys(ctx, c, ns, p)
		out = append(out, result)
		if result.Passed {
			keys = append(keys, productKey{product: p.Name, key: key})
		}
	}
	return keys, out
}

func checkProductKeys(ctx context.Context, c client.Client, ns string, p *saasv1alpha1.SaaSProduct) (string, checkResult) {
	check := "keys/" + p.Name
	secret := &corev1.Secret{}
	ref := types.NamespacedName{Namespace: ns, Name: p.Spec.KeysSecretName}
	if err := c.Get(ctx, ref, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fail(check, "Secret %s (spec.keysSecretName) does not exist in %s", ref, ns)
		}
		return "", readFailed(check, permission{verb: "get", resource: "secrets", namespace: ns}, err, "failed to read Secret %s", ref)
	}
	var missing []string
	for _, k := range p.RequiredSecretKeys() {
		if koogallery.KeyText(secret.Data[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "", fail(check, "Secret %s lacks %s", ref, strings.Join(missing, ", "))
	}
	if name, why := productkeys.Unusable(p, secret); name != "" {
		return "", fail(check, "Secret %s: %s is not usable: %s", ref, name, why)
	}
	return koogallery.KeyText(secret.Data[saasv1alpha1.BasicKeySecretKey]), pass(check, "Secret %s holds %s", ref, strings.Join(p.RequiredSecretKeys(), ", "))
}

// checkReceiver sends each product's production URL a signed queryInstance
// for an instance that cannot exist, which must answer 000003 (the
// self-test the chart's helm test runs, internal/selftest).
func (f *checkFlags) checkReceiver(ctx context.Context, e *env, c *clients, ns string, keys []productKey) []checkResult {
	if len(keys) == 0 {
		return []checkResult{fail("receiver", "not tried: no product with its keys")}
	}
	base, stop, err := receiverEndpoint(ctx, c, ns, f.receiverURL, e.Streams.ErrOut)
	if err != nil {
		return []checkResult{receiverUnreached(ctx, c.set, ns, err)}
	}
	defer stop()
	httpClient := &http.Client{Timeout: f.timeout}
	out := make([]checkResult, 0, len(keys))
	for _, k := range keys {
		check := "receiver/" + k.product
		res, err := selftest.QueryUnknownInstance(ctx, httpClient, productionURL(base, k.product), k.key, e.Now())
		switch {
		case err != nil:
			out = append(out, fail(check, "%v", err))
		case !res.OK():
			out = append(out, fail(check, "a signed queryInstance answered %s %q, not 000003 (000001: the key differs; 000002: refused as sent, e.g. a clock off)", res.Code, res.Message))
		default:
			out = append(out, pass(check, "a signed queryInstance answered 000003 in %s", res.Elapsed.Round(time.Millisecond)))
		}
	}
	return out
}

// receiverUnreached is the failure of a port-forward to the receiver in ns
// (receiverEndpoint's err): denied when the user may not list its Service
// or Pods or port-forward to them; a refused port-forward says so only in
// its message, so the API server is asked.
func receiverUnreached(ctx context.Context, set kubernetes.Interface, ns string, err error) checkResult {
	p, found := firstDenied(ctx, set, permission{verb: "list", resource: "services", namespace: ns},
		permission{verb: "list", resource: "pods", namespace: ns}, permission{verb: "create", resource: "pods/portforward", namespace: ns})
	if found {
		return denied("receiver", p)
	}
	return fail("receiver", "%v", err)
}

// checkClock compares now with the API server's Date header (1 s
// resolution), taken at the middle of the request.
func checkClock(ctx context.Context, config *rest.Config, now func() time.Time, maxSkew time.Duration) checkResult {
	const check = "clock"
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return fail(check, "%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(config.Host, "/")+"/version", nil)
	if err != nil {
		return fail(check, "%v", err)
	}
	start := now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return fail(check, "failed to reach the API server: %v", err)
	}
	_ = resp.Body.Close()
	local := start.Add(now().Sub(start) / 2)
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return fail(check, "the API server's answer has no Date header")
	}
	skew := local.Sub(server).Round(time.Second)
	if skew > maxSkew+time.Second || skew < -maxSkew-time.Second { // Date is whole seconds
		return fail(check, "this machine's clock is %s off the API server's (at most %s): synchronise it (NTP); signatures more than 60 s off are refused", skew, maxSkew)
	}
	return pass(check, "within %s of the API server's clock (%s)", maxSkew, skew)
}

// checkAdmissionPolicy checks the ValidatingAdmissionPolicy that confines
// kooper's controllers (DESIGN rule 13) matches the controllers of ns and
// is bound with Deny. Where there is none of kooper's, it passes saying
// so: the docs support Kubernetes 1.28 and 1.29, which do not serve the
// kind, and admissionPolicy.enabled=false, and the chart records nowhere
// that the policy should be there, so its absence cannot tell a broken
// installation from a supported one. A policy of kooper's that is there
// but confines nothing still fails.
func checkAdmissionPolicy(ctx context.Context, c client.Client, ns string) checkResult {
	const check = "admission-policy"
	const unconfined = "the controllers are confined by RBAC only"
	policies := &admissionregistrationv1.ValidatingAdmissionPolicyList{}
	if err := c.List(ctx, policies, client.MatchingLabels{partOfLabel: "kooper"}); err != nil {
		// The REST mapper finds no such kind (discovery lists none), or a
		// mapper that has not caught up asks and the API server answers 404.
		if apimeta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return pass(check, "not installed: this cluster does not serve %s ValidatingAdmissionPolicy (Kubernetes < 1.30); %s",
				admissionregistrationv1.SchemeGroupVersion, unconfined)
		}
		return readFailed(check, permission{verb: "list", group: admissionregistrationv1.GroupName, resource: "validatingadmissionpolicies"}, err,
			"failed to list ValidatingAdmissionPolicies")
	}
	if len(policies.Items) == 0 {
		return pass(check, "not installed: no ValidatingAdmissionPolicy of kooper (the chart's admissionPolicy.enabled=false); %s", unconfined)
	}
	account := "system:serviceaccount:" + ns + ":"
	name := ""
	for _, p := range policies.Items {
		for _, m := range p.Spec.MatchConditions {
			if strings.Contains(m.Expression, account) {
				name = p.Name
			}
		}
	}
	if name == "" {
		return fail(check, "no ValidatingAdmissionPolicy of kooper confines the controllers of %s: those there name another namespace's ServiceAccount; run check with -n naming kooper's namespace, or install the chart in %s with admissionPolicy.enabled=true", ns, ns)
	}
	bindings := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
	if err := c.List(ctx, bindings); err != nil {
		return readFailed(check, permission{verb: "list", group: admissionregistrationv1.GroupName, resource: "validatingadmissionpolicybindings"}, err,
			"failed to list ValidatingAdmissionPolicyBindings")
	}
	for _, b := range bindings.Items {
		if b.Spec.PolicyName == name && slices.Contains(b.Spec.ValidationActions, admissionregistrationv1.Deny) {
			return pass(check, "policy %s bound by %s with Deny", name, b.Name)
		}
	}
	return fail(check, "ValidatingAdmissionPolicy %s has no binding with Deny: it confines nothing", name)
}
