package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// TenantOptions are the tenant controller's settings.
type TenantOptions struct {
	// SecretNamespace is kooper's namespace: keys, TLS and image-pull Secrets live there.
	SecretNamespace string
	// IngressNamespace is where the ingress controller runs; tenant
	// NetworkPolicies let traffic in from it.
	IngressNamespace string
	// MonitoringNamespace is where the monitoring (Prometheus) runs; tenant
	// NetworkPolicies let traffic in from it. Empty: none.
	MonitoringNamespace string
	// ClusterCIDRs are the cluster's pod and service ranges: the HTTPS a
	// joint-operation tenant may reach outside the cluster excludes them.
	ClusterCIDRs []netip.Prefix
	// GatewayImage is the SSO gateway's image for products that name none
	// (docs/sso-gateway.md); empty: tenantobjects.DefaultGatewayImage.
	GatewayImage string
	// FieldOwner is the server-side apply field manager of every tenant object.
	FieldOwner string
	// KubeVersion is the API server's version, such as v1.37.2: a chart's
	// .Capabilities.KubeVersion.
	KubeVersion string
	// MaxConcurrentReconciles is how many tenants are reconciled at once.
	MaxConcurrentReconciles int
	// ProvisionedStatusDelay is how long after a new tenant's objects are
	// applied its Provisioned condition may wait to be written together
	// with Ready, in one status write instead of two (provisionedHold);
	// 0 writes it at once.
	ProvisionedStatusDelay time.Duration
}

// DefaultProvisionedStatusDelay is --provisioned-status-delay's default:
// long enough for a workload to become available on a busy cluster, short
// enough that kubectl shows Provisioned soon after the objects exist.
const DefaultProvisionedStatusDelay = 30 * time.Second

// SaaSTenantReconciler turns each SaaSTenant into an isolated running tenant and
// applies freeze, renewal, upgrade, expiry and release to it.
type SaaSTenantReconciler struct {
	client.Client
	// Reader reads around the cache: tenant Secrets, the CRD on deletion,
	// and the product before a release deletes the data at once.
	Reader   client.Reader
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Orders   OrderClientFactory
	Options  TenantOptions
	// Issued reads the tombstones from the cache once it holds them all,
	// and makes each tombstone written wait for the cache; nil: every
	// tombstone read goes to the API server, and no write waits.
	Issued *IssuedInstances

	resolved  resolvedOrders
	urlChecks urlCheckCache
	// productTenants maps a product to its tenants from the cache without
	// copies; set up with the controller.
	productTenants productTenantsReader
	// written remembers the uncached objects (tenant ConfigMaps, a chart's
	// objects of a version kooper does not cache) this process wrote, so
	// the pass after a write does not read them back; a deletion of one
	// makes it forget it (configMapDeleted, childEvents.Delete).
	written apply.Memo
	// keyFlight makes the workers that miss the credentials key at once
	// share one read (and at most one create) of it (credentialsKey).
	keyFlight singleflight.Group
	// Charts fetches and renders the charts of products with spec.chart.
	Charts *Charts
	// childKinds maps each kind of TenantChildTypes to the version kooper
	// reads it in (childGVK), built once: every pass of a chart tenant asks
	// it for each of its objects.
	childKinds     map[schema.GroupKind]schema.GroupVersionKind
	childKindsOnce sync.Once
	// foundNothing remembers the tenants whose lost inventory was rebuilt
	// from nothing, so their passes list once (recoverInventory).
	foundNothing foundNothingMemory
	// revisions remembers the product revisions decoded for the tenants a
	// rollout holds on an older one (selectRevision).
	revisions revisionMemo
}

// tenantState carries one reconcile's findings from step to step.
type tenantState struct {
	tenant *saasv1alpha1.SaaSTenant
	// stored is the tenant as the API server holds it after this
	// reconcile's last write: the base of the next status write.
	stored  *saasv1alpha1.SaaSTenant
	product *saasv1alpha1.SaaSProduct
	plan    *saasv1alpha1.Plan
	// lifecycle is the product's lifecycle policy, or the one the tenant
	// recorded when the product is gone.
	lifecycle *saasv1alpha1.LifecyclePolicy
	// frozen is the effective freeze: the marketplace's, the expiry safety
	// net's, or used-up packages' (frozenByExhaustion).
	frozen bool
	// newExpiryFreeze: this pass's expiry safety net froze an Active
	// tenant not yet marked Expired, which confirmExpiryFreeze decides on
	// the stored tenant first.
	newExpiryFreeze bool
	// frozenByExhaustion: frozen because the tenant's packages are used up
	// (spec.packages.onExhausted Freeze), not by the marketplace or expiry.
	frozenByExhaustion bool
	// notice is the expiry notice due (applyExpiry), which deliverNotice
	// writes into the tenant's namespace; nil when none is.
	notice *saasv1alpha1.ExpiryNotice
	// orderTimes are the creation times that put the tenant's orders in
	// sequence (docs/lifecycle.md rules E and P).
	orderTimes map[string]time.Time
	// freshNamespace says this reconcile recorded the tenant's namespace
	// first: nothing of the tenant's was made before, so its uncached
	// objects are written without a read (apply.Applier.FreshNamespace).
	freshNamespace bool
	// revision is the product revision s.product holds (selectRevision),
	// "" for a chart product whose chart is not resolved yet.
	revision string
	// appliedHashes are the last-applied hashes of this reconcile's
	// applies, by kind and name: what the cached copies must carry before
	// their health counts (observeWorkload).
	appliedHashes map[string]string
	result        ctrl.Result
}

// requeueAt asks for a reconcile no later than after d.
func (s *tenantState) requeueAt(d time.Duration) {
	if s.result.RequeueAfter == 0 || d < s.result.RequeueAfter {
		s.result.RequeueAfter = d
	}
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants,verbs=get;list;watch;update;delete
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=namespaces;serviceaccounts;services;persistentvolumeclaims;resourcequotas;limitranges,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies;ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// The kinds only a chart renders (docs/chart-tenants.md): applied, pruned and released.
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete

// Reconcile brings one tenant to what its spec and product ask for.
func (r *SaaSTenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	// A pass a rollout put ahead (WorkloadCurrentPriority) does not keep
	// that place for the requeues it asks for: its timers and retries
	// queue as any tenant's.
	defer func() { result.Priority = ptr.To(ordinaryPriority) }()
	// before is the cache's own object, read without a copy and only read
	// (the Events of this reconcile's transitions compare with it): two
	// copies per reconcile instead of three, which a restart pays for
	// every tenant.
	before := &saasv1alpha1.SaaSTenant{}
	if err := r.Get(ctx, req.NamespacedName, before, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	tenant := before.DeepCopy()
	stored := before.DeepCopy()
	defer func() {
		retErr = finishReconcile(ctx, &result, retErr, r.patchStatus(ctx, before, stored, tenant, retErr, &result))
	}()
	if !tenant.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, tenant, stored)
	}
	if tenant.Status.ObservedGeneration == 0 && tenant.Status.Namespace == "" {
		// A record never reconciled. If its instance was issued and deleted
		// before, the receiver saw a stale cache: the order line is never
		// provisioned again (docs/lifecycle.md rule B). A recorded
		// namespace says an earlier pass checked already: it is written
		// only after this check.
		if gone, err := r.resurrected(ctx, tenant); gone || err != nil {
			return ctrl.Result{}, err
		}
	}
	if controllerutil.AddFinalizer(tenant, saasv1alpha1.Finalizer) {
		// The receiver creates records with the finalizer; one written
		// another way gets it before any side effect, so a deletion racing
		// the creation still releases what was made.
		if err := r.Update(ctx, tenant); err != nil {
			return ctrl.Result{}, fmt.Errorf("failed to add the finalizer: %w", err)
		}
	}
	return r.reconcile(ctx, tenant, stored)
}

// reconcile runs the steps in order and stops at the first that does not
// proceed. A
// released tenant needs nothing but what it recorded; a frozen or expired
// one is frozen from its record when a step stops provisioning
// (DESIGN.md rule 10).
func (r *SaaSTenantReconciler) reconcile(ctx context.Context, tenant, stored *saasv1alpha1.SaaSTenant) (ctrl.Result, error) {
	s := &tenantState{tenant: tenant, stored: stored}
	if tenant.Spec.State == saasv1alpha1.StateReleased {
		// No notice is due once released (s.notice stays nil): the notice
		// goes from status, and kooper-notice from the kept namespace.
		return runSteps(ctx, s, r.deliverNotice, r.release, r.deleteExpiredDebugTenant).result(s.result)
	}
	o := runSteps(ctx, s,
		r.loadProduct,
		r.selectRevision,
		r.deleteExpiredDebugTenant,
		r.resolveOrder,
		r.selectPlan,
		r.decideExpiryFreeze,
		r.decideExhaustionFreeze,
		r.recordPackage,
		r.provision,
		r.deliverNotice,
		r.observeWorkload,
		r.summarize,
	)
	if o.kind == stalledOn || o.kind == failing {
		o = r.freezeAnyway(ctx, s, o)
	}
	return o.result(s.result)
}

// summarize derives the summary conditions once every step succeeded.
func (r *SaaSTenantReconciler) summarize(_ context.Context, s *tenantState) outcome {
	setSummary(s.tenant, s)
	return proceed()
}

// freezeAnyway ends a reconcile that a step stalled or failed.
// Provisioning may wait for a product, plan, order or Secret; stopping
// service may not, so a tenant that must be frozen is frozen from what it
// recorded.
func (r *SaaSTenantReconciler) freezeAnyway(ctx context.Context, s *tenantState, o outcome) outcome {
	stopErr := r.freezeFromRecord(ctx, s)
	switch {
	case stopErr == nil:
		return o // as it is, so that finishReconcile sees a retryAfterError
	case o.isStalled():
		return failed(stopErr)
	}
	return failed(kerrors.NewAggregate([]error{o.err, stopErr}))
}

// loadProduct reads the tenant's SaaSProduct.
func (r *SaaSTenantReconciler) loadProduct(ctx context.Context, s *tenantState) outcome {
	product := &saasv1alpha1.SaaSProduct{}
	err := r.Get(ctx, client.ObjectKey{Name: s.tenant.Spec.ProductName}, product)
	if apierrors.IsNotFound(err) {
		return r.stall(s.tenant, saasv1alpha1.ProductNotFoundReason, "SaaSProduct %q not found", s.tenant.Spec.ProductName)
	}
	if err != nil {
		return failed(fmt.Errorf("failed to read SaaSProduct %s: %w", s.tenant.Spec.ProductName, err))
	}
	if product.Spec.Type != saasv1alpha1.ProductTypeSaaS {
		return r.stall(s.tenant, saasv1alpha1.ProductNotFoundReason, "SaaSProduct %q sells licences, not SaaS tenants", product.Name)
	}
	// Found, and of the right kind: a stall of an earlier pass on its
	// absence is over, whatever a later step meets (an order Query Order
	// cannot answer for now would otherwise show as the missing product).
	clearStall(s.tenant, saasv1alpha1.ProductNotFoundReason)
	s.product = product
	s.lifecycle = &product.Spec.Lifecycle
	// Recorded for the day the product is gone: teardown works from it.
	s.tenant.Status.Lifecycle = product.Spec.Lifecycle.DeepCopy()
	return proceed()
}

// stall records that only a change of input can help, and stops.
func (r *SaaSTenantReconciler) stall(t *saasv1alpha1.SaaSTenant, reason, format string, args ...any) outcome {
	setStalled(t, reason, fmt.Sprintf(format, args...))
	return stalled(reason)
}

// resolveOrder reads the order that selects the plan (docs/lifecycle.md
// rule P) from Query Order once per order, and the creation times that put
// the orders in sequence. A failing Query Order is paced by orders.RecordFailure.
func (r *SaaSTenantReconciler) resolveOrder(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	debug := t.Spec.Mode == saasv1alpha1.ModeDebug && s.product.Spec.Debug != nil && s.product.Spec.Debug.SKUCode != ""
	resolver := r.resolver()
	times, err := resolver.orderTimes(ctx, s.product, t.Spec.Orders, &t.Status.OrderTimes, debug)
	if err != nil {
		return r.orderFailed(t, err)
	}
	s.orderTimes = times
	order := orders.PlanOrder(t.Spec.Orders, t.Spec.OrderID, t.Spec.OrderLineID, times)
	if t.Status.Order != nil && t.Status.Order.OrderID == order.OrderID && resolver.readInZone(t.Status.Order) {
		r.noteOrder(s, order)
		return proceed()
	}
	resolved, err := resolver.resolve(ctx, s.product, order)
	if err != nil && debug {
		resolved, err = orders.Debug(s.product, order), nil
	}
	if err != nil {
		return r.orderFailed(t, err)
	}
	orders.KeepExpiry(resolved, t.Status.Order)
	t.Status.Order = resolved
	t.Status.SKUCode = resolved.SKUCode
	r.noteOrder(s, order)
	return proceed()
}

// orderFailed records a failure to resolve the order, since when it has
// lasted, and fails for a retry (recordOrderFailure).
func (r *SaaSTenantReconciler) orderFailed(t *saasv1alpha1.SaaSTenant, err error) outcome {
	return failed(recordOrderFailure(&t.Status.Conditions, t.Generation, r.Clock.Now(), err))
}

// selectPlan finds the product's plan for the resolved SKU.
func (r *SaaSTenantReconciler) selectPlan(_ context.Context, s *tenantState) outcome {
	i := slices.IndexFunc(s.product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == s.tenant.Status.SKUCode })
	if i < 0 {
		return r.stall(s.tenant, saasv1alpha1.PlanNotFoundReason, "SaaSProduct %q has no plan for skuCode %q", s.product.Name, s.tenant.Status.SKUCode)
	}
	plan := &s.product.Spec.Plans[i]
	if s.product.Spec.Workload != nil {
		// A plan whose quota cannot hold a rollout is refused, not run: its
		// tenant would wait for ever for room for the surge pod. What runs
		// already keeps running, and teardown works from the record.
		if problems := tenantobjects.QuotaShortfalls(s.product.Spec.Workload, plan); len(problems) > 0 {
			return r.stall(s.tenant, saasv1alpha1.QuotaTooSmallReason, "%s", strings.Join(problems, "; "))
		}
	}
	s.plan = plan
	apimeta.RemoveStatusCondition(&s.tenant.Status.Conditions, saasv1alpha1.StalledCondition)
	return proceed()
}

// decideExpiryFreeze is the safety net: past expireTime plus the grace
// period with no marketplace call, the tenant counts as expired and, by
// default, frozen. It decides; provision applies the freeze.
func (r *SaaSTenantReconciler) decideExpiryFreeze(ctx context.Context, s *tenantState) outcome {
	r.applyExpiry(s, s.orderTimes)
	if err := r.confirmExpiryFreeze(ctx, s, s.orderTimes); err != nil {
		return failed(err)
	}
	return proceed()
}

// confirmExpiryFreeze decides a new expiry freeze, which stops a buyer's
// service on kooper's own word, on the tenant and the product's expiry
// policy as the API server holds them (docs/lifecycle.md rule A): a
// renewal stored a moment ago and not yet in the cache has moved the
// expiry, a grace period lengthened or a safety net turned off has moved
// or cancelled the freeze. A policy changed is recorded and decides again
// with times (applyExpiry), which comes back at a deadline moved later; a
// product the API server no longer has leaves the policy the tenant
// recorded (docs/lifecycle.md rule S). A tenant behind answers
// errStaleRead, and the pass runs again once the cache caught up. A tenant
// already marked Expired needs no read: the freeze was decided on an
// earlier pass.
func (r *SaaSTenantReconciler) confirmExpiryFreeze(ctx context.Context, s *tenantState, times map[string]time.Time) error {
	if !s.newExpiryFreeze {
		return nil
	}
	t := s.tenant
	decidedWith := s.lifecycle.Expiry
	lifecycle, err := r.storedLifecycle(ctx, s)
	if err != nil {
		return err
	}
	if !apiequality.Semantic.DeepEqual(decidedWith, lifecycle.Expiry) {
		// As before this pass decided: a new expiry freeze found the tenant
		// not Expired.
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ExpiredCondition)
		s.newExpiryFreeze = false
		r.applyExpiry(s, times)
		if !s.newExpiryFreeze {
			return nil
		}
	}
	stored := &metav1.PartialObjectMetadata{}
	stored.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("SaaSTenant"))
	if err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKeyFromObject(t), stored); err != nil {
		return fmt.Errorf("failed to read SaaSTenant %s before its expiry freeze: %w", t.Name, err)
	}
	if stored.ResourceVersion != t.ResourceVersion {
		return errStaleRead
	}
	return nil
}

// applyExpiry decides whether the tenant is frozen, by the marketplace or
// by the expiry safety net, from the expiry that times put in force.
// It decides the expiry notice due too (deliverNotice writes it), and
// asks for a reconcile when the next notice threshold is crossed.
func (r *SaaSTenantReconciler) applyExpiry(s *tenantState, times map[string]time.Time) {
	t := s.tenant
	wasExpired := apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ExpiredCondition)
	t.Status.ExpireTime = orders.TenantExpiry(t, times)
	s.frozen = t.Spec.State == saasv1alpha1.StateFrozen
	now := r.Clock.Now()
	defer func() {
		var next time.Duration
		s.notice, next = desiredNotice(t, &s.lifecycle.Expiry, now)
		if next > 0 {
			s.requeueAt(max(next, time.Second))
		}
	}()
	expiry := t.Status.ExpireTime
	if expiry == nil {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ExpiredCondition)
		return
	}
	policy := s.lifecycle.Expiry
	deadline := expiry.Add(time.Duration(policy.GetGraceSeconds()) * time.Second)
	if now.Before(deadline) {
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ExpiredCondition)
		s.requeueAt(timeUntil(now, deadline))
		return
	}
	setCondition(t, saasv1alpha1.ExpiredCondition, metav1.ConditionTrue, saasv1alpha1.ExpiredReason,
		fmt.Sprintf("Expired at %s; no renewal or freeze came within the grace period", expiry.UTC().Format(time.RFC3339)))
	// A package runs nothing to freeze: past its expiry it only stops paying.
	if policy.Action == saasv1alpha1.ExpiryFreeze && t.Spec.State == saasv1alpha1.StateActive && t.Status.Package == nil {
		s.frozen = true
		s.newExpiryFreeze = s.newExpiryFreeze || !wasExpired
	}
}

// deleteExpiredDebugTenant deletes a debug tenant whose time is up. It marks the
// tenant first: its deletion, unlike one by hand, takes the data with it,
// and its tombstone keeps the order line from being provisioned again. The
// cache says when to look; the product as the API server holds it decides
// (docs/lifecycle.md rule A): a TTL the merchant raised or removed a moment
// ago may not be in the cache yet. The mark and the deletion are written
// only in the tenant's version the pass decided on: a change since fails
// them with a Conflict, and the pass runs again soon to decide anew.
func (r *SaaSTenantReconciler) deleteExpiredDebugTenant(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	if t.Spec.Mode != saasv1alpha1.ModeDebug {
		return proceed()
	}
	_, marked := t.Annotations[saasv1alpha1.DebugTTLExpiredAnnotation]
	ttl, err := debugTTL(ctx, r.Client, s.product, t.Spec.ProductName)
	if err != nil {
		return failed(err)
	}
	if !r.debugTTLDue(s, ttl) && !marked {
		return proceed()
	}
	if ttl, err = debugTTL(ctx, apiReader(r.Reader, r.Client), nil, t.Spec.ProductName); err != nil {
		return failed(err)
	}
	if !r.debugTTLDue(s, ttl) {
		// A mark left by a pass whose deletion failed goes: a deletion by
		// hand of a tenant whose time is not up keeps the data.
		return r.writeDebugTTLMark(ctx, t, "")
	}
	if !marked {
		if o := r.writeDebugTTLMark(ctx, t, r.Clock.Now().UTC().Format(time.RFC3339)); !o.proceeds() {
			return o
		}
	}
	decidedOn := client.Preconditions{UID: &t.UID, ResourceVersion: &t.ResourceVersion}
	if err := r.Delete(ctx, t, decidedOn); err != nil && !apierrors.IsNotFound(err) {
		return debugTTLWriteFailed("delete the expired debug tenant", err)
	}
	return done()
}

// debugTTLDue reports whether the debug tenant's time is up after ttl (0:
// never), and asks for a pass at its deadline when it is not yet.
func (r *SaaSTenantReconciler) debugTTLDue(s *tenantState, ttl time.Duration) bool {
	if ttl == 0 {
		return false
	}
	deadline := s.tenant.CreationTimestamp.Add(ttl)
	if now := r.Clock.Now(); now.Before(deadline) {
		s.requeueAt(timeUntil(now, deadline))
		return false
	}
	return true
}

// writeDebugTTLMark sets the debug TTL's mark on t to value, or removes it
// (""), only in t's version (an optimistic lock); nothing to change writes
// nothing. t takes the version written, and its annotations: its status
// stays this reconcile's.
func (r *SaaSTenantReconciler) writeDebugTTLMark(ctx context.Context, t *saasv1alpha1.SaaSTenant, value string) outcome {
	_, marked := t.Annotations[saasv1alpha1.DebugTTLExpiredAnnotation]
	if value == "" && !marked {
		return proceed()
	}
	mark := t.DeepCopy()
	if value == "" {
		delete(mark.Annotations, saasv1alpha1.DebugTTLExpiredAnnotation)
	} else {
		metav1.SetMetaDataAnnotation(&mark.ObjectMeta, saasv1alpha1.DebugTTLExpiredAnnotation, value)
	}
	if err := r.Patch(ctx, mark, client.MergeFromWithOptions(t, client.MergeFromWithOptimisticLock{})); err != nil {
		return debugTTLWriteFailed("write the debug TTL's mark", err)
	}
	t.ResourceVersion, t.Annotations = mark.ResourceVersion, mark.Annotations
	return proceed()
}

// debugTTLWriteFailed ends a pass whose debug TTL write failed: a Conflict
// (the tenant changed since it was read) runs the pass again soon, without
// an error, to decide on the newer version.
func debugTTLWriteFailed(what string, err error) outcome {
	if apierrors.IsConflict(err) {
		return waitFor(conflictRequeueDelay)
	}
	return failed(fmt.Errorf("failed to %s: %w", what, err))
}

// debugTTL is how long a debug tenant of productName lives (0: for ever):
// by product, or by the product reader holds when product is nil (a
// released tenant's reconcile loads none, and a deletion is decided on the
// stored one). Without the product, the tenant stays.
func debugTTL(ctx context.Context, reader client.Reader, product *saasv1alpha1.SaaSProduct, productName string) (time.Duration, error) {
	if product == nil {
		product = &saasv1alpha1.SaaSProduct{}
		if err := reader.Get(ctx, client.ObjectKey{Name: productName}, product); err != nil {
			if apierrors.IsNotFound(err) {
				return 0, nil
			}
			return 0, fmt.Errorf("failed to read SaaSProduct %s: %w", productName, err)
		}
	}
	if debug := product.Spec.Debug; debug != nil && debug.TTLSeconds != nil {
		return time.Duration(*debug.TTLSeconds) * time.Second, nil
	}
	return 0, nil
}

// productNameIndex indexes tenants by product, so a product change reaches
// its tenants without a list scan.
const productNameIndex = "spec.productName"

// SetupWithManager registers the controller and its watches. Children are
// found by their instance label, not owner references: no garbage collector
// may ever cascade from a tenant (or its CRD) into tenant data.
func (r *SaaSTenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexByProduct(mgr); err != nil {
		return err
	}
	if err := indexByConfigMap(mgr); err != nil {
		return err
	}
	if err := indexByCopiedSecret(mgr); err != nil {
		return err
	}
	if err := indexTenantsByBuyer(mgr); err != nil {
		return err
	}
	if err := indexPackagesByFunded(mgr); err != nil {
		return err
	}
	r.productTenants = productTenantsReader{consistent: r.Client, informers: mgr.GetCache()}
	tenants.use(mgr.GetCache())
	b := ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSTenant{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, exhaustionChanged))).
		Watches(&saasv1alpha1.SaaSProduct{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfProduct),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, chartNewsForTenants))).
		// A pay-per-use tenant resolved wakes its buyer's waiting packages.
		Watches(&saasv1alpha1.SaaSTenant{}, handler.EnqueueRequestsFromMapFunc(r.packagesWaitingFor), builder.WithPredicates(buyerResolved)).
		// A pay-per-use tenant released, its last usage pushed, moves its packages on.
		Watches(&saasv1alpha1.SaaSTenant{}, handler.EnqueueRequestsFromMapFunc(r.packagesOfEnded), builder.WithPredicates(fundingJustEnded)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfSecret), builder.WithPredicates(changedInCache)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfConfigMap), builder.WithPredicates(changedInCache)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Options.MaxConcurrentReconciles, 1), RateLimiter: newRetryRateLimiter()}).
		Named("saastenant")
	for _, child := range TenantChildTypes() {
		gvk, err := apiutil.GVKForObject(child, mgr.GetScheme())
		if err != nil {
			return err
		}
		b = b.Watches(child, tenantOfChildEventsForgetting(mgr.GetCache(), gvk.GroupKind(), &r.written), builder.WithPredicates(changedInCache))
	}
	configMapDeletions, err := r.tenantConfigMapDeletions(mgr)
	if err != nil {
		return err
	}
	return b.WatchesRawSource(configMapDeletions).Complete(r)
}

// TenantChildTypes are the kinds kooper creates in tenant namespaces (and
// the namespaces), watched and cached by kooper's label: its own, and those
// only a chart renders (StatefulSet, Job, CronJob, HorizontalPodAutoscaler,
// PodDisruptionBudget), in the version kooper reads them in. Secrets and
// ConfigMaps are not among them: see CacheOptions.
func TenantChildTypes() []client.Object {
	return []client.Object{
		&corev1.Namespace{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{},
		&networkingv1.NetworkPolicy{}, &corev1.ResourceQuota{}, &corev1.LimitRange{},
		&corev1.ServiceAccount{}, &corev1.PersistentVolumeClaim{},
		&appsv1.StatefulSet{}, &batchv1.Job{}, &batchv1.CronJob{},
		&autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{},
	}
}

// chartStatusChanged passes a product whose resolved chart or ChartReady
// changed: the product controller records them in status, which changes no
// generation. The tenants' watch takes fewer (chartNewsForTenants).
var chartStatusChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldDigest, oldReady := chartStatusOf(e.ObjectOld)
		newDigest, newReady := chartStatusOf(e.ObjectNew)
		return oldDigest != newDigest || oldReady != newReady
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// chartNewsForTenants passes a product whose resolved chart changed (or was
// first resolved): every tenant renders it. A ChartReady change passes
// while the product has no chart resolved (every tenant of it waits for
// one and says why: renderChart), and when it changes the finding of a
// route every tenant of a plan shares (chartRouteShared), which stalls or
// frees them all. No tenant reads the rest of ChartReady: a tag resolved again
// (every 10 minutes) through a passing registry failure flips it False and
// True on the same digest, and reconciled each of 10,000 tenants twice.
var chartNewsForTenants = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldDigest, oldReady := chartStatusOf(e.ObjectOld)
		newDigest, newReady := chartStatusOf(e.ObjectNew)
		return oldDigest != newDigest || newDigest == "" && oldReady != newReady ||
			routeSharedOf(e.ObjectOld) != routeSharedOf(e.ObjectNew)
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// routeSharedOf is the product controller's finding that a chart product's
// chart gives every tenant of a plan one Ingress route (chartRouteShared),
// which every tenant of the product reads, chart resolved or not: "" when
// there is none.
func routeSharedOf(obj client.Object) string {
	if p, ok := obj.(*saasv1alpha1.SaaSProduct); ok {
		if shared := chartRouteShared(p); shared != nil {
			return shared.message
		}
	}
	return ""
}

// chartStatusOf is a product's resolved chart digest ("" when none) and its
// ChartReady, as "status: message" ("" when unset).
func chartStatusOf(obj client.Object) (digest, ready string) {
	p, ok := obj.(*saasv1alpha1.SaaSProduct)
	if !ok {
		return "", ""
	}
	if p.Status.Chart != nil {
		digest = p.Status.Chart.Digest
	}
	if c := apimeta.FindStatusCondition(p.Status.Conditions, saasv1alpha1.ChartReadyCondition); c != nil {
		ready = string(c.Status) + ": " + c.Message
	}
	return digest, ready
}

// tenantOfChild maps a tenant's object to the tenant, by its instance label.
func tenantOfChild(_ context.Context, obj client.Object) []reconcile.Request {
	id := obj.GetLabels()[saasv1alpha1.InstanceIDLabel]
	if id == "" || obj.GetLabels()[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: id}}}
}

// tenantsOfProduct maps a product to its tenants, read from the informer's
// store (productTenantsReader).
func (r *SaaSTenantReconciler) tenantsOfProduct(ctx context.Context, product client.Object) []reconcile.Request {
	// Only the names are read, from the cache as it is: a restart maps each
	// event of a product (and of the Secrets it copies) to every one of its
	// tenants, and each tenant's reconcile reads it again.
	return r.productTenants.requests(ctx, product, func(*saasv1alpha1.SaaSTenant) bool { return true })
}
