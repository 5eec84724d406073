package lifecycle

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The model's own cases, one per rule it derives, read off docs/lifecycle.md:
// a wrong model would send the property test chasing bugs that are not there.

var modelNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// order is an order created minute m after the purchase (minute 0).
func order(id, activity, scene, sku string, m int, expires time.Time) Order {
	return Order{ID: id, LineID: id + "-1", Activity: activity, Scene: scene, SKU: sku,
		CreateTime: modelNow.Add(time.Duration(m) * time.Minute), ExpireTime: expires}
}

func year(y int) time.Time { return time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC) }

// bought returns a model holding one Active instance, i-1, bought as sku-a
// expiring in 2027.
func bought(t *testing.T) (*Model, *Instance) {
	m := New(plans, DefaultStaleFreezeMargin)
	purchase := order("p", NewInstance, "", "sku-a", 0, year(2027))
	NewWithT(t).Expect(m.Apply(Callback{Activity: NewInstance, Order: &purchase}, modelNow).NewID).To(BeTrue())
	m.Issue(LineOf(purchase), "i-1")
	return m, m.Instance(LineOf(purchase))
}

// apply sends o's callback for i-1.
func apply(m *Model, o Order) Answer {
	return m.Apply(Callback{Activity: o.Activity, InstanceID: "i-1", Order: &o}, modelNow)
}

func TestModelExpiryFollowsCreateTime(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	newer := order("r2", RefreshInstance, Renewal, "sku-a", 2, year(2029))
	older := order("r1", RefreshInstance, Renewal, "sku-a", 1, year(2028))
	apply(m, newer)
	apply(m, older) // a late retry of an older renewal
	g.Expect(inst.Expiry()).To(Equal(year(2029)), "rule E.2: the latest renewal-type expiry")
	g.Expect(*inst.Stored().ExpireTime).To(Equal(year(2029)), "the spec keeps the latest renewal-type expiry")

	cut := order("u", RefreshInstance, Unsubscribe, "sku-a", 3, year(2028))
	apply(m, cut)
	g.Expect(inst.Expiry()).To(Equal(year(2028)), "rule E.3: a newer shortening order applies")
	g.Expect(*inst.Stored().ExpireTime).To(Equal(year(2029)), "the spec's expiry never moves back")

	apply(m, order("r0", RefreshInstance, Renewal, "sku-a", -1, year(2030)))
	g.Expect(inst.Expiry()).To(Equal(year(2028)), "rule E.3: an older renewal does not undo a newer cut")
}

func TestModelPlanFollowsCreateTime(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	apply(m, order("up2", UpgradeInstance, "", "sku-c", 2, year(2027)))
	apply(m, order("up1", UpgradeInstance, "", "sku-b", 1, year(2027)))
	g.Expect(inst.Plan()).To(Equal("sku-c"), "rule P: a late retry of an older upgrade does not take the plan back")
	apply(m, order("rn", RefreshInstance, Renewal, "sku-a", 3, year(2028)))
	g.Expect(inst.Plan()).To(Equal("sku-c"), "a plain renewal does not change the plan")
	apply(m, order("rc", RefreshInstance, RenewalChange, "sku-b", 4, year(2029)))
	g.Expect(inst.Plan()).To(Equal("sku-b"))
}

func TestModelStaleFreeze(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	freeze := Callback{Activity: UpdateInstanceStatus, InstanceID: "i-1", Status: Freeze}
	g.Expect(m.Apply(freeze, modelNow).Code).To(Equal(Success))
	g.Expect(inst.State).To(Equal(Frozen), "without a renewal, FREEZE applies")

	m, inst = bought(t)
	apply(m, order("r", RefreshInstance, Renewal, "sku-a", 1, year(2028)))
	g.Expect(m.Apply(freeze, modelNow).Code).To(Equal(Success))
	g.Expect(inst.State).To(Equal(Active), "rule F: a paid period is running")

	apply(m, order("u", RefreshInstance, Unsubscribe, "sku-a", 2, modelNow))
	m.Apply(freeze, modelNow)
	g.Expect(inst.State).To(Equal(Frozen), "rule F: a FREEZE after a shortening order applies")

	// A refund of long ago, and a renewal since: the refund no longer holds.
	m, inst = bought(t)
	longAgo := modelNow.AddDate(0, -3, 0)
	at(m, order("r1", RefreshInstance, Renewal, "sku-a", 1, longAgo.AddDate(0, 1, 0)), longAgo)
	at(m, order("u1", RefreshInstance, Unsubscribe, "sku-a", 2, longAgo), longAgo)
	apply(m, order("r2", RefreshInstance, Renewal, "sku-a", 3, year(2028)))
	m.Apply(freeze, modelNow)
	g.Expect(inst.State).To(Equal(Active), "rule F: a renewal received since the refund's retries ended runs")

	// The same orders within the retry window: the renewal may be the
	// retry of the one the refund cut.
	m, inst = bought(t)
	apply(m, order("u1", RefreshInstance, Unsubscribe, "sku-a", 2, longAgo))
	apply(m, order("r1", RefreshInstance, Renewal, "sku-a", 1, year(2028)))
	m.Apply(freeze, modelNow)
	g.Expect(inst.State).To(Equal(Frozen), "rule F: the refund holds while its renewal may still be retried")
}

// TestModelFreezeAfterUnfreeze: FREEZE #1 failed (kooper's answer was lost),
// the buyer renewed, the marketplace sent UNFREEZE (a no-op: the instance
// was never frozen here) and then retried FREEZE #1, before the renewal.
// The retry is stale: applied, it would freeze the paying buyer, and no
// UNFREEZE would come again.
func TestModelFreezeAfterUnfreeze(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	freeze := Callback{Activity: UpdateInstanceStatus, InstanceID: "i-1", Status: Freeze}
	unfreeze := Callback{Activity: UpdateInstanceStatus, InstanceID: "i-1", Status: Unfreeze}
	m.Apply(unfreeze, modelNow)
	g.Expect(m.Apply(freeze, modelNow.Add(time.Hour)).Code).To(Equal(Success))
	g.Expect(inst.State).To(Equal(Active), "rule F: a FREEZE within the window after an UNFREEZE is a retry")
	apply(m, order("r", RefreshInstance, Renewal, "sku-a", 1, year(2028)))
	g.Expect(inst.State).To(Equal(Active))

	m, inst = bought(t)
	m.Apply(unfreeze, modelNow)
	m.Apply(freeze, modelNow.Add(DefaultFreezeRetryWindow+time.Hour))
	g.Expect(inst.State).To(Equal(Frozen), "past the window, a FREEZE applies")

	m, inst = bought(t)
	m.FreezeRetryWindow = 0
	m.Apply(unfreeze, modelNow)
	m.Apply(freeze, modelNow.Add(time.Minute))
	g.Expect(inst.State).To(Equal(Frozen), "--freeze-retry-window=0 turns this check off")
}

// TestModelUnsubscribedRenewalChange: a renewal with a change of plan,
// then its renewal period unsubscribed: the plan goes back; a refund of
// part of its period, or of an earlier renewal, leaves the change.
func TestModelUnsubscribedRenewalChange(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	apply(m, order("rc", RefreshInstance, RenewalChange, "sku-b", 1, year(2028)))
	g.Expect(inst.Plan()).To(Equal("sku-b"))
	apply(m, order("u", RefreshInstance, Unsubscribe, "sku-b", 2, year(2027)))
	g.Expect(inst.Plan()).To(Equal("sku-a"), "the change went back with its period")

	m, inst = bought(t)
	apply(m, order("r", RefreshInstance, Renewal, "sku-a", 1, year(2027)))
	apply(m, order("rc", RefreshInstance, RenewalChange, "sku-b", 2, year(2029)))
	apply(m, order("u", RefreshInstance, Unsubscribe, "sku-b", 3, year(2028)))
	g.Expect(inst.Plan()).To(Equal("sku-b"), "a refund of part of the change's period leaves it")

	m, inst = bought(t)
	apply(m, order("u", RefreshInstance, Unsubscribe, "sku-a", 1, year(2027)))
	apply(m, order("rc", RefreshInstance, RenewalChange, "sku-b", 2, year(2028)))
	g.Expect(inst.Plan()).To(Equal("sku-b"), "a refund created before the change does not take it back")
}

// at applies o as received at when.
func at(m *Model, o Order, when time.Time) Answer {
	return m.Apply(Callback{Activity: o.Activity, InstanceID: "i-1", Order: &o}, when)
}

func TestModelIssuedForEver(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	m.Delete(inst)
	for _, cb := range []Callback{
		{Activity: QueryInstance, InstanceID: "i-1"},
		{Activity: UpdateInstanceStatus, InstanceID: "i-1", Status: Unfreeze},
		{Activity: ReleaseInstance, InstanceID: "i-1"},
	} {
		g.Expect(m.Apply(cb, modelNow).Code).To(Equal(Success), "rule B: %s", cb.Activity)
	}
	g.Expect(m.Apply(Callback{Activity: ChangeInstanceCheck, InstanceID: "i-1", SKU: "sku-a"}, modelNow).Code).To(Equal(InvalidParam))
	g.Expect(m.Apply(Callback{Activity: QueryInstance, InstanceID: "i-2"}, modelNow).Code).To(Equal(NotFound))
	g.Expect(inst.Stored().Exists).To(BeFalse())
}

func TestModelReleaseIsFinal(t *testing.T) {
	g := NewWithT(t)
	m, inst := bought(t)
	m.Apply(Callback{Activity: ReleaseInstance, InstanceID: "i-1"}, modelNow)
	g.Expect(apply(m, order("up", UpgradeInstance, "", "sku-c", 1, year(2027))).Code).To(Equal(Success), "rule R")
	g.Expect(inst.Plan()).To(Equal("sku-a"), "rule R: the upgrade changes nothing")
	m.Apply(Callback{Activity: UpdateInstanceStatus, InstanceID: "i-1", Status: Unfreeze}, modelNow)
	g.Expect(inst.State).To(Equal(Released))
}

func TestModelRetiredPlansAndAGoneProduct(t *testing.T) {
	m := New(slices.Clone(plans), DefaultStaleFreezeMargin)
	purchase := Order{ID: "O1", LineID: "O1-1", Activity: NewInstance, SKU: "sku-a", CreateTime: time.Unix(1, 0), ExpireTime: time.Unix(2, 0)}
	m.Apply(Callback{Activity: NewInstance, Order: &purchase}, time.Now())
	m.Issue(LineOf(purchase), "i-1")
	if !m.Live() {
		t.Fatal("an Active instance holds its product")
	}

	m.Retire("sku-b")
	if a := m.Apply(Callback{Activity: ChangeInstanceCheck, InstanceID: "i-1", SKU: "sku-b"}, time.Now()); a.Code != InvalidParam {
		t.Fatalf("a check to a retired plan: %s, want 000002", a.Code)
	}
	m.Offer("sku-b")
	if a := m.Apply(Callback{Activity: ChangeInstanceCheck, InstanceID: "i-1", SKU: "sku-b"}, time.Now()); a.Code != Success {
		t.Fatalf("a check to a plan offered again: %s, want 000000", a.Code)
	}

	m.ProductDeleting = true
	another := Order{ID: "O2", LineID: "O2-1", Activity: NewInstance, SKU: "sku-a", CreateTime: time.Unix(3, 0), ExpireTime: time.Unix(4, 0)}
	if a := m.Apply(Callback{Activity: NewInstance, Order: &another}, time.Now()); a.Code != SoldOut || m.Instance(LineOf(another)) != nil {
		t.Fatalf("a purchase of a product being deleted: %s, stored %v; want 000106, nothing stored", a.Code, m.Instance(LineOf(another)) != nil)
	}
	if a := m.Apply(Callback{Activity: NewInstance, Order: &purchase}, time.Now()); a.Code != Success || a.InstanceID != "i-1" {
		t.Fatalf("a repeated purchase of a product being deleted: %s %q, want 000000 i-1", a.Code, a.InstanceID)
	}
	m.Apply(Callback{Activity: ReleaseInstance, InstanceID: "i-1"}, time.Now())
	if m.Live() {
		t.Fatal("a released instance lets its product go")
	}
	m.ProductGone = true
	for _, cb := range []Callback{{Activity: QueryInstance, InstanceID: "i-1"}, {Activity: NewInstance, Order: &purchase}} {
		if a := m.Apply(cb, time.Now()); a.Code != InvalidParam {
			t.Fatalf("%s for a gone product: %s, want 000002", cb.Activity, a.Code)
		}
	}
}
