package metering

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/textcut"
)

// Metered reports whether tenant t is billed by usage: its product declares
// meters (spec.metering.meters) and its resolved order is pay-per-use
// (OnDemand) or a pay-per-use package (OnDemandPackage, spec §6.8).
// Periodic subscriptions are never metered (the marketplace would refuse
// their records with code 012), nor is a package that funds another tenant
// (IsPackage): that tenant's records name it.
func Metered(t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) bool {
	if product.Spec.Metering == nil || len(product.Spec.Metering.Meters) == 0 || IsPackage(t, product) {
		return false
	}
	return PayPerUse(t)
}

// PayPerUse reports whether t's resolved order is pay-per-use (OnDemand)
// or a pay-per-use package (OnDemandPackage): the orders metering is for.
// False before the order is resolved.
func PayPerUse(t *saasv1alpha1.SaaSTenant) bool {
	if t.Status.Order == nil {
		return false
	}
	mode := t.Status.Order.ChargingMode
	return mode == saasv1alpha1.ChargingOnDemand || mode == saasv1alpha1.ChargingOnDemandPackage
}

// Round rounds v, a window's usage, to decimals decimals (the meter's
// GetDecimals(), clamped to 0..4; spec §6.4: at most 4 decimal places) with
// the meter's rounding mode (HalfUp when empty), in koogallery.UsageUnits
// (1/10^4). A small tolerance absorbs float error, so with RoundUp
// 0.1+0.2 (0.30000000000000004) gives 0.3, not 0.3001, and a value with
// decimals of its own keeps them (12345.6789 gives 12345.6789). NaN, infinities,
// values ≤ 0, values of at least MaxInt64/10^4 in the meter's own decimals
// (whose units could overflow int64; every value below that is at most 16
// characters, within usage_value's 17), and values above
// koogallery.MaxUsageUnits (461168601842738.9999, which a total, the
// in-flight push and ParseUsageUnits could not read back) round to 0,
// which makes no record (spec §6.4: usage_value > 0).
func Round(v float64, decimals int32, mode saasv1alpha1.MeterRounding) koogallery.UsageUnits {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0
	}
	decimals = min(max(decimals, 0), 4)
	scale := math.Pow10(int(decimals))
	x := v * scale
	if math.IsInf(x, 1) {
		return 0 // far beyond what a record carries; the tolerance below would be NaN
	}
	// The tolerance is 1e-9, or two float steps of x where a step is larger
	// (from x ≈ 4·10^6). Scaled by 10^decimals, a value with that many
	// decimals of its own can be one step off a whole number (12345.6789 ×
	// 10^4 is 123456789.00000001, a step being 1.49e-8 there), which a fixed
	// 1e-9 took for part of a unit: Up billed 12345.679. No wider relative
	// tolerance will do: just under MaxInt64/10^4, the largest x kept, a
	// step is 1/8, and a tolerance of 1/2 there would make HalfUp round
	// every whole value up (|x|·1e-12 would be 922).
	eps := max(1e-9, 2*(math.Nextafter(x, math.Inf(1))-x))
	var r float64
	switch mode {
	case saasv1alpha1.RoundUp:
		r = math.Ceil(x - eps)
	case saasv1alpha1.RoundDown:
		r = math.Floor(x + eps)
	default:
		r = math.Floor(x + 0.5 + eps)
	}
	step := int64(koogallery.UnitsPerOne / scale) // units per step of the meter's decimals
	if r >= math.MaxInt64/koogallery.UnitsPerOne || int64(r) > int64(koogallery.MaxUsageUnits)/step {
		return 0 // its units would overflow int64 or not read back; never send a wrapped value
	}
	return koogallery.UsageUnits(int64(r) * step)
}

// SN is a record's metering_sn, the marketplace's deduplication key (spec
// §6.4: at most 64 characters, unique; a repeated one is refused as a
// duplicate): "kp" and 30 hex digits of a SHA-256 of the instance, the
// meter and the window start (to the second). Every retry, restart or
// second replica sends the same key for the same window, so the
// marketplace keeps one record; distinct instances, meters or windows get
// distinct keys.
func SN(instanceID, meter string, start time.Time) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00" + meter + "\x00" + strconv.FormatInt(start.Unix(), 10)))
	return "kp" + hex.EncodeToString(sum[:15])
}

// Record is the usage record (UsagePushData, spec §6.4) of meter over
// window w for tenant t, with value units (> 0): begin_time and end_time
// are the window's until the record gets its own period of it (Periods,
// InPeriod: a window's records never share one), record_time is its end,
// all UTC in koogallery.UsageTimeLayout; metering_sn is SN's. A pay-per-use package's
// record names the package instance it is deducted from,
// relate_pkg_instance (spec §6.8): kooper meters the package's own
// instance, so that is the tenant's instanceId.
func Record(t *saasv1alpha1.SaaSTenant, meter string, w Window, units koogallery.UsageUnits) koogallery.UsageRecord {
	pkg := ""
	if t.Status.Order != nil && t.Status.Order.ChargingMode == saasv1alpha1.ChargingOnDemandPackage {
		pkg = t.Spec.InstanceID
	}
	return koogallery.UsageRecord{
		InstanceID: t.Spec.InstanceID, BeginTime: w.Start.UTC().Format(koogallery.UsageTimeLayout),
		EndTime: w.End.UTC().Format(koogallery.UsageTimeLayout), RecordTime: w.End.UTC().Format(koogallery.UsageTimeLayout),
		UsageValue: units.String(), MeteringSN: SN(t.Spec.InstanceID, meter, w.Start), RelatePkgInstance: pkg,
	}
}

// Retryable reports whether a record the marketplace refused with the
// record-level code (spec §6.4) may pass later, so the push is retried from
// its window: the instance may not be known to the metering side yet (001,
// instance does not exist), or be in a transient state (013, abnormal
// instance status). Every other refusal is for good and is reported; the
// duplicates (005, 010) are success (koogallery.UsageRecordError.Duplicate).
func Retryable(code string) bool {
	return code == "001" || code == "013"
}

// AddTotal adds units to meter's cumulative total in m.Meters (a decimal
// with up to 4 decimals, which queryInstance reports as usageInfo), adding
// the meter at "0" first when it has none. The total saturates at
// koogallery.MaxUsageUnits ("461168601842738.9999", so a caller can tell a
// saturated one by comparing with MaxUsageUnits.String()) and never goes
// below "0": it never wraps, so the API server always takes it. A total
// the CRD's pattern allows but beyond MaxUsageUnits counts as saturated;
// one that is no decimal at all restarts at zero. It never drops a total
// to keep the list within its bound: a push adds with AddBoundedTotal.
func AddTotal(m *saasv1alpha1.TenantMetering, meter string, units koogallery.UsageUnits) {
	m.Meters = AddUsage(m.Meters, meter, units)
}

// MaxMeterUsages is how many meters status.metering.meters and
// status.metering.uncovered hold at most (their MaxItems), as many as a
// product declares meters at most (spec.metering.meters, MaxItems): the
// totals of the meters a product declares always fit.
const MaxMeterUsages = 8

// AddBoundedTotal is AddTotal within MaxMeterUsages (AddBoundedUsage): it
// returns the totals it dropped to make room for meter's, if any.
func AddBoundedTotal(m *saasv1alpha1.TenantMetering, meter string, units koogallery.UsageUnits, declared []saasv1alpha1.Meter) []saasv1alpha1.MeterUsage {
	var dropped []saasv1alpha1.MeterUsage
	m.Meters, dropped = AddBoundedUsage(m.Meters, meter, units, declared)
	return dropped
}

// AddBoundedUsage is AddUsage for a list the API server takes at most
// MaxMeterUsages entries of. A product's meters may change over a
// tenant's life (docs/concepts.md), and a list that kept every meter ever
// billed grew past its bound: the API server then refused, on every
// retry, the write that moves the cursor, and no later hour was billed.
// When meter has no entry and the list is full, it drops entries of
// meters that declared (the product's meters) does not name, oldest
// first, until meter's fits. Oldest is the list's order, the order the
// meters first got an entry in: status records no other age (a time per
// entry would be an API change), and the meter billed first is the most
// likely to have been retired longest. Every declared meter's entry is
// kept, and fits (MaxMeterUsages). When no entry can go (each is a
// declared meter's, and meter, no longer declared, is in a push built
// before the product's meters changed), meter's units are the ones not
// kept. It returns the list and the entries dropped, meter's own units
// among them in that case.
func AddBoundedUsage(usages []saasv1alpha1.MeterUsage, meter string, units koogallery.UsageUnits, declared []saasv1alpha1.Meter) ([]saasv1alpha1.MeterUsage, []saasv1alpha1.MeterUsage) {
	var dropped []saasv1alpha1.MeterUsage
	if slices.ContainsFunc(usages, func(u saasv1alpha1.MeterUsage) bool { return u.Name == meter }) {
		return AddUsage(usages, meter, units), nil
	}
	isDeclared := func(name string) bool {
		return slices.ContainsFunc(declared, func(d saasv1alpha1.Meter) bool { return d.Name == name })
	}
	kept := make([]saasv1alpha1.MeterUsage, 0, len(usages)+1)
	excess := len(usages) + 1 - MaxMeterUsages
	for _, u := range usages {
		if excess > 0 && !isDeclared(u.Name) {
			dropped = append(dropped, u)
			excess--
			continue
		}
		kept = append(kept, u)
	}
	if excess > 0 {
		return kept, append(dropped, AddUsage(nil, meter, units)...)
	}
	return AddUsage(kept, meter, units), dropped
}

// decimalTotal is the CRD's pattern of a stored total.
var decimalTotal = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,4})?$`)

// AddUsage adds units to meter's total in usages, adding the meter at "0"
// first when it has none, and returns the list (AddTotal's rule, for any
// per-meter list such as status.metering.uncovered), unbounded: a push
// adds with AddBoundedUsage.
func AddUsage(usages []saasv1alpha1.MeterUsage, meter string, units koogallery.UsageUnits) []saasv1alpha1.MeterUsage {
	i := slices.IndexFunc(usages, func(u saasv1alpha1.MeterUsage) bool { return u.Name == meter })
	if i < 0 {
		usages = append(usages, saasv1alpha1.MeterUsage{Name: meter, Total: "0"})
		i = len(usages) - 1
	}
	total, err := koogallery.ParseUsageUnits(usages[i].Total)
	if err != nil && decimalTotal.MatchString(usages[i].Total) {
		total = koogallery.MaxUsageUnits // a decimal too large to read back, left by an older kooper
	}
	// total is within 0..MaxUsageUnits, so neither MaxUsageUnits-total nor
	// the sum overflows.
	usages[i].Total = max(0, total+min(units, koogallery.MaxUsageUnits-total)).String()
	return usages
}

// RefusalSummary is the message that reports records refused for good:
// their count, then per code, in code order, how many and the first
// message (at most 128 bytes), e.g. "The marketplace refused 3 usage
// record(s), which are not retried: 003 ×2 (usage value abnormal); 006 ×1
// (delisted)".
func RefusalSummary(refused []koogallery.UsageRecordError) string {
	counts, msgs, codes := map[string]int{}, map[string]string{}, []string{}
	for _, f := range refused {
		if counts[f.ResultCode] == 0 {
			codes = append(codes, f.ResultCode)
			msgs[f.ResultCode] = textcut.Bytes(f.ResultMsg, 128)
		}
		counts[f.ResultCode]++
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s ×%d (%s)", c, counts[c], msgs[c])
	}
	return fmt.Sprintf("The marketplace refused %d usage record(s), which are not retried: %s", len(refused), strings.Join(parts, "; "))
}
