package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilstrings "k8s.io/utils/strings"
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
// current one), loaded, and rendered once for an example tenant on every
// plan. A chart that cannot be fetched or loaded, or whose render is
// refused, leaves status.chart on the last chart that passed, so the
// tenants keep running it. A failure that a retry may mend (the registry,
// the API server) is retried with back-off once the condition is written;
// a missing Secret waits for the Secret's watch, a bad archive or a refused
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
	renders, refused := r.exampleRenders(ctx, product, archive)
	if refused != nil {
		s.conds = append(s.conds, chartCondition(metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason,
			fmt.Sprintf("Chart %s %s (%s) from %s would run for no tenant: %v", meta.Name, meta.Version, archive.Digest(), source, refused)))
		return proceed()
	}
	s.planRenders = renders
	s.chart = resolved
	s.conds = append(s.conds, chartCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Chart %s %s (%s) from %s", meta.Name, meta.Version, archive.Digest(), source)))
	return proceed()
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

// exampleRenders renders the chart for an example tenant on each plan and
// returns the renders, or the first refusal: such objects would be refused
// for every tenant. Any other render error (a template that needs what only
// a real tenant gives) is left to the tenants, which report it
// (ChartRenderFailed), and logged here; that plan has no render.
func (r *SaaSProductReconciler) exampleRenders(ctx context.Context, product *saasv1alpha1.SaaSProduct, archive chartrender.Archive) ([]planRender, *chartrender.RefusedError) {
	kubeVersion := r.KubeVersion
	if kubeVersion == "" {
		kubeVersion = exampleKubeVersion
	}
	productValues, err := valuesLayer(product.Spec.Chart.Values)
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Skipping the example render of the chart", "reason", "spec.chart.values are not an object")
		return nil, nil
	}
	opts := chartrender.Options{ReleaseName: exampleInstanceID, Namespace: exampleNamespace, KubeVersion: kubeVersion}
	var renders []planRender
	for i := range product.Spec.Plans {
		plan := &product.Spec.Plans[i]
		planValues, err := valuesLayer(plan.Values)
		if err != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("Skipping the example render of the chart", "plan", plan.SKUCode, "reason", "the plan's values are not an object")
			continue
		}
		values := chartrender.MergeValues(productValues, planValues, map[string]any{"kooper": exampleKooperValues(product, plan)})
		objs, err := r.Charts.Renderer.Render(ctx, archive, values, opts)
		var refused *chartrender.RefusedError
		switch {
		case errors.As(err, &refused):
			return nil, refused
		case err != nil:
			ctrl.LoggerFrom(ctx).V(1).Info("The chart does not render for the example tenant; its tenants will say why",
				"plan", plan.SKUCode, "error", utilstrings.ShortenString(err.Error(), 512))
		default:
			renders = append(renders, planRender{skuCode: plan.SKUCode, objects: objs})
		}
	}
	return renders, nil
}

// exampleKooperValues are kooper's values for the example tenant on plan,
// as the tenant controller gives them to a real tenant.
func exampleKooperValues(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan) map[string]any {
	values := map[string]any{
		"instanceId":            exampleInstanceID,
		"namespace":             exampleNamespace,
		"skuCode":               plan.SKUCode,
		"credentialsSecretName": tenantobjects.CredentialsSecretName,
		"sso":                   map[string]any{"secretName": saasv1alpha1.SSOSecretName},
		"directory":             map[string]any{"secretPrefix": saasv1alpha1.DirectorySecretName},
	}
	if urls, err := tenantobjects.RenderURLs(product, exampleInstanceID, exampleNamespace); err == nil {
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
		Message: utilstrings.ShortenString(message, maxConditionMessage)}
}
