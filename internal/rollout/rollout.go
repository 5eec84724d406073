// Package rollout decides, one step at a time, how a new revision of a
// product's app reaches its tenants: in waves of at most a set number of
// tenants, a canary wave first, each wave waiting for its tenants to be
// healthy on the new revision before the next starts, and a pause when a
// wave is not healthy by its deadline (docs/rollout.md).
//
// It holds no state of its own and reads no clock: the caller passes what
// the product's status recorded and what each tenant reports, and writes
// back what Step returns. Calling Step again with the same inputs decides
// the same, so a crash between the caller's writes repeats no wave.
package rollout

import (
	"slices"
	"time"
)

// Tenant is one tenant of the product as the rollout sees it.
type Tenant struct {
	// Name is the tenant's name (its instance ID).
	Name string
	// Debug says the tenant was bought by the Seller Console's debugger.
	Debug bool
	// Wanted is the revision the rollout told the tenant to run, "" if none.
	Wanted string
	// Wave is the rollout wave that told it, 0 if none.
	Wave int32
	// Running is the revision the tenant's objects were last applied from,
	// "" if never.
	Running string
	// Healthy says every object of the tenant is current (Available).
	Healthy bool
	// UnhealthySince, for a tenant not Healthy, is when it was last seen
	// to stop being healthy (its Available condition's lastTransitionTime,
	// or its creation when it never reported Available). A tenant not
	// healthy since more than clockSkewAllowance before its wave started
	// is not waited for by the wave (Decision.NotWaitedFor): its failure
	// is no evidence against the new revision. Zero when not known: the
	// tenant is waited for.
	UnhealthySince time.Time
}

// Effective is the revision the tenant is to run: the one the rollout told
// it, else the one it runs, else current (a tenant never provisioned gets
// the revision the rollout has reached).
func (t Tenant) Effective(current string) string {
	switch {
	case t.Wanted != "":
		return t.Wanted
	case t.Running != "":
		return t.Running
	}
	return current
}

// healthyOn reports whether the tenant runs revision and is healthy on it.
func (t Tenant) healthyOn(revision string) bool {
	return t.Running == revision && t.Healthy
}

// unhealthyBefore reports whether the tenant, not healthy now, has not
// been healthy since clearly before waveStart: a tenant stalled on its
// order, or crash-looping on its own data, before its wave told it the new
// revision. Its failure says nothing of the new revision, so its wave does
// not wait for it. "Clearly" is more than clockSkewAllowance before, as the
// two times come from different clocks; a tenant that broke nearer the
// wave's start, or in the same second as the allowance's edge (the times
// are whole seconds as stored), is waited for (on the safe side: a bad
// revision pauses the rollout rather than reach another wave).
func (t Tenant) unhealthyBefore(waveStart time.Time) bool {
	return !t.Healthy && !t.UnhealthySince.IsZero() && t.UnhealthySince.Before(waveStart.Add(-clockSkewAllowance))
}

// clockSkewAllowance is how far the clocks that stamp a tenant's
// UnhealthySince may disagree with the one that stamped its wave's start.
// The wave's start is the rollout leader's clock; UnhealthySince is the
// clock of whichever controllers replica wrote the tenant's Available
// condition, or the API server's (a creation time), and after a leader
// failover, or nodes whose NTP drifted, these may differ by tens of
// seconds. A tenant is excused from its wave only when it broke clearly
// before it, further back than this: one stamped just before the wave
// may have been broken by the wave's own revision on a clock behind.
const clockSkewAllowance = 2 * time.Minute

// Policy is the product's rollout policy, defaults applied.
type Policy struct {
	// WaveSize is how many tenants a wave updates at once, at least 1.
	WaveSize int
	// Canary names tenants updated in a first wave of their own.
	Canary []string
	// CanaryDebug puts debug tenants in the first wave.
	CanaryDebug bool
	// ProgressDeadline is how long a wave has to become healthy.
	ProgressDeadline time.Duration
	// Resume is spec.rollout.resume.
	Resume string
}

// State is what the product's status records of the rollout.
type State struct {
	// Current is the revision a tenant never provisioned gets.
	Current string
	// Update is the revision the product's spec asks for.
	Update string
	// Wave counts the waves started towards Update.
	Wave int32
	// WaveStart is when wave Wave started.
	WaveStart time.Time
	// Paused says a wave failed and no resume or new revision came since.
	Paused bool
	// Resumed is the Policy.Resume value last acted on.
	Resumed string
}

// Renamed is s towards update, a new name of the version s.Update names
// (Revision.SameVersion): the waves start again towards it, as for a new
// revision, since no tenant was told update yet, but a pause holds. A
// name kooper or the API server changed ended the pause of a rollout
// stopped on a bad version, and the next step told fresh waves of tenants
// to run it.
func Renamed(s State, update string) State {
	return State{Current: s.Current, Update: update, Paused: s.Paused, Resumed: s.Resumed}
}

// Decision is what one step decided.
type Decision struct {
	// State is the state to record.
	State State
	// Mark are the tenants to tell to run State.Update in wave State.Wave.
	Mark []string
	// Failed are the tenants of the wave that paused the rollout in this
	// step, sorted; nil unless it paused in this step.
	Failed []string
	// NotWaitedFor are the tenants to run State.Update that are not
	// healthy on it and that no wave waits for, sorted: those of the wave
	// under way not healthy since clearly before it started
	// (Tenant.UnhealthySince, clockSkewAllowance), and those of earlier
	// waves or of none (a failed wave's after a resume, one that broke
	// after its wave passed, a new tenant still starting on it).
	NotWaitedFor []string
	// Resumed says this step acted on a new Policy.Resume while paused.
	Resumed bool
	// Tenants is how many tenants the rollout covers; Updated how many of
	// them run State.Update and are healthy.
	Tenants, Updated int
	// Complete says every tenant runs State.Update, healthy.
	Complete bool
	// RequeueAfter, when not zero, is when the wave's deadline passes.
	RequeueAfter time.Duration
}

// Step decides the next step of the rollout to update at now.
func Step(now time.Time, p Policy, s State, update string, tenants []Tenant) Decision {
	if s.Current == "" {
		s.Current = update // the first revision: what every tenant runs
	}
	if s.Update != update {
		s = State{Current: s.Current, Update: update, Resumed: s.Resumed}
	}
	d := Decision{Tenants: len(tenants)}
	if p.Resume != "" && p.Resume != s.Resumed {
		s.Resumed = p.Resume
		d.Resumed, s.Paused = s.Paused, false
	}
	var pending, waiting []Tenant
	for _, t := range tenants {
		switch {
		case t.Effective(s.Current) != update:
			pending = append(pending, t)
		case t.healthyOn(update):
			d.Updated++
		case t.Wave == s.Wave && s.Wave > 0 && !t.unhealthyBefore(s.WaveStart):
			waiting = append(waiting, t)
		default:
			d.NotWaitedFor = append(d.NotWaitedFor, t.Name)
		}
	}
	slices.Sort(d.NotWaitedFor)
	d.Complete = len(pending) == 0 && d.Updated == len(tenants)
	if len(waiting) > 0 && !d.Resumed {
		s = waveWaits(now, p, s, waiting, &d)
		d.State = s
		return d
	}
	if s.Wave > 0 && d.Updated > 0 {
		s.Current = update // a wave was healthy on it: the version the rollout has reached
	}
	if len(pending) > 0 && !s.Paused {
		d.Mark = nextWave(p, pending)
		if s.Wave == 0 || toldAny(tenants, s) {
			s.Wave++
		}
		s.WaveStart = now
	}
	if d.Complete {
		s.Current, s.Paused = update, false
	}
	d.State = s
	return d
}

// toldAny reports whether wave s.Wave told any tenant to run s.Update. A
// wave that told none (every mark refused, or lost in a crash between the
// status write and the marks) is started again under its own number, so
// that the recorded wave does not climb with every retry of one wave.
func toldAny(tenants []Tenant, s State) bool {
	return slices.ContainsFunc(tenants, func(t Tenant) bool { return t.Wanted == s.Update && t.Wave == s.Wave })
}

// waveWaits handles a wave some of whose tenants are not yet healthy: past
// its deadline it pauses the rollout, naming them; before, it asks to be
// called again at the deadline.
func waveWaits(now time.Time, p Policy, s State, waiting []Tenant, d *Decision) State {
	if s.Paused {
		return s
	}
	deadline := s.WaveStart.Add(p.ProgressDeadline)
	if now.Before(deadline) {
		d.RequeueAfter = deadline.Sub(now)
		return s
	}
	s.Paused = true
	for _, t := range waiting {
		d.Failed = append(d.Failed, t.Name)
	}
	slices.Sort(d.Failed)
	return s
}

// nextWave picks the tenants of the next wave: the canary tenants still
// pending, while any is (docs/rollout.md), else up to WaveSize pending
// tenants in name order (so a repeated step picks the same ones). Not only
// for the first wave: a canary wave recorded in the product's status whose
// marks were lost (a crash, or a mark that met a newer tenant) would
// otherwise be followed by a wave in name order, and the canary tenants
// would go out with some later wave.
func nextWave(p Policy, pending []Tenant) []string {
	var canary []string
	for _, t := range pending {
		if slices.Contains(p.Canary, t.Name) || (p.CanaryDebug && t.Debug) {
			canary = append(canary, t.Name)
		}
	}
	if len(canary) > 0 {
		slices.Sort(canary)
		return canary
	}
	names := make([]string, len(pending))
	for i, t := range pending {
		names[i] = t.Name
	}
	slices.Sort(names)
	return names[:min(max(p.WaveSize, 1), len(names))]
}
