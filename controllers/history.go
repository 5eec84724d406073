package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// nextHistory returns a subscription's status.history with the marketplace
// events it does not hold yet: the orders of spec.orders, oldest first, then
// a change of spec.state. It is a function of what it is given, so a
// re-reconcile adds nothing, and it keeps the last MaxHistory events.
//
// before and after are the resolved order (status.order) before and after
// this reconcile: an order that sets the plan (newInstance,
// upgradeInstance) waits, with every order after it, until Query Order has
// resolved it or a later order, so its entry can say which plan. One that
// arrived after the order in force but was created before it (times:
// orderId to createTime; a late retry of an older upgrade) never will: it
// is recorded as unchanged at once, and holds nothing up. A change of state
// takes the time now, when the controller first sees it.
//
// Once the history is full, an order not in it and received no later than
// its oldest event is one already dropped, and is not added again.
func nextHistory(history []saasv1alpha1.MarketplaceEvent, orders []saasv1alpha1.AppliedOrder, state saasv1alpha1.SubscriptionState,
	before, after *saasv1alpha1.ResolvedOrder, times map[string]time.Time, now time.Time) []saasv1alpha1.MarketplaceEvent {
	if state == "" {
		state = saasv1alpha1.StateActive
	}
	recorded := make(map[string]bool, len(history))
	for _, e := range history {
		if e.OrderID != "" {
			recorded[e.OrderID] = true
		}
	}
	running := saasv1alpha1.StateActive
	if len(history) > 0 {
		running = history[len(history)-1].State
	}
	var since *metav1.Time
	if len(history) >= saasv1alpha1.MaxHistory {
		since = &history[0].Time
	}
	defining := -1
	for i := range orders {
		if after != nil && orders[i].OrderID == after.OrderID {
			defining = i
		}
	}
	var added []saasv1alpha1.MarketplaceEvent
	for i, o := range orders {
		if recorded[o.OrderID] || (since != nil && !o.ReceivedTime.After(since.Time)) {
			continue
		}
		setsPlan := o.Activity == saasv1alpha1.ActivityNewInstance || o.Activity == saasv1alpha1.ActivityUpgradeInstance
		if setsPlan && defining < i && !createdBefore(o, orders, defining, times) {
			break // Query Order has not answered for it yet
		}
		e := saasv1alpha1.MarketplaceEvent{Time: o.ReceivedTime, Activity: activityName(o.Activity), OrderID: o.OrderID,
			Result: saasv1alpha1.HistoryApplied}
		switch {
		case o.Activity == saasv1alpha1.ActivityReleaseInstance:
			running, e.Change = saasv1alpha1.StateReleased, "released"
		case i == defining:
			e.Change, e.Result = planChange(o, before, after)
			if o.Activity == saasv1alpha1.ActivityRefreshInstance {
				change, _ := expiryChange(o, orders[:i])
				e.Change += "; " + change
			}
		case o.Activity == saasv1alpha1.ActivityNewInstance:
			e.Change = "purchased; plan set by the later order " + after.OrderID
		case setsPlan:
			e.Result = saasv1alpha1.HistoryUnchanged
			e.Change = fmt.Sprintf("plan set by the later order %s", after.OrderID)
		case o.Activity == saasv1alpha1.ActivityRefreshInstance:
			e.Change, e.Result = expiryChange(o, orders[:i])
		}
		e.State = running
		added = append(added, e)
	}
	if state != running {
		e := saasv1alpha1.MarketplaceEvent{Time: metav1.NewTime(now.UTC().Truncate(time.Second)), Activity: "updateInstanceStatus",
			State: state, Result: saasv1alpha1.HistoryApplied}
		switch state {
		case saasv1alpha1.StateReleased:
			e.Activity, e.Change = "releaseInstance", "released"
		case saasv1alpha1.StateFrozen:
			e.Change = "frozen"
		default:
			e.Change = "unfrozen"
		}
		added = append(added, e)
	}
	if len(added) == 0 {
		return history
	}
	out := append(append(make([]saasv1alpha1.MarketplaceEvent, 0, len(history)+len(added)), history...), added...)
	if len(out) > saasv1alpha1.MaxHistory {
		out = out[len(out)-saasv1alpha1.MaxHistory:]
	}
	return out
}

// createdBefore reports whether o was created before the order at index
// defining, as times say: then o, arriving later, is an older order that
// will never set the plan.
func createdBefore(o saasv1alpha1.AppliedOrder, orders []saasv1alpha1.AppliedOrder, defining int, times map[string]time.Time) bool {
	if defining < 0 {
		return false
	}
	created, ok := times[o.OrderID]
	inForce, okInForce := times[orders[defining].OrderID]
	return ok && okInForce && created.Before(inForce)
}

// activityName is the marketplace's name of the callback that brought an order.
func activityName(a saasv1alpha1.OrderActivity) string {
	s := string(a)
	if s == "" {
		return "unknown"
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// planChange says what the order that defines the plan changed.
func planChange(o saasv1alpha1.AppliedOrder, before, after *saasv1alpha1.ResolvedOrder) (string, saasv1alpha1.HistoryResult) {
	switch {
	case o.Activity == saasv1alpha1.ActivityNewInstance:
		return "purchased plan " + after.SKUCode, saasv1alpha1.HistoryApplied
	case before == nil || before.OrderID == after.OrderID:
		return "plan " + after.SKUCode, saasv1alpha1.HistoryApplied
	case before.SKUCode == after.SKUCode:
		return "plan stays " + after.SKUCode, saasv1alpha1.HistoryUnchanged
	}
	return fmt.Sprintf("plan %s → %s", before.SKUCode, after.SKUCode), saasv1alpha1.HistoryApplied
}

// expiryChange says what a refreshInstance order did to the expiry, given
// the orders before it: a shortened period cuts it, and a renewal moves it
// unless an earlier renewal already reached as far (docs/lifecycle.md rule E).
func expiryChange(o saasv1alpha1.AppliedOrder, earlier []saasv1alpha1.AppliedOrder) (string, saasv1alpha1.HistoryResult) {
	if o.ExpireTime == nil {
		return "", saasv1alpha1.HistoryUnchanged
	}
	to := o.ExpireTime.UTC().Format(time.RFC3339)
	if o.Scene == saasv1alpha1.SceneUnsubscribeRenewalPeriod {
		return "expireTime cut to " + to, saasv1alpha1.HistoryApplied
	}
	for _, e := range earlier {
		if e.Activity == saasv1alpha1.ActivityRefreshInstance && e.Scene != saasv1alpha1.SceneUnsubscribeRenewalPeriod &&
			e.ExpireTime != nil && !o.ExpireTime.After(e.ExpireTime.Time) {
			return fmt.Sprintf("expireTime %s is not later than %s", to, e.ExpireTime.UTC().Format(time.RFC3339)), saasv1alpha1.HistoryUnchanged
		}
	}
	return "expireTime moved to " + to, saasv1alpha1.HistoryApplied
}
