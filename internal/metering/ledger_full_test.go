package metering

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"pgregory.net/rapid"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A full ledger (MaxLedger entries) of a buyer who holds more packages
// than it has room for: an entry whose package still funds the tenant
// (listed and not released) must stay, for a package without an entry
// enters anew at consumed = consumedBefore and since = now, and its quota
// pays again.

// boughtPackages is n packages of 10 each, none used, linked and not
// released: p-01, p-02, ….
func boughtPackages(n int) []PackageState {
	out := make([]PackageState, n)
	for i := range out {
		out[i] = PackageState{InstanceID: fmt.Sprintf("p-%02d", i+1), Quota: "10"}
	}
	return out
}

// TestSyncLedgerKeepsALinkedUsedUpPackageWhenFull: a pay-per-use buyer's
// first package is used up (consumed = its quota of 10) but neither
// expires nor is released, and 64 more are bought. Before, the 65th entry
// made pruneLedger drop the used-up package (the entry that could not pay
// with the earliest since); the next sync still listed it and entered it
// anew at consumed 0, so its 10 paid again.
func TestSyncLedgerKeepsALinkedUsedUpPackageWhenFull(t *testing.T) {
	g := NewWithT(t)
	first := PackageState{InstanceID: "p-first", Quota: "10"}
	ledger := SyncLedger(nil, []PackageState{first}, hour0)
	Balance(ledger, "p-first").Consumed = "10" // used up
	linked := slices.Concat([]PackageState{first}, boughtPackages(MaxLedger))

	var previous []saasv1alpha1.PackageBalance
	for sync, now := range []time.Time{hour0.Add(time.Hour), hour0.Add(2 * time.Hour)} {
		ledger = SyncLedger(ledger, linked, now)
		g.Expect(ledger).To(HaveLen(MaxLedger), "sync %d", sync+1)
		used := Balance(ledger, "p-first")
		g.Expect(used).NotTo(BeNil(), "sync %d: the used-up package still funds the tenant: it keeps its entry", sync+1)
		g.Expect(used.Consumed).To(Equal("10"), "sync %d: not re-entered at zero", sync+1)
		g.Expect(used.Since.Time).To(Equal(hour0), "sync %d: not re-entered at now", sync+1)
		left, holding := QuotaLeft(ledger, now)
		g.Expect(holding).To(Equal(MaxLedger-1), "sync %d: the 63 bought packages that found room pay, and nothing else", sync+1)
		g.Expect(left.String()).To(Equal("630"), "sync %d: nothing pays twice", sync+1)
		g.Expect(NotEntered(ledger, linked)).To(Equal([]string{"p-64"}), "sync %d: the last one bought waits for room", sync+1)
		if previous != nil {
			g.Expect(ledger).To(Equal(previous), "the same packages sync to the same ledger")
		}
		previous = ledger
	}
}

// TestSyncLedgerMakesRoomOnlyFromWhatNoLongerFunds: a full ledger, its
// oldest entry p-first in the state named, 63 packages with quota left,
// and p-new bought. Before, p-first went whatever its state (a used-up or
// expired one as the oldest that could not pay, a paying one as entry 0),
// and came back at consumed 0 while still linked. Now only a released or
// no longer listed package makes room; otherwise p-new waits, having paid
// for nothing here.
func TestSyncLedgerMakesRoomOnlyFromWhatNoLongerFunds(t *testing.T) {
	now := hour0.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		consumed  string
		expired   bool
		listed    bool
		released  bool
		keepFirst bool
	}{
		{name: "used up, still linked", consumed: "10", listed: true, keepFirst: true},
		{name: "expired, still linked (a renewal brings it back)", consumed: "3", expired: true, listed: true, keepFirst: true},
		{name: "paying, still linked", consumed: "0", listed: true, keepFirst: true},
		{name: "released", consumed: "3", listed: true, released: true},
		{name: "no longer listed (its tenant is gone)", consumed: "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			others := boughtPackages(MaxLedger - 1)
			ledger := []saasv1alpha1.PackageBalance{balance("p-first", "10", tc.consumed, -10, nil)}
			firstState := PackageState{InstanceID: "p-first", Quota: "10", Released: tc.released}
			if tc.expired {
				ledger[0].ExpireTime, firstState.ExpireTime = hoursIn(-1), hoursIn(-1)
			}
			for i, p := range others {
				ledger = append(ledger, balance(p.InstanceID, p.Quota, "0", -9+float64(i)/10, nil)) // all before now
			}
			linked := slices.Concat(others, []PackageState{{InstanceID: "p-new", Quota: "10"}})
			if tc.listed {
				linked = append(linked, firstState)
			}

			ledger = SyncLedger(ledger, linked, now)
			g.Expect(ledger).To(HaveLen(MaxLedger))
			for _, p := range others {
				g.Expect(Balance(ledger, p.InstanceID)).NotTo(BeNil(), "%s still pays: kept", p.InstanceID)
			}
			if !tc.keepFirst {
				g.Expect(Balance(ledger, "p-first")).To(BeNil(), "p-first makes room")
				g.Expect(Balance(ledger, "p-new")).NotTo(BeNil(), "p-new enters")
				g.Expect(NotEntered(ledger, linked)).To(BeEmpty())
				return
			}
			g.Expect(Balance(ledger, "p-first")).NotTo(BeNil(), "p-first still funds the tenant: kept")
			g.Expect(Balance(ledger, "p-first").Consumed).To(Equal(tc.consumed))
			g.Expect(Balance(ledger, "p-new")).To(BeNil(), "no room: p-new waits")
			g.Expect(NotEntered(ledger, linked)).To(Equal([]string{"p-new"}))
		})
	}
}

// Whatever the ledger and the packages listed: the ledger stays within
// MaxLedger; an entry whose package still funds the tenant keeps its
// consumed and since; a package that funds the tenant is left out only
// when every entry's package still funds it; syncing again changes
// nothing. Before, a full ledger dropped such entries, and the next sync
// entered them anew at consumedBefore.
func TestSyncLedgerProperties(t *testing.T) {
	now := hour0.Add(time.Hour)
	rapid.Check(t, func(rt *rapid.T) {
		var ledger []saasv1alpha1.PackageBalance
		var packages []PackageState
		for i := range rapid.IntRange(0, MaxLedger).Draw(rt, "entries") {
			b := balance(fmt.Sprintf("p-%02d", i), "10", strconv.Itoa(rapid.IntRange(0, 10).Draw(rt, "consumed")),
				float64(rapid.IntRange(-50, 0).Draw(rt, "since")), nil)
			if rapid.Bool().Draw(rt, "expires") {
				b.ExpireTime = hoursIn(float64(rapid.IntRange(-2, 2).Draw(rt, "expiry")))
			}
			ledger = append(ledger, b)
			switch rapid.SampledFrom([]string{"funding", "released", "unlisted"}).Draw(rt, "package") {
			case "funding":
				packages = append(packages, PackageState{InstanceID: b.InstanceID, Quota: b.Quota, ExpireTime: b.ExpireTime})
			case "released":
				packages = append(packages, PackageState{InstanceID: b.InstanceID, Quota: b.Quota, ExpireTime: b.ExpireTime, Released: true})
			}
		}
		for i := range rapid.IntRange(0, 8).Draw(rt, "bought") {
			packages = append(packages, PackageState{InstanceID: fmt.Sprintf("new-%d", i), Quota: "10",
				ConsumedBefore: rapid.SampledFrom([]string{"", "4"}).Draw(rt, "consumedBefore")})
		}
		packages = rapid.Permutation(packages).Draw(rt, "listed")

		out := SyncLedger(ledger, packages, now)
		stillFunding := funding(packages)
		if len(out) > MaxLedger {
			rt.Fatalf("%d entries", len(out))
		}
		for i := range ledger {
			was, b := &ledger[i], Balance(out, ledger[i].InstanceID)
			if stillFunding[was.InstanceID] && (b == nil || b.Consumed != was.Consumed || !b.Since.Equal(&was.Since)) {
				rt.Fatalf("%s still funds the tenant: entry %+v became %+v", was.InstanceID, *was, b)
			}
		}
		if left := NotEntered(out, packages); len(left) > 0 {
			for i := range out {
				if !stillFunding[out[i].InstanceID] {
					rt.Fatalf("%v left out while %s, which no longer funds the tenant, kept its entry", left, out[i].InstanceID)
				}
			}
		}
		if again := SyncLedger(out, packages, now); !reflect.DeepEqual(again, out) {
			rt.Fatalf("a second sync changed the ledger:\n%+v\n%+v", out, again)
		}
	})
}

// TestAFullLedgerAdmitsWaitingPackagesInAFixedOrder: 63 entries funding
// the tenant leave room for one of two new packages. The packages come
// from the cache in no fixed order; before, the first listed entered, so
// which one paid differed between passes, replicas and restarts. Now the
// one that pays first (payOrder: the soonest expiry, then the instanceId)
// enters, however they are listed.
func TestAFullLedgerAdmitsWaitingPackagesInAFixedOrder(t *testing.T) {
	now := hour0.Add(time.Hour)
	others := boughtPackages(MaxLedger - 1)
	var ledger []saasv1alpha1.PackageBalance
	for _, p := range others {
		ledger = append(ledger, balance(p.InstanceID, p.Quota, "0", -2, nil))
	}
	for _, tc := range []struct {
		name        string
		first, next PackageState
		enters      string
	}{
		{"neither expires: the lesser instanceId", PackageState{InstanceID: "p-new-a", Quota: "10"}, PackageState{InstanceID: "p-new-b", Quota: "10"}, "p-new-a"},
		{"the sooner expiry", PackageState{InstanceID: "p-new-a", Quota: "10", ExpireTime: hoursIn(48)}, PackageState{InstanceID: "p-new-b", Quota: "10", ExpireTime: hoursIn(24)}, "p-new-b"},
		{"an expiry before none", PackageState{InstanceID: "p-new-a", Quota: "10"}, PackageState{InstanceID: "p-new-b", Quota: "10", ExpireTime: hoursIn(24)}, "p-new-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			for order, listed := range [][]PackageState{
				slices.Concat(others, []PackageState{tc.first, tc.next}),
				slices.Concat([]PackageState{tc.next, tc.first}, others),
			} {
				out := SyncLedger(slices.Clone(ledger), listed, now)
				g.Expect(out).To(HaveLen(MaxLedger))
				g.Expect(Balance(out, tc.enters)).NotTo(BeNil(), "listing %d: %s enters", order+1, tc.enters)
				g.Expect(NotEntered(out, listed)).To(HaveLen(1))
			}
		})
	}
}

// TestAFullLedgerDropsEntriesOfTheSameSinceInAFixedOrder: two entries no
// longer funding the tenant, of the same since, compete for the room one
// new package needs: the same one goes whatever the ledger's order.
func TestAFullLedgerDropsEntriesOfTheSameSinceInAFixedOrder(t *testing.T) {
	g := NewWithT(t)
	now := hour0.Add(time.Hour)
	others := boughtPackages(MaxLedger - 2)
	var ledger []saasv1alpha1.PackageBalance
	for _, p := range others {
		ledger = append(ledger, balance(p.InstanceID, p.Quota, "0", -2, nil))
	}
	gone := []saasv1alpha1.PackageBalance{balance("gone-a", "10", "10", -5, nil), balance("gone-b", "10", "10", -5, nil)}
	listed := slices.Concat(others, []PackageState{{InstanceID: "p-new", Quota: "10"}})
	for _, order := range [][]saasv1alpha1.PackageBalance{slices.Concat(ledger, gone), slices.Concat([]saasv1alpha1.PackageBalance{gone[1], gone[0]}, ledger)} {
		out := SyncLedger(order, listed, now)
		g.Expect(out).To(HaveLen(MaxLedger))
		g.Expect(Balance(out, "p-new")).NotTo(BeNil())
		g.Expect(Balance(out, "gone-a")).To(BeNil(), "the lesser instanceId goes first")
		g.Expect(Balance(out, "gone-b")).NotTo(BeNil())
	}
}
