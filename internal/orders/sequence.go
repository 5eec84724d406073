// Package orders holds the pure rules about a subscription's marketplace
// orders: which recorded order selects the plan (docs/lifecycle.md rule P),
// which expiry is in force (rule E), what kooper keeps from a Query Order
// answer (spec §6.3), and how often a failing Query Order is asked again.
//
// Its rules: no API server, no marketplace call and no clock. Every
// function takes what it decides from as arguments (the orders recorded in
// a spec, the creation times Query Order reported, the answer, now) and
// returns values or changes only what it is handed, so each rule is a
// table test. The controllers call Query Order, record the times and write
// status; this package only decides.
package orders

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Changes are ordered by the marketplace's data, not by arrival
// (docs/lifecycle.md rules E and P; DESIGN rule 12): a retry carries a fresh
// signed timestamp and nonce, so a late retry of an older order arrives after
// a newer one. The functions below take the orders recorded in spec and the
// creation times Query Order reported for them, keyed by orderId.

// changesPlan reports whether an order selects the plan: the purchase, an
// upgrade, a trial conversion or a renewal with a change of specification.
func changesPlan(o saasv1alpha1.AppliedOrder) bool {
	switch o.Activity {
	case saasv1alpha1.ActivityNewInstance, saasv1alpha1.ActivityUpgradeInstance:
		return true
	case saasv1alpha1.ActivityRefreshInstance:
		return o.Scene == saasv1alpha1.SceneTrialToFormal || o.Scene == saasv1alpha1.SceneRenewalChange
	}
	return false
}

// IsRenewal reports whether an order sets a new expiry (RENEWAL,
// TRIAL_TO_FORMAL, RENEWAL_CHANGE).
func IsRenewal(o saasv1alpha1.AppliedOrder) bool {
	return o.Activity == saasv1alpha1.ActivityRefreshInstance && o.ExpireTime != nil &&
		o.Scene != saasv1alpha1.SceneUnsubscribeRenewalPeriod
}

// IsShortening reports whether an order moves the expiry earlier
// (UNSUBSCRIBE_RENEWAL_PERIOD).
func IsShortening(o saasv1alpha1.AppliedOrder) bool {
	return o.Activity == saasv1alpha1.ActivityRefreshInstance && o.ExpireTime != nil &&
		o.Scene == saasv1alpha1.SceneUnsubscribeRenewalPeriod
}

// planChanges are the plan-changing orders after the purchase, in arrival order.
func planChanges(orders []saasv1alpha1.AppliedOrder) []saasv1alpha1.AppliedOrder {
	var out []saasv1alpha1.AppliedOrder
	for _, o := range orders {
		if changesPlan(o) && o.Activity != saasv1alpha1.ActivityNewInstance {
			out = append(out, o)
		}
	}
	return out
}

// unsubscribed reports whether o is a RENEWAL_CHANGE whose renewal period
// was unsubscribed: a shortening order created after it (in the order
// derivedExpiry applies them) moves the expiry back to where it was before
// o, or, when no earlier renewal-type order tells where that was, to
// before o's expiry. The buyer got the change back with the period, so its
// plan no longer applies; a refund that leaves part of o's period leaves o
// in force.
func unsubscribed(o saasv1alpha1.AppliedOrder, orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) bool {
	if o.Activity != saasv1alpha1.ActivityRefreshInstance || o.Scene != saasv1alpha1.SceneRenewalChange || o.ExpireTime == nil {
		return false
	}
	timeline := byCreation(slices.DeleteFunc(slices.Clone(orders), func(p saasv1alpha1.AppliedOrder) bool {
		return !IsRenewal(p) && !IsShortening(p)
	}), times)
	at := slices.IndexFunc(timeline, sameOrder(o))
	if at < 0 {
		return false
	}
	periodStart := o.ExpireTime.Time
	if before := derivedExpiry(nil, timeline[:at], times); before != nil {
		periodStart = before.Add(time.Second) // cut back to it, or earlier
	}
	return slices.ContainsFunc(timeline[at+1:], func(p saasv1alpha1.AppliedOrder) bool {
		return IsShortening(p) && p.ExpireTime.Time.Before(periodStart)
	})
}

// ToTime returns the orders, out of those recorded in spec (arrival
// order), whose Query Order createTime decides the plan and the expiry
// (docs/lifecycle.md rules P and E): the plan changes after the purchase
// when there are several, and every renewal-type and shortening order when
// a shortening order is among them. Usually none, so Query Order is asked
// only for the order that selects the plan.
func ToTime(orders []saasv1alpha1.AppliedOrder) []saasv1alpha1.AppliedOrder {
	var out []saasv1alpha1.AppliedOrder
	if changes := planChanges(orders); len(changes) > 1 {
		out = append(out, changes...)
	}
	if slices.ContainsFunc(orders, IsShortening) {
		for _, o := range orders {
			if (IsRenewal(o) || IsShortening(o)) && !slices.ContainsFunc(out, sameOrder(o)) {
				out = append(out, o)
			}
		}
	}
	return out
}

// Untimed returns the orderIds, in arrival order, of the orders whose
// creation time the plan or the expiry needs (ToTime) but times (orderId
// to Query Order createTime) lacks: Query Order gave none that parses, or
// (in debug mode) does not know the order. Each keeps its arrival place
// in the sequence (byCreation), which a late retry can make the wrong one,
// so the caller reports them. Nil when there is none.
func Untimed(orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) []string {
	var out []string
	for _, o := range ToTime(orders) {
		if _, ok := times[o.OrderID]; !ok {
			out = append(out, o.OrderID)
		}
	}
	return out
}

func sameOrder(o saasv1alpha1.AppliedOrder) func(saasv1alpha1.AppliedOrder) bool {
	return func(p saasv1alpha1.AppliedOrder) bool { return p.OrderID == o.OrderID }
}

// byCreation returns orders (arrival order) sequenced by creation time
// (times: orderId to Query Order createTime): the orders with a known time
// are sorted by it among the places they hold, ties keeping arrival order;
// an order without one (a debug order Query Order does not know, or one
// whose createTime did not parse) keeps its arrival place. One order
// without a time thus does not put the others back in arrival order,
// where a late retry of an older order would take the plan or the expiry
// back (docs/lifecycle.md rules E and P). orders is not changed.
func byCreation(orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) []saasv1alpha1.AppliedOrder {
	var places []int
	var timed []saasv1alpha1.AppliedOrder
	for i, o := range orders {
		if _, ok := times[o.OrderID]; ok {
			places = append(places, i)
			timed = append(timed, o)
		}
	}
	slices.SortStableFunc(timed, func(a, b saasv1alpha1.AppliedOrder) int {
		return times[a.OrderID].Compare(times[b.OrderID])
	})
	out := slices.Clone(orders)
	for i, place := range places {
		out[place] = timed[i]
	}
	return out
}

// PlanOrder returns the order that selects the plan (docs/lifecycle.md
// rule P): of the plan changes after the purchase (a RENEWAL_CHANGE whose
// period was unsubscribed no longer counts), the one with the latest
// creation time in times (orderId to Query Order createTime; ties keep
// arrival order, and an order without a time keeps its arrival place
// among the others, see byCreation); without plan changes,
// the purchase (newInstance). An object written by hand may list no order:
// its own orderId and orderLineId stand for the purchase then. The result
// points into orders when it is one of them, and is never nil.
func PlanOrder(orders []saasv1alpha1.AppliedOrder, orderID, orderLineID string, times map[string]time.Time) *saasv1alpha1.AppliedOrder {
	changes := byCreation(slices.DeleteFunc(planChanges(orders), func(o saasv1alpha1.AppliedOrder) bool {
		return unsubscribed(o, orders, times)
	}), times)
	if len(changes) > 0 {
		return &changes[len(changes)-1]
	}
	for i := range orders {
		if orders[i].Activity == saasv1alpha1.ActivityNewInstance {
			return &orders[i]
		}
	}
	return &saasv1alpha1.AppliedOrder{OrderID: orderID, OrderLineID: orderLineID, Activity: saasv1alpha1.ActivityNewInstance}
}

// derivedExpiry is the expiry in force (rule E): base (the defining order's
// expiry) until a renewal-type order sets one; then, in creation order, each
// renewal-type order raises it to its expireTime if later and each
// shortening order sets it. Without a shortening order the order does not
// matter: it is the latest renewal-type expiry.
func derivedExpiry(base *metav1.Time, orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) *metav1.Time {
	var expiry *metav1.Time
	if base != nil && !slices.ContainsFunc(orders, IsRenewal) {
		expiry = base.DeepCopy()
	}
	var changes []saasv1alpha1.AppliedOrder
	for _, o := range orders {
		if IsRenewal(o) || IsShortening(o) {
			changes = append(changes, o)
		}
	}
	for _, o := range byCreation(changes, times) {
		if IsShortening(o) || expiry == nil || o.ExpireTime.After(expiry.Time) {
			expiry = o.ExpireTime.DeepCopy()
		}
	}
	return expiry
}

// ExpiryInForce returns the expiry in force (docs/lifecycle.md rule E),
// nil when nothing sets one. Without renewal-type or shortening orders it
// is specExpiry when set (an expiry written by hand into the spec wins),
// else resolved's expireTime (the order that selects the plan, as Query
// Order reported it; resolved may be nil). With them it is derived from
// orders in creation order (times: orderId to Query Order createTime). The
// result is a copy, or specExpiry itself.
func ExpiryInForce(specExpiry *metav1.Time, resolved *saasv1alpha1.ResolvedOrder, orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) *metav1.Time {
	if specExpiry != nil && !slices.ContainsFunc(orders, func(o saasv1alpha1.AppliedOrder) bool { return IsRenewal(o) || IsShortening(o) }) {
		return specExpiry
	}
	var base *metav1.Time
	if resolved != nil {
		base = resolved.ExpireTime
	}
	return derivedExpiry(base, orders, times)
}

// TenantExpiry is ExpiryInForce for a tenant: from its spec.expireTime,
// status.order and spec.orders.
func TenantExpiry(t *saasv1alpha1.SaaSTenant, times map[string]time.Time) *metav1.Time {
	return ExpiryInForce(t.Spec.ExpireTime, t.Status.Order, t.Spec.Orders, times)
}

// RecordedTimes maps each order of recorded (status.orderTimes) to its
// creation time, as ExpiryInForce and PlanOrder take them.
func RecordedTimes(recorded []saasv1alpha1.OrderTime) map[string]time.Time {
	times := make(map[string]time.Time, len(recorded))
	for _, t := range recorded {
		times[t.OrderID] = t.CreateTime.Time
	}
	return times
}

// KeepRecorded drops from recorded (status.orderTimes) the times of orders
// no longer listed in orders (the spec keeps the latest 256), so the status
// list stays within its bound; an emptied list becomes nil, which the
// status omits.
func KeepRecorded(recorded *[]saasv1alpha1.OrderTime, orders []saasv1alpha1.AppliedOrder) {
	*recorded = slices.DeleteFunc(*recorded, func(t saasv1alpha1.OrderTime) bool {
		return !slices.ContainsFunc(orders, func(o saasv1alpha1.AppliedOrder) bool { return o.OrderID == t.OrderID })
	})
	if len(*recorded) == 0 {
		*recorded = nil
	}
}
