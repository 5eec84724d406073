package main

import (
	"testing"
	"time"

	"github.com/kooper-io/kooper/hack/lifecycle"
)

func TestSummariseReceiverKill(t *testing.T) {
	kill, back := time.Unix(1000, 0), time.Unix(1005, 0)
	at := func(s float64) time.Time { return kill.Add(time.Duration(s * float64(time.Second))) }
	orders := []order{
		// Cut off by the kill, then acknowledged by the other receiver.
		{id: "CUT", callbacks: purchase(
			answer{sent: at(-0.01), at: at(0.001), receiver: victim, code: noAnswer},
			answer{sent: at(0.2), at: at(0.25), receiver: 1, code: "000000", instanceID: "i-cut"},
		)},
		// Answered by the victim although the answer was read after the
		// kill: in flight, but not left unanswered.
		{id: "LATE", callbacks: purchase(answer{sent: at(-0.01), at: at(0.001), receiver: victim, code: "000000"})},
		// Acknowledged by the victim just before the kill, then lost.
		{id: "LAST", callbacks: purchase(answer{sent: at(-1.1), at: at(-1), receiver: victim, code: "000000"})},
		// Acknowledged by the victim long before: outside the window.
		{id: "OLD", callbacks: purchase(answer{sent: at(-10.1), at: at(-10), receiver: victim, code: "000000"})},
		// The other receiver during the fault: one error, then 000000.
		{id: "BUSY", callbacks: purchase(
			answer{sent: at(1), at: at(1.1), receiver: 1, code: "000005"},
			answer{sent: at(6), at: at(6.1), receiver: 1, code: "000000"},
		)},
	}
	k := summariseReceiverKill(orders, verdict{lost: []string{"LAST: acknowledged, no tenant stored"}}, kill, back)
	want := receiverKill{cutOff: 2, unanswered: 1, retriedAcked: 1, lastAcks: 1, lastAcksLost: 1, survivorAnswered: 2, survivorOK: 1}
	if k != want {
		t.Errorf("got %+v, want %+v", k, want)
	}
	if k.untouched() != "" {
		t.Errorf("untouched %q, want a kill that touched both", k.untouched())
	}
}

func TestReceiverKillThatTouchedNothingIsAFailedInjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    receiverKill
	}{
		{"no callback cut off", receiverKill{cutOff: 1, lastAcks: 3}},
		{"no acknowledgement just before", receiverKill{cutOff: 1, unanswered: 1}},
	} {
		if tc.k.untouched() == "" {
			t.Errorf("%s: untouched is empty, want a reason", tc.name)
		}
	}
}

func TestProcessFaultSizes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		short   bool
		tenants int
		// want are the purchases and stream lengths of scenarios 2, 4, 8.
		want [3]faultSize
	}{
		{"full", false, 0, [3]faultSize{{tenants: 300, rate: 50}, {tenants: 200, rate: 20}, {tenants: 200, rate: 20}}},
		{"short", true, 0, [3]faultSize{{tenants: 100, rate: 10}, {tenants: 100, rate: 10}, {tenants: 100, rate: 10}}},
		{"-tenants", false, 50, [3]faultSize{{tenants: 50, rate: 50}, {tenants: 50, rate: 20}, {tenants: 50, rate: 20}}},
	} {
		a, b, c := processFaultSizes(tc.short, tc.tenants)
		for i, got := range []faultSize{a, b, c} {
			if got.tenants != tc.want[i].tenants || got.rate != tc.want[i].rate || got.down == 0 {
				t.Errorf("%s, scenario %d: %+v, want %d purchases at %.0f/s and a down time", tc.name, i, got, tc.want[i].tenants, tc.want[i].rate)
			}
		}
	}
	if s := (faultSize{tenants: 500, rate: 50}); s.streamLength() != 10*time.Second {
		t.Errorf("500 purchases at 50/s stream for %s, want 10s", s.streamLength())
	}
	if nodesFor(1500) != 6 || nodesFor(1) != 1 || nodesFor(0) != 0 {
		t.Errorf("nodesFor: 1500 → %d, 1 → %d, 0 → %d; want 6, 1, 0", nodesFor(1500), nodesFor(1), nodesFor(0))
	}
}

// purchase is a newInstance callback with the answers to its attempts.
func purchase(answers ...answer) []*callback {
	return []*callback{{activity: lifecycle.NewInstance, answers: answers}}
}
