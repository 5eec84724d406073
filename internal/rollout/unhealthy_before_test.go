package rollout

import (
	"slices"
	"testing"
	"time"
)

// brokenFleet is tenants a, b and c on r1, a not healthy since an hour
// before t0 (stalled on its order, say, or crash-looping on its own data)
// unless aHealthy.
func brokenFleet(aHealthy bool) []Tenant {
	ts := []Tenant{
		{Name: "a", Running: "r1", Healthy: true},
		{Name: "b", Running: "r1", Healthy: true},
		{Name: "c", Running: "r1", Healthy: true},
	}
	if !aHealthy {
		ts[0].Healthy, ts[0].UnhealthySince = false, t0.Add(-time.Hour)
	}
	return ts
}

func TestATenantUnhealthyBeforeItsWaveDoesNotHoldIt(t *testing.T) {
	p := Policy{WaveSize: 3, ProgressDeadline: time.Minute}
	ts := brokenFleet(false)
	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	if !slices.Equal(d.Mark, []string{"a", "b", "c"}) {
		t.Fatalf("the wave must tell every tenant, a too: %+v", d)
	}
	apply(ts, d)
	converge(ts, true)
	ts[0].Healthy = false // a applies r2 and stays as broken as it was on r1

	d = Step(t0.Add(2*time.Minute), p, d.State, "r2", ts)
	if d.State.Paused || d.Failed != nil {
		t.Fatalf("a tenant not healthy before its wave paused the rollout: %+v", d)
	}
	if !slices.Equal(d.NotWaitedFor, []string{"a"}) || d.Updated != 2 || d.Complete {
		t.Fatalf("a must be reported apart, b and c updated, the rollout not complete: %+v", d)
	}
	if d.State.Current != "r2" {
		t.Fatalf("b and c were healthy on r2: a new tenant must get it, got %s", d.State.Current)
	}
}

func TestATenantHealthyBeforeItsWaveAndNotAfterPausesIt(t *testing.T) {
	p := Policy{WaveSize: 3, ProgressDeadline: time.Minute}
	ts := brokenFleet(true)
	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	apply(ts, d)
	converge(ts, true)
	ts[0].Healthy, ts[0].UnhealthySince = false, t0.Add(10*time.Second) // r2 broke a

	d = Step(t0.Add(2*time.Minute), p, d.State, "r2", ts)
	if !d.State.Paused || !slices.Equal(d.Failed, []string{"a"}) || d.NotWaitedFor != nil {
		t.Fatalf("a tenant the new revision broke must pause the rollout: %+v", d)
	}
}
