package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/textcut"
)

// chartSecretNameIndex indexes products by the Secrets their chart needs
// (spec.chart.secretRef.name, spec.chart.oci.pullSecretName), so a change
// of either finds its products without listing them all.
const chartSecretNameIndex = "spec.chart.secretNames"

// chartTagResync is how often a product whose chart is referenced by an OCI
// tag resolves the tag again, so status.chart follows a tag moved in the
// registry (docs/chart-tenants.md); a digest or a Secret needs no timer.
const chartTagResync = 10 * time.Minute

// The example tenant a product's chart is rendered for once, to catch a
// chart no tenant could run (every object refused) on the product.
const (
	exampleInstanceID = "i-example"
	exampleNamespace  = "tenant-example"
	// exampleKubeVersion is the Kubernetes version of the example render
	// when SaaSProductReconciler.KubeVersion is empty (a reconciler not
	// built by Setup, which gives it the API server's).
	exampleKubeVersion = "v1.37.2"
)

// chartSecretNames are the Secrets of kooper's namespace a product's chart
// is read with.
func chartSecretNames(product *saasv1alpha1.SaaSProduct) []string {
	chart := product.Spec.Chart
	switch {
	case chart == nil:
		return nil
	case chart.SecretRef != nil:
		return []string{chart.SecretRef.Name}
	case chart.OCI != nil && chart.OCI.PullSecretName != "":
		return []string{chart.OCI.PullSecretName}
	}
	return nil
}

func indexByChartSecret(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.SaaSProduct{}, chartSecretNameIndex,
		func(obj client.Object) []string { return chartSecretNames(obj.(*saasv1alpha1.SaaSProduct)) })
}

// chartSource names where a product's chart comes from, for messages: the
// OCI reference or the Secret and key; never a credential.
func chartSource(namespace string, chart *saasv1alpha1.ChartTemplate) string {
	if ref := chart.SecretRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = "chart.tgz"
		}
		return fmt.Sprintf("Secret %s/%s (key %s)", namespace, ref.Name, key)
	}
	if chart.OCI.Digest != "" {
		return "oci://" + chart.OCI.Repository + "@" + chart.OCI.Digest
	}
	return "oci://" + chart.OCI.Repository + ":" + chart.OCI.Tag
}

// checkChart resolves a chart product's chart (ChartReady, status.chart):
// fetched as spec.chart names it now (an OCI tag resolved to a digest, a
// Secret read around the cache, so the digest recorded is the Secret's
// current one), loaded, and rendered for an example tenant on every plan
// (exampleRenders; chartVerdict judges what they found). A chart that cannot
// be fetched or loaded, whose render is refused on every plan, that gives
// every tenant of a plan the same Ingress route, or that renders
// differently each time (ChartNotDeterministic), leaves status.chart on the
// last chart that passed, so the tenants keep running it (a shared route
// stalls them as well: chartRouteShared). A chart refused on some plans
// only is recorded when status.chart holds no other chart (ChartReady
// False all the same, naming those plans): the other plans' buyers are
// provisioned, and each tenant of a refused plan stalls on its own render
// (ChartObjectRefused). A plan that does not render for the example
// tenant is named in ChartReady, which stays True, and in one Warning Event
// (warnRenderFailures). A failure that a retry may mend (the registry, the
// API server) is retried with back-off once the condition is written; a
// missing Secret waits for the Secret's watch, a bad archive or a refused
// object for a change of the Secret or the spec. A chart referenced by tag
// comes back every chartTagResync.
func (r *SaaSProductReconciler) checkChart(ctx context.Context, s *productState) outcome {
	product := s.product
	chart := product.Spec.Chart
	if chart == nil {
		s.dropChart = true
		return proceed()
	}
	if chart.OCI != nil && chart.OCI.Tag != "" {
		s.result.RequeueAfter = wait.Jitter(chartTagResync, 0.1)
	}
	source := chartSource(r.SecretNamespace, chart)
	archive, err := r.Charts.Resolve(ctx, r.Reader, r.SecretNamespace, product)
	if err != nil {
		s.conds = append(s.conds, chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason,
			fmt.Sprintf("The chart from %s cannot be fetched: %v", source, err)))
		if retryableChartError(err) {
			s.retry = fmt.Errorf("failed to fetch the chart from %s: %w", source, err)
		}
		return proceed()
	}
	meta, err := r.Charts.Renderer.Metadata(archive)
	if err != nil {
		s.conds = append(s.conds, chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason,
			fmt.Sprintf("The chart from %s does not load: %v", source, err)))
		return proceed()
	}
	resolved, err := resolvedChart(archive.Digest(), meta)
	if err != nil {
		s.conds = append(s.conds, chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason,
			fmt.Sprintf("The chart from %s is refused: %v", source, err)))
		return proceed()
	}
	check := r.exampleRenders(ctx, product, archive)
	if err := ctx.Err(); err != nil {
		return failed(err) // a render cut short found nothing about the chart
	}
	cond, passed := chartVerdict(fmt.Sprintf("Chart %s %s (%s) from %s", meta.Name, meta.Version, archive.Digest(), source), check)
	if passed {
		s.planRenders = check.renders
		s.chart = resolved
		r.warnRenderFailures(product, cond, check.failures)
	}
	s.conds = append(s.conds, cond)
	return proceed()
}

// chartVerdict is ChartReady for a chart that loaded, described as chart
// ("Chart <name> <version> (<digest>) from <source>"), whose example
// renders found check, and whether the chart passed (its tenants may run
// it). A refused object on every plan, an Ingress route every tenant of a
// plan would claim, or a render that differs from one fresh render to the
// next fails it; plans that do not render for the example tenant are named,
// but pass: a real tenant may have what the example lacks. Plans whose
// render is refused while another plan's is not make ChartReady False and
// are named (partlyRefusedVerdict).
func chartVerdict(chart string, check exampleCheck) (metav1.Condition, bool) {
	switch {
	case len(check.refusals) > 0 && len(check.renders) == 0:
		return chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason,
			fmt.Sprintf("%s would run for no tenant: %v", chart, check.refusals[0].refused)), false
	case check.sharedRoute != "":
		return chartCondition(metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason, chart+" "+check.sharedRoute), false
	case check.nondeterministic != "":
		return chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartNotDeterministicReason, chart+" "+check.nondeterministic), false
	case len(check.refusals) > 0:
		return partlyRefusedVerdict(chart, check)
	case len(check.failures) > 0:
		return chartCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason,
			chart+"; "+strings.Join(check.failures, "; ")+"; a tenant on such a plan stalls (ChartRenderFailed) unless what only a real tenant has makes it render"), true
	}
	return chartCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason, chart), true
}

// partlyRefusedVerdict is ChartReady for a chart whose render is refused on
// some plans (check.refusals) and accepted on others, and whether it is
// recorded. It stays False, so that the product's Ready (what `kubectl wait
// --for=condition=Ready` waits for) still means every plan can be sold: a
// refusal, unlike a render failure, holds for every buyer of the plan. The
// chart is recorded unless status.chart holds another one (check.replaces),
// which then stays, so the tenants of a refused plan keep the chart they
// run; no tenant reads ChartReady once a chart is recorded, so the other
// plans' buyers are provisioned all the same.
func partlyRefusedVerdict(chart string, check exampleCheck) (metav1.Condition, bool) {
	refused := make([]string, 0, len(check.refusals))
	for _, r := range check.refusals {
		refused = append(refused, fmt.Sprintf("plan %s's render is refused: %v", r.skuCode, r.refused))
	}
	sold := make([]string, 0, len(check.renders))
	for _, r := range check.renders {
		sold = append(sold, r.skuCode)
	}
	meanwhile := "a tenant on such a plan stalls (ChartObjectRefused) until its values or the chart no longer render them; " +
		"the tenants of plan " + strings.Join(sold, ", ") + " run it"
	if check.replaces != "" {
		meanwhile = "until then every tenant, a new one too, keeps chart " + check.replaces + ", the one status.chart records"
	}
	return chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason,
		chart+": "+strings.Join(refused, "; ")+"; "+meanwhile), check.replaces == ""
}

// warnRenderFailures sends a Warning Event naming the plans that do not
// render for the example tenant (failures), once for each ChartReady
// message that names them (cond): the merchant hears of such a plan before
// a buyer of it stalls. A status write that fails sends it again on the
// next reconcile.
func (r *SaaSProductReconciler) warnRenderFailures(product *saasv1alpha1.SaaSProduct, cond metav1.Condition, failures []string) {
	if len(failures) == 0 {
		return
	}
	if was := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.ChartReadyCondition); was != nil &&
		was.Status == cond.Status && was.Message == cond.Message {
		return // told when the message was written
	}
	r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.ChartRenderFailedReason, "RenderExample", "%s",
		strings.Join(failures, "; ")+": a buyer of such a plan would stall (ChartRenderFailed) unless what only a real tenant has makes it render")
}

// Bounds of what status.chart records of a chart's Chart.yaml, in
// characters, as the product CRD's schema has them (api/v1alpha1
// ResolvedChart's +kubebuilder:validation:MaxLength markers): a value past
// its bound would make every status write of the product fail with 422.
// Helm bounds none of them (a SemVer pre-release may be any length).
// TestChartMetadataBoundsMatchTheCRD keeps them equal to the generated
// schema.
const (
	// maxChartName bounds status.chart.name.
	maxChartName = 253
	// maxChartVersion bounds status.chart.version.
	maxChartVersion = 128
	// maxChartAppVersion bounds status.chart.appVersion.
	maxChartAppVersion = 128
	// maxQuotedChartText is how much of a value past its bound a refusal
	// quotes, in characters.
	maxQuotedChartText = 64
)

// resolvedChart is what status.chart records of the chart archive whose
// digest is given and whose Chart.yaml says meta. The name and version
// identify the chart (messages and kubectl show them beside the digest): one
// longer than its bound (maxChartName, maxChartVersion characters) is not
// cut into another chart's but refused, with an error that names the field,
// its length and the bound, and quotes the value's first
// maxQuotedChartText characters. The appVersion is shown only: one longer
// than maxChartAppVersion characters is cut to it, on a character boundary.
func resolvedChart(digest string, meta chartrender.ChartMetadata) (*saasv1alpha1.ResolvedChart, error) {
	for _, f := range []struct {
		field, value string
		limit        int
	}{
		{field: "name", value: meta.Name, limit: maxChartName},
		{field: "version", value: meta.Version, limit: maxChartVersion},
	} {
		if n := utf8.RuneCountInString(f.value); n > f.limit {
			return nil, fmt.Errorf("its Chart.yaml's %s has %d characters, more than the %d status.chart.%s holds: %q",
				f.field, n, f.limit, f.field, textcut.Runes(f.value, maxQuotedChartText)+"…")
		}
	}
	return &saasv1alpha1.ResolvedChart{Digest: digest, Name: meta.Name, Version: meta.Version,
		AppVersion: textcut.Runes(meta.AppVersion, maxChartAppVersion)}, nil
}

// retryableChartError says whether fetching the chart again may succeed
// without a change of spec or Secret: a Secret that is not there waits for
// its watch, and a chart Secret that was read but lacks its key
// (chartKeyMissing) waits for its change; any other failure (the registry,
// the API server or the connection to it) is retried.
func retryableChartError(err error) bool {
	return !apierrors.IsNotFound(err) && !errors.As(err, &chartKeyMissing{})
}

// exampleCheck is what rendering a product's chart for example tenants
// found (exampleRenders).
type exampleCheck struct {
	// renders are the example tenant's render of each plan that rendered,
	// in the product's order.
	renders []planRender
	// refusals are the plans whose render is refused (objects refused for
	// every tenant of the plan), in the product's order.
	refusals []planRefusal
	// replaces is the digest of the chart status.chart records when it is
	// not the chart checked; "" when it is, or none is recorded. A chart
	// refused on some plans does not replace it (partlyRefusedVerdict).
	replaces string
	// sharedRoute describes the first Ingress route that every tenant of a
	// plan would claim; "" when each tenant's routes are its own.
	sharedRoute string
	// nondeterministic describes the first plan whose render for the
	// example tenant differs from one fresh render to the next, with what
	// to do and what the tenants run meanwhile; "" when none does.
	nondeterministic string
	// failures name each plan that does not render for the example tenant
	// (or for the sample tenants), and why.
	failures []string
}

// planRefusal is a plan whose render is refused, and what was refused.
type planRefusal struct {
	skuCode string
	refused *chartrender.RefusedError
}

// maxQuotedRenderError is how much of a render error a failure quotes, in
// bytes.
const maxQuotedRenderError = 512

// exampleRenders renders the chart for an example tenant on each plan and
// returns what it found (exampleCheck). A plan whose render holds an
// Ingress is rendered for the sample tenants of sharedRoute as well,
// to catch a route (host and path) tenants would share: the ingress
// controller gives a contested route to one Ingress, so every other buyer
// would reach that tenant. Each plan's example render is also rendered
// twice afresh (exampleRenderer.nondeterministic), to catch a chart that
// makes up values at render time. Renders and that check's verdicts are
// cached by the renderer: a product renders again only when its chart or
// values change (or the renderer's cache let them go). A plan whose render
// is refused is named in refusals, and the other plans are checked all the
// same: one plan's refused object says nothing of another's. A render
// error other than a refusal (a template that needs what only a real tenant
// gives) is left to the tenants, which report it (ChartRenderFailed), and
// named in failures.
func (r *SaaSProductReconciler) exampleRenders(ctx context.Context, product *saasv1alpha1.SaaSProduct, archive chartrender.Archive) exampleCheck {
	kubeVersion := r.KubeVersion
	if kubeVersion == "" {
		kubeVersion = exampleKubeVersion
	}
	productValues, err := valuesLayer(product.Spec.Chart.Values)
	if err != nil {
		return exampleCheck{failures: []string{"spec.chart.values are not an object, so no plan renders"}}
	}
	e := exampleRenderer{renderer: &r.Charts.Renderer, archive: archive, product: product, productValues: productValues, kubeVersion: kubeVersion}
	var check exampleCheck
	if recorded := product.Status.Chart; recorded != nil && recorded.Digest != archive.Digest() {
		check.replaces = recorded.Digest
	}
	for i := range product.Spec.Plans {
		plan := &product.Spec.Plans[i]
		planValues, err := valuesLayer(plan.Values)
		if err != nil {
			check.failures = append(check.failures, fmt.Sprintf("plan %s's values are not an object", plan.SKUCode))
			continue
		}
		var refused *chartrender.RefusedError
		if err := e.checkPlan(ctx, plan, planValues, &check); errors.As(err, &refused) {
			check.refusals = append(check.refusals, planRefusal{skuCode: plan.SKUCode, refused: refused})
		}
	}
	return check
}

// checkPlan renders the chart on plan (whose values are planValues) for the
// example tenant, and for the checks of exampleRenders, into check: the
// plan's render when every render of it is accepted, a failure for a
// render error. The error is a refusal of one of its renders.
func (e exampleRenderer) checkPlan(ctx context.Context, plan *saasv1alpha1.Plan, planValues map[string]any, check *exampleCheck) error {
	objs, err := e.render(ctx, plan, planValues, exampleInstanceID, exampleNamespace)
	var refused *chartrender.RefusedError
	switch {
	case errors.As(err, &refused):
		return err
	case err != nil:
		check.failures = append(check.failures, fmt.Sprintf("plan %s does not render for the example tenant: %s",
			plan.SKUCode, textcut.Bytes(err.Error(), maxQuotedRenderError)))
		return nil
	}
	if check.nondeterministic == "" {
		found, err := e.nondeterministic(ctx, plan, planValues)
		switch {
		case errors.As(err, &refused):
			return err
		case err != nil:
			check.failures = append(check.failures, fmt.Sprintf("plan %s renders for the example tenant, but not when rendered afresh: %s",
				plan.SKUCode, textcut.Bytes(err.Error(), maxQuotedRenderError)))
		}
		check.nondeterministic = found
	}
	if check.sharedRoute == "" && len(ingressRoutes(objs)) > 0 {
		shared, err := e.sharedRoute(ctx, plan, planValues)
		switch {
		case errors.As(err, &refused):
			return err
		case err != nil:
			check.failures = append(check.failures, fmt.Sprintf("plan %s does not render for a sample tenant: %s",
				plan.SKUCode, textcut.Bytes(err.Error(), maxQuotedRenderError)))
		}
		check.sharedRoute = shared
	}
	check.renders = append(check.renders, planRender{skuCode: plan.SKUCode, objects: objs})
	return nil
}

// exampleRenderer renders one product's chart for made-up tenants, as the
// tenant controller renders it for a real one.
type exampleRenderer struct {
	renderer      *chartrender.Renderer
	archive       chartrender.Archive
	product       *saasv1alpha1.SaaSProduct
	productValues map[string]any
	kubeVersion   string
}

// render renders the chart on plan (whose values are planValues) for the
// tenant id in namespace.
func (e exampleRenderer) render(ctx context.Context, plan *saasv1alpha1.Plan, planValues map[string]any, id, namespace string) ([]*unstructured.Unstructured, error) {
	values, opts := e.input(plan, planValues, id, namespace)
	return e.renderer.Render(ctx, e.archive, values, opts)
}

// input are the values and options of the tenant id in namespace on plan
// (whose values are planValues), as the tenant controller would give them.
func (e exampleRenderer) input(plan *saasv1alpha1.Plan, planValues map[string]any, id, namespace string) (map[string]any, chartrender.Options) {
	values := chartrender.MergeValues(e.productValues, planValues, map[string]any{"kooper": exampleKooperValues(e.product, plan, id, namespace)})
	return values, chartrender.Options{ReleaseName: id, Namespace: namespace, KubeVersion: e.kubeVersion}
}

// nondeterministic renders the chart on plan twice afresh for the example
// tenant and, when the renders differ, says where (the first object and
// field), why that would hurt the tenants, what to do, and what the tenants
// run until then (nondeterministicMeanwhile); "" when they are the same.
// The renderer remembers the verdict per chart digest, values and options,
// so only a new chart or new values are rendered again. The error is a
// render's.
func (e exampleRenderer) nondeterministic(ctx context.Context, plan *saasv1alpha1.Plan, planValues map[string]any) (string, error) {
	values, opts := e.input(plan, planValues, exampleInstanceID, exampleNamespace)
	diff, err := e.renderer.Nondeterministic(ctx, e.archive, values, opts)
	if err != nil || diff == nil {
		return "", err
	}
	return fmt.Sprintf("renders differently each time for the example tenant on plan %s: %s. A value the chart makes up "+
		"at render time (randAlphaNum, uuidv4, genCA, genPrivateKey, now and the like; `lookup` finds nothing in kooper) "+
		"would change on every tenant whenever kooper renders afresh (a restart of the controllers, a failover, an upgrade, "+
		"a render cache eviction): a generated password overwritten while the database keeps the old one, pods restarted "+
		"by a changed annotation. Derive it from kooper's values instead (.Values.kooper.instanceId; the tenant's admin "+
		"credentials are in the Secret .Values.kooper.credentialsSecretName names, to read with secretKeyRef; "+
		"docs/chart-tenants.md); %s", plan.SKUCode, diff, nondeterministicMeanwhile(e.product, e.archive.Digest())), nil
}

// nondeterministicMeanwhile says what the tenants of product run while its
// chart of digest is not taken for rendering differently each time:
// nothing, before any chart passed (they wait for one); the chart
// status.chart records, which they keep, new tenants too; or this very
// chart, recorded before kooper checked for this, which they keep
// rendering, each fresh render changing them.
func nondeterministicMeanwhile(product *saasv1alpha1.SaaSProduct, digest string) string {
	recorded := product.Status.Chart
	switch {
	case recorded == nil || recorded.Digest == "":
		return "no tenant is provisioned until then"
	case recorded.Digest != digest:
		return "until then every tenant, a new one too, keeps chart " + recorded.Digest + ", the last that passed"
	}
	return "its tenants still run it, as status.chart recorded it before kooper checked for this, and each fresh " +
		"render changes them until a chart that renders the same each time replaces it"
}

// chartDigitSamples are the digits of the instance ID (0-based, after
// "i-") that a chart's Ingress routes must change with, beyond
// sampleInstanceIDs: the last and the first (digitSampleID). Any
// contiguous part of the ID, or of the namespace or release name that hold
// it whole, leaves out one of them: trunc, substr, a slice or a regexFind
// of a fixed run is caught for two renders a plan. Catching a chart that
// ignores any one digit would take all 20 (only a pair of samples that
// differ in that digit alone shows it), each a render that is also held in
// the renderer's cache beside the tenants' own. The host of frontEndUrl,
// which a chart may route as kooper's host value, costs next to nothing to
// render: the first digit it ignores is found among all 20
// (firstDigitCutFromHost) and rendered as well.
var chartDigitSamples = [...]int{instanceIDDigits - 1, 0}

// sharedRoute renders the chart on plan for each sample tenant
// (sampleInstanceIDs, then the chartDigitSamples, in the namespaces kooper
// would give them) and describes the first Ingress route of the first
// that another holds too, with what to do; "" when none. The error is a
// render's.
func (e exampleRenderer) sharedRoute(ctx context.Context, plan *saasv1alpha1.Plan, planValues map[string]any) (string, error) {
	routesOf := func(id string) ([]ingressRoute, error) {
		objs, err := e.render(ctx, plan, planValues, id, tenantobjects.NamespaceName(e.product, id))
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", id, err)
		}
		return ingressRoutes(objs), nil
	}
	base, err := routesOf(sampleInstanceIDs[0])
	if err != nil {
		return "", err
	}
	other, err := routesOf(sampleInstanceIDs[1])
	if err != nil {
		return "", err
	}
	if route, ok := firstShared(base, other); ok {
		return fmt.Sprintf("gives every tenant on plan %s the Ingress route %s (Ingress %s), so the ingress controller would "+
			"send every buyer to one tenant: make the route's host or path differ from tenant to tenant (kooper's values "+
			"host, instanceId); no tenant is provisioned until then", plan.SKUCode, route, route.ingress), nil
	}
	positions := chartDigitSamples[:]
	if cut := firstDigitCutFromHost(e.product); cut >= 0 && !slices.Contains(positions, cut) {
		positions = append(slices.Clip(positions), cut)
	}
	for _, position := range positions {
		id := digitSampleID(position)
		routes, err := routesOf(id)
		if err != nil {
			return "", err
		}
		if route, ok := firstShared(base, routes); ok {
			return fmt.Sprintf("gives tenants on plan %s whose instance IDs differ only in hex digit %d of the %d after i- (%s and %s) "+
				"the same Ingress route %s (Ingress %s): a route made from part of the instance ID is shared by every two tenants "+
				"whose IDs agree on that part, and the ingress controller would send one's buyer to the other: put the whole "+
				"instance ID in the route's host or path (kooper's values host, instanceId, namespace), not a cut of it; no "+
				"tenant is provisioned until then", plan.SKUCode, position+1, instanceIDDigits, sampleInstanceIDs[0], id,
				route, route.ingress), nil
		}
	}
	return "", nil
}

// firstShared returns the first of routes that others claims too.
func firstShared(routes, others []ingressRoute) (ingressRoute, bool) {
	for _, route := range routes {
		if slices.ContainsFunc(others, route.sameAs) {
			return route, true
		}
	}
	return ingressRoute{}, false
}

// ingressRoute is one route an Ingress claims: a host (empty: every host)
// and a path of its rules, or its default backend.
type ingressRoute struct {
	host, path     string
	defaultBackend bool
	// ingress is the name of the Ingress, for messages.
	ingress string
}

// sameAs says whether o claims what r does: host names compare without
// case, as DNS does; paths as they are.
func (r ingressRoute) sameAs(o ingressRoute) bool {
	return r.defaultBackend == o.defaultBackend && strings.EqualFold(r.host, o.host) && r.path == o.path
}

// String gives `host "h" path "p"`, `every host, path "p"` or `the default
// backend`.
func (r ingressRoute) String() string {
	switch {
	case r.defaultBackend:
		return "the default backend"
	case r.host == "":
		return fmt.Sprintf("every host, path %q", r.path)
	}
	return fmt.Sprintf("host %q path %q", r.host, r.path)
}

// ingressRoutes lists the routes the Ingresses among objs claim, in their
// order. An Ingress that does not decode as networking.k8s.io/v1 claims
// none: the API server would refuse it.
func ingressRoutes(objs []*unstructured.Unstructured) []ingressRoute {
	var routes []ingressRoute
	for _, obj := range objs {
		if obj.GroupVersionKind().GroupKind() != ingressKind {
			continue
		}
		ing := &networkingv1.Ingress{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, ing); err != nil {
			continue
		}
		if ing.Spec.DefaultBackend != nil {
			routes = append(routes, ingressRoute{defaultBackend: true, ingress: ing.Name})
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				routes = append(routes, ingressRoute{host: rule.Host, path: p.Path, ingress: ing.Name})
			}
		}
	}
	return routes
}

// exampleKooperValues are kooper's values for a made-up tenant id in
// namespace on plan, as the tenant controller gives them to a real tenant.
func exampleKooperValues(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan, id, namespace string) map[string]any {
	values := map[string]any{
		"instanceId":            id,
		"namespace":             namespace,
		"skuCode":               plan.SKUCode,
		"credentialsSecretName": tenantobjects.CredentialsSecretName,
		"sso":                   map[string]any{"secretName": saasv1alpha1.SSOSecretName},
		"directory":             map[string]any{"secretPrefix": saasv1alpha1.DirectorySecretName},
	}
	if urls, err := tenantobjects.RenderURLs(product, id, namespace); err == nil {
		values["frontEndUrl"], values["adminUrl"], values["host"] = urls.FrontEnd, urls.Admin, urls.Host
	}
	return values
}

// valuesLayer decodes one layer of chart values (spec.chart.values, a
// plan's values); nothing is an empty layer, anything but an object an
// error.
func valuesLayer(raw *apiextensionsv1.JSON) (map[string]any, error) {
	if raw == nil || len(raw.Raw) == 0 || string(raw.Raw) == "null" {
		return nil, nil
	}
	var values map[string]any
	if err := json.Unmarshal(raw.Raw, &values); err != nil {
		return nil, err
	}
	return values, nil
}

func chartCondition(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: saasv1alpha1.ChartReadyCondition, Status: status, Reason: reason,
		Message: textcut.Bytes(message, maxConditionMessage)}
}
