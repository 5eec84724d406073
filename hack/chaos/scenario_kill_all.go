package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

const killAllName = "8. every kooper process killed with kill -9 at once"

// killEveryProcess is scenario 8: both receivers and both controllers
// processes killed with SIGKILL at once while purchases flow and the
// leader's reconciles run, as when the node holding them all fails, then
// started again after the kubelet's back-off. Until then every callback
// goes unanswered and is retried; the killed leader released nothing, so
// a restarted replica leads only once the Lease expires.
func killEveryProcess(ctx context.Context, h *harness) row {
	size := h.cfg.killAll
	r := row{name: killAllName, setup: fmt.Sprintf("%d purchases, a %.0f/s stream; 2 receivers and 2 controllers killed with a fifth acknowledged and reconciles running, started again %s later",
		size.tenants, size.rate, size.down)}
	t := h.startPurchases(ctx, "CHAOSALL", size)
	holder := ""
	var ready bool
	r.inFlight, ready = strikeWhen(ctx, 2*time.Minute, func() (inFlight, bool) {
		var leader int
		var err error
		if leader, holder, err = h.leader(ctx); err != nil || t.driver.acknowledgedCount() < size.tenants/5 {
			return inFlight{}, false
		}
		f := h.measureInFlight(ctx, t.driver, leader)
		return f, f.reconciles > 0
	})
	if !ready {
		r.injectionErr = "the leader never had reconciles running with a fifth of the purchases acknowledged"
	}
	r.inFlight.callbacks = awaitCallbackInFlight(ctx, t.driver)
	faultStart := time.Now()
	if err := h.stack.KillAll(); err != nil {
		r.injectionErr = "killing every process: " + err.Error()
	}
	logf("Killed every kooper process (lease holder %s) with %s in flight; starting them again in %s", holder, r.inFlight, size.down)
	pause(ctx, size.down)
	names, err := h.stack.RestartKilled(ctx)
	if err != nil {
		r.injectionErr = "starting the processes again: " + err.Error()
	}
	r.notes = append(r.notes, fmt.Sprintf("started again after %.1f s and ready: %s", time.Since(faultStart).Seconds(), strings.Join(names, ", ")))
	// The fault lasts until a restarted replica holds the Lease the
	// killed leader never released.
	took := waitUntil(ctx, 2*time.Minute, func() bool {
		now, err := h.leaseHolder(ctx)
		return err == nil && now != "" && now != holder
	})
	faultEnd := time.Now()
	if took {
		r.notes = append(r.notes, fmt.Sprintf("a restarted controllers replica took the lease over %.1f s after the kill", faultEnd.Sub(faultStart).Seconds()))
	} else {
		r.injectionErr = "no restarted controllers replica took the lease over within 2 minutes"
	}
	r.finish(ctx, h, t.wait(), faultStart, faultEnd)
	return r
}

// callbackWait bounds the wait for a callback in flight before a strike.
const callbackWait = 10 * time.Second

// awaitCallbackInFlight waits (up to callbackWait) for a moment a callback
// awaits an answer, so that the strike also hits one, and returns how many
// did at that moment (0 if none came): the count the wait ended on, not a
// second read, since callbacks are answered in milliseconds.
func awaitCallbackInFlight(ctx context.Context, d *driver) int {
	n := 0
	waitUntil(ctx, callbackWait, func() bool {
		n = int(d.inFlight.Load())
		return n > 0
	})
	return n
}
