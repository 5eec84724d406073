package main

import (
	"context"
	"testing"
	"time"
)

// The input: make chaos's scenario 5 (2026-12-06) waited for three
// purchases acknowledged and a tenant provisioning, then read what was in
// flight again; the tenant, provisioned in about a second, was Ready by
// then, nothing else was in flight, and a fault that met 240 orders was
// reported as one that met no traffic: FAIL. The figures a scenario
// reports are those it decided to strike on.
func TestStrikeWhenKeepsTheReadingItStruckOn(t *testing.T) {
	readings := []struct {
		f      inFlight
		strike bool
	}{
		{inFlight{}, false},               // two purchases acknowledged: not yet
		{inFlight{provisioning: 1}, true}, // the third, its tenant provisioning
		{inFlight{}, false},               // a moment later: Ready, nothing in flight
		{inFlight{callbacks: 1}, false},
	}
	looks := 0
	got, struck := strikeWhen(context.Background(), 5*time.Second, func() (inFlight, bool) {
		r := readings[looks]
		looks++
		return r.f, r.strike
	})
	if !struck || got != (inFlight{provisioning: 1}) {
		t.Fatalf("strikeWhen = %+v, %v; want the reading it struck on, {provisioning: 1}, true", got, struck)
	}
	if looks != 2 {
		t.Errorf("looked %d times, want 2: none after the one that struck", looks)
	}
	r := row{inFlight: got, answeredInFault: 240}
	if !r.touched() {
		t.Error("a fault struck with a tenant provisioning and 240 callbacks answered in it is reported as one that met no traffic")
	}
}

func TestStrikeWhenGivesUpAtItsTimeout(t *testing.T) {
	start := time.Now()
	got, struck := strikeWhen(context.Background(), 250*time.Millisecond, func() (inFlight, bool) {
		return inFlight{reconciles: 1}, false
	})
	if struck {
		t.Error("struck though no reading said to")
	}
	if got != (inFlight{reconciles: 1}) {
		t.Errorf("got %+v, want the last reading", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s, want about the 250 ms timeout", took)
	}
}

func TestAwaitCallbackInFlightCountsWhatItSaw(t *testing.T) {
	d := &driver{}
	d.inFlight.Store(2)
	if n := awaitCallbackInFlight(context.Background(), d); n != 2 {
		t.Errorf("with 2 callbacks in flight: %d", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.inFlight.Store(0)
	if n := awaitCallbackInFlight(ctx, d); n != 0 {
		t.Errorf("with none in flight: %d", n)
	}
}
