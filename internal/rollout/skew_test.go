package rollout

import (
	"slices"
	"testing"
	"time"
)

// skewedFleet is tenants a, b and c on r1, healthy, and the wave that
// starts at t0 telling them all r2, applied and healthy on it but for a,
// whose Available turned False at unhealthySince as some clock read it.
func skewedFleet(t *testing.T, unhealthySince time.Time) (Policy, Decision, []Tenant) {
	t.Helper()
	p := Policy{WaveSize: 3, ProgressDeadline: time.Minute}
	ts := brokenFleet(true)
	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	if !slices.Equal(d.Mark, []string{"a", "b", "c"}) || !d.State.WaveStart.Equal(t0) {
		t.Fatalf("the wave must start at t0 telling a, b and c: %+v", d)
	}
	apply(ts, d)
	converge(ts, true)
	ts[0].Healthy, ts[0].UnhealthySince = false, unhealthySince
	return p, d, ts
}

// A controllers replica whose clock is 30 s behind the leader's stamps a's
// Available False, which the wave's new revision caused, 30 s before the
// wave started. Within what clocks may disagree, that is no evidence that
// a was broken before the wave: the wave waits for it, and pauses on it.
func TestAWaveWaitsForATenantBrokenWithinTheClockSkewOfItsStart(t *testing.T) {
	p, d, ts := skewedFleet(t, t0.Add(-30*time.Second))

	d = Step(t0.Add(30*time.Second), p, d.State, "r2", ts)
	if slices.Contains(d.NotWaitedFor, "a") || len(d.Mark) != 0 || d.RequeueAfter != 30*time.Second || d.State.Paused {
		t.Fatalf("a, broken within the clock skew of the wave's start, must be waited for (no next wave, a requeue at the deadline): %+v", d)
	}

	d = Step(t0.Add(2*time.Minute), p, d.State, "r2", ts)
	if !d.State.Paused || !slices.Equal(d.Failed, []string{"a"}) || len(d.Mark) != 0 {
		t.Fatalf("a, still broken at the deadline, must pause the rollout: %+v", d)
	}
}

// A tenant broken clearly before its wave, further back than clocks may
// disagree, is still not waited for.
func TestAWaveDoesNotWaitForATenantBrokenWellBeforeItsStart(t *testing.T) {
	p, d, ts := skewedFleet(t, t0.Add(-10*time.Minute))

	d = Step(t0.Add(30*time.Second), p, d.State, "r2", ts)
	if !slices.Equal(d.NotWaitedFor, []string{"a"}) || d.State.Paused || d.Updated != 2 || d.RequeueAfter != 0 {
		t.Fatalf("a, broken 10 minutes before its wave, must not be waited for: %+v", d)
	}
}

// The allowance's edge: a tenant unhealthy since exactly clockSkewAllowance
// before the wave is waited for; one a second earlier is not.
func TestTheClockSkewAllowanceEdge(t *testing.T) {
	for _, c := range []struct {
		since     time.Time
		waitedFor bool
	}{
		{t0.Add(-clockSkewAllowance), true},
		{t0.Add(-clockSkewAllowance - time.Second), false},
	} {
		p, d, ts := skewedFleet(t, c.since)
		d = Step(t0.Add(30*time.Second), p, d.State, "r2", ts)
		if waited := !slices.Contains(d.NotWaitedFor, "a"); waited != c.waitedFor {
			t.Errorf("unhealthy since %v before the wave: waited for %v, want %v: %+v", t0.Sub(c.since), waited, c.waitedFor, d)
		}
	}
}

// A tenant really broken just before its wave, and broken on the new
// revision too, costs its wave one pause and no more: after a resume the
// next wave starts and does not wait for it (it is of an earlier wave).
func TestATenantBrokenJustBeforeItsWaveCostsOneResume(t *testing.T) {
	p := Policy{WaveSize: 1, ProgressDeadline: time.Minute}
	ts := brokenFleet(true)
	ts[0].Healthy, ts[0].UnhealthySince = false, t0.Add(-30*time.Second)

	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	if !slices.Equal(d.Mark, []string{"a"}) {
		t.Fatalf("the first wave must tell a: %+v", d)
	}
	apply(ts, d)
	converge(ts, false)

	d = Step(t0.Add(2*time.Minute), p, d.State, "r2", ts)
	if !d.State.Paused || !slices.Equal(d.Failed, []string{"a"}) {
		t.Fatalf("a, broken within the clock skew of its wave's start and still broken, must pause it: %+v", d)
	}

	p.Resume = "1"
	now := t0.Add(3 * time.Minute)
	for range 4 {
		d = Step(now, p, d.State, "r2", ts)
		if d.State.Paused {
			t.Fatalf("a must not pause a later wave: %+v", d)
		}
		apply(ts, d)
		converge(ts, true)
		now = now.Add(time.Minute)
	}
	if !slices.Equal(d.NotWaitedFor, []string{"a"}) || d.Updated != 2 || d.Complete {
		t.Fatalf("b and c must be updated, a reported apart: %+v", d)
	}
}
