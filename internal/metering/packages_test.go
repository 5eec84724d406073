package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

var hour0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func hoursIn(h float64) *metav1.Time {
	t := metav1.NewTime(hour0.Add(time.Duration(h * float64(time.Hour))))
	return &t
}

func window(h int) Window {
	return Window{Start: hour0.Add(time.Duration(h) * time.Hour), End: hour0.Add(time.Duration(h+1) * time.Hour)}
}

func units(s string) koogallery.UsageUnits {
	u, err := koogallery.ParseUsageUnits(s)
	if err != nil {
		panic(err)
	}
	return u
}

func balance(id, quota, consumed string, since float64, expire *metav1.Time) saasv1alpha1.PackageBalance {
	return saasv1alpha1.PackageBalance{InstanceID: id, Quota: quota, Consumed: consumed, Since: *hoursIn(since), ExpireTime: expire}
}

func TestPackageQuota(t *testing.T) {
	for _, tc := range []struct {
		name   string
		terms  *saasv1alpha1.PackageTerms
		linear int64
		want   string
		fails  bool
	}{
		{"a fixed quota", &saasv1alpha1.PackageTerms{Quota: "100"}, 0, "100", false},
		{"a fixed quota ignores linearValue", &saasv1alpha1.PackageTerms{Quota: "2.5"}, 7, "2.5", false},
		{"per linear value", &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "2"}, 50, "100", false},
		{"per linear value with decimals", &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "0.0001"}, 3, "0.0003", false},
		{"per linear value without one", &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "2"}, 0, "", true},
		{"too large", &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "100000000000000"}, 1 << 40, "", true},
		{"the largest quota the schema allows", &saasv1alpha1.PackageTerms{Quota: "99999999999999.9999"}, 0, "99999999999999.9999", false},
		{"the largest quota per linear value the schema allows", &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "99999999999999.9999"}, 1, "99999999999999.9999", false},
		{"a quota beyond what a usage value carries", &saasv1alpha1.PackageTerms{Quota: "999999999999999"}, 0, "", true},
		{"no terms", nil, 1, "", true},
		{"not a number", &saasv1alpha1.PackageTerms{Quota: "ten"}, 1, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			q, err := PackageQuota(tc.terms, tc.linear)
			if tc.fails {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(q.String()).To(Equal(tc.want))
		})
	}
}

func TestSplitOverPackages(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ledger    []saasv1alpha1.PackageBalance
		w         Window
		usage     string
		want      []PackagePart
		uncovered string
	}{
		{
			name:   "the package expiring soonest pays first",
			ledger: []saasv1alpha1.PackageBalance{balance("p-may", "10", "0", 0, hoursIn(24*150)), balance("p-apr", "10", "0", 0, hoursIn(24*120))},
			w:      window(0), usage: "3",
			want: []PackagePart{{"p-apr", units("3")}}, uncovered: "0",
		},
		{
			name:   "a window spanning two packages is split",
			ledger: []saasv1alpha1.PackageBalance{balance("p-may", "10", "0", 0, hoursIn(24*150)), balance("p-apr", "10", "9", 0, hoursIn(24*120))},
			w:      window(0), usage: "3",
			want: []PackagePart{{"p-apr", units("1")}, {"p-may", units("2")}}, uncovered: "0",
		},
		{
			name:   "a package without expiry pays last",
			ledger: []saasv1alpha1.PackageBalance{balance("p-none", "10", "0", 0, nil), balance("p-late", "10", "0", 0, hoursIn(24*999))},
			w:      window(0), usage: "1",
			want: []PackagePart{{"p-late", units("1")}}, uncovered: "0",
		},
		{
			name:   "equal expiry: the first entered, then the instanceId",
			ledger: []saasv1alpha1.PackageBalance{balance("p-b", "1", "0", 0, nil), balance("p-a", "1", "0", 0, nil), balance("p-c", "1", "0", -1, nil)},
			w:      window(0), usage: "3",
			want: []PackagePart{{"p-c", units("1")}, {"p-a", units("1")}, {"p-b", units("1")}}, uncovered: "0",
		},
		{
			name:   "more than every package holds is uncovered",
			ledger: []saasv1alpha1.PackageBalance{balance("p1", "2", "1", 0, nil)},
			w:      window(0), usage: "3.5",
			want: []PackagePart{{"p1", units("1")}}, uncovered: "2.5",
		},
		{
			name:   "a package entered after the window ended does not pay for it",
			ledger: []saasv1alpha1.PackageBalance{balance("p1", "10", "0", 1.5, nil)},
			w:      window(0), usage: "1",
			uncovered: "1",
		},
		{
			name:   "a package entered during the window pays for all of it",
			ledger: []saasv1alpha1.PackageBalance{balance("p1", "10", "0", 0.5, nil)},
			w:      window(0), usage: "1",
			want: []PackagePart{{"p1", units("1")}}, uncovered: "0",
		},
		{
			name: "a package released before the window began does not pay",
			ledger: func() []saasv1alpha1.PackageBalance {
				b := balance("p1", "10", "0", -2, nil)
				b.EndTime = hoursIn(-1)
				return []saasv1alpha1.PackageBalance{b}
			}(),
			w: window(0), usage: "1", uncovered: "1",
		},
		{
			name:   "a package expired before the window began does not pay",
			ledger: []saasv1alpha1.PackageBalance{balance("p1", "10", "0", -2, hoursIn(-0.5)), balance("p2", "10", "0", -2, hoursIn(0.5))},
			w:      window(0), usage: "1",
			want: []PackagePart{{"p2", units("1")}}, uncovered: "0",
		},
		{
			name:      "no package at all",
			w:         window(0),
			usage:     "1",
			uncovered: "1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			parts, rest := SplitOverPackages(tc.ledger, tc.w, units(tc.usage))
			g.Expect(parts).To(Equal(tc.want))
			g.Expect(rest.String()).To(Equal(tc.uncovered))
		})
	}
}

// Whatever the ledger: the parts and the uncovered rest add up to the
// usage, no package pays more than it has left or when it is not
// eligible, the split is the same when asked again, and deducting it
// leaves no package over its quota.
func TestSplitOverPackagesProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(rt, "packages")
		ledger := make([]saasv1alpha1.PackageBalance, n)
		for i := range ledger {
			quota := rapid.Int64Range(0, 50_000).Draw(rt, "quota")
			used := rapid.Int64Range(0, 60_000).Draw(rt, "consumed")
			b := saasv1alpha1.PackageBalance{
				InstanceID: rapid.StringMatching(`p[0-9]`).Draw(rt, "id") + string(rune('a'+i)),
				Quota:      koogallery.UsageUnits(quota).String(), Consumed: koogallery.UsageUnits(used).String(),
				Since: *hoursIn(float64(rapid.IntRange(-3, 2).Draw(rt, "since"))),
			}
			if rapid.Bool().Draw(rt, "expires") {
				b.ExpireTime = hoursIn(float64(rapid.IntRange(-2, 5).Draw(rt, "expiry")))
			}
			if rapid.Bool().Draw(rt, "released") {
				b.EndTime = hoursIn(float64(rapid.IntRange(-2, 5).Draw(rt, "end")))
			}
			ledger[i] = b
		}
		w := window(rapid.IntRange(-1, 3).Draw(rt, "window"))
		usage := koogallery.UsageUnits(rapid.Int64Range(1, 200_000).Draw(rt, "usage"))

		parts, rest := SplitOverPackages(ledger, w, usage)
		again, restAgain := SplitOverPackages(ledger, w, usage)
		if rest < 0 || rest != restAgain || len(parts) != len(again) {
			rt.Fatalf("the split is not the same twice: %v %v, %v %v", parts, rest, again, restAgain)
		}
		sum := rest
		for i, p := range parts {
			if p != again[i] || p.Units <= 0 {
				rt.Fatalf("part %d: %v then %v", i, p, again[i])
			}
			sum += p.Units
			b := Balance(ledger, p.Package)
			if !eligible(b, w) || p.Units > Left(b) {
				rt.Fatalf("package %s paid %s, eligible %v, left %s", p.Package, p.Units, eligible(b, w), Left(b))
			}
		}
		if sum != usage {
			rt.Fatalf("parts and rest add up to %s, want %s", sum, usage)
		}
		Deduct(ledger, parts)
		for i := range ledger {
			quota, _ := koogallery.ParseUsageUnits(ledger[i].Quota)
			used, _ := koogallery.ParseUsageUnits(ledger[i].Consumed)
			if paid := partOf(parts, ledger[i].InstanceID); paid > 0 && used > quota {
				rt.Fatalf("package %s consumed %s of %s", ledger[i].InstanceID, used, quota)
			}
		}
	})
}

func partOf(parts []PackagePart, id string) koogallery.UsageUnits {
	for _, p := range parts {
		if p.Package == id {
			return p.Units
		}
	}
	return 0
}

func TestQuotaLeft(t *testing.T) {
	g := NewWithT(t)
	released := balance("p-released", "10", "0", 0, nil)
	released.EndTime = hoursIn(1)
	ledger := []saasv1alpha1.PackageBalance{
		balance("p-full", "10", "4", 0, nil),
		balance("p-used-up", "10", "10", 0, nil),
		balance("p-expired", "10", "0", 0, hoursIn(1)),
		released,
	}
	left, holding := QuotaLeft(ledger, hour0.Add(2*time.Hour))
	g.Expect(left.String()).To(Equal("6"))
	g.Expect(holding).To(Equal(1))

	left, holding = QuotaLeft(ledger, hour0.Add(30*time.Minute))
	g.Expect(left.String()).To(Equal("26"), "before the expiry and the release")
	g.Expect(holding).To(Equal(3))

	left, holding = QuotaLeft(nil, hour0)
	g.Expect(left).To(BeZero())
	g.Expect(holding).To(BeZero())
}

// TestQuotaLeftSaturatesAtTheLargestUsageValue: what several packages
// have left together does not wrap below zero (the PackagesExhausted
// message would report a negative quota left); it stops at MaxUsageUnits,
// as a stored total does (AddUsage).
func TestQuotaLeftSaturatesAtTheLargestUsageValue(t *testing.T) {
	g := NewWithT(t)
	most := koogallery.MaxUsageUnits.String()
	ledger := []saasv1alpha1.PackageBalance{balance("p-a", most, "0", 0, nil), balance("p-b", most, "0", 0, nil), balance("p-c", "5", "0", 0, nil)}
	left, holding := QuotaLeft(ledger, hour0)
	g.Expect(left).To(Equal(koogallery.MaxUsageUnits))
	g.Expect(holding).To(Equal(3))
}

func TestSyncLedger(t *testing.T) {
	g := NewWithT(t)
	now := hour0.Add(90 * time.Minute)
	ledger := SyncLedger(nil, []PackageState{
		{InstanceID: "p1", Quota: "100", ExpireTime: hoursIn(48)},
		{InstanceID: "p-gone", Quota: "5", Released: true},
	}, now)
	g.Expect(ledger).To(HaveLen(1), "a package released before it was entered is not entered")
	g.Expect(ledger[0].Since.Time).To(Equal(now), "a package enters when kooper sees it")
	g.Expect(ledger[0].Consumed).To(Equal("0"))
	g.Expect(ledger[0].EndTime).To(BeNil())

	ledger[0].Consumed = "30"
	later := now.Add(time.Hour)
	ledger = SyncLedger(ledger, []PackageState{{InstanceID: "p1", Quota: "120", ExpireTime: hoursIn(96), Released: true}}, later)
	g.Expect(ledger[0].Since.Time).To(Equal(now), "since never moves")
	g.Expect(ledger[0].Consumed).To(Equal("30"), "what it paid for stays")
	g.Expect(ledger[0].Quota).To(Equal("120"))
	g.Expect(ledger[0].ExpireTime.Time).To(Equal(hoursIn(96).Time))
	g.Expect(ledger[0].EndTime.Time).To(Equal(later))

	ledger = SyncLedger(ledger, []PackageState{{InstanceID: "p1", Quota: "120", Released: true}}, later.Add(time.Hour))
	g.Expect(ledger[0].EndTime.Time).To(Equal(later), "a release ends a package once")

	ledger = SyncLedger(ledger, nil, later.Add(2*time.Hour))
	g.Expect(ledger).To(HaveLen(1), "a package whose tenant is gone keeps its entry")
	ledger = SyncLedger(ledger, []PackageState{{InstanceID: "p-moved", Quota: "10", ConsumedBefore: "4.5"}}, later)
	g.Expect(Balance(ledger, "p-moved").Consumed).To(Equal("4.5"), "a package moved from a released tenant keeps what it paid for")
	g.Expect(Balance(ledger, "p-moved").Carried).To(Equal("4.5"))
	g.Expect(UsedHere(Balance(ledger, "p-moved"))).To(BeZero(), "none of it here")
	Balance(ledger, "p-moved").Consumed = "6"
	g.Expect(UsedHere(Balance(ledger, "p-moved")).String()).To(Equal("1.5"))
}

func TestSyncLedgerDropsWhatCannotPayFirstWhenFull(t *testing.T) {
	g := NewWithT(t)
	var ledger []saasv1alpha1.PackageBalance
	for i := range MaxLedger {
		b := balance("old-"+string(rune('A'+i%26))+string(rune('a'+i/26)), "1", "1", float64(-100+i), nil)
		ledger = append(ledger, b)
	}
	ledger[10].Consumed = "0" // still holds quota: kept
	ledger = SyncLedger(ledger, []PackageState{{InstanceID: "new", Quota: "5"}}, hour0)
	g.Expect(ledger).To(HaveLen(MaxLedger))
	g.Expect(Balance(ledger, "new")).NotTo(BeNil())
	g.Expect(Balance(ledger, ledger[9].InstanceID)).NotTo(BeNil())
	g.Expect(Balance(ledger, "old-Aa")).To(BeNil(), "the oldest used-up package went")
}

func TestPackageRecord(t *testing.T) {
	g := NewWithT(t)
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-ppu"},
		Status: saasv1alpha1.SaaSTenantStatus{Order: &saasv1alpha1.ResolvedOrder{ChargingMode: saasv1alpha1.ChargingOnDemand}}}
	a := PackageRecord(tenant, "duration", window(0), PackagePart{Package: "p1", Units: units("1")})
	b := PackageRecord(tenant, "duration", window(0), PackagePart{Package: "p2", Units: units("2")})
	g.Expect(a.InstanceID).To(Equal("i-ppu"), "instance_id is the pay-per-use instance")
	g.Expect(a.RelatePkgInstance).To(Equal("p1"))
	g.Expect(a.UsageValue).To(Equal("1"))
	g.Expect(a.MeteringSN).NotTo(Equal(b.MeteringSN), "each part of a window is a record of its own")
	g.Expect(a.MeteringSN).NotTo(Equal(SN("i-ppu", "duration", window(0).Start)), "nor the record of the uncovered rest")
	g.Expect(a.MeteringSN).To(Equal(PackageRecord(tenant, "duration", window(0), PackagePart{Package: "p1", Units: units("7")}).MeteringSN),
		"the key does not depend on the value")
	g.Expect(len(a.MeteringSN)).To(BeNumerically("<=", 64))
}

// A package is recognised by its product's spec.packages and its order; a
// package provisioned as a tenant of its own before the product set
// spec.packages stays one, and a recorded package stays a package.
func TestIsPackage(t *testing.T) {
	withPackages := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Packages: &saasv1alpha1.PackagesSpec{}}}
	without := &saasv1alpha1.SaaSProduct{}
	order := func(mode saasv1alpha1.ChargingMode) *saasv1alpha1.ResolvedOrder {
		return &saasv1alpha1.ResolvedOrder{ChargingMode: mode}
	}
	for _, tc := range []struct {
		name    string
		status  saasv1alpha1.SaaSTenantStatus
		product *saasv1alpha1.SaaSProduct
		want    bool
	}{
		{"a package order of a product with packages", saasv1alpha1.SaaSTenantStatus{Order: order(saasv1alpha1.ChargingOnDemandPackage)}, withPackages, true},
		{"a pay-per-use order", saasv1alpha1.SaaSTenantStatus{Order: order(saasv1alpha1.ChargingOnDemand)}, withPackages, false},
		{"an order not yet resolved", saasv1alpha1.SaaSTenantStatus{}, withPackages, false},
		{"a package order of a product without packages", saasv1alpha1.SaaSTenantStatus{Order: order(saasv1alpha1.ChargingOnDemandPackage)}, without, false},
		{"a package provisioned on its own before", saasv1alpha1.SaaSTenantStatus{Order: order(saasv1alpha1.ChargingOnDemandPackage), Namespace: "tenant-i-1"}, withPackages, false},
		{"a recorded package after the product dropped packages", saasv1alpha1.SaaSTenantStatus{Order: order(saasv1alpha1.ChargingOnDemandPackage), Package: &saasv1alpha1.TenantPackage{Quota: "1"}}, without, true},
	} {
		if got := IsPackage(&saasv1alpha1.SaaSTenant{Status: tc.status}, tc.product); got != tc.want {
			t.Errorf("%s: IsPackage = %v, want %v", tc.name, got, tc.want)
		}
	}
}
