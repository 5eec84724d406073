package main

import (
	"testing"
	"time"
)

func acked(id, instance string) order {
	return order{id: id, firstSent: time.Unix(100, 0), answers: []answer{
		{at: time.Unix(101, 0), code: noAnswer},
		{at: time.Unix(102, 0), code: "000000", instanceID: instance},
	}}
}

func TestCheckCountsLostAndDuplicated(t *testing.T) {
	readyAt := time.Unix(110, 0)
	orders := []order{
		acked("A", "i-a"), // one Ready tenant: fine
		acked("B", "i-b"), // no tenant: lost
		acked("C", "i-c"), // tenant never Ready: lost
		acked("D", "i-d"), // two tenants: duplicated
		acked("E", "i-e"), // purchase applied twice: duplicated
		{id: "F", answers: []answer{{code: "000005"}}}, // never acknowledged: neither
	}
	f := acked("G", "i-g") // acknowledged twice under two instance IDs
	f.answers = append(f.answers, answer{code: "000000", instanceID: "i-g2"})
	orders = append(orders, f)
	tenants := map[string][]tenantFacts{
		"A": {{name: "i-a", ready: true, readyAt: readyAt}},
		"C": {{name: "i-c", why: "WorkloadUnavailable"}},
		"D": {{name: "i-d", ready: true}, {name: "i-d2", ready: true}},
		"E": {{name: "i-e", ready: true, appliedTwice: true}},
		"F": {{name: "i-f", ready: true}},
		"G": {{name: "i-g", ready: true}},
	}
	v := check(orders, tenants)
	if v.sent != 7 || v.acknowledged != 6 || v.stored != 6 || v.ready != 1 {
		t.Errorf("sent %d, acknowledged %d, stored %d, ready %d; want 7, 6, 6, 1", v.sent, v.acknowledged, v.stored, v.ready)
	}
	if v.callbacks != 14 {
		t.Errorf("callbacks %d, want 14", v.callbacks)
	}
	if len(v.lost) != 2 {
		t.Errorf("lost %v, want B and C", v.lost)
	}
	if len(v.duplicated) != 3 {
		t.Errorf("duplicated %v, want D, E and G", v.duplicated)
	}
	if last, ok := v.lastReadyOf(time.Unix(200, 0)); !ok || !last.Equal(readyAt) {
		t.Errorf("last Ready %v %v, want %v", last, ok, readyAt)
	}
}

func TestAStoredTenantUnderAnotherNameThanAnsweredIsLost(t *testing.T) {
	v := check([]order{acked("A", "i-a")}, map[string][]tenantFacts{"A": {{name: "i-other", ready: true}}})
	if len(v.lost) != 1 {
		t.Errorf("lost %v, want the answered instance missing", v.lost)
	}
}
