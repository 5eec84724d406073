package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/hack/lifecycle"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A verdict is what the checker found for one scenario's orders.
type verdict struct {
	sent         int // orders the driver sent at least once
	callbacks    int // callbacks sent, retries included
	acknowledged int
	stored       int // orders with at least one SaaSTenant
	// applied counts acknowledged orders whose one tenant is as the
	// lifecycle model says: Ready when Active, frozen when Frozen.
	applied int
	// withMarket counts those of applied whose plan and expiry were
	// compared with Query Order's.
	withMarket int
	lost       []string
	duplicated []string
	// lastReadyOf is when the last acknowledged order first sent before a
	// time had its tenant become Ready (its Ready condition's transition
	// time), for the recovery time.
	lastReadyOf func(sentBefore time.Time) (time.Time, bool)
}

// tenantFacts is what the checker reads of a stored tenant.
type tenantFacts struct {
	name string
	// state is spec.state: what the receiver stored.
	state lifecycle.State
	// orders are spec.orders' order IDs, as listed.
	orders []string
	// expireTime is spec.expireTime, nil when unset.
	expireTime *time.Time
	ready      bool
	readyAt    time.Time
	// why is the Ready condition's reason and message when not Ready.
	why string
	// frozenBy is the Frozen condition's reason while it is True: what the
	// controllers applied.
	frozenBy string
	// sku and expiry are status.skuCode and status.expireTime: the plan
	// and the expiry in force, as the controllers derived them.
	sku    string
	expiry *time.Time
	// freezes and unfreezes count the controllers' Events FrozenByMarketplace
	// and Unfrozen about the tenant (an Event series counts its
	// occurrences): each is one freeze, or unfreeze, applied.
	freezes, unfreezes int
}

// expected is what the lifecycle model (hack/lifecycle, written from
// docs/lifecycle.md) says of an order's instance after the callbacks the
// marketplace saw acknowledged, applied in the order they were.
type expected struct {
	// instance is nil until a purchase is acknowledged.
	instance *lifecycle.Instance
	// freezes and unfreezes are the model's transitions Active→Frozen and
	// Frozen→Active: how often kooper may apply each.
	freezes, unfreezes int
	// certain is false when some callback of the order was never
	// acknowledged: it may or may not have been applied, so the model
	// cannot say the state, only the purchase.
	certain bool
	// last describes the last acknowledged callback, for messages.
	last string
}

// chaosSKUs are the chaos product's plans (harness.go).
var chaosSKUs = []string{basicSKU}

// replay runs each order's acknowledged callbacks through the lifecycle
// model, in the order they were acknowledged. market is what Query Order
// says of each purchase; an order it does not know gets zero times and
// SKU, and its plan and expiry are then not compared.
func replay(orders []order, market map[string]lifecycle.Order) map[string]expected {
	m := lifecycle.New(chaosSKUs, lifecycle.DefaultStaleFreezeMargin)
	out := make(map[string]expected, len(orders))
	for _, o := range orders {
		e := expected{certain: o.unacknowledged() == 0}
		purchase := purchaseOf(o.id, market)
		for _, ack := range acknowledgedInOrder(o) {
			if !replayable(ack.activity) {
				// The driver has no order to give the model for it: what
				// the instance must be is then unknown.
				e.certain = false
				continue
			}
			before := stateOf(e.instance)
			cb := lifecycle.Callback{Activity: ack.activity, InstanceID: ack.instanceID, Status: ack.status}
			if ack.activity == lifecycle.NewInstance {
				cb.Order = &purchase
			}
			answer := m.Apply(cb, ack.at)
			if answer.NewID {
				m.Issue(lifecycle.LineOf(purchase), ack.answeredID)
			}
			e.instance = m.Instance(lifecycle.LineOf(purchase))
			switch after := stateOf(e.instance); {
			case before == lifecycle.Active && after == lifecycle.Frozen:
				e.freezes++
			case before == lifecycle.Frozen && after == lifecycle.Active:
				e.unfreezes++
			}
			e.last = strings.TrimSpace(ack.activity + " " + ack.status)
		}
		out[o.id] = e
	}
	return out
}

// replayable reports whether the checker can give the model a callback of
// this activity: those whose body names no order of their own.
func replayable(activity string) bool {
	return activity == lifecycle.NewInstance || activity == lifecycle.UpdateInstanceStatus
}

func stateOf(inst *lifecycle.Instance) lifecycle.State {
	if inst == nil {
		return ""
	}
	return inst.State
}

// purchaseOf is the purchase as Query Order reports it, or only its
// identity when the marketplace's record is not known.
func purchaseOf(orderID string, market map[string]lifecycle.Order) lifecycle.Order {
	if o, ok := market[orderID]; ok {
		return o
	}
	return lifecycle.Order{ID: orderID, LineID: orderID + "-000001", Activity: lifecycle.NewInstance}
}

// acknowledgement is one callback's acknowledging answer.
type acknowledgement struct {
	activity, status, instanceID string
	at                           time.Time
	// answeredID is the instanceId the answer reported (newInstance).
	answeredID string
}

// acknowledgedInOrder lists the order's acknowledged callbacks by the time
// their acknowledgement came.
func acknowledgedInOrder(o order) []acknowledgement {
	var acks []acknowledgement
	for _, c := range o.callbacks {
		if a, ok := c.ack(); ok {
			acks = append(acks, acknowledgement{activity: c.activity, status: c.status, instanceID: c.instanceID, at: a.at, answeredID: a.instanceID})
		}
	}
	slices.SortStableFunc(acks, func(a, b acknowledgement) int { return a.at.Compare(b.at) })
	return acks
}

// check compares the orders the driver saw acknowledged with the
// SaaSTenants stored, read through the API server, and with what the
// lifecycle model says each must be (see replay):
//   - lost: acknowledged, but not stored or not applied: no tenant, a
//     tenant under another name than answered, an acknowledged order
//     missing from spec.orders, spec.state other than the model's (a FREEZE
//     acknowledged and the tenant Active, an UNFREEZE acknowledged and the
//     tenant Frozen), or the controllers not applying it: an Active tenant
//     not Ready, a Frozen one not frozen, a plan or expiry other than the
//     model's;
//   - duplicated: applied twice: more than one tenant for the order, an
//     order twice in spec.orders, the purchase acknowledged with two
//     instance IDs, or more freezes or unfreezes applied (Events) than the
//     model has transitions.
func check(orders []order, tenants map[string][]tenantFacts, market map[string]lifecycle.Order) verdict {
	v := verdict{sent: len(orders)}
	readyAt := map[string]time.Time{}
	want := replay(orders, market)
	for _, o := range orders {
		v.callbacks += len(o.attempts())
		stored := tenants[o.id]
		if len(stored) > 0 {
			v.stored++
		}
		a, acked := o.ack()
		if !acked {
			continue
		}
		v.acknowledged++
		e := want[o.id]
		if problem := duplication(o, stored, e); problem != "" {
			v.duplicated = append(v.duplicated, o.id+": "+problem)
			continue
		}
		switch {
		case len(stored) == 0:
			v.lost = append(v.lost, o.id+": acknowledged, no tenant stored")
		case a.instanceID != "" && stored[0].name != a.instanceID:
			v.lost = append(v.lost, fmt.Sprintf("%s: acknowledged as %s, stored as %s", o.id, a.instanceID, stored[0].name))
		default:
			if problem := notApplied(stored[0], e, knows(market, o.id)); problem != "" {
				v.lost = append(v.lost, o.id+": "+problem)
				continue
			}
			v.applied++
			if knows(market, o.id) && want[o.id].certain {
				v.withMarket++
			}
			if stored[0].ready {
				readyAt[o.id] = stored[0].readyAt
			}
		}
	}
	v.lastReadyOf = func(sentBefore time.Time) (time.Time, bool) {
		var last time.Time
		found := false
		for _, o := range orders {
			if t, ok := readyAt[o.id]; ok && o.firstSent.Before(sentBefore) {
				found = true
				if t.After(last) {
					last = t
				}
			}
		}
		return last, found
	}
	return v
}

func knows(market map[string]lifecycle.Order, orderID string) bool {
	_, ok := market[orderID]
	return ok
}

// duplication describes how an order was applied more than once, or "".
func duplication(o order, stored []tenantFacts, e expected) string {
	if len(stored) > 1 {
		names := make([]string, 0, len(stored))
		for _, t := range stored {
			names = append(names, t.name)
		}
		return fmt.Sprintf("%d tenants (%s)", len(stored), strings.Join(names, ", "))
	}
	ids := map[string]bool{}
	for _, c := range o.callbacks {
		for _, a := range c.answers {
			if c.activity == lifecycle.NewInstance && c.acknowledges(a) && a.instanceID != "" {
				ids[a.instanceID] = true
			}
		}
	}
	if len(ids) > 1 {
		return fmt.Sprintf("acknowledged with %d instance IDs", len(ids))
	}
	if len(stored) == 0 {
		return ""
	}
	t := stored[0]
	for _, id := range t.orders {
		if n := countOf(t.orders, id); n > 1 {
			return fmt.Sprintf("order %s listed %d times in %s's spec.orders", id, n, t.name)
		}
	}
	if !e.certain {
		return ""
	}
	switch {
	case t.freezes > e.freezes:
		return fmt.Sprintf("frozen %d times (Events %s), the model has %d FREEZE applied", t.freezes, saasv1alpha1.FrozenByMarketplaceReason, e.freezes)
	case t.unfreezes > e.unfreezes:
		return fmt.Sprintf("unfrozen %d times (Events %s), the model has %d UNFREEZE applied", t.unfreezes, unfrozenReason, e.unfreezes)
	}
	return ""
}

// unfrozenReason is the tenant controller's Event when a freeze is lifted
// (controllers/saastenant_status.go).
const unfrozenReason = "Unfrozen"

func countOf(ids []string, id string) int {
	n := 0
	for _, i := range ids {
		if i == id {
			n++
		}
	}
	return n
}

// notApplied describes how the stored tenant differs from the model's
// instance, or "". withMarket says whether the purchase's plan and expiry
// are known, to be compared.
func notApplied(t tenantFacts, e expected, withMarket bool) string {
	if e.instance == nil {
		return ""
	}
	want := e.instance.Stored()
	if !e.certain {
		// An unacknowledged callback may or may not have landed: only the
		// purchase, recorded once, is certain.
		if !slices.Contains(t.orders, want.OrderIDs[0]) {
			return "the purchase is not in " + t.name + "'s spec.orders"
		}
		return ""
	}
	for _, id := range want.OrderIDs {
		if !slices.Contains(t.orders, id) {
			return fmt.Sprintf("acknowledged order %s is not in %s's spec.orders", id, t.name)
		}
	}
	if t.state != want.State {
		return fmt.Sprintf("%s is %s, the model says %s after the acknowledged %s", t.name, cmp.Or(string(t.state), "stateless"), want.State, e.last)
	}
	if !sameTime(t.expireTime, want.ExpireTime) {
		return fmt.Sprintf("%s's spec.expireTime is %s, the model says %s", t.name, showTime(t.expireTime), showTime(want.ExpireTime))
	}
	switch {
	case want.State == lifecycle.Active && !t.ready:
		return fmt.Sprintf("%s is Active and never Ready (%s)", t.name, t.why)
	case want.State == lifecycle.Frozen && t.frozenBy != saasv1alpha1.FrozenByMarketplaceReason:
		return fmt.Sprintf("%s is Frozen and its freeze not applied by the controllers (Frozen condition: %q)", t.name, t.frozenBy)
	}
	if !withMarket {
		return ""
	}
	if plan := e.instance.Plan(); t.sku != plan {
		return fmt.Sprintf("%s runs plan %q, the model says %q", t.name, t.sku, plan)
	}
	if expiry := e.instance.Expiry(); !sameTime(t.expiry, &expiry) {
		return fmt.Sprintf("%s's status.expireTime is %s, the model says %s", t.name, showTime(t.expiry), expiry.UTC().Format(time.RFC3339))
	}
	return ""
}

// sameTime compares two optional instants to the second, the API's
// resolution.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

func showTime(t *time.Time) string {
	if t == nil {
		return "unset"
	}
	return t.UTC().Format(time.RFC3339)
}

// storedTenants lists the product's SaaSTenants by the purchase order that
// created them (spec.orderId).
func storedTenants(ctx context.Context, c client.Client, product string) (map[string][]tenantFacts, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	byOrder := map[string][]tenantFacts{}
	for _, t := range list.Items {
		if t.Spec.ProductName != product {
			continue
		}
		byOrder[t.Spec.OrderID] = append(byOrder[t.Spec.OrderID], factsOf(&t))
	}
	return byOrder, nil
}

func factsOf(t *saasv1alpha1.SaaSTenant) tenantFacts {
	facts := tenantFacts{name: t.Name, state: lifecycle.State(t.Spec.State), sku: t.Status.SKUCode,
		expireTime: timeOf(t.Spec.ExpireTime), expiry: timeOf(t.Status.ExpireTime)}
	for _, o := range t.Spec.Orders {
		facts.orders = append(facts.orders, o.OrderID)
	}
	cond := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	switch {
	case cond == nil:
		facts.why = "no Ready condition"
	case cond.Status == metav1.ConditionTrue:
		facts.ready, facts.readyAt = true, cond.LastTransitionTime.Time
	default:
		facts.why = cond.Reason + ": " + cond.Message
	}
	if frozen := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.FrozenCondition); frozen != nil && frozen.Status == metav1.ConditionTrue {
		facts.frozenBy = frozen.Reason
	}
	return facts
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// countTransitions adds to each tenant the freezes and unfreezes the
// controllers recorded as Events. Events about a cluster-scoped object
// live in the default namespace.
func countTransitions(ctx context.Context, c client.Client, tenants map[string][]tenantFacts) error {
	list := &eventsv1.EventList{}
	if err := c.List(ctx, list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
		return err
	}
	freezes, unfreezes := map[string]int{}, map[string]int{}
	for _, ev := range list.Items {
		if ev.Regarding.Kind != "SaaSTenant" {
			continue
		}
		n := 1
		if ev.Series != nil {
			n = int(ev.Series.Count)
		} else if ev.DeprecatedCount > 1 {
			n = int(ev.DeprecatedCount)
		}
		switch ev.Reason {
		case saasv1alpha1.FrozenByMarketplaceReason:
			freezes[ev.Regarding.Name] += n
		case unfrozenReason:
			unfreezes[ev.Regarding.Name] += n
		}
	}
	for _, ts := range tenants {
		for i := range ts {
			ts[i].freezes, ts[i].unfreezes = freezes[ts[i].name], unfreezes[ts[i].name]
		}
	}
	return nil
}

// marketOrders reads the purchases the simulator serves to Query Order
// (GET /sim/orders): the marketplace's own record of each purchase's SKU,
// creation time and expiry, which the model's plan and expiry come from.
func marketOrders(ctx context.Context, c *http.Client, simURL string) (map[string]lifecycle.Order, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, simURL+"/sim/orders", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /sim/orders: HTTP %d", resp.StatusCode)
	}
	return parseMarketOrders(data)
}

// simOrders is the part of GET /sim/orders the checker reads.
type simOrders struct {
	Orders []struct {
		OrderID    string `json:"orderId"`
		CreateTime string `json:"createTime"`
		OrderLine  []struct {
			OrderLineID string `json:"orderLineId"`
			ExpireTime  string `json:"expireTime"`
			ProductInfo []struct {
				SKUCode string `json:"skuCode"`
			} `json:"productInfo"`
		} `json:"orderLine"`
	} `json:"orders"`
}

// parseMarketOrders turns the simulator's orders into the model's
// purchases; an order it cannot read whole is left out.
func parseMarketOrders(data []byte) (map[string]lifecycle.Order, error) {
	var list simOrders
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	out := map[string]lifecycle.Order{}
	for _, o := range list.Orders {
		if len(o.OrderLine) == 0 || len(o.OrderLine[0].ProductInfo) == 0 {
			continue
		}
		line := o.OrderLine[0]
		created, err := time.ParseInLocation("20060102150405", o.CreateTime, time.UTC)
		if err != nil {
			continue
		}
		expires, err := koogallery.ParseExpireTime(line.ExpireTime)
		if err != nil {
			continue
		}
		out[o.OrderID] = lifecycle.Order{ID: o.OrderID, LineID: line.OrderLineID, Activity: lifecycle.NewInstance,
			SKU: line.ProductInfo[0].SKUCode, CreateTime: created, ExpireTime: expires}
	}
	return out, nil
}

// settle polls the stored tenants until every acknowledged order is as the
// model says (check finds nothing lost) or timeout passes, and returns the
// last reading with the controllers' Events counted and the marketplace's
// orders: a tenant still provisioning at the deadline is reported lost.
func settle(ctx context.Context, h *harness, product string, orders []order, timeout time.Duration) (map[string][]tenantFacts, map[string]lifecycle.Order, error) {
	market, err := marketOrders(ctx, h.http, h.stack.SimURL)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the marketplace's orders: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		tenants, err := storedTenants(ctx, h.stack.Client, product)
		if err == nil && (len(check(orders, tenants, market).lost) == 0 || time.Now().After(deadline)) {
			return tenants, market, countTransitions(ctx, h.stack.Client, tenants)
		}
		if err != nil && time.Now().After(deadline) {
			return nil, market, err
		}
		if !pause(ctx, time.Second) {
			return nil, market, ctx.Err()
		}
	}
}
