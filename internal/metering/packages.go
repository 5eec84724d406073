package metering

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Packages: pay-per-use packages that fund a pay-per-use tenant (spec §6.8;
// the model is docs/packages.md). The ledger is the tenant's
// status.metering.packages; every function here is pure.

// MaxLedger is how many packages a ledger holds (the API's MaxItems): the
// marketplace lets a buyer hold 30 at once (spec §6.8, seen once); the
// rest is room for released ones and ones no longer listed, which go when
// it is full. An entry whose package still funds the tenant never goes
// (pruneLedger).
const MaxLedger = 64

// IsPackage reports whether tenant t is a package that funds another tenant
// (docs/packages.md decision 2): its product has spec.packages, its
// resolved order is ON_DEMAND_PKG and it was not provisioned as a tenant
// of its own before the product set spec.packages. Once recorded as a
// package (status.package), it stays one.
func IsPackage(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) bool {
	if t.Status.Package != nil {
		return true
	}
	return product.Spec.Packages != nil && t.Status.Order != nil && t.Status.Namespace == "" &&
		t.Status.Order.ChargingMode == saasv1alpha1.ChargingOnDemandPackage
}

// FundedByPackages reports whether tenant t is metered with its product's
// packages paying for spec.packages.meter: a pay-per-use tenant of a
// product with spec.packages.
func FundedByPackages(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) bool {
	return product.Spec.Packages != nil && t.Status.Order != nil &&
		t.Status.Order.ChargingMode == saasv1alpha1.ChargingOnDemand
}

// PackageMeter is the name of the meter the product's packages pay for:
// spec.packages.meter, or the only meter.
func PackageMeter(product *saasv1alpha1.SaaSProduct) string {
	if p := product.Spec.Packages; p != nil && p.Meter != "" {
		return p.Meter
	}
	if m := product.Spec.Metering; m != nil && len(m.Meters) == 1 {
		return m.Meters[0].Name
	}
	return ""
}

// PackageQuota is what a package bought with linearValue on a plan with
// terms holds, in koogallery.UsageUnits (docs/packages.md decision 4):
// terms.quota, or terms.quotaPerLinearValue × linearValue. It fails for nil
// terms, a value that does not parse (koogallery.ParseUsageUnits: one the
// CRD's pattern accepts, at most 14 whole digits, always does), a zero
// linearValue with quotaPerLinearValue, or a product beyond what a usage
// value can carry (koogallery.MaxUsageUnits).
func PackageQuota(terms *saasv1alpha1.PackageTerms, linearValue int64) (koogallery.UsageUnits, error) {
	if terms == nil {
		return 0, errors.New("the plan has no package terms")
	}
	if terms.Quota != "" {
		return koogallery.ParseUsageUnits(terms.Quota)
	}
	per, err := koogallery.ParseUsageUnits(terms.QuotaPerLinearValue)
	if err != nil {
		return 0, err
	}
	if linearValue <= 0 {
		return 0, errors.New("quotaPerLinearValue needs the order's linearValue, which Query Order did not give")
	}
	q := new(big.Int).Mul(big.NewInt(int64(per)), big.NewInt(linearValue))
	if !q.IsInt64() || q.Int64() > int64(koogallery.MaxUsageUnits) {
		return 0, fmt.Errorf("quotaPerLinearValue %s × linearValue %d is too large: a package holds at most %s",
			terms.QuotaPerLinearValue, linearValue, koogallery.MaxUsageUnits)
	}
	return koogallery.UsageUnits(q.Int64()), nil
}

// PackagePart is the share of one window's usage that one package pays for.
type PackagePart struct {
	// Package is the package's instanceId.
	Package string
	// Units is the share, > 0.
	Units koogallery.UsageUnits
}

// eligible reports whether package b may pay for window w: entered in the
// ledger before w ended, not released before w began, not expired before
// it began (docs/packages.md decision 6).
func eligible(b *saasv1alpha1.PackageBalance, w Window) bool {
	return b.Since.Time.Before(w.End) &&
		(b.EndTime == nil || b.EndTime.Time.After(w.Start)) &&
		(b.ExpireTime == nil || b.ExpireTime.Time.After(w.Start))
}

// payOrder sorts packages by who pays first: the soonest expiry (none
// last), then the earliest since, then the instanceId.
func payOrder(a, b *saasv1alpha1.PackageBalance) int {
	switch {
	case a.ExpireTime == nil && b.ExpireTime != nil:
		return 1
	case a.ExpireTime != nil && b.ExpireTime == nil:
		return -1
	case a.ExpireTime != nil && !a.ExpireTime.Equal(b.ExpireTime):
		return a.ExpireTime.Time.Compare(b.ExpireTime.Time)
	case !a.Since.Equal(&b.Since):
		return a.Since.Time.Compare(b.Since.Time)
	}
	return cmp.Compare(a.InstanceID, b.InstanceID)
}

// Left is what package b has left: quota − consumed, never below zero. A
// value that does not parse counts as nothing left.
func Left(b *saasv1alpha1.PackageBalance) koogallery.UsageUnits {
	quota, err1 := koogallery.ParseUsageUnits(b.Quota)
	used, err2 := koogallery.ParseUsageUnits(b.Consumed)
	if err1 != nil || err2 != nil || used >= quota {
		return 0
	}
	return quota - used
}

// SplitOverPackages splits units, a window's usage of the packages' meter,
// over the ledger's packages eligible for w, the first to pay taking as
// much as it has left, and returns the parts (in paying order) and what no
// package covers. It depends on the ledger and w alone, so a push retried
// after a crash splits a window as its first attempt did.
func SplitOverPackages(ledger []saasv1alpha1.PackageBalance, w Window, units koogallery.UsageUnits) ([]PackagePart, koogallery.UsageUnits) {
	payers := make([]*saasv1alpha1.PackageBalance, 0, len(ledger))
	for i := range ledger {
		if eligible(&ledger[i], w) {
			payers = append(payers, &ledger[i])
		}
	}
	slices.SortFunc(payers, payOrder)
	var parts []PackagePart
	for _, b := range payers {
		if units <= 0 {
			break
		}
		if share := min(Left(b), units); share > 0 {
			parts = append(parts, PackagePart{Package: b.InstanceID, Units: share})
			units -= share
		}
	}
	return parts, max(units, 0)
}

// UsedHere is what package b paid for in this ledger's tenant: consumed −
// carried.
func UsedHere(b *saasv1alpha1.PackageBalance) koogallery.UsageUnits {
	used, _ := koogallery.ParseUsageUnits(b.Consumed)
	carried, _ := koogallery.ParseUsageUnits(b.Carried)
	return max(used-carried, 0)
}

// Balance is package id's entry in ledger, nil when it has none.
func Balance(ledger []saasv1alpha1.PackageBalance, id string) *saasv1alpha1.PackageBalance {
	if i := slices.IndexFunc(ledger, func(b saasv1alpha1.PackageBalance) bool { return b.InstanceID == id }); i >= 0 {
		return &ledger[i]
	}
	return nil
}

// Deduct adds each part to its package's consumed in ledger; a part whose
// package is not in the ledger is ignored.
func Deduct(ledger []saasv1alpha1.PackageBalance, parts []PackagePart) {
	for _, p := range parts {
		if b := Balance(ledger, p.Package); b != nil {
			used, _ := koogallery.ParseUsageUnits(b.Consumed)
			b.Consumed = (used + p.Units).String()
		}
	}
}

// QuotaLeft is what the packages that could pay at now have left in all,
// at most koogallery.MaxUsageUnits, and how many such packages have some
// left.
func QuotaLeft(ledger []saasv1alpha1.PackageBalance, now time.Time) (koogallery.UsageUnits, int) {
	var left koogallery.UsageUnits
	holding := 0
	instant := Window{Start: now, End: now.Add(time.Nanosecond)}
	for i := range ledger {
		if !eligible(&ledger[i], instant) {
			continue
		}
		if l := Left(&ledger[i]); l > 0 {
			// Saturates as AddUsage does: left and l are each within
			// 0..MaxUsageUnits, so neither the difference nor the sum
			// overflows.
			left += min(l, koogallery.MaxUsageUnits-left)
			holding++
		}
	}
	return left, holding
}

// PackageState is what the ledger needs to know of one package tenant.
type PackageState struct {
	// InstanceID is the package's instanceId.
	InstanceID string
	// Quota is what it holds.
	Quota string
	// ExpireTime is its expiry, nil when it has none.
	ExpireTime *metav1.Time
	// Released reports that the marketplace released it (or it was deleted).
	Released bool
	// ReleasedAt is when it was released, as stored with the release, not
	// when kooper saw it (PackageReleasedAt): zero when no time is stored.
	ReleasedAt time.Time
	// ConsumedBefore is what it paid for while it funded tenants since
	// released: a new entry starts from it ("" is 0).
	ConsumedBefore string
}

// PackageReleasedAt is when package pkg, released or deleted, stops paying
// for the tenant whose metering is funded (docs/packages.md decision 10):
// its release as stored (ReleasedAt), to the second, so controllers that
// were down do not charge it for the hours between; never before what the
// funded tenant's ledger already settled (its cursor, and the windows of
// its in-flight push: their parts are sent as they were built). It is zero
// when no time is stored (a release without an order).
func PackageReleasedAt(pkg *saasv1alpha1.SaaSTenant, funded *saasv1alpha1.TenantMetering) time.Time {
	at := ReleasedAt(pkg)
	if at.IsZero() || funded == nil {
		return at
	}
	floor := Cursor(funded)
	if f := funded.InFlight; f != nil && len(f.Windows) > 0 {
		floor = later(floor, f.Windows[len(f.Windows)-1].End.Time)
	}
	return later(at.UTC().Truncate(time.Second), floor)
}

// SyncLedger brings ledger up to date with the packages linked to the
// tenant, at now (docs/packages.md decisions 5 and 10): a new package
// enters with since = now, having consumed what it paid for before (a
// package moved from a released tenant); a package's quota and expiry
// follow its tenant; a released package ends, once, at its release
// (ReleasedAt), or at now when no time is stored; never after now, never
// before its since (even when now is: a clock behind the one that entered
// it). Entries of packages no longer listed are kept (their tenant was
// deleted after its retention). A new package needs room in the ledger
// (MaxLedger): pruneLedger makes it from the entries of packages that no
// longer fund the tenant; when every entry's package still does, the new
// package does not enter (NotEntered lists it) until a release makes room.
// It loses nothing by waiting: it has paid for nothing here, and enters
// later from its consumedBefore. New packages enter in entryOrder, not in
// the order packages lists them (a cache's, which differs between passes,
// replicas and restarts), so the same ones find room on every pass.
func SyncLedger(ledger []saasv1alpha1.PackageBalance, packages []PackageState, now time.Time) []saasv1alpha1.PackageBalance {
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	out := slices.Clone(ledger)
	var entering []PackageState
	for _, p := range packages {
		b := Balance(out, p.InstanceID)
		switch {
		case b != nil:
			follow(b, p, at)
		case !p.Released: // one released before it ever paid has nothing to keep
			entering = append(entering, p)
		}
	}
	slices.SortFunc(entering, entryOrder)
	out = pruneLedger(out, funding(packages), MaxLedger-len(entering), now)
	for _, p := range entering {
		if len(out) < MaxLedger && Balance(out, p.InstanceID) == nil {
			out = append(out, newBalance(p, at))
		}
	}
	return out
}

// entryOrder sorts packages waiting to enter the ledger (all entering at
// the same since) by payOrder: the one that pays first enters first, so
// the soonest to expire does not wait while its quota runs out of time.
func entryOrder(a, b PackageState) int {
	return payOrder(&saasv1alpha1.PackageBalance{InstanceID: a.InstanceID, ExpireTime: a.ExpireTime},
		&saasv1alpha1.PackageBalance{InstanceID: b.InstanceID, ExpireTime: b.ExpireTime})
}

// newBalance is the entry of package p entering the ledger at at, having
// consumed what it paid for before (ConsumedBefore).
func newBalance(p PackageState, at metav1.Time) saasv1alpha1.PackageBalance {
	consumed := p.ConsumedBefore
	if consumed == "" {
		consumed = "0"
	}
	b := saasv1alpha1.PackageBalance{InstanceID: p.InstanceID, Consumed: consumed, Carried: p.ConsumedBefore, Since: at}
	follow(&b, p, at)
	return b
}

// follow makes entry b follow package p at at: its quota, its expiry, and
// its release, which ends b once.
func follow(b *saasv1alpha1.PackageBalance, p PackageState, at metav1.Time) {
	b.Quota = p.Quota
	b.ExpireTime = p.ExpireTime.DeepCopy()
	if p.Released && b.EndTime == nil {
		end := metav1.NewTime(endAt(p.ReleasedAt, b.Since.Time, at.Time))
		b.EndTime = &end
	}
}

// funding is the set of packages that still fund the tenant: listed and
// not released.
func funding(packages []PackageState) map[string]bool {
	out := make(map[string]bool, len(packages))
	for _, p := range packages {
		if !p.Released {
			out[p.InstanceID] = true
		}
	}
	return out
}

// pruneLedger drops entries while the ledger is over limit, only entries
// whose package no longer funds the tenant (released, or no longer
// listed), in dropsBefore's order. An entry whose package still funds it
// is never dropped, used up or expired as it may be: the next sync would
// enter it anew at its consumedBefore, and its quota would pay again (a
// renewal brings an expired one back).
func pruneLedger(ledger []saasv1alpha1.PackageBalance, funding map[string]bool, limit int, now time.Time) []saasv1alpha1.PackageBalance {
	instant := Window{Start: now, End: now.Add(time.Nanosecond)}
	for len(ledger) > limit {
		drop := -1
		for i := range ledger {
			if !funding[ledger[i].InstanceID] && (drop < 0 || dropsBefore(&ledger[i], &ledger[drop], instant)) {
				drop = i
			}
		}
		if drop < 0 {
			break // every package left still funds the tenant
		}
		ledger = slices.Delete(ledger, drop, drop+1)
	}
	return ledger
}

// dropsBefore reports whether entry a goes before entry b when the ledger
// is full: one that can no longer pay at instant first, then the earliest
// since, then the least instanceId: entries that entered in one pass share
// a since, and the ledger's order must not decide which one goes.
func dropsBefore(a, b *saasv1alpha1.PackageBalance, instant Window) bool {
	aPays, bPays := eligible(a, instant) && Left(a) > 0, eligible(b, instant) && Left(b) > 0
	if aPays != bPays {
		return !aPays
	}
	if !a.Since.Equal(&b.Since) {
		return a.Since.Before(&b.Since)
	}
	return a.InstanceID < b.InstanceID
}

// NotEntered lists the packages that fund the tenant but have no entry in
// ledger, as SyncLedger left it: the ledger is full of packages that still
// fund it (MaxLedger), and they pay for nothing until a release makes
// room. The caller reports them, in the order they would enter
// (entryOrder), whatever the order packages lists them in.
func NotEntered(ledger []saasv1alpha1.PackageBalance, packages []PackageState) []string {
	var waiting []PackageState
	for _, p := range packages {
		if !p.Released && Balance(ledger, p.InstanceID) == nil {
			waiting = append(waiting, p)
		}
	}
	slices.SortFunc(waiting, entryOrder)
	var out []string
	for _, p := range waiting {
		out = append(out, p.InstanceID)
	}
	return out
}

// PackageSN is the metering_sn of the part of a window one package pays
// for: like SN, over the package's instanceId too, so each part of a window
// split over two packages is a record of its own.
func PackageSN(instanceID, meter string, start time.Time, pkg string) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00" + meter + "\x00" + strconv.FormatInt(start.Unix(), 10) + "\x00" + pkg))
	return "kp" + hex.EncodeToString(sum[:15])
}

// PackageRecord is the usage record of the part of window w that package
// pkg pays for (spec §6.4, §6.8): instance_id is the pay-per-use tenant,
// relate_pkg_instance the package.
func PackageRecord(t *saasv1alpha1.SaaSTenant, meter string, w Window, part PackagePart) koogallery.UsageRecord {
	rec := Record(t, meter, w, part.Units)
	rec.MeteringSN = PackageSN(t.Spec.InstanceID, meter, w.Start, part.Package)
	rec.RelatePkgInstance = part.Package
	return rec
}
