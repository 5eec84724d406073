package main

import (
	"strings"
	"testing"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/hack/lifecycle"
)

// at is second s of the test's clock.
func at(s int) time.Time { return time.Unix(int64(s), 0) }

// bought is an order whose purchase got no answer, then 000000 with
// instance at second 102.
func bought(id, instance string) order {
	return order{id: id, firstSent: at(100), callbacks: []*callback{{activity: lifecycle.NewInstance, answers: []answer{
		{at: at(101), code: noAnswer},
		{at: at(102), code: "000000", instanceID: instance},
	}}}}
}

// then adds to o an updateInstanceStatus callback about instance, with
// its answers' codes at seconds from s on.
func then(o order, instance, status string, s int, codes ...string) order {
	c := &callback{activity: lifecycle.UpdateInstanceStatus, instanceID: instance, status: status}
	for i, code := range codes {
		c.answers = append(c.answers, answer{at: at(s + i), code: code})
	}
	o.callbacks = append(o.callbacks, c)
	return o
}

// frozen then unfrozen: A's FREEZE acknowledged at 110, its UNFREEZE at 120.
func frozenThenUnfrozen(id, instance string) order {
	return then(then(bought(id, instance), instance, lifecycle.Freeze, 110, "000000"), instance, lifecycle.Unfreeze, 120, "000000")
}

var (
	readyAt  = at(130)
	expireAt = time.Date(2027, 11, 30, 23, 59, 59, 0, time.UTC)
)

// active is a tenant as kooper leaves a purchase: Active, Ready, the
// purchase recorded once, the plan and expiry of Query Order.
func active(name, orderID string) tenantFacts {
	return tenantFacts{name: name, state: lifecycle.Active, orders: []string{orderID}, ready: true, readyAt: readyAt,
		sku: basicSKU, expiry: &expireAt}
}

// frozen is a tenant frozen by the marketplace and by the controllers.
func frozen(name, orderID string) tenantFacts {
	t := active(name, orderID)
	t.state, t.ready, t.why, t.frozenBy = lifecycle.Frozen, false, "Frozen", saasv1alpha1.FrozenByMarketplaceReason
	t.freezes = 1
	return t
}

func with(t tenantFacts, change func(*tenantFacts)) tenantFacts {
	change(&t)
	return t
}

// market knows every order the tests use as a yearly basic purchase.
func market(ids ...string) map[string]lifecycle.Order {
	m := map[string]lifecycle.Order{}
	for _, id := range ids {
		m[id] = lifecycle.Order{ID: id, LineID: id + "-000001", Activity: lifecycle.NewInstance, SKU: basicSKU,
			CreateTime: at(99), ExpireTime: expireAt}
	}
	return m
}

func TestCheckAgainstTheLifecycleModel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		order  order
		stored []tenantFacts
		// lost and duplicated are what the verdict must say, as a part of
		// its one message ("" for nothing).
		lost, duplicated string
	}{
		{name: "a purchase stored once and Ready", order: bought("A", "i-a"), stored: []tenantFacts{active("i-a", "A")}},
		{name: "a purchase acknowledged and not stored is lost", order: bought("A", "i-a"), lost: "no tenant stored"},
		{name: "a purchase never Ready is lost", order: bought("A", "i-a"),
			stored: []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.ready, t.why = false, "WorkloadUnavailable" })},
			lost:   "never Ready (WorkloadUnavailable)"},
		{name: "a purchase stored under another name than answered is lost", order: bought("A", "i-a"),
			stored: []tenantFacts{active("i-other", "A")}, lost: "acknowledged as i-a, stored as i-other"},
		{name: "two tenants for one order are a duplicate", order: bought("A", "i-a"),
			stored: []tenantFacts{active("i-a", "A"), active("i-a2", "A")}, duplicated: "2 tenants"},
		{name: "the purchase twice in spec.orders is a duplicate", order: bought("A", "i-a"),
			stored:     []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.orders = []string{"A", "A"} })},
			duplicated: "order A listed 2 times"},
		{name: "a purchase acknowledged under two instance IDs is a duplicate",
			order: func() order {
				o := bought("A", "i-a")
				o.callbacks = append(o.callbacks, &callback{activity: lifecycle.NewInstance, answers: []answer{{at: at(103), code: "000000", instanceID: "i-a2"}}})
				return o
			}(),
			stored: []tenantFacts{active("i-a", "A")}, duplicated: "acknowledged with 2 instance IDs"},
		{name: "a purchase never acknowledged is neither lost nor duplicated",
			order:  order{id: "A", callbacks: []*callback{{activity: lifecycle.NewInstance, answers: []answer{{code: "000005"}}}}},
			stored: []tenantFacts{active("i-a", "A"), active("i-a2", "A")}},
		{name: "a plan other than Query Order's is not applied", order: bought("A", "i-a"),
			stored: []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.sku = "other" })}, lost: `runs plan "other"`},
		{name: "an expiry other than Query Order's is not applied", order: bought("A", "i-a"),
			stored: []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.expiry = &readyAt })}, lost: "status.expireTime is 1970"},

		{name: "a FREEZE acknowledged and applied", order: then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 110, "000005", "000000"),
			stored: []tenantFacts{frozen("i-a", "A")}},
		{name: "twenty copies of a FREEZE are one freeze",
			order: func() order {
				o := bought("A", "i-a")
				for range 20 {
					o = then(o, "i-a", lifecycle.Freeze, 110, "000000")
				}
				return o
			}(),
			stored: []tenantFacts{frozen("i-a", "A")}},
		{name: "a FREEZE acknowledged and the tenant Active is lost", order: then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 110, "000000"),
			stored: []tenantFacts{active("i-a", "A")}, lost: "i-a is Active, the model says Frozen after the acknowledged updateInstanceStatus FREEZE"},
		{name: "a FREEZE stored but not applied by the controllers is lost",
			order:  then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 110, "000000"),
			stored: []tenantFacts{with(frozen("i-a", "A"), func(t *tenantFacts) { t.frozenBy = "" })}, lost: "its freeze not applied by the controllers"},
		{name: "a FREEZE then an UNFREEZE, applied", order: frozenThenUnfrozen("A", "i-a"),
			stored: []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.freezes, t.unfreezes = 1, 1 })}},
		{name: "the controllers need not see a freeze that an UNFREEZE lifted", order: frozenThenUnfrozen("A", "i-a"),
			stored: []tenantFacts{active("i-a", "A")}},
		{name: "an UNFREEZE acknowledged and the tenant still Frozen is lost", order: frozenThenUnfrozen("A", "i-a"),
			stored: []tenantFacts{frozen("i-a", "A")}, lost: "i-a is Frozen, the model says Active after the acknowledged updateInstanceStatus UNFREEZE"},
		{name: "callbacks apply in the order acknowledged: a FREEZE acknowledged after an UNFREEZE is the retry of the one it ended, and stale (rule F)",
			order:  then(then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 108, noAnswer, "000005", "000000"), "i-a", lifecycle.Unfreeze, 105, "000000"),
			stored: []tenantFacts{active("i-a", "A")}},
		{name: "the same FREEZE applied after the UNFREEZE is a duplicate",
			order:      then(then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 108, noAnswer, "000005", "000000"), "i-a", lifecycle.Unfreeze, 105, "000000"),
			stored:     []tenantFacts{frozen("i-a", "A")},
			duplicated: "frozen 1 times"},
		{name: "a freeze applied twice is a duplicate", order: frozenThenUnfrozen("A", "i-a"),
			stored:     []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.freezes, t.unfreezes = 2, 1 })},
			duplicated: "frozen 2 times"},
		{name: "an unfreeze applied twice is a duplicate", order: frozenThenUnfrozen("A", "i-a"),
			stored:     []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.freezes, t.unfreezes = 1, 2 })},
			duplicated: "unfrozen 2 times"},
		{name: "a FREEZE never acknowledged may or may not be applied",
			order:  then(bought("A", "i-a"), "i-a", lifecycle.Freeze, 110, noAnswer, "000005"),
			stored: []tenantFacts{with(frozen("i-a", "A"), func(t *tenantFacts) { t.freezes = 3 })}},
		{name: "a callback the model is not given leaves the state unchecked",
			order: func() order {
				o := bought("A", "i-a")
				o.callbacks = append(o.callbacks, &callback{activity: lifecycle.ReleaseInstance, instanceID: "i-a", answers: []answer{{at: at(110), code: "000000"}}})
				return o
			}(),
			stored: []tenantFacts{with(active("i-a", "A"), func(t *tenantFacts) { t.state, t.ready = lifecycle.Released, false })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := map[string][]tenantFacts{}
			if tc.stored != nil {
				stored[tc.order.id] = tc.stored
			}
			v := check([]order{tc.order}, stored, market(tc.order.id))
			expectOne(t, "lost", v.lost, tc.lost)
			expectOne(t, "duplicated", v.duplicated, tc.duplicated)
		})
	}
}

// expectOne holds got to one message containing want, or none when want
// is "".
func expectOne(t *testing.T, kind string, got []string, want string) {
	t.Helper()
	switch {
	case want == "" && len(got) > 0:
		t.Errorf("%s %q, want none", kind, got)
	case want != "" && (len(got) != 1 || !strings.Contains(got[0], want)):
		t.Errorf("%s %q, want one saying %q", kind, got, want)
	}
}

func TestCheckCounts(t *testing.T) {
	orders := []order{
		bought("A", "i-a"),
		bought("B", "i-b"),
		{id: "C", callbacks: []*callback{{activity: lifecycle.NewInstance, answers: []answer{{code: "000005"}}}}},
		then(bought("D", "i-d"), "i-d", lifecycle.Freeze, 110, "000000"),
	}
	tenants := map[string][]tenantFacts{"A": {active("i-a", "A")}, "C": {active("i-c", "C")}, "D": {frozen("i-d", "D")}}
	v := check(orders, tenants, market("A", "B", "C", "D"))
	if v.sent != 4 || v.acknowledged != 3 || v.stored != 3 || v.applied != 2 || v.withMarket != 2 || len(v.lost) != 1 {
		t.Errorf("sent %d, acknowledged %d, stored %d, applied %d (%d with the market), lost %v; want 4, 3, 3, 2 (2) and B",
			v.sent, v.acknowledged, v.stored, v.applied, v.withMarket, v.lost)
	}
	if v.callbacks != 8 {
		t.Errorf("callbacks %d, want 8", v.callbacks)
	}
	if last, ok := v.lastReadyOf(at(200)); !ok || !last.Equal(readyAt) {
		t.Errorf("last Ready %v %v, want %v", last, ok, readyAt)
	}
}

func TestWithoutTheMarketsRecordPlanAndExpiryAreNotCompared(t *testing.T) {
	o := bought("A", "i-a")
	tenants := map[string][]tenantFacts{"A": {with(active("i-a", "A"), func(t *tenantFacts) { t.sku, t.expiry = "", nil })}}
	if v := check([]order{o}, tenants, nil); len(v.lost) != 0 || v.applied != 1 || v.withMarket != 0 {
		t.Errorf("lost %v, applied %d, with the market %d; want none, 1, 0", v.lost, v.applied, v.withMarket)
	}
}

func TestParseMarketOrders(t *testing.T) {
	data := []byte(`{"orders":[
		{"orderId":"A","createTime":"20261130120000","orderLine":[{"orderLineId":"A-000001","expireTime":"20271130235959","productInfo":[{"skuCode":"sku-a"}]}]},
		{"orderId":"B","createTime":"20261130120000","orderLine":[{"orderLineId":"B-000001","productInfo":[{"skuCode":"sku-a"}]}]}
	],"mockOrderIds":["M"]}`)
	got, err := parseMarketOrders(data)
	if err != nil {
		t.Fatal(err)
	}
	want := lifecycle.Order{ID: "A", LineID: "A-000001", Activity: lifecycle.NewInstance, SKU: "sku-a",
		CreateTime: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), ExpireTime: time.Date(2027, 11, 30, 23, 59, 59, 0, time.UTC)}
	if len(got) != 1 || got["A"] != want {
		t.Errorf("got %+v, want only %+v (an order without an expiry is left out)", got, want)
	}
}
