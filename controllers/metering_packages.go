package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// Packages that fund a pay-per-use tenant (docs/packages.md): the metering
// controller keeps the tenant's ledger (status.metering.packages), splits
// the packages' meter over it, and reports PackagesExhausted.

// packageFundsIndex indexes package tenants by the instance they fund.
const packageFundsIndex = "status.package.fundsInstanceId"

func indexPackagesByFunded(mgr ctrl.Manager) error {
	return indexOnce(mgr, &saasv1alpha1.SaaSTenant{}, packageFundsIndex, func(obj client.Object) []string {
		t, ok := obj.(*saasv1alpha1.SaaSTenant)
		if !ok || t.Status.Package == nil || t.Status.Package.FundsInstanceID == "" {
			return nil
		}
		return []string{t.Status.Package.FundsInstanceID}
	})
}

// fundedTenant maps a package tenant to the tenant it funds, so a new,
// renewed or released package reaches that tenant's ledger.
func fundedTenant(_ context.Context, obj client.Object) []reconcile.Request {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	if !ok || t.Status.Package == nil || t.Status.Package.FundsInstanceID == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: t.Status.Package.FundsInstanceID}}}
}

var fundedTenantHandler = handler.EnqueueRequestsFromMapFunc(fundedTenant)

// packagesFunding lists, from reader's cache (its packageFundsIndex), the
// packages that fund instance id.
func packagesFunding(ctx context.Context, reader client.Reader, id string) ([]saasv1alpha1.SaaSTenant, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := reader.List(ctx, list, client.MatchingFields{packageFundsIndex: id}); err != nil {
		return nil, fmt.Errorf("failed to list the packages of %s: %w", id, err)
	}
	return list.Items, nil
}

// linkedPackages lists, from the cache, the packages that fund t, in the
// cache's order, which is no fixed order: metering.SyncLedger and
// metering.NotEntered put them in the ledger's own order.
func (r *MeteringReconciler) linkedPackages(ctx context.Context, t *saasv1alpha1.SaaSTenant) ([]metering.PackageState, error) {
	packages, err := packagesFunding(ctx, r.Client, t.Spec.InstanceID)
	if err != nil {
		return nil, err
	}
	out := make([]metering.PackageState, 0, len(packages))
	for i := range packages {
		p := &packages[i]
		if p.Status.Package == nil || p.Status.Package.Quota == "" {
			continue
		}
		out = append(out, metering.PackageState{
			InstanceID: p.Spec.InstanceID, Quota: p.Status.Package.Quota, ExpireTime: p.Status.ExpireTime,
			Released:       p.Spec.State == saasv1alpha1.StateReleased || !p.DeletionTimestamp.IsZero(),
			ReleasedAt:     metering.PackageReleasedAt(p, t.Status.Metering),
			ConsumedBefore: p.Status.Package.ConsumedBefore,
		})
	}
	return out, nil
}

// exhaustion is the PackagesExhausted condition's status, "" when unset.
func exhaustion(t *saasv1alpha1.SaaSTenant) metav1.ConditionStatus {
	if t.Status.Metering == nil {
		return ""
	}
	if c := apimeta.FindStatusCondition(t.Status.Metering.Conditions, saasv1alpha1.PackagesExhaustedCondition); c != nil {
		return c.Status
	}
	return ""
}

// setExhausted sets PackagesExhausted from the ledger as it stands at now
// (docs/packages.md decision 8); a released tenant has none: its packages
// move on.
func setExhausted(t *saasv1alpha1.SaaSTenant, now time.Time) {
	m := t.Status.Metering
	if m.EndTime != nil {
		apimeta.RemoveStatusCondition(&m.Conditions, saasv1alpha1.PackagesExhaustedCondition)
		return
	}
	left, holding := metering.QuotaLeft(m.Packages, now)
	c := metav1.Condition{Type: saasv1alpha1.PackagesExhaustedCondition, ObservedGeneration: t.Generation}
	switch {
	case holding > 0:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason
		c.Message = fmt.Sprintf("%s left in %d package(s)", left, holding)
	case len(m.Packages) == 0:
		c.Status, c.Reason = metav1.ConditionTrue, saasv1alpha1.NoPackageReason
		c.Message = "No package funds this tenant (a buyer's packages fund their oldest active pay-per-use tenant): usage is not covered until one does"
	default:
		c.Status, c.Reason = metav1.ConditionTrue, saasv1alpha1.PackagesUsedUpReason
		c.Message = fmt.Sprintf("Every package (%d) is used up, expired or released: usage is not covered until a new one is bought", len(m.Packages))
	}
	apimeta.SetStatusCondition(&m.Conditions, c)
}

// announceExhaustion sends the Event of a change of PackagesExhausted.
func (r *MeteringReconciler) announceExhaustion(t *saasv1alpha1.SaaSTenant, was metav1.ConditionStatus) {
	c := apimeta.FindStatusCondition(t.Status.Metering.Conditions, saasv1alpha1.PackagesExhaustedCondition)
	if c == nil || c.Status == was {
		return
	}
	switch {
	case c.Status == metav1.ConditionTrue:
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.PackagesExhaustedCondition, "Metering", "%s", c.Message)
	case was == metav1.ConditionTrue:
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, saasv1alpha1.QuotaLeftReason, "Metering", "%s", c.Message)
	}
}

// announceWaiting says, with a Warning Event, which of the packages that
// fund t its full ledger has no room for: they pay for nothing until a
// release or a deletion makes room, while the tenant may show its packages
// used up. It says so when the waiting packages change (waitingPackages),
// not on each metering pass while the same ones wait: the status does not
// hold them, so a restart or a new leader says it once again.
func (r *MeteringReconciler) announceWaiting(t *saasv1alpha1.SaaSTenant, packages []metering.PackageState) {
	waiting := metering.NotEntered(t.Status.Metering.Packages, packages)
	changed := r.waitingPackages.changed(t.Name, waiting) // recorded even when none wait
	if !changed || len(waiting) == 0 {
		return
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.PackageLedgerFullReason, "Metering",
		"Packages wait to pay for this instance (%d, first %s): its ledger is full, all %d entries packages that still fund it; a waiting package pays for nothing until one of those is released or its record deleted",
		len(waiting), strings.Join(waiting[:min(len(waiting), 5)], ", "), metering.MaxLedger)
}

// waitingMemory remembers, per tenant (by name), the instanceIds of the
// packages last announced as waiting for room in its ledger, sorted. It
// lives in memory only, and forgets a tenant once it is gone. The zero
// value is ready to use.
type waitingMemory struct {
	byTenant sync.Map // tenant name → []string
}

// changed records waiting as the tenant's waiting packages, and reports
// whether they differ from those recorded before (none recorded counts as
// none waiting). An empty set is not kept.
func (m *waitingMemory) changed(tenant string, waiting []string) bool {
	is := slices.Sorted(slices.Values(waiting))
	var was []string
	if len(is) == 0 {
		old, _ := m.byTenant.LoadAndDelete(tenant)
		was, _ = old.([]string)
	} else {
		old, _ := m.byTenant.Swap(tenant, is)
		was, _ = old.([]string)
	}
	return !slices.Equal(was, is)
}

// forget drops what is remembered of tenant.
func (m *waitingMemory) forget(tenant string) { m.byTenant.Delete(tenant) }

// packageSplit is the packages' meter of one push: a working copy of the
// ledger that each window's split is deducted from in turn, so the windows
// of one batch split as they would one push at a time.
type packageSplit struct {
	meter     string
	ledger    []saasv1alpha1.PackageBalance
	uncovered saasv1alpha1.UncoveredUsage
}

// newPackageSplit is the split of a push for a tenant funded by packages,
// nil for any other.
func newPackageSplit(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) *packageSplit {
	if !metering.FundedByPackages(t, product) {
		return nil
	}
	return &packageSplit{
		meter:     metering.PackageMeter(product),
		ledger:    t.Status.Metering.DeepCopy().Packages,
		uncovered: product.Spec.Packages.Uncovered,
	}
}

// startFrom makes the ledger the split deducts from the tenant's, as its
// last push settled it: a batch builds the records of more windows than it
// may send (withinOnePush), and the windows left for the next batch must
// be split from what the sent ones left, not from what building them
// deducted.
func (s *packageSplit) startFrom(t *saasv1alpha1.SaaSTenant) {
	if s != nil {
		s.ledger = t.Status.Metering.DeepCopy().Packages
	}
}

// records are the records of one meter's usage over window w (index i):
// for the packages' meter, one per package part, and the uncovered rest
// when it is pushed; for any other, one record.
func (s *packageSplit) records(t *saasv1alpha1.SaaSTenant, meter string, w metering.Window, i int, units koogallery.UsageUnits) []pendingRecord {
	if s == nil || meter != s.meter {
		return []pendingRecord{newPendingRecord(t, meter, w, i, units, "", "")}
	}
	parts, rest := metering.SplitOverPackages(s.ledger, w, units)
	metering.Deduct(s.ledger, parts)
	out := make([]pendingRecord, 0, len(parts)+1)
	for _, part := range parts {
		out = append(out, newPendingRecord(t, meter, w, i, part.Units, part.Package, ""))
	}
	if rest > 0 {
		uncovered := saasv1alpha1.UncoveredDrop
		if s.uncovered == saasv1alpha1.UncoveredPush {
			uncovered = saasv1alpha1.UncoveredPush
		}
		out = append(out, newPendingRecord(t, meter, w, i, rest, "", uncovered))
	}
	return out
}

// refund gives back to the working ledger the package parts of records
// that their window had no second left for (crowded): they are not sent,
// so the next window of the batch splits as settle will have left the
// ledger.
func (s *packageSplit) refund(records []pendingRecord) {
	if s == nil {
		return
	}
	for _, rec := range records {
		if rec.crowded && rec.part.Package != "" {
			metering.Deduct(s.ledger, []metering.PackagePart{{Package: rec.part.Package, Units: -rec.part.Units}})
		}
	}
}

// settle records, in the write that moves the cursor past the first done
// windows, what each package paid for in them and what no package covered
// and was held back. A part counts whether the marketplace accepted it or
// refused it for good: the next window's split must not depend on the
// answer (docs/packages.md decision 6). A part its window had no second
// left for (crowded) was never sent: no package paid for it. Uncovered
// usage is counted per meter within the list's bound: it returns the
// counts of meters no longer declared (the product's meters) it dropped
// to make room (metering.AddBoundedUsage).
func settle(m *saasv1alpha1.TenantMetering, pending []pendingRecord, done int, declared []saasv1alpha1.Meter) []saasv1alpha1.MeterUsage {
	var dropped []saasv1alpha1.MeterUsage
	for _, rec := range pending {
		if rec.window >= done || rec.crowded {
			continue
		}
		switch {
		case rec.part.Package != "":
			metering.Deduct(m.Packages, []metering.PackagePart{rec.part})
		case rec.held():
			var gone []saasv1alpha1.MeterUsage
			m.Uncovered, gone = metering.AddBoundedUsage(m.Uncovered, rec.meter, rec.units, declared)
			dropped = append(dropped, gone...)
		}
	}
	return dropped
}

// countUncovered counts, once the cursor moved past the first done
// windows, the usage held back in them.
func countUncovered(pending []pendingRecord, done int) {
	for _, rec := range pending {
		if rec.window < done && rec.held() {
			usageUncovered.WithLabelValues(rec.meter).Add(float64(rec.units) / koogallery.UnitsPerOne)
		}
	}
}
