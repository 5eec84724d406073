package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fleet is n tenants running revision r1, healthy, named t00, t01, ...
func fleet(n int) []Tenant {
	ts := make([]Tenant, n)
	for i := range ts {
		ts[i] = Tenant{Name: fmt.Sprintf("t%02d", i), Running: "r1", Healthy: true}
	}
	return ts
}

// apply marks the decision's tenants as a caller would.
func apply(ts []Tenant, d Decision) {
	for i := range ts {
		if slices.Contains(d.Mark, ts[i].Name) {
			ts[i].Wanted, ts[i].Wave = d.State.Update, d.State.Wave
		}
	}
}

// converge makes every tenant told a revision run it, healthy or not.
func converge(ts []Tenant, healthy bool) {
	for i := range ts {
		if ts[i].Wanted != "" && ts[i].Running != ts[i].Wanted {
			ts[i].Running, ts[i].Healthy = ts[i].Wanted, healthy
		}
	}
}

func policy() Policy { return Policy{WaveSize: 2, ProgressDeadline: time.Minute} }

func TestTheFirstRevisionNeedsNoRollout(t *testing.T) {
	d := Step(t0, policy(), State{}, "r1", fleet(3))
	if !d.Complete || len(d.Mark) != 0 || d.State.Current != "r1" || d.State.Update != "r1" || d.Updated != 3 {
		t.Fatalf("first revision: %+v", d)
	}
}

func TestANewRevisionGoesOutInWavesOfTheWaveSize(t *testing.T) {
	ts := fleet(5)
	s := State{Current: "r1", Update: "r1"}
	var waves [][]string
	now := t0
	for range 10 {
		d := Step(now, policy(), s, "r2", ts)
		s = d.State
		if d.Complete {
			break
		}
		if len(d.Mark) > 0 {
			waves = append(waves, d.Mark)
		}
		apply(ts, d)
		converge(ts, true)
		now = now.Add(time.Second)
	}
	want := [][]string{{"t00", "t01"}, {"t02", "t03"}, {"t04"}}
	if !slices.EqualFunc(waves, want, slices.Equal) {
		t.Fatalf("waves %v, want %v", waves, want)
	}
	if s.Current != "r2" || s.Paused {
		t.Fatalf("state after the rollout: %+v", s)
	}
}

func TestAWaveNotHealthyByItsDeadlinePausesAndTheRestStay(t *testing.T) {
	ts := fleet(5)
	d := Step(t0, policy(), State{Current: "r1", Update: "r1"}, "r2", ts)
	apply(ts, d)
	converge(ts, false) // the new version never becomes healthy
	d = Step(t0.Add(30*time.Second), policy(), d.State, "r2", ts)
	if len(d.Mark) != 0 || d.State.Paused || d.RequeueAfter != 30*time.Second {
		t.Fatalf("before the deadline: %+v", d)
	}
	d = Step(t0.Add(time.Minute), policy(), d.State, "r2", ts)
	if !d.State.Paused || !slices.Equal(d.Failed, []string{"t00", "t01"}) || len(d.Mark) != 0 {
		t.Fatalf("at the deadline: %+v", d)
	}
	if d.State.Current != "r1" {
		t.Fatalf("a new tenant must get r1 while no wave was healthy on r2, got %s", d.State.Current)
	}
	again := Step(t0.Add(time.Hour), policy(), d.State, "r2", ts)
	if len(again.Mark) != 0 || again.Failed != nil || !again.State.Paused {
		t.Fatalf("paused: %+v", again)
	}
	for _, tn := range ts[2:] {
		if tn.Effective(again.State.Current) != "r1" {
			t.Fatalf("%s left r1", tn.Name)
		}
	}
}

func TestResumeStartsTheNextWaveAndANewRevisionUnpauses(t *testing.T) {
	ts := fleet(5)
	d := Step(t0, policy(), State{Current: "r1", Update: "r1"}, "r2", ts)
	apply(ts, d)
	converge(ts, false)
	d = Step(t0.Add(time.Minute), policy(), d.State, "r2", ts)
	p := policy()
	p.Resume = "x"
	r := Step(t0.Add(2*time.Minute), p, d.State, "r2", ts)
	if !r.Resumed || r.State.Paused || !slices.Equal(r.Mark, []string{"t02", "t03"}) || r.State.Resumed != "x" {
		t.Fatalf("resume: %+v", r)
	}
	// The same resume value again does nothing more.
	apply(ts, r)
	converge(ts, false)
	r = Step(t0.Add(4*time.Minute), p, r.State, "r2", ts)
	if !r.State.Paused || r.Resumed {
		t.Fatalf("the second failed wave must pause again: %+v", r)
	}
	n := Step(t0.Add(5*time.Minute), p, r.State, "r3", ts)
	if n.State.Paused || n.State.Wave != 1 || !slices.Equal(n.Mark, []string{"t00", "t01"}) {
		t.Fatalf("a new revision: %+v", n)
	}
}

func TestTheCanaryWaveComesFirst(t *testing.T) {
	ts := fleet(6)
	ts[4].Debug = true
	p := policy()
	p.Canary, p.CanaryDebug = []string{"t05", "nobody"}, true
	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	if !slices.Equal(d.Mark, []string{"t04", "t05"}) {
		t.Fatalf("canary wave %v", d.Mark)
	}
}

// A canary wave recorded in the product's status whose marks were lost (a
// crash between the status write and the marks, or a mark that met a newer
// tenant) is started again with the canary tenants, not followed by a wave
// in name order; so is the rest of a canary wave only partly marked.
func TestACanaryWaveWhoseMarksWereLostIsStartedAgain(t *testing.T) {
	ts := fleet(6)
	p := policy()
	p.Canary = []string{"t04", "t05"}
	d := Step(t0, p, State{Current: "r1", Update: "r1"}, "r2", ts)
	if !slices.Equal(d.Mark, []string{"t04", "t05"}) {
		t.Fatalf("canary wave %v", d.Mark)
	}
	// No mark applied.
	d = Step(t0.Add(time.Second), p, d.State, "r2", ts)
	if !slices.Equal(d.Mark, []string{"t04", "t05"}) {
		t.Fatalf("after the canary's marks were lost: %v, want the canary again", d.Mark)
	}
	// Only t04's mark applied, and t04 healthy on r2.
	apply(ts, Decision{Mark: []string{"t04"}, State: d.State})
	converge(ts, true)
	d = Step(t0.Add(2*time.Second), p, d.State, "r2", ts)
	if !slices.Equal(d.Mark, []string{"t05"}) {
		t.Fatalf("after half the canary's marks were lost: %v, want t05", d.Mark)
	}
}

// TestCanaryTenantsGoBeforeAnyOtherWhateverMarksAreLost: with random
// canary tenants, health and lost marks, no tenant outside the canary is
// marked while a canary tenant is still pending.
func TestCanaryTenantsGoBeforeAnyOtherWhateverMarksAreLost(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(rt, "tenants")
		ts := fleet(n)
		p := Policy{WaveSize: rapid.IntRange(1, 5).Draw(rt, "waveSize"), ProgressDeadline: time.Minute}
		for _, tn := range ts {
			if rapid.IntRange(0, 3).Draw(rt, "canary "+tn.Name) == 0 {
				p.Canary = append(p.Canary, tn.Name)
			}
		}
		s, now := State{Current: "r1", Update: "r1"}, t0
		for step := range 40 {
			pendingCanary := false
			for _, tn := range ts {
				pendingCanary = pendingCanary || (slices.Contains(p.Canary, tn.Name) && tn.Effective(s.Current) != "r2")
			}
			d := Step(now, p, s, "r2", ts)
			for _, name := range d.Mark {
				if pendingCanary && !slices.Contains(p.Canary, name) {
					rt.Fatalf("step %d marked %s while a canary tenant was pending (canary %v)", step, name, p.Canary)
				}
			}
			kept := d
			kept.Mark = nil
			for _, name := range d.Mark {
				if rapid.IntRange(0, 2).Draw(rt, fmt.Sprintf("lose %s %d", name, step)) > 0 {
					kept.Mark = append(kept.Mark, name)
				}
			}
			apply(ts, kept)
			converge(ts, rapid.Bool().Draw(rt, fmt.Sprintf("healthy%d", step)))
			s, now = d.State, now.Add(30*time.Second)
			if rapid.IntRange(0, 9).Draw(rt, fmt.Sprintf("resume%d", step)) == 0 {
				p.Resume = fmt.Sprintf("r%d", step)
			}
		}
	})
}

func TestANewTenantGetsTheRevisionAWaveWasHealthyOn(t *testing.T) {
	ts := fleet(4)
	d := Step(t0, policy(), State{Current: "r1", Update: "r1"}, "r2", ts)
	if d.State.Current != "r1" {
		t.Fatalf("before any healthy wave: %s", d.State.Current)
	}
	apply(ts, d)
	converge(ts, true)
	d = Step(t0.Add(time.Second), policy(), d.State, "r2", ts)
	if d.State.Current != "r2" {
		t.Fatalf("after a healthy wave: %s", d.State.Current)
	}
	newcomer := Tenant{Name: "t99"}
	if newcomer.Effective(d.State.Current) != "r2" {
		t.Fatal("a tenant never provisioned must get r2")
	}
}

// TestRolloutProperties drives random fleets, health and resumes, and checks
// what must hold at every step: no wave but the canary is larger than the
// wave size; nothing is marked while paused; a tenant not marked never
// changes revision; and with healthy tenants a rollout completes.
func TestRolloutProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 30).Draw(rt, "tenants")
		ts := fleet(n)
		p := Policy{WaveSize: rapid.IntRange(1, 5).Draw(rt, "waveSize"), ProgressDeadline: time.Minute}
		s := State{Current: "r1", Update: "r1"}
		now := t0
		for step := range 60 {
			healthy := rapid.Bool().Draw(rt, fmt.Sprintf("healthy%d", step))
			if rapid.IntRange(0, 9).Draw(rt, fmt.Sprintf("resume%d", step)) == 0 {
				p.Resume = fmt.Sprintf("r%d", step)
			}
			before := slices.Clone(ts)
			d := Step(now, p, s, "r2", ts)
			if len(d.Mark) > p.WaveSize {
				rt.Fatalf("wave of %d > %d", len(d.Mark), p.WaveSize)
			}
			if s.Paused && d.State.Paused && len(d.Mark) > 0 {
				rt.Fatalf("marked while paused")
			}
			apply(ts, d)
			converge(ts, healthy)
			for i := range ts {
				if ts[i].Running != before[i].Running && before[i].Wanted == "" && !slices.Contains(d.Mark, ts[i].Name) {
					rt.Fatalf("%s changed revision unmarked", ts[i].Name)
				}
			}
			s = d.State
			now = now.Add(time.Duration(rapid.IntRange(0, 90).Draw(rt, fmt.Sprintf("wait%d", step))) * time.Second)
		}
		// Then everything is healthy and the merchant resumes: it completes.
		for i := range ts {
			ts[i].Healthy = true
		}
		p.Resume = "final"
		for range n + 2 {
			d := Step(now, p, s, "r2", ts)
			apply(ts, d)
			converge(ts, true)
			s = d.State
			if d.Complete {
				return
			}
		}
		rt.Fatalf("did not complete: %+v", s)
	})
}

// A wave started again because none of its tenants was told (every mark
// refused, or lost in a crash) keeps its number; a wave that told one, a
// first wave, a new revision's and a step that tells nobody number as ever.
// i-2 is pending on crm-1; i-1, when listed, was told in the wave given
// and is healthy on what it was told.
func TestARetriedWaveWhoseTenantsWereNotToldKeepsItsNumber(t *testing.T) {
	recorded := State{Current: "crm-1", Update: "crm-2", Wave: 3}
	pending := Tenant{Name: "i-2", Running: "crm-1", Healthy: true}
	told := func(revision string, wave int32) Tenant {
		return Tenant{Name: "i-1", Wanted: revision, Wave: wave, Running: revision, Healthy: true}
	}
	cases := []struct {
		name    string
		before  State
		update  string
		tenants []Tenant
		want    int32
	}{
		{"no tenant of wave 3 was told", recorded, "crm-2", []Tenant{told("crm-2", 2), pending}, 3},
		{"one of wave 3 only of an older revision", recorded, "crm-2", []Tenant{told("crm-1", 3), pending}, 3},
		{"wave 3 told a tenant", recorded, "crm-2", []Tenant{told("crm-2", 3), pending}, 4},
		{"the first wave", State{Current: "crm-1", Update: "crm-2"}, "crm-2", []Tenant{pending}, 1},
		{"a new revision's first wave", recorded, "crm-3", []Tenant{pending}, 1},
		{"nobody to tell", recorded, "crm-2", []Tenant{told("crm-2", 3)}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Step(t0, Policy{WaveSize: 1, ProgressDeadline: time.Minute}, c.before, c.update, c.tenants)
			if d.State.Wave != c.want {
				t.Fatalf("wave %d, want %d (marked %v)", d.State.Wave, c.want, d.Mark)
			}
		})
	}
}

// A paused rollout's revision under a new name that is the same version
// (Renamed) stays paused and tells no tenant; resumed, it starts again
// from a first wave towards the new name, which no tenant was told.
func TestARenamedPausedRolloutStaysPaused(t *testing.T) {
	ts := fleet(5)
	d := Step(t0, policy(), State{Current: "r1", Update: "r1"}, "r2", ts)
	apply(ts, d)
	converge(ts, false)
	d = Step(t0.Add(time.Minute), policy(), d.State, "r2", ts)
	if !d.State.Paused {
		t.Fatalf("the first wave must pause: %+v", d)
	}
	renamed := Renamed(d.State, "r2b")
	r := Step(t0.Add(2*time.Minute), policy(), renamed, "r2b", ts)
	if !r.State.Paused || len(r.Mark) != 0 || r.State.Update != "r2b" || r.State.Current != "r1" {
		t.Fatalf("renamed: %+v", r)
	}
	p := policy()
	p.Resume = "x"
	r = Step(t0.Add(3*time.Minute), p, r.State, "r2b", ts)
	if !r.Resumed || r.State.Paused || r.State.Wave != 1 || !slices.Equal(r.Mark, []string{"t00", "t01"}) {
		t.Fatalf("resumed: %+v", r)
	}
}
