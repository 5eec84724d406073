package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
)

const receiverKillName = "2. kill -9 of one receiver during a 50/s stream"

// victim is the receiver scenario 2 kills; the driver's round robin sends
// it every other callback, as a load balancer that has not yet seen its
// readiness probe fail does.
const victim = 0

// lastAcksWindow is how far before the kill scenario 2 looks for the
// killed receiver's acknowledgements, the ones a crash could lose.
const lastAcksWindow = 2 * time.Second

// killReceiver is scenario 2: one receiver killed with SIGKILL a third of
// the way into a stream of purchases, at a moment it has callbacks in
// flight, and started again after the kubelet's back-off. The callbacks it
// was answering get no answer and are retried (on the other receiver or on
// it, once back); what it acknowledged just before the kill must be stored.
func killReceiver(ctx context.Context, h *harness) row {
	size := h.cfg.receiverKill
	r := row{name: receiverKillName, setup: fmt.Sprintf("%d purchases, a %.0f/s stream; receiver %d killed a third of the way in, with callbacks in flight, and started again %s later",
		size.tenants, size.rate, victim, size.down)}
	streamStart := time.Now()
	t := h.startPurchases(ctx, "CHAOSRCV", size)
	var ready bool
	r.inFlight, ready = strikeWhen(ctx, 2*time.Minute, func() (inFlight, bool) {
		if time.Since(streamStart) < size.streamLength()/3 {
			return inFlight{}, false
		}
		all, onVictim := int(t.driver.inFlight.Load()), int(t.driver.inFlightOn[victim].Load())
		return inFlight{callbacks: max(all, onVictim)}, onVictim > 0
	})
	if !ready {
		r.injectionErr = fmt.Sprintf("receiver %d never had a callback in flight a third of the way into the stream", victim)
	}
	faultStart := time.Now()
	if err := h.stack.KillReplica(localstack.Receiver, victim); err != nil {
		r.injectionErr = "killing the receiver: " + err.Error()
	}
	leader, _, _ := h.leader(ctx)
	r.inFlight.reconciles, r.inFlight.provisioning = h.activeReconciles(ctx, leader), h.tenantsNotReady(ctx)
	logf("Killed receiver %d with %s in flight; starting it again in %s", victim, r.inFlight, size.down)
	pause(ctx, size.down)
	if err := h.stack.RestartReplica(ctx, localstack.Receiver, victim); err != nil {
		r.injectionErr = "starting the receiver again: " + err.Error()
	}
	faultEnd := time.Now()
	orders := t.wait()
	r.finish(ctx, h, orders, faultStart, faultEnd)
	k := summariseReceiverKill(orders, r.verdict, faultStart, faultEnd)
	r.notes = append(r.notes, k.notes(faultEnd.Sub(faultStart))...)
	if problem := k.untouched(); problem != "" && r.injectionErr == "" {
		r.injectionErr = problem
	}
	return r
}

// receiverKill is what scenario 2's kill did to the callbacks, read from
// the driver's answers.
type receiverKill struct {
	// cutOff were awaiting the victim's answer at the kill; unanswered of
	// them got none, and retriedAcked of those orders were acknowledged
	// since.
	cutOff, unanswered, retriedAcked int
	// lastAcks are the orders the victim acknowledged in lastAcksWindow
	// before the kill; lastAcksLost of them the checker found lost.
	lastAcks, lastAcksLost int
	// survivorAnswered callbacks the other receiver answered during the
	// fault, survivorOK of them 000000.
	survivorAnswered, survivorOK int
}

func summariseReceiverKill(orders []order, v verdict, faultStart, faultEnd time.Time) receiverKill {
	var k receiverKill
	for _, o := range orders {
		acked := false
		if _, ok := o.ack(); ok {
			acked = true
		}
		cut := false
		for _, c := range o.callbacks {
			for _, a := range c.answers {
				switch {
				case a.receiver == victim && a.sent.Before(faultStart) && !a.at.Before(faultStart):
					k.cutOff++
					if a.code == noAnswer {
						k.unanswered++
						cut = true
					}
				case a.receiver == victim && c.acknowledges(a) && a.at.Before(faultStart) && a.at.After(faultStart.Add(-lastAcksWindow)):
					k.lastAcks++
					if isLost(v, o.id) {
						k.lastAcksLost++
					}
				case a.receiver != victim && !a.at.Before(faultStart) && !a.at.After(faultEnd):
					k.survivorAnswered++
					if a.code == string(koogallery.ResultSuccess) {
						k.survivorOK++
					}
				}
			}
		}
		if cut && acked {
			k.retriedAcked++
		}
	}
	return k
}

// isLost reports whether the checker found the order lost.
func isLost(v verdict, orderID string) bool {
	for _, l := range v.lost {
		if strings.HasPrefix(l, orderID+": ") {
			return true
		}
	}
	return false
}

// untouched says why the kill proved nothing, or "": it must cut off a
// callback and follow acknowledgements of the victim's.
func (k receiverKill) untouched() string {
	switch {
	case k.unanswered == 0:
		return fmt.Sprintf("no callback on receiver %d was left without an answer by the kill", victim)
	case k.lastAcks == 0:
		return fmt.Sprintf("receiver %d acknowledged nothing in the %s before the kill", victim, lastAcksWindow)
	}
	return ""
}

func (k receiverKill) notes(down time.Duration) []string {
	return []string{
		fmt.Sprintf("callbacks awaiting receiver %d's answer at the kill: %d; left without an answer and retried: %d; of those orders acknowledged since: %d",
			victim, k.cutOff, k.unanswered, k.retriedAcked),
		fmt.Sprintf("purchases receiver %d acknowledged in the %s before the kill: %d; of them lost: %d", victim, lastAcksWindow, k.lastAcks, k.lastAcksLost),
		fmt.Sprintf("callbacks the other receiver answered while receiver %d was down (%.1f s, until ready again): %d, of them 000000: %d",
			victim, down.Seconds(), k.survivorAnswered, k.survivorOK),
	}
}
