package controllers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
	"github.com/kooper-io/kooper/internal/textcut"
)

// MeteringOptions are the metering controller's settings.
type MeteringOptions struct {
	// SecretNamespace is kooper's namespace, where products' keys Secrets live.
	SecretNamespace string
	// PrometheusURL is the Prometheus API for products that name none.
	PrometheusURL string
	// MaxConcurrentReconciles is how many tenants are metered at once.
	MaxConcurrentReconciles int
	// PushSpread is how long after each hour the tenants' pushes are spread
	// over; 0 is DefaultPushSpread. Tests shorten it (--metering-push-spread).
	PushSpread time.Duration
	// Skips, when set, names tenants the controller never reconciles
	// (Config.MeteringSkips); nil skips none.
	Skips func(*saasv1alpha1.SaaSTenant) bool
	// MaxUsageRecords is the most records one usage push carries
	// (--usage-push-max-records): the usage push's API page says 1000, one
	// of its error codes 100 (spec §8 item 19). 0, or a value outside 1 to
	// koogallery.MaxUsageRecords, is koogallery.DefaultUsagePushMaxRecords.
	MaxUsageRecords int
	// MeasureBudget is about how long one reconcile of a tenant may spend
	// measuring its meters: once it is spent, the reconcile pushes the whole
	// windows it measured and leaves the rest to a reconcile moments later,
	// so a slow Prometheus (up to promquery.Timeout a query) holds one of
	// the workers every product shares for about this long, not for tens
	// of minutes. A window already started is measured whole, so a reconcile
	// may run over by up to one window's queries. 0 or less is
	// DefaultMeasureBudget.
	MeasureBudget time.Duration
}

// DefaultMeasureBudget is MeteringOptions.MeasureBudget's default: four
// queries at promquery.Timeout, or hundreds of windows of a healthy
// Prometheus.
const DefaultMeasureBudget = 2 * time.Minute

// measureBudget is how long one reconcile measures before it pushes what
// it has and requeues the tenant.
func (o MeteringOptions) measureBudget() time.Duration {
	if o.MeasureBudget <= 0 {
		return DefaultMeasureBudget
	}
	return o.MeasureBudget
}

// usagePushLimit is how many records one usage push carries.
func (o MeteringOptions) usagePushLimit() int {
	if koogallery.CheckUsagePushMaxRecords(o.MaxUsageRecords) != nil {
		return koogallery.DefaultUsagePushMaxRecords
	}
	return o.MaxUsageRecords
}

// MeteringReconciler measures each pay-per-use tenant per hour and pushes
// the records to KooGallery exactly once (spec §6.4).
//
// Exactly once rests on two things. Every record's metering_sn is derived
// from (instanceId, meter, window start), so a window pushed twice (after a
// crash between the push and the status write, or by a second replica) is
// the same record twice, which the marketplace refuses as a duplicate and
// kooper counts as accepted. And status.metering.pushedUntil moves only after
// the marketplace accepted a batch, with an optimistic-lock patch, so two
// writers can never both advance it, and no window is skipped.
type MeteringReconciler struct {
	client.Client
	// Reader reads around the cache before a push, so a push never starts
	// from a cursor the cache has not caught up with.
	Reader     client.Reader
	Recorder   events.EventRecorder
	Clock      clock.PassiveClock
	Usage      UsageClientFactory
	Prometheus PromQuerier
	Options    MeteringOptions

	// signingKeys remembers the basic key each product's usage pushes are
	// accepted with, while a key rotation is under way.
	signingKeys signingKeyMemory
	// refusedKeys remembers the products whose usage pushes the
	// marketplace refuses for their keys, so their tenants wait.
	refusedKeys refusedKeysMemory
	// meterSets remembers the meters each tenant was last metered with.
	meterSets meterSetMemory
	// waitingPackages remembers the packages each tenant's full ledger was
	// last announced to have no room for (announceWaiting).
	waitingPackages waitingMemory
	// productTenants finds a product's tenants when its metering or
	// packages change (tenantsMeteredBy).
	productTenants productTenantsReader
}

// UsagePusher pushes usage records (the usage-data open API, spec §6.4).
type UsagePusher interface {
	PushUsage(ctx context.Context, key string, records []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error)
}

// UsageClientFactory returns a UsagePusher signed with a product's AK/SK.
type UsageClientFactory func(accessKeyID, secretAccessKey string) UsagePusher

// MarketplaceUsageClients returns the factory for the real marketplace at
// baseURLs (the first, then the fallbacks). The clients it returns share one
// HTTP client, and so one pool of connections.
func MarketplaceUsageClients(baseURLs ...string) UsageClientFactory {
	clients := marketplaceClients(baseURLs)
	return func(ak, sk string) UsagePusher { return clients(ak, sk) }
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants/status,verbs=get;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile records what the tenant runs now, then pushes every hour that
// has closed since the last push. A pass whose only errors are Conflicts
// (every one of them, however wrapped or joined) ends without an error,
// to run again after conflictRequeueDelay; a real failure is returned
// whole, even joined with a conflict.
func (r *MeteringReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	tenant := &saasv1alpha1.SaaSTenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			r.meterSets.forget(req.Name)
			r.waitingPackages.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.Options.Skips != nil && r.Options.Skips(tenant) {
		return ctrl.Result{}, nil // a package's change may name a skipped tenant
	}
	if awaitsMeteringStart(tenant) {
		// The pass that starts metering was put ahead (meteringStartEvents);
		// once it has, the tenant's timers and retries queue as any tenant's.
		// A start that failed keeps its place for the retry.
		defer func() {
			if !awaitsMeteringStart(tenant) {
				result.Priority = ptr.To(ordinaryPriority)
			}
		}()
	}
	s := &meteringState{tenant: tenant}
	o := runSteps(ctx, s,
		r.loadMeteredProduct,
		r.recordUsageSegment,
		r.holdTenant,
		r.pushWindows,
		r.letGoOncePushed,
	)
	result, err := o.result(s.result)
	// The tenant controller writes the same tenant, so a write under the
	// optimistic lock meets a newer version in normal operation: no failure
	// to log or count, but a pass soon from that version (foldStatusError).
	err = foldStatusError(&result, err, nil)
	return result, err
}

// meteringState carries one reconcile's findings from step to step.
type meteringState struct {
	tenant  *saasv1alpha1.SaaSTenant
	product *saasv1alpha1.SaaSProduct
	result  ctrl.Result
}

// loadMeteredProduct reads the tenant's product. A tenant that is not
// metered (or whose product is gone) is let go, and the reconcile ends
// (stopMetering). A tenant held for usage not yet pushed, or whose record
// still holds usage observed, is let go only as the API server's product
// says (the cache may not show a product re-created or metered again a
// moment ago), and with a Warning Event naming what is not pushed.
func (r *MeteringReconciler) loadMeteredProduct(ctx context.Context, s *meteringState) outcome {
	product, metered, err := r.meteredProduct(ctx, r.Client, s.tenant)
	if err == nil && !metered && (controllerutil.ContainsFinalizer(s.tenant, saasv1alpha1.MeteringFinalizer) || metering.HoldsUnpushed(s.tenant.Status.Metering)) {
		product, metered, err = r.meteredProduct(ctx, r.reader(), s.tenant)
	}
	if err != nil {
		return failed(err)
	}
	if !metered {
		return r.stopMetering(ctx, s.tenant, product)
	}
	s.product = product
	return proceed()
}

// stopMetering lets go of a tenant kooper no longer meters, with a Warning
// Event when usage is not pushed (unpushedUsageMessage). When its product
// is there but no longer meters it, the record's unpushed usage is given up
// first (metering.Abandon), as the Event says: should the merchant meter
// the product again, the tenant's metering starts afresh when kooper sees
// it (metering.Restart), and the hours between, which kooper did not
// observe (a freeze, an upgrade), are never billed with what it ran
// before them. A product that is gone leaves the record as it is: deleted
// from under its tenants (a restore without it, a finalizer removed by
// hand), it may come back, and kooper then holds the tenant again and
// pushes those hours, observed before it went. Let go, the tenant no
// longer counts in the oldest-unpushed gauge (metering.OldestUnpushedAge),
// which would otherwise age for ever and keep KooperUsagePushBehind firing.
// No package funds a tenant its product no longer meters (packages need
// metering), so it loses PackagesExhausted too, as observe says why. And
// Metered turns False, NotMetered (setNotMetered): left as it was, it
// would say for ever that usage is pushed, while nothing is.
func (r *MeteringReconciler) stopMetering(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) outcome {
	msg := unpushedUsageMessage(t, product)
	if product != nil && t.Status.Metering != nil {
		now := r.Clock.Now()
		err := r.patchMetering(ctx, t, func(m *saasv1alpha1.TenantMetering) {
			if !metering.Done(m) {
				setNotMetered(t, product, now)
			}
			metering.Abandon(m)
			apimeta.RemoveStatusCondition(&m.Conditions, saasv1alpha1.PackagesExhaustedCondition)
		})
		if err != nil {
			return failed(err)
		}
	}
	if msg != "" {
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.UsageAbandonedReason, "Metering", "%s", msg)
	}
	if err := r.letGo(ctx, t); err != nil {
		return failed(err)
	}
	return done()
}

// setNotMetered sets Metered=False, NotMetered, on t, a tenant product no
// longer meters, saying why and since when (now). A record whose metering
// was over before (released, pushed to its end: Done) keeps what it says.
// A tenant that says NotMetered already is left as it is, so its since
// stays and a later pass writes nothing. Should the product meter it
// again, observe removes the condition.
func setNotMetered(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct, now time.Time) {
	was := apimeta.FindStatusCondition(t.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)
	if was != nil && was.Status == metav1.ConditionFalse && was.Reason == saasv1alpha1.NotMeteredReason {
		return
	}
	why := "the tenant's order is not pay-per-use"
	switch {
	case product.Spec.Metering == nil || len(product.Spec.Metering.Meters) == 0:
		why = "it declares no spec.metering.meters"
	case metering.IsPackage(t, product):
		why = "the tenant is a package, which funds another tenant's usage"
	}
	setMeteredCondition(t, metav1.ConditionFalse, saasv1alpha1.NotMeteredReason, fmt.Sprintf(
		"SaaSProduct %s no longer meters this tenant since %s (%s): its usage is neither measured nor pushed, "+
			"and status.metering.pushedUntil is where pushing stopped; should the product meter it again, metering starts afresh then",
		product.Name, now.UTC().Truncate(time.Second).Format(time.RFC3339), why))
}

// meteredProduct reads the tenant's product through reader and reports
// whether it meters the tenant; the product is nil when it is gone.
func (r *MeteringReconciler) meteredProduct(ctx context.Context, reader client.Reader, t *saasv1alpha1.SaaSTenant) (*saasv1alpha1.SaaSProduct, bool, error) {
	product := &saasv1alpha1.SaaSProduct{}
	err := reader.Get(ctx, client.ObjectKey{Name: t.Spec.ProductName}, product)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return product, metering.Metered(t, product), nil
}

// unpushedUsageMessage is the Warning Event's text, "" for none, for a
// tenant let go with usage not yet pushed: from when the usage is lost
// and why (kooper can measure no usage for a product that is gone or no
// longer meters it), and the hours of a push built but not known to be
// accepted, which is not sent again. Only a held tenant (the finalizer)
// gets one, so a tenant let go earlier is not announced again.
func unpushedUsageMessage(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) string {
	m := t.Status.Metering
	if !controllerutil.ContainsFinalizer(t, saasv1alpha1.MeteringFinalizer) || m == nil || metering.Done(m) {
		return ""
	}
	why := fmt.Sprintf("SaaSProduct %s is gone", t.Spec.ProductName)
	if t.DeletionTimestamp.IsZero() {
		// The record stays (stopMetering): the merchant can still get
		// these hours billed by bringing the product back.
		why += "; the tenant's record keeps these hours, pushed should the product come back " +
			"(those older than the marketplace's 21 days excepted)"
	}
	if product != nil {
		why = fmt.Sprintf("SaaSProduct %s no longer meters it; should it meter it again, metering starts afresh then", product.Name)
	}
	msg := fmt.Sprintf("Usage from %s on is not pushed to the marketplace: %s", metering.Cursor(m).UTC().Format(time.RFC3339), why)
	if p := m.InFlight; p != nil && product != nil && len(p.Windows) > 0 {
		msg += fmt.Sprintf("; the push of the hours from %s to %s was built and may have reached the marketplace, which has not confirmed it: it is not sent again",
			p.Windows[0].Start.UTC().Format(time.RFC3339), p.Windows[len(p.Windows)-1].End.UTC().Format(time.RFC3339))
	}
	return msg
}

// recordUsageSegment records what the tenant runs now (observe).
func (r *MeteringReconciler) recordUsageSegment(ctx context.Context, s *meteringState) outcome {
	return failed(r.observe(ctx, s.tenant, s.product))
}

// holdTenant keeps the metering finalizer while usage is unpushed.
func (r *MeteringReconciler) holdTenant(ctx context.Context, s *meteringState) outcome {
	return failed(r.holdOrLetGo(ctx, s.tenant))
}

// pushWindows pushes every closed hour's usage.
func (r *MeteringReconciler) pushWindows(ctx context.Context, s *meteringState) outcome {
	result, err := r.pushClosedWindows(ctx, s.tenant, s.product)
	s.result = result
	return failed(err)
}

// letGoOncePushed lets a released tenant go once its last hours are pushed.
func (r *MeteringReconciler) letGoOncePushed(ctx context.Context, s *meteringState) outcome {
	if metering.Done(s.tenant.Status.Metering) {
		return failed(r.letGo(ctx, s.tenant))
	}
	return proceed()
}

// holdOrLetGo keeps the metering finalizer on a tenant with usage still to
// push, and lets go of it when the SaaSTenant CRD is being deleted: an
// uninstall must never hang on the marketplace.
func (r *MeteringReconciler) holdOrLetGo(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if !t.DeletionTimestamp.IsZero() {
		if gone, err := crdTerminating(ctx, r.reader(), "saastenants"); err != nil || gone {
			return errors.Join(err, r.letGo(ctx, t))
		}
		return nil
	}
	if metering.Done(t.Status.Metering) {
		return nil
	}
	if controllerutil.ContainsFinalizer(t, saasv1alpha1.MeteringFinalizer) {
		return nil
	}
	before := t.DeepCopy()
	controllerutil.AddFinalizer(t, saasv1alpha1.MeteringFinalizer)
	if err := r.Patch(ctx, t, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to add the metering finalizer: %w", err)
	}
	return nil
}

// letGo removes the metering finalizer, if the tenant has it.
func (r *MeteringReconciler) letGo(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if !controllerutil.ContainsFinalizer(t, saasv1alpha1.MeteringFinalizer) {
		return nil // most tenants, on every reconcile: no copy
	}
	before := t.DeepCopy()
	controllerutil.RemoveFinalizer(t, saasv1alpha1.MeteringFinalizer)
	err := r.Patch(ctx, t, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to remove the metering finalizer: %w", err)
	}
	return nil
}

func (r *MeteringReconciler) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}

// observe starts metering and records a new segment when what the tenant
// runs changed (freeze, unfreeze, upgrade, release). A tenant deleted
// without a release ends metering at its deletion. Metering ends at the
// release order's stored time, or the deletion's (metering.EndOfMetering).
// The other segments start when kooper sees the change: the receiver
// stores no time of a FREEZE, and spec.lastUnfreezeTime is no safe start
// of an unfrozen segment (a repeat UNFREEZE moves it, kooper's own freeze
// ends without one), so a start before now could bill frozen hours. So
// does metering of a tenant whose product stopped metering it and meters it
// again: it starts afresh at now (metering.Restart). For a tenant funded by
// packages, the same write brings the ledger up to date
// and reports PackagesExhausted, with an Event when exhaustion begins or
// ends. A tenant no longer funded (its product's spec.packages removed)
// loses PackagesExhausted: left, it would freeze the tenant the moment
// packages came back with onExhausted Freeze, before any pass had looked at
// its packages.
func (r *MeteringReconciler) observe(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) error {
	now := metav1.NewTime(r.Clock.Now().UTC().Truncate(time.Second))
	funded := metering.FundedByPackages(t, product)
	var packages []metering.PackageState
	if funded {
		var err error
		if packages, err = r.linkedPackages(ctx, t); err != nil {
			return err
		}
	}
	was := exhaustion(t)
	err := r.patchMetering(ctx, t, func(m *saasv1alpha1.TenantMetering) {
		if !funded {
			apimeta.RemoveStatusCondition(&m.Conditions, saasv1alpha1.PackagesExhaustedCondition)
		}
		if m.EndTime != nil {
			return
		}
		if c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition); c != nil && c.Reason == saasv1alpha1.NotMeteredReason {
			// Metered again: nothing to say until the first push, as for a
			// tenant whose metering just started.
			apimeta.RemoveStatusCondition(&m.Conditions, saasv1alpha1.MeteredCondition)
		}
		metering.Restart(m, now.Time) // metered again after its product stopped metering it
		seg := metering.ObservedSegment(t, product)
		if !t.DeletionTimestamp.IsZero() {
			seg.State = saasv1alpha1.StateReleased
		}
		if seg.State != saasv1alpha1.StateReleased {
			metering.RecordSegment(m, seg, now.Time)
		} else {
			// Metering ends at the release, not when kooper sees it.
			end := metav1.NewTime(metering.EndOfMetering(t, m, now.Time))
			metering.RecordSegment(m, seg, end.Time)
			m.EndTime = &end
		}
		if funded {
			m.Packages = metering.SyncLedger(m.Packages, packages, now.Time)
			setExhausted(t, now.Time) // none once released: its packages move on
		}
	})
	if err == nil && funded {
		r.announceExhaustion(t, was)
		r.announceWaiting(t, packages)
	}
	return err
}

// patchMetering applies change to status.metering and writes it, only when
// it changed, under an optimistic lock: a writer that read an older tenant
// gets a conflict and retries from the newer one.
func (r *MeteringReconciler) patchMetering(ctx context.Context, t *saasv1alpha1.SaaSTenant, change func(*saasv1alpha1.TenantMetering)) error {
	before := t.DeepCopy()
	if t.Status.Metering == nil {
		t.Status.Metering = &saasv1alpha1.TenantMetering{Since: metav1.NewTime(r.Clock.Now().UTC().Truncate(time.Second))}
	}
	change(t.Status.Metering)
	if equalMetering(before.Status.Metering, t.Status.Metering) {
		return nil
	}
	err := r.Status().Patch(ctx, t, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err != nil {
		return fmt.Errorf("failed to record metering status: %w", err)
	}
	return nil
}

// pushClosedWindows pushes the closed windows from the cursor on, in batches
// of at most the push limit's records (usagePushLimit), moving the cursor
// after each accepted batch.
func (r *MeteringReconciler) pushClosedWindows(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (ctrl.Result, error) {
	now := r.Clock.Now()
	m := t.Status.Metering
	if metering.Done(m) {
		return ctrl.Result{}, nil
	}
	r.warnOfMeterChange(t, product, now)
	if len(metering.ClosedWindows(m, now, 1)) == 0 {
		return r.requeue(t, now), nil
	}
	// The product's keys refused: no read, no push, until the next try.
	if result, waits, err := r.waitForKeys(ctx, t, product, now); waits || err != nil {
		return result, err
	}
	// The push cannot be taken back: start from the API server's cursor.
	if err := r.refresh(ctx, t); err != nil {
		return ctrl.Result{}, err
	}
	p, err := r.newPush(ctx, t, product)
	if err != nil {
		return ctrl.Result{}, r.recordFailure(ctx, t, saasv1alpha1.UsagePushFailedReason, err)
	}
	// The 21-day cut first: the marketplace refuses a whole push with one
	// record older than that (MKT.9004), so it trims the in-flight push too.
	if err := r.skipExpired(ctx, t, now); err != nil {
		return ctrl.Result{}, err
	}
	// A push written down before it was sent goes next, as it was built.
	if t.Status.Metering.InFlight != nil {
		if err := r.resendInFlight(ctx, p); err != nil {
			return ctrl.Result{}, err
		}
	}
	left, err := r.pushBatches(ctx, p, now)
	r.announceRefusals(t, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	if left {
		// Not the next hour's requeue: these hours are due now. RequeueAfter,
		// not Requeue, so the rate limiter's backoff does not grow with each
		// budget spent, and the tenants waiting for a worker go first.
		return ctrl.Result{RequeueAfter: budgetSpentRequeue}, nil
	}
	return r.requeue(t, now), nil
}

// metersChangedReason is the reason of the Warning Event warnOfMeterChange
// sends.
const metersChangedReason = "MetersChanged"

// warnOfMeterChange says, in a Warning Event, that the product's meters
// changed while more than the hour just closed is unpushed (a backlog: a
// failing query, a marketplace outage, kooper down): those hours are
// measured with the meters the product has now, so a meter removed (often
// the failing one, removed as the fix) pushes none of them (but those of
// the in-flight push, which is sent as it was built), and one added
// measures all of them. It names the meters removed and added (names the
// merchant chose) and the cursor. The first pass that sees the tenant
// (kooper started, another replica took over) only records its meters: a
// change before it is not said.
func (r *MeteringReconciler) warnOfMeterChange(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct, now time.Time) {
	was, is, seen := r.meterSets.swap(t.Name, product.Spec.Metering.Meters)
	if !seen || len(metering.ClosedWindows(t.Status.Metering, now, 2)) < 2 {
		return
	}
	removed, added := missingFrom(is, was), missingFrom(was, is)
	if len(removed)+len(added) == 0 {
		return
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, metersChangedReason, "Metering",
		"The product's meters changed while usage from %s on is not pushed (removed: %s; added: %s): "+
			"those hours are measured with the meters it has now, so a meter removed pushes none of them but a push already under way",
		metering.Cursor(t.Status.Metering).UTC().Format(time.RFC3339), listOrNone(removed), listOrNone(added))
}

// missingFrom lists the names of from that in lacks; both are sorted.
func missingFrom(in, from []string) []string {
	var out []string
	for _, name := range from {
		if _, found := slices.BinarySearch(in, name); !found {
			out = append(out, name)
		}
	}
	return out
}

// listOrNone joins names with commas, "none" for none.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// meterSetMemory remembers, per tenant (by name), the names of the meters
// it was last metered with, sorted. It lives in memory only, and forgets a
// tenant once it is gone. The zero value is ready to use.
type meterSetMemory struct {
	byTenant sync.Map // tenant name → []string
}

// swap records meters' names as the tenant's, and returns the names it
// had (was), whether it had any (seen), and the names recorded (is).
func (m *meterSetMemory) swap(tenant string, meters []saasv1alpha1.Meter) (was, is []string, seen bool) {
	is = make([]string, len(meters))
	for i := range meters {
		is[i] = meters[i].Name
	}
	slices.Sort(is)
	old, seen := m.byTenant.Swap(tenant, is)
	if seen {
		was, _ = old.([]string)
	}
	return was, is, seen
}

// forget drops what is remembered of tenant.
func (m *meterSetMemory) forget(tenant string) { m.byTenant.Delete(tenant) }

// budgetSpentRequeue is how soon a tenant whose reconcile spent its
// measuring budget with closed windows left is reconciled again.
const budgetSpentRequeue = time.Second

// pushBatches pushes the closed windows from the cursor on, batch after
// batch, until none is left or the measuring budget is spent; it reports
// whether closed windows are left.
func (r *MeteringReconciler) pushBatches(ctx context.Context, p *usagePush, now time.Time) (bool, error) {
	for {
		windows := metering.ClosedWindows(p.tenant.Status.Metering, now, metering.WindowsPerPush(len(p.meters), p.limit))
		if len(windows) == 0 {
			return false, nil
		}
		if p.budgetSpent() {
			return true, nil
		}
		if err := r.pushBatch(ctx, p, windows); err != nil {
			return false, err
		}
	}
}

// DefaultPushSpread spreads the tenants' pushes over the first minutes of
// each hour, so 10,000 tenants do not all write their status in the same
// second.
const DefaultPushSpread = 5 * time.Minute

// requeue asks for a reconcile when the next window has closed, plus the
// tenant's fixed offset within the push spread.
func (r *MeteringReconciler) requeue(t *saasv1alpha1.SaaSTenant, now time.Time) ctrl.Result {
	m := t.Status.Metering
	if metering.Done(m) {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: timeUntil(now, metering.WindowEnd(m, metering.Cursor(m)).Add(r.pushOffset(t.Name)))}
}

// pushOffset is a tenant's fixed place within the push spread, in whole
// seconds: 0 when the spread is under a second.
func (r *MeteringReconciler) pushOffset(name string) time.Duration {
	spread := r.Options.PushSpread
	if spread <= 0 {
		spread = DefaultPushSpread
	}
	seconds := uint32(spread / time.Second)
	if seconds == 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return time.Duration(h.Sum32()%seconds) * time.Second
}

// refresh re-reads the tenant from the API server.
func (r *MeteringReconciler) refresh(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if r.Reader == nil {
		return nil
	}
	if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
		return fmt.Errorf("failed to read the tenant: %w", err)
	}
	if t.Status.Metering == nil {
		return errors.New("the tenant's metering status disappeared")
	}
	return nil
}

// skipExpired moves the cursor past windows the marketplace no longer
// accepts (begin_time more than 21 days ago, MKT.9004), with a margin so a
// window does not expire during its own push. Their usage is lost, loudly.
func (r *MeteringReconciler) skipExpired(ctx context.Context, t *saasv1alpha1.SaaSTenant, now time.Time) error {
	from := metering.Cursor(t.Status.Metering)
	to, expired := metering.ExpiredUntil(t.Status.Metering, now)
	if !expired {
		return nil
	}
	err := r.patchMetering(ctx, t, func(m *saasv1alpha1.TenantMetering) {
		until := metav1.NewTime(to)
		m.PushedUntil = &until
		m.Segments = metering.PruneSegments(m.Segments, to)
		m.InFlight = inFlightFrom(t, m.InFlight, to)
	})
	if err == nil {
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.UsageExpiredReason, "Metering",
			"Usage from %s to %s is older than the marketplace's 21 days and was not pushed",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	return err
}

// setMeteredCondition sets the Metered condition in status.metering.
func setMeteredCondition(t *saasv1alpha1.SaaSTenant, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&t.Status.Metering.Conditions, metav1.Condition{
		Type: saasv1alpha1.MeteredCondition, Status: status, Reason: reason,
		Message: textcut.Bytes(msg, 4096), ObservedGeneration: t.Generation,
	})
}

// recordFailure sets Metered=False (with an Event on the transition, once
// written) and returns err for the controller's backoff. A pass cut short
// because the process is stopping (a rolling upgrade, a lost lease) is no
// failure: nothing is recorded, and the next leader resends the push as
// written down (status.metering.inFlight).
func (r *MeteringReconciler) recordFailure(ctx context.Context, t *saasv1alpha1.SaaSTenant, reason string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	was := apimeta.FindStatusCondition(t.Status.Metering.Conditions, saasv1alpha1.MeteredCondition)
	patchErr := r.patchMetering(ctx, t, func(*saasv1alpha1.TenantMetering) {
		setMeteredCondition(t, metav1.ConditionFalse, reason, err.Error())
	})
	if patchErr == nil && (was == nil || was.Status != metav1.ConditionFalse || was.Reason != reason) {
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, reason, "Metering", "%s", textcut.Bytes(err.Error(), 1024))
	}
	return errors.Join(err, patchErr)
}

// SetupWithManager registers the controller. It watches tenants without a
// generation filter: status changes (a freeze taking effect, an upgrade's
// new SKU) are what it measures. Its own writes, to status.metering only,
// queue no pass (notOwnMeteringWrite). It watches products too, for a
// change of their metering or packages (meteringSettingsChanged), and the
// keys Secrets, whose change ends a wait for keys the marketplace refused
// (tenantsWaitingForKeys).
func (r *MeteringReconciler) SetupWithManager(mgr ctrl.Manager) error {
	meteringGauge.use(mgr.GetCache(), r.Clock)
	if err := indexPackagesByFunded(mgr); err != nil {
		return err
	}
	if err := indexByKeysSecret(mgr); err != nil {
		return err
	}
	r.productTenants = productTenantsReader{consistent: mgr.GetClient(), informers: mgr.GetCache()}
	kept := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		t, ok := obj.(*saasv1alpha1.SaaSTenant)
		return !ok || r.Options.Skips == nil || !r.Options.Skips(t)
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSTenant{}, builder.WithPredicates(kept, notOwnMeteringWrite)).
		// A new pay-per-use tenant's first pass goes ahead of the queue.
		Watches(&saasv1alpha1.SaaSTenant{}, meteringStartEvents, builder.WithPredicates(kept)).
		// A package's changes reach the ledger of the tenant it funds.
		Watches(&saasv1alpha1.SaaSTenant{}, fundedTenantHandler).
		// Metering settings apply to every tenant at once (docs/rollout.md).
		Watches(&saasv1alpha1.SaaSProduct{}, handler.EnqueueRequestsFromMapFunc(r.tenantsMeteredBy),
			builder.WithPredicates(meteringSettingsChanged)).
		// A keys Secret put right reaches the tenants waiting for it at once.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tenantsWaitingForKeys(mgr.GetCache())),
			builder.WithPredicates(keysChanged(r.Options.SecretNamespace))).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Options.MaxConcurrentReconciles, 1), RateLimiter: newRetryRateLimiter()}).
		Named("metering").
		Complete(r)
}

// meteringSettingsChanged passes a product's update that changes
// spec.metering or spec.packages, and its creation and deletion (a product
// deleted lets its tenants go, one restored holds them again). Such a
// change is no part of a revision, and no tenant write need follow it: the
// tenant controller rewrites OrderResolved when meters come or go (its
// NotMetered note), but not when they change or packages do, nor when its
// pass stops before (a failing Query Order). Without this watch a tenant
// would see the change only at its next pass: one let go when its product
// stopped metering it (no pass queued) would be metered again only once
// something else touched it, every hour until then unbilled
// (metering.Restart starts at now). Any other change of a product costs
// the metering controller nothing.
var meteringSettingsChanged = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*saasv1alpha1.SaaSProduct)
		after, ok2 := e.ObjectNew.(*saasv1alpha1.SaaSProduct)
		if !ok1 || !ok2 {
			return false
		}
		return !apiequality.Semantic.DeepEqual(before.Spec.Metering, after.Spec.Metering) ||
			!apiequality.Semantic.DeepEqual(before.Spec.Packages, after.Spec.Packages)
	},
}

// keysChanged passes a Secret of kooper's namespace that is created (put
// back after a deletion) or whose data changed: not a label or finalizer
// of its own (the keys Secret controller's), which would wake tenants for
// nothing.
func keysChanged(namespace string) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return e.Object.GetNamespace() == namespace },
		UpdateFunc: func(e event.UpdateEvent) bool {
			before, ok1 := e.ObjectOld.(*corev1.Secret)
			after, ok2 := e.ObjectNew.(*corev1.Secret)
			return ok1 && ok2 && after.Namespace == namespace && !apiequality.Semantic.DeepEqual(before.Data, after.Data)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// tenantsWaitingForKeys maps a keys Secret, through products (read from
// products, the cache), to those of their tenants whose push failed
// (waitsForPush): the tenants waitForKeys holds wait for the product's
// next try, minutes away, and a Secret put right must have them push at
// once. Each pass reads the Secret again, and pushes when its keys are not
// the ones refused.
func (r *MeteringReconciler) tenantsWaitingForKeys(products client.Reader) handler.MapFunc {
	return func(ctx context.Context, secret client.Object) []reconcile.Request {
		list := &saasv1alpha1.SaaSProductList{}
		if err := products.List(ctx, list, client.MatchingFields{keysSecretNameIndex: secret.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to list the products of a keys Secret", "Secret", client.ObjectKeyFromObject(secret))
			return nil
		}
		var requests []reconcile.Request
		for i := range list.Items {
			requests = append(requests, r.productTenants.requests(ctx, &list.Items[i], waitsForPush)...)
		}
		return requests
	}
}

// waitsForPush reports whether t is metered and its last push failed as
// a whole (Metered=False, UsagePushFailed), as a tenant waitForKeys holds
// says.
func waitsForPush(t *saasv1alpha1.SaaSTenant) bool {
	m := t.Status.Metering
	if m == nil || metering.Done(m) {
		return false
	}
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == saasv1alpha1.UsagePushFailedReason
}

// tenantsMeteredBy maps a product to those of its tenants its metering
// settings may concern (mayBeMetered), so a product of 10,000
// subscription tenants queues none of them. The names are read from the
// informer's store as it is (productTenantsReader.cached), as the tenant
// controller's tenantsOfProduct does, and each pass reads the tenant and
// its product again.
func (r *MeteringReconciler) tenantsMeteredBy(ctx context.Context, product client.Object) []reconcile.Request {
	return r.productTenants.requests(ctx, product, mayBeMetered)
}

// mayBeMetered reports whether a change of t's product's metering settings
// may change what the metering controller does with t: a tenant with a
// metering record or the metering finalizer (to let go, or to meter
// again), or a pay-per-use order that is no package (to start metering).
// A subscription or a package is never metered.
func mayBeMetered(t *saasv1alpha1.SaaSTenant) bool {
	if t.Status.Metering != nil || controllerutil.ContainsFinalizer(t, saasv1alpha1.MeteringFinalizer) {
		return true
	}
	return t.Status.Package == nil && metering.PayPerUse(t)
}

// meteringStartPriority is the metering queue's priority (controller-runtime's
// priority queue; an ordinary event's is 0, the start's initial list's
// handler.LowPriority) of a pay-per-use tenant whose metering has not
// started (awaitsMeteringStart). Metering starts at the tenant's first pass
// (observe: status.metering.since), and the minutes before it are never
// billed; the pass must not wait behind the passes of tenants that keep
// failing (a product's Prometheus that times out costs a worker up to
// promquery.Timeout a pass, and its tenants come back after a short
// backoff). A tenant starts metering once, so the passes put ahead are
// short and one per new tenant.
const meteringStartPriority = 10

// awaitsMeteringStart reports whether t looks like a tenant the metering
// controller is to start metering: a pay-per-use order, no
// status.metering yet, not a package (which funds another tenant and is
// never metered itself) and not being deleted. Its product is not read:
// a tenant whose product declares no meters is put ahead too, for a pass
// that ends at once.
func awaitsMeteringStart(t *saasv1alpha1.SaaSTenant) bool {
	return t.Status.Metering == nil && t.Status.Package == nil && t.DeletionTimestamp.IsZero() && metering.PayPerUse(t)
}

// meteringStartEvents queues a created or changed tenant that awaits its
// metering start at meteringStartPriority. The For handler queues every
// tenant as before; the priority queue keeps the higher of the two. With a
// queue of another kind (UsePriorityQueue off) it queues nothing.
var meteringStartEvents = handler.TypedFuncs[client.Object, reconcile.Request]{
	CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		queueMeteringStart(e.Object, q)
	},
	UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		queueMeteringStart(e.ObjectNew, q)
	},
}

// queueMeteringStart queues obj at meteringStartPriority when it is a
// tenant that awaits its metering start.
func queueMeteringStart(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	pq, isPriorityQueue := q.(priorityqueue.PriorityQueue[reconcile.Request])
	if !ok || !isPriorityQueue || !awaitsMeteringStart(t) {
		return
	}
	pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(meteringStartPriority)}, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(t)})
}

// errNoKey is a keys Secret without the key that signs the usage push.
var errNoKey = errors.New("the keys Secret lacks basicKey (or a basicKey.<suffix>), which signs the usage push")

// notOwnMeteringWrite drops a tenant's update that changed nothing but
// status.metering, which only this controller writes. A pass reads back
// what it wrote and asks for its own next run (RequeueAfter, or an error
// and the backoff); were its writes to queue it too, a failure whose text
// changes on each attempt (a Prometheus error quoting its timings, a
// marketplace answer quoting a request ID) would rerun it at once, over
// and over, instead of after the backoff.
var notOwnMeteringWrite = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*saasv1alpha1.SaaSTenant)
		after, ok2 := e.ObjectNew.(*saasv1alpha1.SaaSTenant)
		return !ok1 || !ok2 || !onlyMeteringChanged(before, after)
	},
}

// onlyMeteringChanged reports whether after differs from before in
// status.metering alone: the same generation (so the same spec), labels,
// annotations, finalizers, deletion and the rest of the status.
func onlyMeteringChanged(before, after *saasv1alpha1.SaaSTenant) bool {
	if before.Generation != after.Generation || !before.DeletionTimestamp.Equal(after.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(before.Labels, after.Labels) ||
		!apiequality.Semantic.DeepEqual(before.Annotations, after.Annotations) ||
		!apiequality.Semantic.DeepEqual(before.Finalizers, after.Finalizers) {
		return false
	}
	was, is := before.Status, after.Status // shallow copies: only Metering is cleared
	was.Metering, is.Metering = nil, nil
	return apiequality.Semantic.DeepEqual(was, is)
}
