package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/rollout"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Rollout defaults (docs/rollout.md).
const (
	defaultMaxUnavailableTenants   = "10%"
	defaultProgressDeadlineSeconds = 600
	// countsWriteInterval spaces status writes that would change only the
	// tenant counts, so a burst of purchases does not write the product
	// once per tenant.
	countsWriteInterval = 10 * time.Second
	// maxNamesInEvent bounds the tenants an Event names.
	maxNamesInEvent = 10
)

// RolloutReconciler carries a new revision of a SaaS product's app (its
// chart, values, image or template) to the product's tenants in waves
// (internal/rollout): it stores each revision as a ControllerRevision in
// kooper's namespace, tells a wave's tenants which revision to run with the
// annotation saas.kooper.io/revision, waits for them to be healthy, pauses
// on a wave that is not, and records progress in status.rollout and the
// RolledOut condition.
type RolloutReconciler struct {
	client.Client
	// Reader reads around the cache: a revision stored a moment ago.
	Reader   client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Namespace is kooper's namespace, where revisions are stored.
	Namespace string
	// Charts fetches a Secret-packaged chart to keep it in its revision.
	Charts *Charts
	// GatewayImage is the controllers' --gateway-image, pinned into the
	// revisions of products with an SSO gateway that name no image.
	GatewayImage string

	countsMu      sync.Mutex
	countsWritten map[string]time.Time
	// tenants reads a product's tenants from the cache without copies; set
	// up with the controller.
	tenants productTenantsReader
}

// +kubebuilder:rbac:groups=apps,namespace=kooper-system,resources=controllerrevisions,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants,verbs=patch

// Reconcile takes one step of the product's rollout.
func (r *RolloutReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, req.NamespacedName, product); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetCounts(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !takesRollouts(product) {
		r.forgetCounts(product.Name) // being deleted, or not one whose counts it writes
		return ctrl.Result{}, nil
	}
	rev, ok := rollout.RevisionOf(product, rollout.Defaults{GatewayImage: tenantobjects.GatewayImageOr(r.GatewayImage)})
	if !ok {
		return ctrl.Result{}, nil // the chart's resolution updates the product's status, which brings it back
	}
	name := rev.NameIn(product)
	state := stateOf(product.Status.Rollout)
	renamed, err := r.renamesPausedVersion(ctx, product, state, name, rev)
	if err != nil {
		return ctrl.Result{}, err
	}
	if renamed {
		state = rollout.Renamed(state, name)
	}
	if err := r.storeRevision(ctx, product, name, rev); err != nil {
		return ctrl.Result{}, r.revisionNotStored(ctx, product, name, renamed, err)
	}
	tenants, err := r.tenantsOf(ctx, product)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := rollout.Step(r.Clock.Now(), policyOf(product, len(tenants)), state, name, tenants)
	if retriesUntoldWave(product, d) {
		return ctrl.Result{}, r.retryUntoldWave(ctx, product, d, tenants)
	}
	result := ctrl.Result{RequeueAfter: d.RequeueAfter}
	before := product.DeepCopy()
	setRolloutStatus(product, d)
	if r.onlyCountsChanged(before, product) && !r.countsDue(product.Name) {
		if result.RequeueAfter == 0 || result.RequeueAfter > countsWriteInterval {
			result.RequeueAfter = countsWriteInterval
		}
		return result, nil
	}
	written, err := patchStatusIfChanged(ctx, r.Client, before, product, before.Status, product.Status)
	if apierrors.IsConflict(err) {
		// The product controller wrote the status meanwhile: step again from it.
		return ctrl.Result{RequeueAfter: conflictRequeueDelay}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if written {
		r.countsSent(product.Name)
		r.recordEvents(before, product, d)
	}
	// The wave is recorded before its tenants are told: a crash in between
	// starts it again with the same tenants and number (rollout.Step),
	// never a second wave at once.
	if untold := r.mark(ctx, d); len(untold) > 0 {
		return ctrl.Result{}, errors.Join(r.reportUntold(ctx, product, d, untold), r.pruneRevisions(ctx, product, d.State, tenants))
	}
	return result, r.pruneRevisions(ctx, product, d.State, tenants)
}

// takesRollouts reports whether the product is one whose tenants a rollout
// updates: a SaaS product with a workload or a chart, not being deleted.
func takesRollouts(product *saasv1alpha1.SaaSProduct) bool {
	return product.Spec.Type == saasv1alpha1.ProductTypeSaaS && product.DeletionTimestamp.IsZero() &&
		(product.Spec.Workload != nil || product.Spec.Chart != nil)
}

// renamesPausedVersion reports whether name, the product's revision now
// (rev), is a new name of the version its paused rollout, s, stopped on
// (rollout.Revision.SameVersion): a kooper upgrade's new --gateway-image,
// or a +kubebuilder:default added to the CRD, which the API server fills
// in on read, renamed it, and the merchant made no new version. The
// product's spec is taken as the one the rollout paused on while RolledOut
// says WaveFailed at the product's generation: the status write that
// records a step records both, and a new spec changes the generation. A
// paused revision no longer stored (deleted by hand) is compared by that
// alone: on the safe side, a chart whose digest moved with the spec
// unchanged then stays paused too, until the merchant resumes it.
func (r *RolloutReconciler) renamesPausedVersion(ctx context.Context, product *saasv1alpha1.SaaSProduct, s rollout.State, name string, rev rollout.Revision) (bool, error) {
	if !s.Paused || s.Update == "" || s.Update == name {
		return false, nil
	}
	c := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition)
	specUnchanged := c != nil && c.Reason == saasv1alpha1.WaveFailedReason && c.ObservedGeneration == product.Generation
	cr, found, err := readRevision(ctx, r.Client, r.Reader, r.Namespace, s.Update)
	if err != nil {
		return false, err
	}
	if !found {
		return specUnchanged, nil
	}
	paused, err := decodeRevision(cr)
	if err != nil {
		return specUnchanged, nil //nolint:nilerr // a revision that does not decode is compared as one not stored
	}
	return rev.SameVersion(product, paused, specUnchanged), nil
}

// storeRevision makes sure revision name of product is stored. A chart
// packaged in a Secret is stored with it, as the Secret may change while
// tenants still run this revision. A revision whose data would be over
// maxRevisionBytes is not created: the error is a *revisionTooLargeError.
func (r *RolloutReconciler) storeRevision(ctx context.Context, product *saasv1alpha1.SaaSProduct, name string, rev rollout.Revision) error {
	if _, found, err := readRevision(ctx, r.Client, r.Reader, r.Namespace, name); found || err != nil {
		return err
	}
	if rev.Chart != nil && rev.Chart.SecretRef != nil {
		archive, err := r.Charts.Archive(ctx, r.Client, r.Namespace, product)
		if err != nil {
			return fmt.Errorf("failed to keep the chart of revision %s: %w", name, err)
		}
		rev.ChartArchive = archive.Bytes()
	}
	number, err := r.nextRevisionNumber(ctx, product)
	if err != nil {
		return err
	}
	cr, err := controllerRevision(product, r.Namespace, name, number, rev)
	if err != nil {
		return err
	}
	if err := checkRevisionSize(cr, rev, r.Namespace); err != nil {
		return err
	}
	if err := r.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to store product revision %s: %w", name, err)
	}
	return nil
}

// revisionNotStored reports on product's RolledOut (False, reason
// RevisionNotStored, status.rollout left as it was) that its newest
// revision, name, is not stored, with storeRevision's err, and raises a
// Warning Event when that changes the condition. When renamed, name is a
// new name of the version a paused rollout stopped on
// (renamesPausedVersion), and status.rollout records it (rollout.Renamed)
// in the same write: RolledOut no longer says WaveFailed, by which the
// next step would know it. It returns the error to
// end the reconcile with: a terminal one for a revision too large, which
// only a change of the product or of its chart (which changes
// status.chart) can mend, and either brings the product back; err itself
// otherwise, retried with back-off. A failed status write is logged: err
// is what the reconcile reports.
func (r *RolloutReconciler) revisionNotStored(ctx context.Context, product *saasv1alpha1.SaaSProduct, name string, renamed bool, err error) error {
	before := product.DeepCopy()
	if progress := product.Status.Rollout; renamed && progress != nil {
		s := rollout.Renamed(stateOf(progress), name)
		progress.UpdateRevision, progress.Wave, progress.WaveStartTime = s.Update, s.Wave, nil
	}
	msg := fmt.Sprintf("The product's newest revision %s is not stored, so no tenant is told to run it: %v", name, err)
	setCondition(product, saasv1alpha1.RolledOutCondition, metav1.ConditionFalse, saasv1alpha1.RevisionNotStoredReason, msg)
	written, patchErr := patchStatusIfChanged(ctx, r.Client, before, product, before.Status, product.Status)
	switch {
	case patchErr != nil:
		ctrl.LoggerFrom(ctx).Error(patchErr, "Failed to report a product revision that is not stored", "revision", name)
	case written:
		r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.RevisionNotStoredReason, "Rollout", "%s",
			apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition).Message)
	}
	var tooLarge *revisionTooLargeError
	if errors.As(err, &tooLarge) {
		return reconcile.TerminalError(err)
	}
	return err
}

// revisionsOf lists the product's stored revisions.
func (r *RolloutReconciler) revisionsOf(ctx context.Context, product string) ([]appsv1.ControllerRevision, error) {
	list := &appsv1.ControllerRevisionList{}
	if err := r.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels{saasv1alpha1.ProductLabel: product}); err != nil {
		return nil, fmt.Errorf("failed to list the revisions of SaaSProduct %s: %w", product, err)
	}
	return list.Items, nil
}

// nextRevisionNumber is one more than the product's highest revision number.
func (r *RolloutReconciler) nextRevisionNumber(ctx context.Context, product *saasv1alpha1.SaaSProduct) (int64, error) {
	revisions, err := r.revisionsOf(ctx, product.Name)
	if err != nil {
		return 0, err
	}
	highest := int64(0)
	for _, cr := range revisions {
		highest = max(highest, cr.Revision)
	}
	return highest + 1, nil
}

// tenantsOf is every tenant of the product a rollout covers (none
// released or being deleted, and no package, which runs nothing:
// docs/packages.md), as the rollout sees them.
func (r *RolloutReconciler) tenantsOf(ctx context.Context, product *saasv1alpha1.SaaSProduct) ([]rollout.Tenant, error) {
	cached, err := r.tenants.now(ctx, product.Name)
	if err != nil {
		return nil, fmt.Errorf("failed to list the tenants of SaaSProduct %s: %w", product.Name, err)
	}
	tenants := make([]rollout.Tenant, 0, len(cached))
	for _, t := range cached {
		if t.Spec.State == saasv1alpha1.StateReleased || !t.DeletionTimestamp.IsZero() || t.Status.Package != nil {
			continue
		}
		tenants = append(tenants, rolloutTenant(t))
	}
	return tenants, nil
}

// rolloutTenant is what the rollout needs of a tenant. Healthy is
// Available: every object current on the revision it runs.
func rolloutTenant(t *saasv1alpha1.SaaSTenant) rollout.Tenant {
	wave, _ := strconv.ParseInt(t.Annotations[saasv1alpha1.RolloutWaveAnnotation], 10, 32)
	available := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.AvailableCondition)
	return rollout.Tenant{
		Name:           t.Name,
		Debug:          t.Spec.Mode == saasv1alpha1.ModeDebug,
		Wanted:         t.Annotations[saasv1alpha1.RevisionAnnotation],
		Wave:           int32(wave),
		Running:        t.Status.Revision,
		Healthy:        available != nil && available.Status == metav1.ConditionTrue,
		UnhealthySince: unhealthySince(t, available),
	}
}

// unhealthySince is when tenant t, whose Available condition is available
// (nil if it has none), last stopped being healthy: the condition's
// lastTransitionTime, which stays put while Available stays False however
// its reason changes, or t's creation when it never reported Available (a
// tenant stalled on its order). It is derived from what the tenant stores,
// so the rollout writes nothing per tenant to know which tenants of a wave
// were broken before the wave told them (rollout.Tenant.UnhealthySince).
// The condition's time is the wall clock of whichever replica wrote it,
// the creation time the API server's, and the wave's start the clock of
// the leader that started it: not one clock, so rollout.Step excuses a
// tenant only when it broke clearly (rollout's clockSkewAllowance) before
// its wave. Zero for a healthy tenant.
func unhealthySince(t *saasv1alpha1.SaaSTenant, available *metav1.Condition) time.Time {
	switch {
	case available == nil:
		return t.CreationTimestamp.Time
	case available.Status == metav1.ConditionTrue:
		return time.Time{}
	}
	return available.LastTransitionTime.Time
}

// policyOf is the product's rollout policy for total tenants, defaults applied.
func policyOf(product *saasv1alpha1.SaaSProduct, total int) rollout.Policy {
	spec := product.Spec.Rollout
	if spec == nil {
		spec = &saasv1alpha1.RolloutPolicy{}
	}
	maxUnavailable := intstr.FromString(defaultMaxUnavailableTenants)
	if spec.MaxUnavailableTenants != nil {
		maxUnavailable = *spec.MaxUnavailableTenants
	}
	size, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, total, true)
	if err != nil {
		size = 1 // admission refuses any other form; one at a time is the safe side
	}
	deadline := int32(defaultProgressDeadlineSeconds)
	if spec.ProgressDeadlineSeconds != nil {
		deadline = *spec.ProgressDeadlineSeconds
	}
	p := rollout.Policy{WaveSize: max(size, 1), ProgressDeadline: time.Duration(deadline) * time.Second, Resume: spec.Resume}
	if c := spec.Canary; c != nil {
		p.Canary, p.CanaryDebug = c.InstanceIDs, c.DebugTenants == saasv1alpha1.DebugTenantsFirst
	}
	return p
}

// stateOf is the rollout state status.rollout records.
func stateOf(s *saasv1alpha1.RolloutStatus) rollout.State {
	if s == nil {
		return rollout.State{}
	}
	state := rollout.State{Current: s.CurrentRevision, Update: s.UpdateRevision, Wave: s.Wave,
		Paused: s.State == saasv1alpha1.RolloutPaused, Resumed: s.Resumed}
	if s.WaveStartTime != nil {
		state.WaveStart = s.WaveStartTime.Time
	}
	return state
}

// setRolloutStatus records d in product's status.rollout and RolledOut.
func setRolloutStatus(product *saasv1alpha1.SaaSProduct, d rollout.Decision) {
	s := d.State
	recorded := product.Status.Rollout
	status := &saasv1alpha1.RolloutStatus{
		CurrentRevision: s.Current, UpdateRevision: s.Update, Wave: s.Wave, Resumed: s.Resumed, State: saasv1alpha1.RolloutRollingOut,
		Tenants: int32(d.Tenants), UpdatedTenants: int32(d.Updated), Progress: fmt.Sprintf("%d/%d", d.Updated, d.Tenants),
	}
	if !s.WaveStart.IsZero() {
		status.WaveStartTime = &metav1.Time{Time: s.WaveStart}
	}
	switch {
	case d.Complete:
		status.State = saasv1alpha1.RolloutComplete
	case s.Paused:
		status.State = saasv1alpha1.RolloutPaused
	}
	product.Status.Rollout = status
	switch {
	case d.Complete:
		setCondition(product, saasv1alpha1.RolledOutCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
			fmt.Sprintf("Every tenant (%d) runs revision %s", d.Tenants, s.Update))
	case s.Paused:
		// No counts here (status.rollout has them): the message is written
		// when the wave fails and kept, with the tenants it names. Only a
		// new resume value or a new revision (rollout.RevisionOf) ends a
		// pause: other changes of the product leave it paused.
		msg := fmt.Sprintf("Paused: wave %d did not become healthy on revision %s within the progress deadline; "+
			"set spec.rollout.resume to a new value, or change spec.workload, spec.chart or a chart plan's values (a new revision), to go on",
			s.Wave, s.Update)
		if c := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition); d.Failed == nil && c != nil && c.Reason == saasv1alpha1.WaveFailedReason {
			msg = c.Message
		} else if d.Failed != nil {
			msg += "; not healthy: " + namesOf(d.Failed) + notWaitedFor(d)
		}
		setCondition(product, saasv1alpha1.RolledOutCondition, metav1.ConditionFalse, saasv1alpha1.WaveFailedReason, msg)
	case stillUntold(product, recorded, d):
		// The message naming them is kept.
	default:
		setCondition(product, saasv1alpha1.RolledOutCondition, metav1.ConditionFalse, saasv1alpha1.ProgressingReason,
			fmt.Sprintf("Wave %d: %d of %d tenants run revision %s and are healthy", s.Wave, d.Updated, d.Tenants, s.Update)+notWaitedFor(d))
	}
}

// notWaitedFor is what RolledOut's message adds for the tenants d's
// rollout goes on without (rollout.Decision.NotWaitedFor), "" if none: a
// tenant broken before its wave told it the new revision holds no wave,
// and the merchant is to learn of it here rather than from a pause.
func notWaitedFor(d rollout.Decision) string {
	if len(d.NotWaitedFor) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d not healthy on revision %s are not waited for (not healthy before their wave told them, or of an earlier wave): %s",
		len(d.NotWaitedFor), d.State.Update, namesOf(d.NotWaitedFor))
}

// stillUntold reports whether RolledOut names tenants of d's wave that
// could not be told (saasv1alpha1.TenantsNotToldReason) and d tells none: the wave
// recorded, recorded's, goes on, and they stay untold until a wave tells
// them.
func stillUntold(product *saasv1alpha1.SaaSProduct, recorded *saasv1alpha1.RolloutStatus, d rollout.Decision) bool {
	return saysUntold(product) && len(d.Mark) == 0 && sameWave(recorded, d.State)
}

// saysUntold reports whether product's RolledOut names tenants that could
// not be told their revision (saasv1alpha1.TenantsNotToldReason).
func saysUntold(product *saasv1alpha1.SaaSProduct) bool {
	c := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition)
	return c != nil && c.Reason == saasv1alpha1.TenantsNotToldReason
}

// sameWave reports whether recorded, a product's status.rollout, records
// wave s.Wave towards revision s.Update.
func sameWave(recorded *saasv1alpha1.RolloutStatus, s rollout.State) bool {
	return recorded != nil && recorded.Wave == s.Wave && recorded.UpdateRevision == s.Update
}

// retriesUntoldWave reports whether d takes again the wave product's
// status records, which RolledOut says could not tell its tenants:
// rollout.Step marks a wave again under its own number only when it told
// none of them (every mark refused, say by a change freeze).
func retriesUntoldWave(product *saasv1alpha1.SaaSProduct, d rollout.Decision) bool {
	return len(d.Mark) > 0 && saysUntold(product) && sameWave(product.Status.Rollout, d.State)
}

// namesOf lists names, at most maxNamesInEvent of them.
func namesOf(names []string) string {
	shown := strings.Join(names[:min(len(names), maxNamesInEvent)], ", ")
	if more := len(names) - maxNamesInEvent; more > 0 {
		shown += fmt.Sprintf(" and %d more", more)
	}
	return shown
}

// recordEvents raises the Events of a step just recorded, product's status
// having been before's: each once, when it happens.
func (r *RolloutReconciler) recordEvents(before, product *saasv1alpha1.SaaSProduct, d rollout.Decision) {
	s := d.State
	if d.Resumed {
		r.Recorder.Eventf(product, nil, corev1.EventTypeNormal, saasv1alpha1.RolloutResumedReason, "Rollout",
			"The rollout of revision %s resumed", s.Update)
	}
	if d.Failed != nil {
		r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.WaveFailedReason, "Rollout",
			"Wave %d did not become healthy on revision %s; the rollout paused with %d of %d tenants updated; not healthy: %s",
			s.Wave, s.Update, d.Updated, d.Tenants, namesOf(d.Failed))
	}
	if len(d.Mark) > 0 && !sameWave(before.Status.Rollout, s) {
		// A wave taken again (its marks lost) started when it was recorded.
		r.Recorder.Eventf(product, nil, corev1.EventTypeNormal, saasv1alpha1.WaveStartedReason, "Rollout",
			"Wave %d: %d tenants to revision %s: %s", s.Wave, len(d.Mark), s.Update, namesOf(d.Mark))
	}
	wasComplete := before.Status.Rollout != nil && before.Status.Rollout.State == saasv1alpha1.RolloutComplete &&
		before.Status.Rollout.UpdateRevision == s.Update
	if d.Complete && s.Wave > 0 && !wasComplete {
		r.Recorder.Eventf(product, nil, corev1.EventTypeNormal, saasv1alpha1.RolloutCompleteReason, "Rollout",
			"Every tenant (%d) runs revision %s", d.Tenants, s.Update)
	}
}

// untoldTenant is a tenant of a wave that could not be told its revision,
// and why.
type untoldTenant struct {
	name string
	err  error
}

// mark tells each tenant of d's wave to run d's revision (markTenant). One
// that cannot be told does not stop the others: it is returned, in wave
// order, with its error.
func (r *RolloutReconciler) mark(ctx context.Context, d rollout.Decision) []untoldTenant {
	var untold []untoldTenant
	for _, name := range d.Mark {
		if err := r.markTenant(ctx, name, d.State); err != nil {
			untold = append(untold, untoldTenant{name: name, err: err})
		}
	}
	return untold
}

// markTenant tells tenant name to run s.Update in wave s.Wave: a metadata
// patch with the tenant's resourceVersion, so that a tenant deleted and
// bought again in between is not marked. A tenant gone is no error. A
// conflict (any other writer touched the tenant since the read: the
// receiver, the tenant or metering controller, kubectl) is no refusal: the
// patch is tried again on the tenant read around the cache, which may not
// show that write yet, so that it does not make the tenant untold.
func (r *RolloutReconciler) markTenant(ctx context.Context, name string, s rollout.State) error {
	var read client.Reader = r.Client
	var decided types.UID // the tenant the first read found
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t := &saasv1alpha1.SaaSTenant{}
		if err := read.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
			return fmt.Errorf("failed to read SaaSTenant %s to update it: %w", name, err)
		}
		read = r.Reader
		if decided != "" && t.UID != decided {
			return nil // deleted and bought again: a new tenant, which the next step sees
		}
		decided = t.UID
		marked := t.DeepCopy()
		metav1.SetMetaDataAnnotation(&marked.ObjectMeta, saasv1alpha1.RevisionAnnotation, s.Update)
		metav1.SetMetaDataAnnotation(&marked.ObjectMeta, saasv1alpha1.RolloutWaveAnnotation, strconv.Itoa(int(s.Wave)))
		if err := r.Patch(ctx, marked, client.MergeFromWithOptions(t, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("failed to tell SaaSTenant %s to run revision %s: %w", name, s.Update, err)
		}
		return nil
	})
	return client.IgnoreNotFound(err)
}

// reportUntold says on product's RolledOut (False, saasv1alpha1.TenantsNotToldReason)
// which tenants of d's wave could not be told its revision and why, with a
// Warning Event when that changes the condition. It returns the tenants'
// errors joined (errors.Join), with a failed status write's, for the
// reconcile to be retried with back-off.
func (r *RolloutReconciler) reportUntold(ctx context.Context, product *saasv1alpha1.SaaSProduct, d rollout.Decision, untold []untoldTenant) error {
	before := product.DeepCopy()
	setUntold(product, d, untold)
	written, err := patchStatusIfChanged(ctx, r.Client, before, product, before.Status, product.Status)
	if written {
		r.warnUntold(product)
	}
	return errors.Join(append(errorsOf(untold), err)...)
}

// setUntold sets product's RolledOut (False, saasv1alpha1.TenantsNotToldReason) to
// name the tenants of d's wave that could not be told its revision, and why.
func setUntold(product *saasv1alpha1.SaaSProduct, d rollout.Decision, untold []untoldTenant) {
	reasons := make([]string, 0, len(untold))
	for _, u := range untold {
		reasons = append(reasons, u.name+": "+apiMessage(u.err))
	}
	msg := capMessage(fmt.Sprintf("Wave %d: %d of its %d tenants could not be told to run revision %s and stay on the version they run; "+
		"kooper tries them again with back-off and with the next wave: %s", d.State.Wave, len(untold), len(d.Mark), d.State.Update, strings.Join(reasons, "; ")))
	setCondition(product, saasv1alpha1.RolledOutCondition, metav1.ConditionFalse, saasv1alpha1.TenantsNotToldReason, msg)
}

// warnUntold raises the Warning Event of product's RolledOut that names
// untold tenants (setUntold).
func (r *RolloutReconciler) warnUntold(product *saasv1alpha1.SaaSProduct) {
	r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.TenantsNotToldReason, "Rollout", "%s",
		apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition).Message)
}

// errorsOf are the errors untold's tenants could not be told with.
func errorsOf(untold []untoldTenant) []error {
	errs := make([]error, 0, len(untold)+1)
	for _, u := range untold {
		errs = append(errs, u.err)
	}
	return errs
}

// retryUntoldWave takes again the recorded wave that told none of its
// tenants (retriesUntoldWave). Each retry of a wave the cluster refuses (a
// change freeze) flipped RolledOut to Progressing and back in two status
// writes, with a WaveStarted and a TenantsNotTold Event, and moved the
// wave's start. The wave, its number and revision, is recorded already, so
// its tenants are told first and the step recorded after, in one status
// write when it changes anything, with no WaveStarted. While none is told,
// the wave keeps its recorded start; once one is, the wave starts now, so
// that its progress deadline is not spent on the refusals. It returns the
// untold tenants' errors, with the status write's and pruneRevisions',
// joined (errors.Join), for the reconcile to be retried with back-off.
func (r *RolloutReconciler) retryUntoldWave(ctx context.Context, product *saasv1alpha1.SaaSProduct, d rollout.Decision, tenants []rollout.Tenant) error {
	untold := r.mark(ctx, d)
	if len(untold) == len(d.Mark) {
		d.State.WaveStart = stateOf(product.Status.Rollout).WaveStart
	}
	// A tenant told is told: the wave's new start is recorded even when the
	// product's status was written meanwhile.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return r.recordRetry(ctx, product, d, untold) })
	return errors.Join(append(errorsOf(untold), err, r.pruneRevisions(ctx, product, d.State, tenants))...)
}

// recordRetry writes step d of a retried wave to product's status, RolledOut
// naming untold, its tenants still not told, if any, and raises a Warning
// Event when that changes RolledOut's message. On a conflict it reads the
// product again, around the cache, for the next try.
func (r *RolloutReconciler) recordRetry(ctx context.Context, product *saasv1alpha1.SaaSProduct, d rollout.Decision, untold []untoldTenant) error {
	before := product.DeepCopy()
	setRolloutStatus(product, d)
	if len(untold) > 0 {
		setUntold(product, d, untold)
	}
	written, err := patchStatusIfChanged(ctx, r.Client, before, product, before.Status, product.Status)
	if apierrors.IsConflict(err) {
		fresh := &saasv1alpha1.SaaSProduct{}
		if getErr := r.Reader.Get(ctx, client.ObjectKeyFromObject(product), fresh); getErr != nil {
			return fmt.Errorf("failed to read SaaSProduct %s again: %w", product.Name, getErr)
		}
		*product = *fresh
		return err
	}
	if written {
		r.countsSent(product.Name)
		was := apimeta.FindStatusCondition(before.Status.Conditions, saasv1alpha1.RolledOutCondition)
		if len(untold) > 0 && (was == nil || was.Message != apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition).Message) {
			r.warnUntold(product)
		}
	}
	return err
}

// pruneRevisions deletes the product's revisions that no tenant runs or
// is told to run and that are neither the current nor the update one: a
// spec changed back later stores its revision again.
func (r *RolloutReconciler) pruneRevisions(ctx context.Context, product *saasv1alpha1.SaaSProduct, s rollout.State, tenants []rollout.Tenant) error {
	revisions, err := r.revisionsOf(ctx, product.Name)
	if err != nil {
		return err
	}
	used := map[string]bool{s.Current: true, s.Update: true}
	for _, t := range tenants {
		used[t.Wanted], used[t.Running] = true, true
	}
	for i := range revisions {
		cr := &revisions[i]
		if used[cr.Name] {
			continue
		}
		if err := r.Delete(ctx, cr, client.Preconditions{ResourceVersion: &cr.ResourceVersion}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("failed to delete the unused product revision %s: %w", cr.Name, err)
		}
	}
	return nil
}

// onlyCountsChanged reports whether the step changed nothing but the
// tenant counts (and the RolledOut message that quotes them).
func (r *RolloutReconciler) onlyCountsChanged(before, after *saasv1alpha1.SaaSProduct) bool {
	b, a := before.Status.Rollout, after.Status.Rollout
	if b == nil || a == nil {
		return false
	}
	strip := func(s saasv1alpha1.RolloutStatus) saasv1alpha1.RolloutStatus {
		s.Tenants, s.UpdatedTenants, s.Progress = 0, 0, ""
		return s
	}
	cb := apimeta.FindStatusCondition(before.Status.Conditions, saasv1alpha1.RolledOutCondition)
	ca := apimeta.FindStatusCondition(after.Status.Conditions, saasv1alpha1.RolledOutCondition)
	// A new generation is written at once: a paused rollout knows by it
	// that the spec it paused on changed (renamesPausedVersion).
	sameCondition := cb != nil && ca != nil && cb.Status == ca.Status && cb.Reason == ca.Reason && cb.ObservedGeneration == ca.ObservedGeneration
	return sameCondition && strip(*b) == strip(*a) && b.Progress != a.Progress
}

// countsDue reports whether a counts-only write of product may go now.
func (r *RolloutReconciler) countsDue(product string) bool {
	r.countsMu.Lock()
	defer r.countsMu.Unlock()
	// Wall time, not r.Clock: this paces writes, it decides nothing.
	return time.Since(r.countsWritten[product]) >= countsWriteInterval
}

// countsSent records a status write of product.
func (r *RolloutReconciler) countsSent(product string) {
	r.countsMu.Lock()
	defer r.countsMu.Unlock()
	if r.countsWritten == nil {
		r.countsWritten = map[string]time.Time{}
	}
	r.countsWritten[product] = time.Now()
}

// forgetCounts drops the pace of product's counts writes: it is gone, or
// takes no rollouts, and writes no counts. Kept, each product ever deleted
// would hold an entry for the life of the process.
func (r *RolloutReconciler) forgetCounts(product string) {
	r.countsMu.Lock()
	defer r.countsMu.Unlock()
	delete(r.countsWritten, product)
}

// SetupWithManager registers the controller: it watches products (spec
// changes, and status.chart for a chart resolved anew), the tenants whose
// revision, health or presence changes (rolloutTenantEventDelay after
// them), and the product's revisions.
func (r *RolloutReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexByProduct(mgr); err != nil {
		return err
	}
	r.tenants = productTenantsReader{consistent: r.Client, informers: mgr.GetCache()}
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSProduct{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, chartStatusChanged))).
		Watches(&saasv1alpha1.SaaSTenant{}, productAfter(rolloutTenantEventDelay),
			builder.WithPredicates(rolloutInputChanged)).
		Watches(&appsv1.ControllerRevision{}, handler.EnqueueRequestsFromMapFunc(productOfRevision)).
		Named("saasproduct-rollout").
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
		Complete(r)
}

// rolloutTenantEventDelay is how long after a tenant's event its product's
// rollout takes a step; the events of every tenant of the product within
// it share that one step. Each step reads every tenant of the product, so
// a step per event made a burst of purchases cost the controllers work in
// the square of the tenants: with 10,000 tenants of a product, 35% of
// their CPU while 1,000 more were bought (docs/benchmarks.md). A wave
// waits minutes for its tenants' health; a second is nothing to it.
const rolloutTenantEventDelay = time.Second

// productAfter is an event handler that queues the product of a tenant
// (productOf) delay after the tenant's event. A queue keeps an item's
// earliest time, so the events of the delay share one reconcile.
func productAfter(delay time.Duration) handler.EventHandler {
	enqueue := func(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range productOf(ctx, obj) {
			q.AddAfter(req, delay)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q)
		},
	}
}

// productOfRevision maps a product revision to its product.
func productOfRevision(_ context.Context, obj client.Object) []ctrl.Request {
	if name := obj.GetLabels()[saasv1alpha1.ProductLabel]; name != "" {
		return []ctrl.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}

// rolloutInputChanged passes a tenant created or deleted, and one whose
// revision, wave, state or health changed, or that became a package or
// stopped being one (tenantsOf leaves packages out). A package is known
// for one only once its order is resolved: a rollout step between its
// creation and that counted it, and a package that waits for its buyer's
// pay-per-use tenant changes nothing else, so no other step would come to
// leave it out.
var rolloutInputChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*saasv1alpha1.SaaSTenant)
		n, okNew := e.ObjectNew.(*saasv1alpha1.SaaSTenant)
		if !okOld || !okNew {
			return false
		}
		return rolloutTenant(o) != rolloutTenant(n) || o.Spec.State != n.Spec.State ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
			(o.Status.Package == nil) != (n.Status.Package == nil)
	},
}
