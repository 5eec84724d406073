package orders

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Table tests of docs/lifecycle.md rules E and P on the pure functions.

func day(d int) *time.Time {
	t := time.Date(2029, 1, d, 0, 0, 0, 0, time.UTC)
	return &t
}

func created(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }

var (
	purchase = saasv1alpha1.AppliedOrder{OrderID: "P", Activity: saasv1alpha1.ActivityNewInstance}
)

func appliedOrder(orderID string, activity saasv1alpha1.OrderActivity, scene saasv1alpha1.RefreshScene, expiry *time.Time) saasv1alpha1.AppliedOrder {
	o := saasv1alpha1.AppliedOrder{OrderID: orderID, OrderLineID: orderID + "-000001", Activity: activity, Scene: scene, ReceivedTime: metav1.Now()}
	if expiry != nil {
		o.ExpireTime = &metav1.Time{Time: *expiry}
	}
	return o
}

func renewal(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewal, end)
}

func cut(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneUnsubscribeRenewalPeriod, end)
}

func upgrade(id string) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityUpgradeInstance, "", nil)
}

func trialToFormal(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneTrialToFormal, end)
}

func renewalChange(id string, end *time.Time) saasv1alpha1.AppliedOrder {
	return appliedOrder(id, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewalChange, end)
}

// The terms of docs/lifecycle.md: which orders change the plan, which set
// a new expiry (renewal-type) and which move it earlier (shortening).
func TestOrderKinds(t *testing.T) {
	for _, tc := range []struct {
		name                               string
		order                              saasv1alpha1.AppliedOrder
		changesPlan, renewalType, shortens bool
	}{
		{"the purchase", purchase, true, false, false},
		{"an upgrade", upgrade("U"), true, false, false},
		{"a renewal", renewal("R", day(2)), false, true, false},
		{"a trial conversion", trialToFormal("T", day(2)), true, true, false},
		{"a renewal with a change of specification", renewalChange("RC", day(2)), true, true, false},
		{"an unsubscribed renewal period", cut("C", day(2)), false, false, true},
		{"a refresh without an expiry sets none", renewal("R", nil), false, false, false},
		{"a cut without an expiry moves none", cut("C", nil), false, false, false},
		{"a release", appliedOrder("X", saasv1alpha1.ActivityReleaseInstance, "", nil), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(changesPlan(tc.order)).To(Equal(tc.changesPlan), "changesPlan")
			g.Expect(IsRenewal(tc.order)).To(Equal(tc.renewalType), "IsRenewal")
			g.Expect(IsShortening(tc.order)).To(Equal(tc.shortens), "IsShortening")
		})
	}
}

func TestDerivedExpiry(t *testing.T) {
	base := &metav1.Time{Time: *day(1)}
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   *time.Time
	}{
		{"the purchase alone: its order's expiry", []saasv1alpha1.AppliedOrder{purchase}, nil, day(1)},
		{"renewals in order", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(10)), renewal("B", day(20))}, nil, day(20)},
		{"a late retry of an older renewal", []saasv1alpha1.AppliedOrder{purchase, renewal("B", day(20)), renewal("A", day(10))}, nil, day(20)},
		{"a renewal supersedes the purchase's expiry", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(1))}, nil, day(1)},
		{"a newer cut applies", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))},
			map[string]time.Time{"A": created(1), "C": created(2)}, day(15)},
		{"an older cut arriving late is overtaken", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))},
			map[string]time.Time{"A": created(2), "C": created(1)}, day(20)},
		{"a renewal after a cut raises it again", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15)), renewal("B", day(18))},
			map[string]time.Time{"A": created(1), "C": created(2), "B": created(3)}, day(18)},
		{"a cut without renewals cuts the purchase's expiry", []saasv1alpha1.AppliedOrder{purchase, cut("C", day(1))}, nil, day(1)},
		{"unknown times (debug orders): arrival order", []saasv1alpha1.AppliedOrder{purchase, cut("C", day(15)), renewal("A", day(20))}, nil, day(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := derivedExpiry(base, tc.orders, tc.times)
			NewWithT(t).Expect(got.Time).To(Equal(*tc.want))
		})
	}
}

// Rule E through ExpiryInForce: the cases TestDerivedExpiry leaves out
// (a spec expiry written by hand, no expiry at all, ties, one time missing).
func TestExpiryInForce(t *testing.T) {
	byHand := &metav1.Time{Time: *day(5)}
	resolved := &saasv1alpha1.ResolvedOrder{OrderID: "P", ExpireTime: &metav1.Time{Time: *day(1)}}
	for _, tc := range []struct {
		name       string
		specExpiry *metav1.Time
		resolved   *saasv1alpha1.ResolvedOrder
		orders     []saasv1alpha1.AppliedOrder
		times      map[string]time.Time
		want       *time.Time // nil: no expiry
	}{
		{name: "nothing sets one", orders: []saasv1alpha1.AppliedOrder{purchase}},
		{name: "the order that selects the plan", resolved: resolved, orders: []saasv1alpha1.AppliedOrder{purchase}, want: day(1)},
		{name: "a resolved order without an expiry sets none", resolved: &saasv1alpha1.ResolvedOrder{OrderID: "P"},
			orders: []saasv1alpha1.AppliedOrder{purchase}},
		{name: "an expiry written by hand wins without renewals", specExpiry: byHand, resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, upgrade("U")}, want: day(5)},
		{name: "an expiry written by hand on an object listing no order", specExpiry: byHand, want: day(5)},
		{name: "renewals overrule the spec's expiry", specExpiry: byHand, resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(3))}, want: day(3)},
		{name: "a cut overrules the spec's expiry", specExpiry: byHand, resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, cut("C", day(2))}, want: day(2)},
		{name: "a renewal and a cut created at once: arrival order, the cut last", resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))},
			times:  map[string]time.Time{"A": created(1), "C": created(1)}, want: day(15)},
		{name: "a renewal and a cut created at once: arrival order, the renewal last", resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, cut("C", day(15)), renewal("A", day(20))},
			times:  map[string]time.Time{"A": created(1), "C": created(1)}, want: day(20)},
		{name: "one time unknown (a debug order): that order keeps its arrival place", resolved: resolved,
			orders: []saasv1alpha1.AppliedOrder{purchase, cut("C", day(15)), renewal("A", day(20))},
			times:  map[string]time.Time{"C": created(2)}, want: day(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := ExpiryInForce(tc.specExpiry, tc.resolved, tc.orders, tc.times)
			if tc.want == nil {
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(got).NotTo(BeNil())
			g.Expect(got.Time).To(Equal(*tc.want))
		})
	}
}

func TestExpiryInForceDoesNotShareTheResolvedOrdersTime(t *testing.T) {
	g := NewWithT(t)
	resolved := &saasv1alpha1.ResolvedOrder{OrderID: "P", ExpireTime: &metav1.Time{Time: *day(1)}}
	got := ExpiryInForce(nil, resolved, []saasv1alpha1.AppliedOrder{purchase}, nil)
	got.Time = *day(9)
	g.Expect(resolved.ExpireTime.Time).To(Equal(*day(1)))
}

func TestTenantExpiry(t *testing.T) {
	g := NewWithT(t)
	tenant := &saasv1alpha1.SaaSTenant{
		Spec: saasv1alpha1.SaaSTenantSpec{ExpireTime: &metav1.Time{Time: *day(30)},
			Orders: []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(20)), cut("C", day(15))}},
		Status: saasv1alpha1.SaaSTenantStatus{Order: &saasv1alpha1.ResolvedOrder{OrderID: "P", ExpireTime: &metav1.Time{Time: *day(1)}}},
	}
	g.Expect(TenantExpiry(tenant, map[string]time.Time{"A": created(1), "C": created(2)}).Time).To(Equal(*day(15)))
	tenant.Spec.Orders = []saasv1alpha1.AppliedOrder{purchase}
	g.Expect(TenantExpiry(tenant, nil).Time).To(Equal(*day(30)), "spec.expireTime set by hand")
	tenant.Spec.ExpireTime = nil
	g.Expect(TenantExpiry(tenant, nil).Time).To(Equal(*day(1)), "status.order's expiry")
}

func TestNewestPlanOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   string
	}{
		{"the purchase alone", []saasv1alpha1.AppliedOrder{purchase}, nil, "P"},
		{"a plain renewal keeps the purchase", []saasv1alpha1.AppliedOrder{purchase, renewal("R", day(2))}, nil, "P"},
		{"one upgrade", []saasv1alpha1.AppliedOrder{purchase, upgrade("U")}, nil, "U"},
		{"the newer of two upgrades, arriving first", []saasv1alpha1.AppliedOrder{purchase, upgrade("NEW"), upgrade("OLD")},
			map[string]time.Time{"NEW": created(2), "OLD": created(1)}, "NEW"},
		{"a renewal change newer than an upgrade", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"),
			appliedOrder("RC", saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewalChange, day(3))},
			map[string]time.Time{"U": created(1), "RC": created(2)}, "RC"},
		{"unknown times: the last arrival", []saasv1alpha1.AppliedOrder{purchase, upgrade("A"), upgrade("B")}, nil, "B"},
		{"no orders: the object's own order", nil, nil, "SELF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(PlanOrder(tc.orders, "SELF", "SELF-1", tc.times).OrderID).To(Equal(tc.want))
		})
	}
}

// Rule P, the cases TestNewestPlanOrder leaves out.
func TestPlanOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   string
	}{
		{"the newest plan change, not the last arrival", []saasv1alpha1.AppliedOrder{purchase, upgrade("B"), upgrade("C"), upgrade("A")},
			map[string]time.Time{"A": created(1), "B": created(3), "C": created(2)}, "B"},
		{"a trial conversion selects the plan", []saasv1alpha1.AppliedOrder{purchase, trialToFormal("T", day(2))}, nil, "T"},
		{"a cut keeps the plan", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), cut("C", day(2))}, nil, "U"},
		{"created at once: the last arrival", []saasv1alpha1.AppliedOrder{purchase, upgrade("A"), upgrade("B")},
			map[string]time.Time{"A": created(1), "B": created(1)}, "B"},
		{"one time unknown (a debug order), arriving last: it keeps its place", []saasv1alpha1.AppliedOrder{purchase, upgrade("A"), upgrade("B")},
			map[string]time.Time{"A": created(2)}, "B"},
		{"a purchase listed after other orders", []saasv1alpha1.AppliedOrder{renewal("R", day(2)), purchase}, nil, "P"},
		{"orders without a purchase or a plan change: the object's own", []saasv1alpha1.AppliedOrder{renewal("R", day(2))}, nil, "SELF"},
		// A renewal with a change of plan, then its renewal period
		// unsubscribed: the buyer got the change back with the money.
		{"a renewal change whose period was unsubscribed: the plan before it",
			[]saasv1alpha1.AppliedOrder{purchase, renewalChange("RC", day(28)), cut("U", day(10))},
			map[string]time.Time{"RC": created(1), "U": created(2)}, "P"},
		{"the same, the refund arriving first: created after, it still takes the change back",
			[]saasv1alpha1.AppliedOrder{purchase, cut("U", day(10)), renewalChange("RC", day(28))},
			map[string]time.Time{"RC": created(1), "U": created(2)}, "P"},
		{"a refund created before the renewal change cuts an earlier renewal: the change stands",
			[]saasv1alpha1.AppliedOrder{purchase, renewalChange("RC", day(28)), cut("U", day(10))},
			map[string]time.Time{"RC": created(2), "U": created(1)}, "RC"},
		{"a refund back to where the renewal before the change ended: the upgrade before it",
			[]saasv1alpha1.AppliedOrder{purchase, upgrade("UP"), renewal("R", day(10)), renewalChange("RC", day(28)), cut("U", day(10))},
			map[string]time.Time{"R": created(1), "RC": created(2), "U": created(3)}, "UP"},
		{"a refund of part of the change's period: the change stands",
			[]saasv1alpha1.AppliedOrder{purchase, renewal("R", day(10)), renewalChange("RC", day(28)), cut("U", day(20))},
			map[string]time.Time{"R": created(1), "RC": created(2), "U": created(3)}, "RC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(PlanOrder(tc.orders, "SELF", "SELF-1", tc.times).OrderID).To(Equal(tc.want))
		})
	}
}

func TestPlanOrderOfAnObjectListingNoOrder(t *testing.T) {
	NewWithT(t).Expect(PlanOrder(nil, "SELF", "SELF-1", nil)).To(Equal(&saasv1alpha1.AppliedOrder{
		OrderID: "SELF", OrderLineID: "SELF-1", Activity: saasv1alpha1.ActivityNewInstance}))
}

func TestOrdersToTimeAreUsuallyNone(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ToTime([]saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), upgrade("U")})).To(BeEmpty())
	g.Expect(ToTime([]saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")})).To(HaveLen(2))
	g.Expect(ToTime([]saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), cut("C", day(1)), upgrade("U")})).To(HaveLen(2))
}

func TestToTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		want   []string
	}{
		{"nothing recorded", nil, nil},
		{"one plan change needs no time", []saasv1alpha1.AppliedOrder{purchase, upgrade("U")}, nil},
		{"renewals alone need none: the latest expiry wins", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), renewal("B", day(3))}, nil},
		{"several plan changes, in arrival order", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), trialToFormal("T", day(2))}, []string{"U", "T"}},
		{"a cut: every renewal-type and shortening order", []saasv1alpha1.AppliedOrder{purchase, renewal("A", day(2)), upgrade("U"), cut("C", day(1))},
			[]string{"A", "C"}},
		{"a plan change that also renews is listed once", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), renewalChange("RC", day(3)), cut("C", day(2))},
			[]string{"U", "RC", "C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range ToTime(tc.orders) {
				got = append(got, o.OrderID)
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestKeepRecorded(t *testing.T) {
	at := func(ids ...string) []saasv1alpha1.OrderTime {
		var out []saasv1alpha1.OrderTime
		for _, id := range ids {
			out = append(out, saasv1alpha1.OrderTime{OrderID: id, CreateTime: metav1.NewTime(created(1))})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		recorded []saasv1alpha1.OrderTime
		orders   []saasv1alpha1.AppliedOrder
		want     []saasv1alpha1.OrderTime
	}{
		{"all still listed", at("U", "V"), []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")}, at("U", "V")},
		{"an order dropped from the spec", at("U", "V"), []saasv1alpha1.AppliedOrder{purchase, upgrade("V")}, at("V")},
		{"none left: nil", at("U"), []saasv1alpha1.AppliedOrder{purchase}, nil},
		{"nothing recorded", nil, []saasv1alpha1.AppliedOrder{purchase}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recorded := tc.recorded
			KeepRecorded(&recorded, tc.orders)
			NewWithT(t).Expect(recorded).To(Equal(tc.want))
		})
	}
}

// One order whose createTime Query Order did not give (or gave in a form
// that does not parse) keeps its arrival place; the orders whose times
// are known are still sequenced by them around it. Before, one such order
// put every order back in arrival order, so a late retry of an older
// upgrade or renewal took the plan or the expiry back.
func TestAnOrderWithoutATimeDoesNotUnsequenceTheOthers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		orders     []saasv1alpha1.AppliedOrder
		times      map[string]time.Time
		wantPlan   string
		wantExpiry *time.Time
	}{
		{name: "a late retry of an older upgrade does not take the plan back",
			orders:   []saasv1alpha1.AppliedOrder{purchase, upgrade("NEW"), upgrade("UNTIMED"), upgrade("OLD")},
			times:    map[string]time.Time{"NEW": created(2), "OLD": created(1)},
			wantPlan: "NEW", wantExpiry: day(1)},
		{name: "the untimed order last in arrival stays last",
			orders:   []saasv1alpha1.AppliedOrder{purchase, upgrade("NEW"), upgrade("OLD"), upgrade("UNTIMED")},
			times:    map[string]time.Time{"NEW": created(2), "OLD": created(1)},
			wantPlan: "UNTIMED", wantExpiry: day(1)},
		{name: "an older renewal arriving after a newer cut does not undo it",
			orders:   []saasv1alpha1.AppliedOrder{purchase, cut("C", day(15)), renewal("UNTIMED", day(10)), renewal("R", day(20))},
			times:    map[string]time.Time{"C": created(2), "R": created(1)},
			wantPlan: "P", wantExpiry: day(15)},
		{name: "no time known: arrival order",
			orders:   []saasv1alpha1.AppliedOrder{purchase, upgrade("A"), cut("C", day(15)), renewal("R", day(20)), upgrade("B")},
			wantPlan: "B", wantExpiry: day(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(PlanOrder(tc.orders, "SELF", "SELF-1", tc.times).OrderID).To(Equal(tc.wantPlan), "plan")
			resolved := &saasv1alpha1.ResolvedOrder{OrderID: "P", ExpireTime: &metav1.Time{Time: *day(1)}}
			g.Expect(ExpiryInForce(nil, resolved, tc.orders, tc.times).Time).To(Equal(*tc.wantExpiry), "expiry")
		})
	}
}

// byCreation sorts the orders with a known time among the places they
// hold in arrival order; the others do not move.
func TestByCreationMovesOnlyTheTimedOrders(t *testing.T) {
	ids := func(orders []saasv1alpha1.AppliedOrder) []string {
		var out []string
		for _, o := range orders {
			out = append(out, o.OrderID)
		}
		return out
	}
	arrived := []saasv1alpha1.AppliedOrder{upgrade("C"), upgrade("X"), upgrade("A"), upgrade("Y"), upgrade("B")}
	times := map[string]time.Time{"A": created(1), "B": created(2), "C": created(3)}
	g := NewWithT(t)
	g.Expect(ids(byCreation(arrived, times))).To(Equal([]string{"A", "X", "B", "Y", "C"}))
	g.Expect(ids(arrived)).To(Equal([]string{"C", "X", "A", "Y", "B"}), "the input is not changed")
}

// Untimed names the orders whose createTime the sequence needs but does
// not have, so the tenant can say which orders went by arrival.
func TestUntimedNamesTheOrdersSequencedByArrival(t *testing.T) {
	for _, tc := range []struct {
		name   string
		orders []saasv1alpha1.AppliedOrder
		times  map[string]time.Time
		want   []string
	}{
		{"no order needs a time", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), renewal("R", day(2))}, nil, nil},
		{"every time known", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")},
			map[string]time.Time{"U": created(1), "V": created(2)}, nil},
		{"one plan change without a time", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")},
			map[string]time.Time{"V": created(2)}, []string{"U"}},
		{"a renewal and a cut without times, in arrival order", []saasv1alpha1.AppliedOrder{purchase, cut("C", day(1)), renewal("R", day(2))},
			nil, []string{"C", "R"}},
		{"a time of an order that needs none is no help", []saasv1alpha1.AppliedOrder{purchase, upgrade("U"), upgrade("V")},
			map[string]time.Time{"P": created(1)}, []string{"U", "V"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(Untimed(tc.orders, tc.times)).To(Equal(tc.want))
		})
	}
}
