package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/productkeys"
	"github.com/kooper-io/kooper/internal/textcut"
)

// keysSecretNameIndex indexes products by the Secret holding their keys, so a
// Secret change finds its products without listing them all.
const keysSecretNameIndex = "spec.keysSecretName"

// SaaSProductReconciler reports whether each product can serve callbacks
// (its keys Secret exists, in kooper's namespace, with every key it needs)
// and run its tenants (every plan's quota holds a rollout, every tenant gets
// URLs of its own; a chart product's chart is resolved, see checkChart). It
// also keeps a product in use from being deleted (see protect).
type SaaSProductReconciler struct {
	client.Client
	// Reader reads around the cache, to confirm nothing holds a product
	// before it may go.
	Reader client.Reader
	// Recorder emits Events on Ready transitions.
	Recorder events.EventRecorder
	// SecretNamespace is kooper's own namespace, where keys Secrets live.
	SecretNamespace string
	// Charts fetches and renders the charts of products with spec.chart.
	Charts *Charts
	// KubeVersion is the Kubernetes version a product's chart is rendered
	// for when checkChart renders it for an example tenant: the API
	// server's, as for the tenants (Setup); empty: exampleKubeVersion.
	KubeVersion string
	// MaxConcurrentReconciles is how many products are reconciled at once
	// (at least 1): a product whose chart registry stops answering holds
	// one worker for up to Charts.FetchTimeout a try, not every product.
	MaxConcurrentReconciles int
	// MonitoringNamespace is the namespace the tenants' NetworkPolicy
	// admits for monitoring (--monitoring-namespace; "" when none), to say
	// whether a product's Prometheus meters can read its tenants' pods
	// (MetersValid). Nil: not known, and MetersValid is left as it is.
	MonitoringNamespace *string
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts/status,verbs=get;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts/finalizers,verbs=update
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants;licenses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile keeps the product while it is in use, and sets its
// KeysAvailable, PlansValid, URLsValid and Ready conditions, for a chart
// product ChartReady and status.chart, for a SaaS product
// EgressRestricted, and for one with meters MetersValid (Ready sums up
// neither of the last two).
func (r *SaaSProductReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, req.NamespacedName, product); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := r.protect(ctx, product); err != nil {
		return ctrl.Result{}, err
	}
	if !product.DeletionTimestamp.IsZero() && len(product.Finalizers) == 0 {
		return ctrl.Result{}, nil // going: there is no status to keep
	}
	s := &productState{product: product}
	if o := runSteps(ctx, s, r.checkKeys, r.checkChart, r.checkPlans, r.checkURLs, r.checkEgress, r.checkMeters); !o.proceeds() {
		return o.result(s.result)
	}
	statusErr := r.patchStatus(ctx, product, s)
	if statusErr == nil && (product.Spec.Workload != nil || product.Spec.Chart != nil) {
		r.warnEgressRestricted(ctx, product, s.egressWas)
	}
	if statusErr == nil {
		r.warnMeters(product, s.metersWas)
	}
	result := s.result
	if s.retry != nil {
		result = ctrl.Result{} // the error's back-off brings it back
	}
	return result, foldStatusError(&result, s.retry, statusErr)
}

// productState carries one reconcile's conditions from step to step; they
// are written together, with Ready summed up from them.
type productState struct {
	product *saasv1alpha1.SaaSProduct
	conds   []metav1.Condition
	// egressWas is EgressRestricted before this reconcile.
	egressWas *metav1.Condition
	// chart is the chart checkChart resolved, to be recorded in
	// status.chart; nil leaves status.chart as it is, unless dropChart
	// (the product has no chart) removes it with ChartReady.
	chart     *saasv1alpha1.ResolvedChart
	dropChart bool
	// result is the wake-up the steps asked for (a chart's tag resolved
	// again).
	result ctrl.Result
	// retry is a failure whose condition is written, retried with back-off
	// after the status patch.
	retry error
	// planRenders are a chart product's example renders, by plan in the
	// product's order, when the chart passed (checkChart).
	planRenders []planRender
	// refusedPlanChanges are to be recorded in status.refusedPlanChanges
	// when setRefused; otherwise it is left as it is (checkPlans).
	refusedPlanChanges []saasv1alpha1.PlanPair
	setRefused         bool
	// metersWas is MetersValid before this reconcile, when checkMeters
	// ran.
	metersWas *metav1.Condition
	// drop are the types of conditions the product no longer has.
	drop []string
}

// planRender is the example tenant's render on one plan.
type planRender struct {
	skuCode string
	objects []*unstructured.Unstructured
}

// checkKeys checks the product's keys Secret (KeysAvailable).
func (r *SaaSProductReconciler) checkKeys(ctx context.Context, s *productState) outcome {
	keys, err := r.keysCondition(ctx, s.product)
	if err != nil {
		return failed(err)
	}
	s.conds = append(s.conds, keys)
	return proceed()
}

// checkPlans checks that every plan can run (PlansValid) and, for a chart
// product, which plan changes a tenant would stall on
// (status.refusedPlanChanges). Those describe the chart the tenants run
// (status.chart): a chart not checked this time leaves them, and what
// PlansValid said of them, as they are. A refused plan change is the
// reason only when nothing else is wrong with the plans; otherwise it is
// told after the other problem (withPlanChanges).
func (r *SaaSProductReconciler) checkPlans(_ context.Context, s *productState) outcome {
	cond := plansCondition(s.product)
	withChartDefaultLimits(&cond, s)
	switch {
	case s.chart != nil:
		pairs, changes := planChangesRefused(s.planRenders)
		s.refusedPlanChanges, s.setRefused = pairs, true
		if len(changes) > 0 {
			withPlanChanges(&cond, strings.Join(changes, "; ")+
				"; a tenant changing between these plans would stall (ObjectInvalid): keep these fields the same on every plan")
		}
	case s.dropChart:
		s.refusedPlanChanges, s.setRefused = nil, true
	case len(s.product.Status.RefusedPlanChanges) > 0:
		if text := storedPlanChanges(s.product); text != "" {
			withPlanChanges(&cond, text)
		}
	}
	s.conds = append(s.conds, cond)
	return proceed()
}

// planChangesTold separates another problem of the plans from the plan
// changes refused, in a PlansValid message that tells both.
const planChangesTold = "; also, "

// withPlanChanges tells text, the plan changes refused, in cond, PlansValid
// as the plans alone make it: as its reason, PlanChangeRefused, when cond
// is True, else after cond's own message, which keeps its reason.
func withPlanChanges(cond *metav1.Condition, text string) {
	if cond.Status == metav1.ConditionTrue {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, saasv1alpha1.PlanChangeRefusedReason, text
	} else {
		cond.Message += planChangesTold + text
	}
	cond.Message = textcut.Bytes(cond.Message, 32768)
}

// storedPlanChanges is the text of the plan changes refused that the
// product's stored PlansValid tells (withPlanChanges), or "".
func storedPlanChanges(product *saasv1alpha1.SaaSProduct) string {
	was := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.PlansValidCondition)
	switch {
	case was == nil:
		return ""
	case was.Reason == saasv1alpha1.PlanChangeRefusedReason:
		return was.Message
	}
	// The last: the plans' own problems come first, and may say anything.
	if i := strings.LastIndex(was.Message, planChangesTold); i >= 0 {
		return was.Message[i+len(planChangesTold):]
	}
	return ""
}

// planChangesRefused returns the pairs of plans whose example renders
// differ in a field the API server will not change on an existing object
// (chartrender.ImmutableChanges) and for which kooper does not replace the
// object (stalls), in the order of the renders, and for each what differs.
// Each way is checked on its own: a pair refused one way only (a claim
// that would shrink, not grow) names the plan it is refused from.
func planChangesRefused(renders []planRender) ([]saasv1alpha1.PlanPair, []string) {
	var pairs []saasv1alpha1.PlanPair
	var out []string
	for i, a := range renders {
		for _, b := range renders[i+1:] {
			there := stalls(chartrender.ImmutableChanges(a.objects, b.objects))
			back := stalls(chartrender.ImmutableChanges(b.objects, a.objects))
			pair := saasv1alpha1.PlanPair{SKUCodes: []string{a.skuCode, b.skuCode}}
			switch {
			case len(there) > 0 && len(back) > 0:
				out = append(out, fmt.Sprintf("plans %s and %s render %s differently", a.skuCode, b.skuCode, strings.Join(union(there, back), ", ")))
			case len(there) > 0:
				pair.From = a.skuCode
				out = append(out, fmt.Sprintf("a change from plan %s to plan %s changes %s", a.skuCode, b.skuCode, strings.Join(there, ", ")))
			case len(back) > 0:
				pair.From = b.skuCode
				out = append(out, fmt.Sprintf("a change from plan %s to plan %s changes %s", b.skuCode, a.skuCode, strings.Join(back, ", ")))
			default:
				continue
			}
			pairs = append(pairs, pair)
		}
	}
	return pairs, out
}

// stalls keeps the changes ("Kind/name field", as ImmutableChanges gives
// them) a tenant would stall on: those of kinds kooper replaces when the
// API server refuses a change in place (replacedOnRefusal) are made.
func stalls(changes []string) []string {
	return slices.DeleteFunc(changes, func(change string) bool {
		kind, _, _ := strings.Cut(change, "/")
		return replacedOnRefusal(kind)
	})
}

// union is a and b, sorted, each once.
func union(a, b []string) []string {
	all := slices.Concat(a, b)
	slices.Sort(all)
	return slices.Compact(all)
}

// checkURLs checks that every tenant gets URLs of its own (URLsValid).
func (r *SaaSProductReconciler) checkURLs(_ context.Context, s *productState) outcome {
	s.conds = append(s.conds, urlsCondition(s.product))
	return proceed()
}

// checkEgress says what a SaaS product's tenants may connect to
// (EgressRestricted), whether they run a workload or a chart.
func (r *SaaSProductReconciler) checkEgress(_ context.Context, s *productState) outcome {
	if s.product.Spec.Workload != nil || s.product.Spec.Chart != nil {
		s.egressWas = apimeta.FindStatusCondition(s.product.Status.Conditions, saasv1alpha1.EgressRestrictedCondition).DeepCopy()
		s.conds = append(s.conds, egressCondition(s.product))
	}
	return proceed()
}

// keysCondition checks the product's keys Secret holds every key the
// product needs (RequiredSecretKeys), each in a form the part using it
// accepts (productkeys.Unusable). Only names of keys are reported, never values.
func (r *SaaSProductReconciler) keysCondition(ctx context.Context, product *saasv1alpha1.SaaSProduct) (metav1.Condition, error) {
	key := types.NamespacedName{Namespace: r.SecretNamespace, Name: product.Spec.KeysSecretName}
	secret := &corev1.Secret{}
	err := r.Get(ctx, key, secret)
	switch {
	case apierrors.IsNotFound(err):
		return falseCondition(saasv1alpha1.KeysSecretNotFoundReason, "Secret %s not found", key), nil
	case err != nil:
		return metav1.Condition{}, fmt.Errorf("failed to get Secret %s: %w", key, err)
	}
	var missing []string
	for _, name := range product.RequiredSecretKeys() {
		if koogallery.KeyText(secret.Data[name]) == "" { // white space alone is no key
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return falseCondition(saasv1alpha1.KeysSecretIncompleteReason,
			"Secret %s lacks %s", key, strings.Join(missing, ", ")), nil
	}
	if name, why := productkeys.Unusable(product, secret); name != "" {
		return falseCondition(saasv1alpha1.KeysSecretIncompleteReason, "Secret %s: %s is not usable: %s", key, name, why), nil
	}
	return metav1.Condition{
		Type:    saasv1alpha1.KeysAvailableCondition,
		Status:  metav1.ConditionTrue,
		Reason:  saasv1alpha1.SucceededReason,
		Message: fmt.Sprintf("Keys found in Secret %s", key),
	}, nil
}

func falseCondition(reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{
		Type:    saasv1alpha1.KeysAvailableCondition,
		Status:  metav1.ConditionFalse,
		Reason:  reason,
		Message: fmt.Sprintf(format, args...),
	}
}

// productReadyInputs are what a product's Ready sums up.
var productReadyInputs = []readyInput{
	{condType: saasv1alpha1.KeysAvailableCondition, waiting: "Waiting for the keys Secret to be checked"},
	{condType: saasv1alpha1.PlansValidCondition, waiting: "Waiting for the plans to be checked"},
	{condType: saasv1alpha1.URLsValidCondition, waiting: "Waiting for the URL templates to be checked"},
}

// chartProductReadyInputs are what the Ready of a product with a chart
// sums up: its chart too.
var chartProductReadyInputs = []readyInput{
	{condType: saasv1alpha1.KeysAvailableCondition, waiting: "Waiting for the keys Secret to be checked"},
	{condType: saasv1alpha1.ChartReadyCondition, waiting: "Waiting for the chart to be resolved"},
	{condType: saasv1alpha1.PlansValidCondition, waiting: "Waiting for the plans to be checked"},
	{condType: saasv1alpha1.URLsValidCondition, waiting: "Waiting for the URL templates to be checked"},
}

// readyInputsOf are what product's Ready sums up, and Ready's message when
// it is True.
func readyInputsOf(product *saasv1alpha1.SaaSProduct) ([]readyInput, string) {
	if product.Spec.Chart != nil {
		return chartProductReadyInputs, "The keys are available, the chart is resolved, every plan can run and every tenant gets URLs of its own"
	}
	return productReadyInputs, "The keys are available, every plan can run and every tenant gets URLs of its own"
}

// patchStatus writes the conditions, the resolved chart, the refused plan
// changes, observedGeneration and Ready derived from the conditions, in one
// write and only when they changed, and emits an Event when Ready is first
// set, flips or takes another reason.
func (r *SaaSProductReconciler) patchStatus(ctx context.Context, product *saasv1alpha1.SaaSProduct, s *productState) error {
	before := product.DeepCopy()
	for _, c := range s.conds {
		c.ObservedGeneration = product.Generation
		apimeta.SetStatusCondition(&product.Status.Conditions, c)
	}
	for _, condType := range s.drop {
		apimeta.RemoveStatusCondition(&product.Status.Conditions, condType)
	}
	switch {
	case s.chart != nil:
		product.Status.Chart = s.chart
	case s.dropChart:
		product.Status.Chart = nil
		apimeta.RemoveStatusCondition(&product.Status.Conditions, saasv1alpha1.ChartReadyCondition)
	}
	if s.setRefused {
		product.Status.RefusedPlanChanges = s.refusedPlanChanges
	}
	product.Status.ObservedGeneration = product.Generation
	inputs, readyMsg := readyInputsOf(product)
	ready := setReady(product, inputs, product.Status.ObservedGeneration, readyMsg)

	// A condition's lastTransitionTime moves only with its status, so an
	// equal status means nothing to write.
	written, err := patchStatusIfChanged(ctx, r.Client, before, product, before.Status, product.Status)
	// A new reason is news too: a keys Secret found at last but lacking
	// keys leaves Ready False, and the last Warning would name the Secret
	// missing.
	change := conditionChange{before: before.Status.Conditions, after: product.Status.Conditions}
	if written && change.tookReason(saasv1alpha1.ReadyCondition) != nil {
		r.recordReadyChange(product, ready)
	}
	return err
}

func (r *SaaSProductReconciler) recordReadyChange(product *saasv1alpha1.SaaSProduct, ready metav1.Condition) {
	eventType := corev1.EventTypeNormal
	if ready.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(product, nil, eventType, ready.Reason, "CheckProduct", "%s", ready.Message)
}

// SetupWithManager registers the controller. It watches products (spec
// changes, deletion and reconcile requests only, so its own status patches
// do not retrigger it), the Secrets of kooper's namespace, and the tenants
// and licences that start or stop holding a product.
func (r *SaaSProductReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexByKeysSecret(mgr); err != nil {
		return err
	}
	if err := indexByChartSecret(mgr); err != nil {
		return err
	}
	if err := indexByProduct(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSProduct{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.productsUsingSecret),
			builder.WithPredicates(changedInCache, predicate.NewPredicateFuncs(func(obj client.Object) bool {
				return obj.GetNamespace() == r.SecretNamespace
			}))).
		Watches(&saasv1alpha1.SaaSTenant{}, handler.EnqueueRequestsFromMapFunc(productWhoseHoldMayChange(mgr.GetCache())),
			builder.WithPredicates(holdChanged(tenantHoldsProduct))).
		Watches(&saasv1alpha1.License{}, handler.EnqueueRequestsFromMapFunc(productWhoseHoldMayChange(mgr.GetCache())),
			builder.WithPredicates(holdChanged(licenceHoldsProduct))).
		Named("saasproduct").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1), RateLimiter: newRetryRateLimiter()}).
		Complete(r)
}

// productsUsingSecret maps a Secret to the products that name it: as their
// keys Secret, or as their chart's Secret or pull Secret.
func (r *SaaSProductReconciler) productsUsingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var requests []reconcile.Request
	seen := map[string]bool{}
	for _, index := range []string{keysSecretNameIndex, chartSecretNameIndex} {
		products := &saasv1alpha1.SaaSProductList{}
		if err := r.List(ctx, products, client.MatchingFields{index: secret.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to list SaaSProducts for a Secret", "Secret", client.ObjectKeyFromObject(secret), "index", index)
			continue
		}
		for _, p := range products.Items {
			if !seen[p.Name] {
				seen[p.Name] = true
				requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Name: p.Name}})
			}
		}
	}
	return requests
}
