package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kooper-io/kooper/hack/lifecycle"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// stormName is scenario 7's row name.
const stormName = "7. duplicate storm: newInstance, FREEZE, UNFREEZE"

// duplicateStorm is scenario 7: each callback of a subscription's life
// arrives as a storm of duplicates, cfg.stormCopies copies sent at once
// and spread across both receivers, as a marketplace that resends
// eagerly would send them. Each order goes through three waves:
//
//  1. its newInstance storm;
//  2. once every copy of that is acknowledged, its FREEZE storm (spec
//     §3.5), while the tenants are still provisioning;
//  3. once every FREEZE is acknowledged and the checker finds each
//     freeze applied, its UNFREEZE storm.
//
// The FREEZE is never stale (docs/lifecycle.md rule F): the orders are
// purchases only, with no renewal whose expiry lies ahead. An UNFREEZE
// only lifts a stored freeze, so it waits for its FREEZE's acknowledgement
// (rule A: acknowledged means stored); and the wait for the freeze to be
// applied by the controllers makes the check of wave 2 possible, since a
// controller may never see a freeze that an UNFREEZE lifted before its
// next reconcile. The checker holds the tenants to the lifecycle model
// twice: frozen after wave 2, Ready again after wave 3.
func duplicateStorm(ctx context.Context, h *harness) row {
	n, copies := h.cfg.stormOrders, h.cfg.stormCopies
	r := row{name: stormName, setup: fmt.Sprintf("%d purchases; each one's newInstance, then its FREEZE, then its UNFREEZE sent %d times at once across both receivers (%d callbacks a wave)",
		n, copies, n*copies)}
	d := h.newDriver()
	// KooGallery retries for hours; the suite, for as long as the waves and
	// the checks between them can take.
	calls, cancel := context.WithTimeout(ctx, 2*h.cfg.stormSettle+2*time.Minute)
	defer cancel()
	orders := make([]*order, n)
	for i := range orders {
		orders[i] = d.newOrder(fmt.Sprintf("CHAOSSTORM%06d", i))
	}
	// Registered first, so that the purchases hit the receivers at once.
	forEach(orders, func(o *order) { d.register(calls, o) })

	faultStart := time.Now()
	r.purchaseAndFreeze(ctx, calls, h, d, orders, copies)
	wave2 := time.Now()
	r.notes = append(r.notes, fmt.Sprintf("waves 1 and 2 (the purchases, then each one's FREEZE once all its copies were acknowledged): %s, all acknowledged %.1f s after the start",
		answerCodes(d.snapshot(), lifecycle.NewInstance, lifecycle.Freeze), wave2.Sub(faultStart).Seconds()))
	afterFreeze := r.checkFrozen(ctx, h, d, wave2)

	wave3 := time.Now()
	forEach(orders, func(o *order) {
		if d.frozenBy(o) {
			d.updateStatusStorm(calls, o, copies, lifecycle.Unfreeze)
		}
	})
	faultEnd := time.Now()
	r.notes = append(r.notes, fmt.Sprintf("wave 3 (the UNFREEZEs): %s, all acknowledged in %.1f s",
		answerCodes(d.snapshot(), lifecycle.Unfreeze), faultEnd.Sub(wave3).Seconds()))
	orderList := d.snapshot()
	freezes, unfreezes := transitions(r.finishWithin(ctx, h, orderList, faultStart, faultEnd, h.cfg.stormSettle))
	r.notes = append(r.notes, fmt.Sprintf("in all, the controllers recorded %d freezes and %d unfreezes (Events) for %d tenants", freezes, unfreezes, n))
	if n := unacknowledgedCallbacks(orderList); n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d callbacks were still unacknowledged at the deadline (KooGallery would go on retrying); their orders were checked for the purchase only", n))
	}
	for _, lost := range afterFreeze.lost {
		r.verdict.lost = append(r.verdict.lost, "after the FREEZEs: "+lost)
	}
	for _, dup := range afterFreeze.duplicated {
		r.verdict.duplicated = append(r.verdict.duplicated, "after the FREEZEs: "+dup)
	}
	return r
}

// purchaseAndFreeze runs waves 1 and 2, each order's purchase storm then
// its FREEZE storm, and measures what is in flight as the first FREEZEs
// go out, while purchases are still being answered and tenants
// provisioned.
func (r *row) purchaseAndFreeze(ctx, calls context.Context, h *harness, d *driver, orders []*order, copies int) {
	var freezing atomic.Bool
	frozenAll := make(chan struct{})
	go func() {
		defer close(frozenAll)
		forEach(orders, func(o *order) {
			if !d.storm(calls, o, copies, callback{activity: lifecycle.NewInstance}, newInstanceBody(o.id)) {
				return
			}
			freezing.Store(true)
			d.updateStatusStorm(calls, o, copies, lifecycle.Freeze)
		})
	}()
	var stormed bool
	r.inFlight, stormed = strikeWhen(ctx, h.cfg.stormSettle, func() (inFlight, bool) {
		if !freezing.Load() {
			return inFlight{}, false
		}
		leader, _, _ := h.leader(ctx)
		f := h.measureInFlight(ctx, d, leader)
		return f, f.callbacks > 0
	})
	if !stormed {
		r.injectionErr = fmt.Sprintf("no FREEZE was in flight within %s of the purchases", h.cfg.stormSettle)
	}
	<-frozenAll
}

// checkFrozen holds the tenants to the model before the freezes are
// lifted: every acknowledged FREEZE stored and applied, once.
func (r *row) checkFrozen(ctx context.Context, h *harness, d *driver, lastFreeze time.Time) verdict {
	tenants, market, err := settle(ctx, h, chaosProduct, d.snapshot(), h.cfg.stormSettle)
	if err != nil {
		r.injectionErr = "reading the frozen tenants: " + err.Error()
	}
	v := check(d.snapshot(), tenants, market)
	freezes, _ := transitions(tenants)
	r.notes = append(r.notes, fmt.Sprintf("the checker found %d of %d acknowledged tenants as the model says, frozen, %.1f s after the last FREEZE was acknowledged; the controllers recorded %d freezes",
		v.applied, v.acknowledged, time.Since(lastFreeze).Seconds(), freezes))
	return v
}

// updateStatusStorm sends copies of an updateInstanceStatus for o's
// instance at once, and reports whether all were acknowledged.
func (d *driver) updateStatusStorm(ctx context.Context, o *order, copies int, status string) bool {
	id := d.instanceOf(o)
	if id == "" {
		return false
	}
	return d.storm(ctx, o, copies, callback{activity: lifecycle.UpdateInstanceStatus, instanceID: id, status: status},
		updateInstanceStatusBody(id, status))
}

// instanceOf is the instance ID the order's purchase was acknowledged
// with, "" before that.
func (d *driver) instanceOf(o *order) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, _ := o.ack()
	return a.instanceID
}

// frozenBy reports whether every FREEZE sent for o was acknowledged, so
// that its UNFREEZE may follow.
func (d *driver) frozenBy(o *order) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	sent := false
	for _, c := range o.callbacks {
		if c.status != lifecycle.Freeze {
			continue
		}
		if _, ok := c.ack(); !ok {
			return false
		}
		sent = true
	}
	return sent
}

// transitions sums the freezes and unfreezes the controllers recorded.
func transitions(tenants map[string][]tenantFacts) (freezes, unfreezes int) {
	for _, ts := range tenants {
		for _, t := range ts {
			freezes += t.freezes
			unfreezes += t.unfreezes
		}
	}
	return freezes, unfreezes
}

func unacknowledgedCallbacks(orders []order) int {
	n := 0
	for _, o := range orders {
		n += o.unacknowledged()
	}
	return n
}

// forEach runs do for every order at once and waits for all.
func forEach(orders []*order, do func(*order)) {
	var wg sync.WaitGroup
	for _, o := range orders {
		wg.Go(func() { do(o) })
	}
	wg.Wait()
}

// answerCodes summarises the answers to the callbacks of the given kinds
// (an activity, or an updateInstanceStatus status): how many callbacks,
// how many attempts, and the attempts by answer other than 000000.
func answerCodes(orders []order, kinds ...string) string {
	sent, attempts, other := 0, 0, map[string]int{}
	for _, o := range orders {
		for _, c := range o.callbacks {
			if !slices.Contains(kinds, c.activity) && !slices.Contains(kinds, c.status) {
				continue
			}
			sent++
			for _, a := range c.answers {
				attempts++
				if a.code != string(koogallery.ResultSuccess) {
					other[a.code]++
				}
			}
		}
	}
	var codes []string
	for _, code := range slices.Sorted(maps.Keys(other)) {
		codes = append(codes, fmt.Sprintf("%d %s", other[code], code))
	}
	summary := "all 000000"
	if len(codes) > 0 {
		summary = strings.Join(codes, ", ") + ", retried"
	}
	return fmt.Sprintf("%d callbacks in %d attempts, %s", sent, attempts, summary)
}
