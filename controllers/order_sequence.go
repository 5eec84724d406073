package controllers

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Changes are ordered by the marketplace's data, not by arrival
// (docs/lifecycle.md rules E and P; DESIGN rule 12): a retry carries a fresh
// signed timestamp and nonce, so a late retry of an older order arrives after
// a newer one. The functions below are pure: they take the orders recorded
// in spec and the creation times Query Order reported for them.

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

// isRenewal reports whether an order sets a new expiry (RENEWAL,
// TRIAL_TO_FORMAL, RENEWAL_CHANGE).
func isRenewal(o saasv1alpha1.AppliedOrder) bool {
	return o.Activity == saasv1alpha1.ActivityRefreshInstance && o.ExpireTime != nil &&
		o.Scene != saasv1alpha1.SceneUnsubscribeRenewalPeriod
}

// isShortening reports whether an order moves the expiry earlier
// (UNSUBSCRIBE_RENEWAL_PERIOD).
func isShortening(o saasv1alpha1.AppliedOrder) bool {
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

// ordersToTime are the orders whose creation times decide the plan and the
// expiry: the plan changes when there are several, and every renewal-type
// and shortening order when a shortening order is among them. Usually none.
func ordersToTime(orders []saasv1alpha1.AppliedOrder) []saasv1alpha1.AppliedOrder {
	var out []saasv1alpha1.AppliedOrder
	if changes := planChanges(orders); len(changes) > 1 {
		out = append(out, changes...)
	}
	if slices.ContainsFunc(orders, isShortening) {
		for _, o := range orders {
			if (isRenewal(o) || isShortening(o)) && !slices.ContainsFunc(out, sameOrder(o)) {
				out = append(out, o)
			}
		}
	}
	return out
}

func sameOrder(o saasv1alpha1.AppliedOrder) func(saasv1alpha1.AppliedOrder) bool {
	return func(p saasv1alpha1.AppliedOrder) bool { return p.OrderID == o.OrderID }
}

// byCreation sorts orders by creation time, keeping arrival order for ties
// and for orders without a known time (debug orders Query Order does not
// know): then the whole sequence stays in arrival order.
func byCreation(orders []saasv1alpha1.AppliedOrder, times map[string]time.Time) []saasv1alpha1.AppliedOrder {
	out := slices.Clone(orders)
	for _, o := range out {
		if _, ok := times[o.OrderID]; !ok {
			return out
		}
	}
	slices.SortStableFunc(out, func(a, b saasv1alpha1.AppliedOrder) int {
		return times[a.OrderID].Compare(times[b.OrderID])
	})
	return out
}

// newestPlanOrder is the order that selects the plan (rule P): the plan
// change with the latest creation time, or the purchase when there is none.
// An object written by hand may list no order: its own order identity is
// the purchase then.
func newestPlanOrder(orders []saasv1alpha1.AppliedOrder, orderID, orderLineID string, times map[string]time.Time) *saasv1alpha1.AppliedOrder {
	changes := byCreation(planChanges(orders), times)
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
	if base != nil && !slices.ContainsFunc(orders, isRenewal) {
		expiry = base.DeepCopy()
	}
	var changes []saasv1alpha1.AppliedOrder
	for _, o := range orders {
		if isRenewal(o) || isShortening(o) {
			changes = append(changes, o)
		}
	}
	for _, o := range byCreation(changes, times) {
		if isShortening(o) || expiry == nil || o.ExpireTime.After(expiry.Time) {
			expiry = o.ExpireTime.DeepCopy()
		}
	}
	return expiry
}

// orderTimes returns the creation times of the orders that need one,
// reading those not yet recorded in status with Query Order and recording
// them. In debug mode an order Query Order does not know is left without a
// time (arrival order applies); otherwise a failure is returned and retried.
func (o orderResolver) orderTimes(ctx context.Context, product *saasv1alpha1.SaaSProduct, orders []saasv1alpha1.AppliedOrder,
	recorded *[]saasv1alpha1.OrderTime, debug bool) (map[string]time.Time, error) {
	needed := ordersToTime(orders)
	times := make(map[string]time.Time, len(needed))
	for _, t := range *recorded {
		times[t.OrderID] = t.CreateTime.Time
	}
	for i := range needed {
		order := &needed[i]
		if _, ok := times[order.OrderID]; ok {
			continue
		}
		resolved, err := o.resolve(ctx, product, order)
		if err != nil && debug {
			continue
		}
		if err != nil {
			return nil, err
		}
		if resolved.CreateTime == nil {
			continue
		}
		times[order.OrderID] = resolved.CreateTime.Time
		*recorded = append(*recorded, saasv1alpha1.OrderTime{OrderID: order.OrderID, CreateTime: *resolved.CreateTime})
	}
	keepRecorded(recorded, orders)
	return times, nil
}

// keepRecorded drops recorded times of orders no longer listed (the spec
// keeps the latest 256), so the status list stays within its bound.
func keepRecorded(recorded *[]saasv1alpha1.OrderTime, orders []saasv1alpha1.AppliedOrder) {
	*recorded = slices.DeleteFunc(*recorded, func(t saasv1alpha1.OrderTime) bool {
		return !slices.ContainsFunc(orders, func(o saasv1alpha1.AppliedOrder) bool { return o.OrderID == t.OrderID })
	})
	if len(*recorded) == 0 {
		*recorded = nil
	}
}
