package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// LicenseOptions are the licence controller's settings.
type LicenseOptions struct {
	// SecretNamespace is kooper's namespace: products' keys Secrets live
	// there, and so do the Secrets holding issued licence keys.
	SecretNamespace string
	// MaxConcurrentReconciles is how many licences are reconciled at once.
	MaxConcurrentReconciles int
	// KeysRetryInterval is how often a licence whose product lacks a
	// signing key looks again (Secrets are not watched for it). Default 1 min.
	KeysRetryInterval time.Duration
	// DefaultKeyFormat is the format of new keys of a product that names
	// none (--licence-key-format); empty means JWS.
	DefaultKeyFormat saasv1alpha1.LicenseKeyFormat
}

// LicenseReconciler issues the signed key of each License, re-issues it when
// the window, plan or signing key changes, revokes it on freeze and release,
// and uploads the licences of getLicenseAsync applications.
//
// A licence's finalizer only records its instance as issued before it goes
// (a tombstone, docs/lifecycle.md rule B): its only child is the Secret
// holding the key, which is owned by the License and can always be issued
// again, so garbage collection may take it.
type LicenseReconciler struct {
	client.Client
	// Reader reads around the cache, to confirm an upload is still needed.
	Reader   client.Reader
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Orders   OrderClientFactory
	Uploads  UploadClientFactory
	Options  LicenseOptions
	// Issued reads the tombstones from the cache once it holds them all,
	// and makes each tombstone written wait for the cache; nil: every
	// tombstone read goes to the API server, and no write waits.
	Issued *IssuedInstances

	resolved resolvedOrders
}

// licenseState carries one reconcile's findings from step to step.
type licenseState struct {
	license *saasv1alpha1.License
	product *saasv1alpha1.SaaSProduct
	// instance is the purchase the licence belongs to: the licence itself,
	// or, for a getLicenseAsync application, the instance's License.
	instance *saasv1alpha1.License
	plan     *saasv1alpha1.Plan
	signer   *licenseissue.Issuer
	token    string
	result   ctrl.Result
	// orderTimes are the creation times that put the instance's orders in
	// sequence (docs/lifecycle.md rules E and P).
	orderTimes map[string]time.Time
}

func (s *licenseState) requeueAt(d time.Duration) {
	if s.result.RequeueAfter == 0 || d < s.result.RequeueAfter {
		s.result.RequeueAfter = d
	}
}

// isApplication reports whether l is a getLicenseAsync application rather
// than a purchase.
func isApplication(l *saasv1alpha1.License) bool { return l.Spec.EventID != "" }

// +kubebuilder:rbac:groups=saas.kooper.io,resources=licenses,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=saas.kooper.io,resources=licenses/status,verbs=get;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=licenses/finalizers,verbs=update
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one licence to what its spec and product ask for.
func (r *LicenseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	license := &saasv1alpha1.License{}
	if err := r.Get(ctx, req.NamespacedName, license); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !license.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, license)
	}
	if !isApplication(license) {
		if gone, err := r.admitInstance(ctx, license); gone || err != nil {
			return ctrl.Result{}, err
		}
	}
	before := license.DeepCopy()
	defer func() {
		retErr = finishReconcile(ctx, &result, retErr, r.patchStatus(ctx, before, license, retErr))
	}()
	s := &licenseState{license: license}
	// A frozen or released licence is revoked before its product is read:
	// revoking never waits for a product or plan that is gone (DESIGN.md
	// rule 10).
	o := runSteps(ctx, s,
		r.loadInstance,
		r.stopIfRevoked,
		r.loadProduct,
		r.resolveOrder,
		r.selectPlan,
		r.loadSigner,
		r.issue,
		r.upload,
		r.finish,
	)
	return o.result(s.result)
}

// admitInstance deletes a purchase record that was never reconciled if its
// instance was issued and deleted before (gone is true then): never one of
// an instance deleted before (docs/lifecycle.md rule B). Otherwise it makes
// sure the record has the finalizer that remembers it as issued when it is
// deleted (the receiver creates it with the finalizer; others may not).
func (r *LicenseReconciler) admitInstance(ctx context.Context, license *saasv1alpha1.License) (gone bool, err error) {
	if license.Status.ObservedGeneration == 0 {
		gone, err := deleteResurrected(ctx, r.Client, r.Reader, r.Issued, r.Recorder, r.Options.SecretNamespace, license, license.Spec.ProductName)
		if gone || err != nil {
			return gone, err
		}
	}
	if controllerutil.AddFinalizer(license, saasv1alpha1.Finalizer) {
		if err := r.Update(ctx, license); err != nil {
			return false, fmt.Errorf("failed to add the finalizer: %w", err)
		}
	}
	return false, nil
}

// reconcileDelete remembers a deleted licence instance as issued (the
// revocation list then names it released), deletes its key Secret, and lets
// it go (docs/lifecycle.md rule B). A licence deleted because the License
// CRD is being deleted is remembered as lost instead: it stays valid, its
// key Secret stays, and its record restored from a backup is taken back.
func (r *LicenseReconciler) reconcileDelete(ctx context.Context, l *saasv1alpha1.License) error {
	if !controllerutil.ContainsFinalizer(l, saasv1alpha1.Finalizer) {
		return nil
	}
	crdGoing, err := crdTerminating(ctx, r.Reader, "licenses")
	if err != nil {
		return err
	}
	if err := recordTombstone(ctx, r.Client, r.Reader, r.Issued, r.Recorder, r.Options.SecretNamespace, l, tombstone.KindLicense, crdGoing); err != nil {
		return err
	}
	if !crdGoing {
		if err := r.deleteKeySecret(ctx, l); err != nil {
			return err
		}
	}
	patch := client.MergeFrom(l.DeepCopy())
	controllerutil.RemoveFinalizer(l, saasv1alpha1.Finalizer)
	if err := r.Patch(ctx, l, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("failed to remove the finalizer: %w", err)
	}
	return nil
}

// loadProduct reads the licence's SaaSProduct, which must sell licences.
func (r *LicenseReconciler) loadProduct(ctx context.Context, s *licenseState) outcome {
	product := &saasv1alpha1.SaaSProduct{}
	err := r.Get(ctx, client.ObjectKey{Name: s.license.Spec.ProductName}, product)
	if apierrors.IsNotFound(err) {
		return r.stall(s, saasv1alpha1.ProductNotFoundReason, "SaaSProduct %q not found", s.license.Spec.ProductName)
	}
	if err != nil {
		return failed(fmt.Errorf("failed to read SaaSProduct %s: %w", s.license.Spec.ProductName, err))
	}
	if product.Spec.Type != saasv1alpha1.ProductTypeLicense {
		return r.stall(s, saasv1alpha1.ProductNotFoundReason, "SaaSProduct %q sells SaaS tenants, not licences", product.Name)
	}
	// Found, and of the right kind: a stall of an earlier pass on its
	// absence is over, whatever a later step meets.
	clearStall(s.license, saasv1alpha1.ProductNotFoundReason)
	s.product = product
	return proceed()
}

// loadInstance finds the purchase an application belongs to: its state and
// order decide the application's.
func (r *LicenseReconciler) loadInstance(ctx context.Context, s *licenseState) outcome {
	if !isApplication(s.license) {
		s.instance = s.license
		return proceed()
	}
	instance := &saasv1alpha1.License{}
	key := client.ObjectKey{Name: s.license.Spec.InstanceID}
	err := r.Get(ctx, key, instance)
	if apierrors.IsNotFound(err) {
		err = apiReader(r.Reader, r.Client).Get(ctx, key, instance)
	}
	return setInstance(s, instance, err)
}

// loadStoredInstance is loadInstance with the instance as the API server
// holds it, before the upload (confirmCurrent).
func (r *LicenseReconciler) loadStoredInstance(ctx context.Context, s *licenseState) outcome {
	if !isApplication(s.license) {
		return proceed()
	}
	instance := &saasv1alpha1.License{}
	err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKey{Name: s.license.Spec.InstanceID}, instance)
	return setInstance(s, instance, err)
}

// setInstance makes the instance read, with err, the application's.
func setInstance(s *licenseState, instance *saasv1alpha1.License, err error) outcome {
	key := client.ObjectKey{Name: s.license.Spec.InstanceID}
	if apierrors.IsNotFound(err) {
		// The receiver records applications only for an instance that
		// exists: its record was deleted since, which releases it (rule B),
		// and the revocation list names it from its tombstone.
		s.instance = &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: key.Name},
			Spec: saasv1alpha1.LicenseSpec{InstanceID: key.Name, State: saasv1alpha1.StateReleased}}
		return proceed()
	}
	if err != nil {
		return failed(fmt.Errorf("failed to read License %s: %w", s.license.Spec.InstanceID, err))
	}
	s.instance = instance
	return proceed()
}

// revocation is the reason the licence's keys are revoked, or "": the
// instance's state (or the licence's own, if someone set it) decides.
func revocation(s *licenseState) string {
	states := []saasv1alpha1.SubscriptionState{s.license.Spec.State, s.instance.Spec.State}
	switch {
	case slices.Contains(states, saasv1alpha1.StateReleased):
		return licensekey.ReasonReleased
	case slices.Contains(states, saasv1alpha1.StateFrozen):
		return licensekey.ReasonFrozen
	}
	return ""
}

// stopIfRevoked stops a frozen or released licence here: nothing is issued
// or uploaded for it, and its status says the key is revoked. The receiver
// publishes the revocation in the product's revocation list.
func (r *LicenseReconciler) stopIfRevoked(_ context.Context, s *licenseState) outcome {
	l := s.license
	switch revocation(s) {
	case licensekey.ReasonReleased:
		apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.FrozenCondition)
		setCondition(l, saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason, "Released: the licence key is revoked for good")
	case licensekey.ReasonFrozen:
		setCondition(l, saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason, "Frozen: the licence key is revoked until the instance is unfrozen")
	default:
		apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.FrozenCondition)
		apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.ReleasedCondition)
		return proceed()
	}
	apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	apimeta.RemoveStatusCondition(&l.Status.Conditions, saasv1alpha1.StalledCondition)
	return done()
}

// stall records that only a change of input can help, and stops.
func (r *LicenseReconciler) stall(s *licenseState, reason, format string, args ...any) outcome {
	setStalled(s.license, reason, fmt.Sprintf(format, args...))
	return stalled(reason)
}

// resolveOrder reads a purchase's defining order with Query Order, once per
// order; an application takes its instance's.
func (r *LicenseReconciler) resolveOrder(ctx context.Context, s *licenseState) outcome {
	l := s.license
	if isApplication(l) {
		return r.inheritOrder(s)
	}
	debug := l.Spec.Mode == saasv1alpha1.ModeDebug && s.product.Spec.Debug != nil && s.product.Spec.Debug.SKUCode != ""
	resolver := orderResolver{reader: r.Client, orders: r.Orders, namespace: r.Options.SecretNamespace, memo: &r.resolved}
	times, err := resolver.orderTimes(ctx, s.product, l.Spec.Orders, &l.Status.OrderTimes, debug)
	if err != nil {
		return r.orderFailed(l, err)
	}
	s.orderTimes = times
	order := orders.PlanOrder(l.Spec.Orders, l.Spec.OrderID, l.Spec.OrderLineID, times)
	if l.Status.Order != nil && l.Status.Order.OrderID == order.OrderID && resolver.readInZone(l.Status.Order) {
		return proceed()
	}
	resolved, err := resolver.resolve(ctx, s.product, order)
	if err != nil && debug {
		resolved, err = orders.Debug(s.product, order), nil
	}
	if err != nil {
		return r.orderFailed(l, err)
	}
	orders.KeepExpiry(resolved, l.Status.Order)
	r.setOrder(l, resolved)
	return proceed()
}

// orderFailed records a failure to resolve the order, since when it has
// lasted, and fails for a retry (recordOrderFailure).
func (r *LicenseReconciler) orderFailed(l *saasv1alpha1.License, err error) outcome {
	return failed(recordOrderFailure(&l.Status.Conditions, l.Generation, r.Clock.Now(), err))
}

// applicationWait is how often an application looks again for its
// instance's order, besides being triggered when the instance changes.
const applicationWait = 5 * time.Second

// inheritOrder gives an application its instance's resolved order, or
// waits for it.
func (r *LicenseReconciler) inheritOrder(s *licenseState) outcome {
	if s.instance.Status.Order == nil {
		msg := fmt.Sprintf("Waiting for the order of instance %s to be resolved", s.instance.Name)
		setCondition(s.license, saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.ProgressingReason, msg)
		setCondition(s.license, saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason, msg)
		return waitFor(applicationWait)
	}
	if !apiequality.Semantic.DeepEqual(s.license.Status.Order, s.instance.Status.Order) {
		r.setOrder(s.license, s.instance.Status.Order.DeepCopy())
	}
	return proceed()
}

func (r *LicenseReconciler) setOrder(l *saasv1alpha1.License, resolved *saasv1alpha1.ResolvedOrder) {
	l.Status.Order = resolved
	setCondition(l, saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Order %s: product %s, SKU %s", resolved.OrderID, resolved.ProductID, resolved.SKUCode))
}

// selectPlan finds the product's plan for the resolved SKU.
func (r *LicenseReconciler) selectPlan(_ context.Context, s *licenseState) outcome {
	sku := s.license.Status.Order.SKUCode
	i := slices.IndexFunc(s.product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == sku })
	if i < 0 || s.product.Spec.Plans[i].License == nil {
		return r.stall(s, saasv1alpha1.PlanNotFoundReason, "SaaSProduct %q has no licence plan for skuCode %q", s.product.Name, sku)
	}
	s.plan = &s.product.Spec.Plans[i]
	apimeta.RemoveStatusCondition(&s.license.Status.Conditions, saasv1alpha1.StalledCondition)
	return proceed()
}

// instanceIDIndex indexes licences by instance, so a change of an instance
// reaches its getLicenseAsync applications without a list scan.
const instanceIDIndex = "spec.instanceId"

// SetupWithManager registers the controller. Besides its own licences, it
// watches instances for their applications, products for their licences,
// and their key Secrets (so a deleted one is issued again).
func (r *LicenseReconciler) SetupWithManager(mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &saasv1alpha1.License{}, instanceIDIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.License).Spec.InstanceID} })
	if err != nil {
		return fmt.Errorf("failed to index Licenses by instance: %w", err)
	}
	if err := indexByProduct(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.License{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&saasv1alpha1.License{}, handler.EnqueueRequestsFromMapFunc(r.applicationsOf)).
		Watches(&saasv1alpha1.SaaSProduct{}, handler.EnqueueRequestsFromMapFunc(r.licensesOfProduct),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.licenceOfKeySecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Options.MaxConcurrentReconciles, 1), RateLimiter: newRetryRateLimiter()}).
		Named("license").
		Complete(r)
}

// licenceOfKeySecret maps a licence's key Secret (license-<name> in kooper's
// namespace, labelled kooper's) to its License. The Secret has no owner
// reference to map by (storeKey says why).
func (r *LicenseReconciler) licenceOfKeySecret(_ context.Context, secret client.Object) []reconcile.Request {
	name, ok := strings.CutPrefix(secret.GetName(), LicenseSecretName(""))
	if !ok || secret.GetNamespace() != r.Options.SecretNamespace ||
		secret.GetLabels()[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

// applicationsOf maps an instance's License to its applications: their
// state and order follow the instance's, status included.
func (r *LicenseReconciler) applicationsOf(ctx context.Context, obj client.Object) []reconcile.Request {
	instance, ok := obj.(*saasv1alpha1.License)
	if !ok || isApplication(instance) {
		return nil
	}
	return r.listRequests(ctx, client.MatchingFields{instanceIDIndex: instance.Name}, isApplication)
}

// licensesOfProduct maps a product to its licences.
func (r *LicenseReconciler) licensesOfProduct(ctx context.Context, product client.Object) []reconcile.Request {
	return r.listRequests(ctx, client.MatchingFields{productNameIndex: product.GetName()}, nil)
}

func (r *LicenseReconciler) listRequests(ctx context.Context, match client.MatchingFields, keep func(*saasv1alpha1.License) bool) []reconcile.Request {
	list := &saasv1alpha1.LicenseList{}
	// Read only: a product's event is not worth a deep copy of each of its
	// licences to take their names.
	if err := r.List(ctx, list, match, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list Licenses")
		return nil
	}
	var requests []reconcile.Request
	for i := range list.Items {
		if keep == nil || keep(&list.Items[i]) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: list.Items[i].Name}})
		}
	}
	return requests
}
