package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A verdict is what the checker found for one scenario's orders.
type verdict struct {
	sent         int // orders the driver sent at least once
	callbacks    int // callbacks sent, retries included
	acknowledged int
	stored       int // orders with at least one SaaSTenant
	ready        int // acknowledged orders whose one tenant is Ready
	lost         []string
	duplicated   []string
	// lastReadyOf is when the last acknowledged order first sent before a
	// time had its tenant become Ready (its Ready condition's transition
	// time), for the recovery time.
	lastReadyOf func(sentBefore time.Time) (time.Time, bool)
}

// tenantFacts is what the checker reads of a stored tenant.
type tenantFacts struct {
	name    string
	ready   bool
	readyAt time.Time
	// why is the Ready condition's reason and message when not Ready.
	why string
	// appliedTwice is set when spec.orders lists the purchase more than once.
	appliedTwice bool
}

// check compares the orders the driver saw acknowledged with the
// SaaSTenants stored, read through the API server:
//   - lost: acknowledged, but no tenant, or its tenant is not Ready (the
//     purchase was answered but never applied);
//   - duplicated: more than one tenant for the order, the purchase applied
//     twice in one tenant's spec.orders, or acknowledged with two different
//     instance IDs (a retry answered as a new purchase).
func check(orders []order, tenants map[string][]tenantFacts) verdict {
	v := verdict{sent: len(orders)}
	readyAt := map[string]time.Time{}
	for _, o := range orders {
		v.callbacks += len(o.answers)
		stored := tenants[o.id]
		if len(stored) > 0 {
			v.stored++
		}
		a, acked := o.ack()
		if !acked {
			continue
		}
		v.acknowledged++
		if problem := duplication(o, stored); problem != "" {
			v.duplicated = append(v.duplicated, o.id+": "+problem)
			continue
		}
		switch {
		case len(stored) == 0:
			v.lost = append(v.lost, o.id+": acknowledged, no tenant stored")
		case a.instanceID != "" && stored[0].name != a.instanceID:
			v.lost = append(v.lost, fmt.Sprintf("%s: acknowledged as %s, stored as %s", o.id, a.instanceID, stored[0].name))
		case !stored[0].ready:
			v.lost = append(v.lost, o.id+": acknowledged, tenant "+stored[0].name+" never Ready ("+stored[0].why+")")
		default:
			v.ready++
			readyAt[o.id] = stored[0].readyAt
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

// duplication describes how an order was applied more than once, or "".
func duplication(o order, stored []tenantFacts) string {
	if len(stored) > 1 {
		names := make([]string, 0, len(stored))
		for _, t := range stored {
			names = append(names, t.name)
		}
		return fmt.Sprintf("%d tenants (%s)", len(stored), strings.Join(names, ", "))
	}
	if len(stored) == 1 && stored[0].appliedTwice {
		return "applied twice in " + stored[0].name + "'s spec.orders"
	}
	ids := map[string]bool{}
	for _, a := range o.answers {
		if a.acknowledged() && a.instanceID != "" {
			ids[a.instanceID] = true
		}
	}
	if len(ids) > 1 {
		return fmt.Sprintf("acknowledged with %d instance IDs", len(ids))
	}
	return ""
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
		facts := tenantFacts{name: t.Name, appliedTwice: countOrder(t.Spec.Orders, t.Spec.OrderID) > 1}
		cond := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
		switch {
		case cond == nil:
			facts.why = "no Ready condition"
		case cond.Status == "True":
			facts.ready, facts.readyAt = true, cond.LastTransitionTime.Time
		default:
			facts.why = cond.Reason + ": " + cond.Message
		}
		byOrder[t.Spec.OrderID] = append(byOrder[t.Spec.OrderID], facts)
	}
	return byOrder, nil
}

func countOrder(orders []saasv1alpha1.AppliedOrder, orderID string) int {
	n := 0
	for _, o := range orders {
		if o.OrderID == orderID {
			n++
		}
	}
	return n
}

// settle polls the stored tenants until every acknowledged order has a
// Ready tenant or timeout passes, and returns the last reading: a tenant
// still provisioning at the deadline is reported lost.
func settle(ctx context.Context, c client.Client, product string, orders []order, timeout time.Duration) (map[string][]tenantFacts, error) {
	deadline := time.Now().Add(timeout)
	for {
		tenants, err := storedTenants(ctx, c, product)
		if err == nil {
			if len(check(orders, tenants).lost) == 0 || time.Now().After(deadline) {
				return tenants, nil
			}
		} else if time.Now().After(deadline) {
			return nil, err
		}
		if !pause(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
}
