// Package lifecycle is kooper's subscription lifecycle as docs/lifecycle.md
// states it, written from that page alone: for each callback, the answer
// kooper must give and what it must store, and what the controllers then
// derive (rules E and P). The property-based test in this directory drives
// the real receiver and controllers with random callback sequences and holds
// them to this model, so the model must never learn from their code: it
// imports nothing of kooper's, and speaks the marketplace's plain strings.
package lifecycle

import (
	"slices"
	"sort"
	"time"
)

// Result codes the model predicts (spec §5).
const (
	Success      = "000000"
	InvalidParam = "000002"
	NotFound     = "000003"
	SoldOut      = "000106"
)

// Activities of the basic callbacks.
const (
	NewInstance          = "newInstance"
	QueryInstance        = "queryInstance"
	RefreshInstance      = "refreshInstance"
	UpdateInstanceStatus = "updateInstanceStatus"
	ReleaseInstance      = "releaseInstance"
	UpgradeInstance      = "upgradeInstance"
	ChangeInstanceCheck  = "changeInstanceCheck"
)

// Scenes of refreshInstance.
const (
	Renewal       = "RENEWAL"
	TrialToFormal = "TRIAL_TO_FORMAL"
	RenewalChange = "RENEWAL_CHANGE"
	Unsubscribe   = "UNSUBSCRIBE_RENEWAL_PERIOD"
)

// Statuses of updateInstanceStatus.
const (
	Freeze   = "FREEZE"
	Unfreeze = "UNFREEZE"
)

// State is an instance's state in the tables of docs/lifecycle.md. The "—"
// column, an ID kooper never issued, has no instance in the model.
type State string

// States.
const (
	Active   State = "Active"
	Frozen   State = "Frozen"
	Released State = "Released"
	Gone     State = "Gone"
)

// DefaultStaleFreezeMargin is --stale-freeze-margin's default (rule F).
const DefaultStaleFreezeMargin = time.Hour

// DefaultRenewalRetryWindow is --renewal-retry-window's default (rule F).
const DefaultRenewalRetryWindow = 24 * time.Hour

// DefaultFreezeRetryWindow is --freeze-retry-window's default (rule F).
const DefaultFreezeRetryWindow = 24 * time.Hour

// Order is an order as the marketplace created it and Query Order reports
// it. A refreshInstance carries the order's Scene and ExpireTime too.
type Order struct {
	ID     string
	LineID string
	// Activity is the callback that brings the order to kooper.
	Activity string
	// Scene is set for refreshInstance orders.
	Scene string
	// SKU is the specification Query Order reports for the order line.
	SKU string
	// CreateTime is Query Order's createTime: distinct per order, in the
	// order the marketplace created them.
	CreateTime time.Time
	// ExpireTime is the order line's expiry; a refreshInstance carries it.
	ExpireTime time.Time
	// Received is when kooper recorded the order (spec.orders[].receivedTime);
	// the model sets it.
	Received time.Time
}

// Line identifies an order line: the idempotency key of a purchase.
type Line struct{ OrderID, OrderLineID string }

// Callback is one basic callback as the marketplace sends it.
type Callback struct {
	Activity string
	// InstanceID names the instance of every callback but newInstance.
	InstanceID string
	// Order is the purchase of a newInstance, the new order of a
	// refreshInstance or upgradeInstance, and the optional unsubscription
	// order of a releaseInstance.
	Order *Order
	// Status is FREEZE or UNFREEZE (updateInstanceStatus).
	Status string
	// SKU is the target plan of changeInstanceCheck.
	SKU string
}

// Answer is what kooper must answer to a callback.
type Answer struct {
	Code string
	// InstanceID is the ID a newInstance or queryInstance must report; empty
	// with NewID, when kooper issues a fresh one.
	InstanceID string
	NewID      bool
	// NoAppInfo forbids appInfo (released and gone instances). Otherwise
	// appInfo depends on whether the tenant is serving yet, which the model
	// does not predict.
	NoAppInfo bool
	// Rule names the rule or table cell that decided, for failure messages.
	Rule string
}

// Instance is the model's record of one order line's instance.
type Instance struct {
	// ID is empty until kooper's answer to the first newInstance tells it:
	// the page fixes that the ID is derived from the order line, not how.
	ID    string
	State State
	// Orders are the recorded orders, in arrival order, the purchase first.
	Orders []Order
	// LastUnfreeze is when the latest UNFREEZE of the live instance came
	// (rule F), zero before any.
	LastUnfreeze time.Time
}

// Stored is what the API server must hold for an instance.
type Stored struct {
	Exists bool
	State  State
	// OrderIDs are the recorded orders, sorted.
	OrderIDs []string
	// ExpireTime is spec.expireTime: the latest renewal-type expiry, nil
	// while there is none.
	ExpireTime *time.Time
}

// Model holds the instances of one product.
type Model struct {
	// Plans are the product's SKU codes (changeInstanceCheck).
	Plans []string
	// StaleFreezeMargin is rule F's margin; 0 turns the exception off.
	StaleFreezeMargin time.Duration
	// RenewalRetryWindow is rule F's window: a renewal received more than
	// this after a shortening order ends that order's hold.
	RenewalRetryWindow time.Duration
	// FreezeRetryWindow is rule F's other window: a FREEZE less than this
	// after an UNFREEZE is stale; 0 turns it off.
	FreezeRetryWindow time.Duration
	// ProductDeleting: the product was deleted (kubectl delete) and is held
	// by its live instances, or not yet gone: it takes no new purchase.
	ProductDeleting bool
	// ProductGone: the product was deleted and, no live instance holding
	// it any longer, it is gone (rule S). Nothing is verified for it.
	ProductGone bool

	lines map[Line]*Instance
	ids   map[string]*Instance
}

// New returns an empty model of a product with plans.
func New(plans []string, staleFreezeMargin time.Duration) *Model {
	return &Model{Plans: plans, StaleFreezeMargin: staleFreezeMargin, RenewalRetryWindow: DefaultRenewalRetryWindow,
		FreezeRetryWindow: DefaultFreezeRetryWindow,
		lines:             map[Line]*Instance{}, ids: map[string]*Instance{}}
}

// LineOf is the order line a purchase order identifies.
func LineOf(o Order) Line { return Line{OrderID: o.ID, OrderLineID: o.LineID} }

// Instance returns the instance of an order line, nil before its purchase
// arrived.
func (m *Model) Instance(l Line) *Instance { return m.lines[l] }

// Issue records the ID kooper answered to the first newInstance of l.
func (m *Model) Issue(l Line, id string) {
	inst := m.lines[l]
	inst.ID = id
	m.ids[id] = inst
}

// Retire removes a plan from the product; Offer adds it back.
func (m *Model) Retire(sku string) {
	m.Plans = slices.DeleteFunc(slices.Clone(m.Plans), func(p string) bool { return p == sku })
}

// Offer adds a plan back to the product.
func (m *Model) Offer(sku string) {
	if !slices.Contains(m.Plans, sku) {
		m.Plans = append(slices.Clone(m.Plans), sku)
	}
}

// Live says whether an instance holds the product (rule S): one that is
// Active or Frozen. A released one lets it go once its release is done.
func (m *Model) Live() bool {
	for _, inst := range m.lines {
		if inst.State == Active || inst.State == Frozen {
			return true
		}
	}
	return false
}

// Delete is a hand deletion of the instance's record (kubectl delete): the
// instance is Gone, issued for ever (rule B).
func (m *Model) Delete(inst *Instance) {
	inst.State = Gone
}

// Apply is a callback arriving at kooper now: it changes the model as kooper
// must change the API server, and returns the answer kooper must give.
// Applying the same callback twice changes nothing more and answers the
// same, so concurrent duplicates must both get this answer.
func (m *Model) Apply(cb Callback, now time.Time) Answer {
	if m.ProductGone {
		return Answer{Code: InvalidParam, Rule: "rule S: the product is deleted and gone, so no callback for it is verified"}
	}
	if cb.Activity == NewInstance {
		return m.newInstance(*cb.Order)
	}
	inst := m.ids[cb.InstanceID]
	if inst == nil {
		return Answer{Code: NotFound, Rule: "— column: an ID kooper never issued is unknown"}
	}
	if inst.State == Gone {
		return gone(cb, inst)
	}
	switch cb.Activity {
	case QueryInstance:
		return Answer{Code: Success, InstanceID: inst.ID, NoAppInfo: inst.State == Released,
			Rule: "queryInstance in state " + string(inst.State)}
	case RefreshInstance:
		inst.record(*cb.Order, now)
		return Answer{Code: Success, Rule: "refreshInstance: the order is recorded once"}
	case UpdateInstanceStatus:
		return m.updateStatus(inst, cb.Status, now)
	case ReleaseInstance:
		if cb.Order != nil {
			inst.record(*cb.Order, now)
		}
		inst.State = Released
		return Answer{Code: Success, Rule: "releaseInstance: Released, the order recorded if new"}
	case UpgradeInstance:
		if inst.State == Released {
			return Answer{Code: Success, Rule: "rule R: an upgrade of a released instance is answered 000000 and changes nothing"}
		}
		inst.record(*cb.Order, now)
		return Answer{Code: Success, Rule: "upgradeInstance: the order is recorded once"}
	case ChangeInstanceCheck:
		return m.changeCheck(inst, cb.SKU)
	}
	panic("lifecycle: unknown activity " + cb.Activity)
}

// newInstance: the same order line always gives the same instance, which is
// never provisioned again once gone (rule B).
func (m *Model) newInstance(purchase Order) Answer {
	inst := m.lines[LineOf(purchase)]
	if inst == nil && m.ProductDeleting {
		return Answer{Code: SoldOut, Rule: "product deletion: a product being deleted takes no new purchase, and nothing is stored"}
	}
	if inst == nil {
		inst = &Instance{State: Active, Orders: []Order{purchase}}
		m.lines[LineOf(purchase)] = inst
		return Answer{Code: Success, NewID: true, Rule: "newInstance of a new order line: an Active record"}
	}
	rule := "newInstance of the same order line: the same ID, nothing stored"
	if inst.State == Gone {
		rule = "rule B: newInstance of a gone instance answers its ID and provisions nothing"
	}
	return Answer{Code: Success, InstanceID: inst.ID, NoAppInfo: inst.State == Released || inst.State == Gone, Rule: rule}
}

// gone answers a callback for an issued instance whose record is gone (rule B).
func gone(cb Callback, inst *Instance) Answer {
	switch cb.Activity {
	case QueryInstance:
		return Answer{Code: Success, InstanceID: inst.ID, NoAppInfo: true, Rule: "rule B: queryInstance of a gone instance"}
	case ChangeInstanceCheck:
		return Answer{Code: InvalidParam, Rule: "rule B: changeInstanceCheck of a gone instance is 000002 (released)"}
	}
	return Answer{Code: Success, Rule: "rule B: " + cb.Activity + " of a gone instance is 000000 and stores nothing"}
}

// updateStatus applies FREEZE and UNFREEZE in arrival order, except a
// stale FREEZE (rule F). Every UNFREEZE of a live instance is remembered.
func (m *Model) updateStatus(inst *Instance, status string, now time.Time) Answer {
	if status == Unfreeze && inst.State != Released {
		inst.LastUnfreeze = now
	}
	switch {
	case status == Freeze && inst.State == Active && m.staleFreeze(inst, now):
		return Answer{Code: Success, Rule: "rule F: a stale FREEZE (a paid period is running) is not stored"}
	case status == Freeze && inst.State == Active && m.freezeRetried(inst, now):
		return Answer{Code: Success, Rule: "rule F: a FREEZE within the freeze retry window after an UNFREEZE is not stored"}
	case status == Freeze && inst.State == Active:
		inst.State = Frozen
		return Answer{Code: Success, Rule: "FREEZE of an Active instance: Frozen"}
	case status == Unfreeze && inst.State == Frozen:
		inst.State = Active
		return Answer{Code: Success, Rule: "UNFREEZE of a Frozen instance: Active"}
	}
	return Answer{Code: Success, Rule: status + " in state " + string(inst.State) + " changes nothing"}
}

// freezeRetried: an UNFREEZE came less than the freeze retry window ago, so
// a FREEZE now is the retry of the one it ended. The record keeps whole
// seconds, so the window counts from the second after the recorded one
// (docs/lifecycle.md rule F).
func (m *Model) freezeRetried(inst *Instance, now time.Time) bool {
	recorded := inst.LastUnfreeze.Truncate(time.Second)
	return m.FreezeRetryWindow > 0 && !inst.LastUnfreeze.IsZero() && now.Before(recorded.Add(m.FreezeRetryWindow+time.Second))
}

// staleFreeze: the recorded orders prove a paid period is running. Some
// renewal-type expiry lies beyond the margin, and no shortening order ends
// within it, unless one of those renewals was received more than the
// renewal retry window after it (created after it, so not cut by it).
func (m *Model) staleFreeze(inst *Instance, now time.Time) bool {
	if m.StaleFreezeMargin == 0 {
		return false
	}
	horizon := now.Add(m.StaleFreezeMargin)
	var running []Order
	for _, o := range inst.Orders {
		if renewalType(o) && o.ExpireTime.After(horizon) {
			running = append(running, o)
		}
	}
	for _, o := range inst.Orders {
		if !shortening(o) || !o.ExpireTime.Before(horizon) {
			continue
		}
		if !slices.ContainsFunc(running, func(r Order) bool { return r.Received.After(o.Received.Add(m.RenewalRetryWindow)) }) {
			return false
		}
	}
	return len(running) > 0
}

func (m *Model) changeCheck(inst *Instance, sku string) Answer {
	switch {
	case inst.State == Released:
		return Answer{Code: InvalidParam, Rule: "changeInstanceCheck of a released instance is 000002"}
	case !slices.Contains(m.Plans, sku):
		return Answer{Code: InvalidParam, Rule: "changeInstanceCheck to a plan the product lacks is 000002"}
	}
	return Answer{Code: Success, Rule: "changeInstanceCheck to a plan the product has"}
}

// record adds an order once per order ID.
func (inst *Instance) record(o Order, now time.Time) {
	if !slices.ContainsFunc(inst.Orders, func(r Order) bool { return r.ID == o.ID }) {
		o.Received = now
		inst.Orders = append(inst.Orders, o)
	}
}

// Stored is what the API server must hold for inst: nothing once it is gone.
func (inst *Instance) Stored() Stored {
	if inst.State == Gone {
		return Stored{}
	}
	s := Stored{Exists: true, State: inst.State}
	for _, o := range inst.Orders {
		s.OrderIDs = append(s.OrderIDs, o.ID)
		if renewalType(o) && (s.ExpireTime == nil || o.ExpireTime.After(*s.ExpireTime)) {
			t := o.ExpireTime
			s.ExpireTime = &t
		}
	}
	sort.Strings(s.OrderIDs)
	return s
}

// Plan is rule P: the SKU of the plan-changing order with the latest
// createTime (ties: arrival order).
func (inst *Instance) Plan() string {
	return inst.definingOrder().SKU
}

// definingOrder is the plan-changing order with the latest createTime; a
// later arrival wins a tie. A RENEWAL_CHANGE whose period was unsubscribed
// no longer counts.
func (inst *Instance) definingOrder() Order {
	defining := inst.Orders[0] // the purchase
	for _, o := range inst.Orders[1:] {
		if planChanging(o) && !inst.unsubscribed(o) && !o.CreateTime.Before(defining.CreateTime) {
			defining = o
		}
	}
	return defining
}

// unsubscribed: o is a RENEWAL_CHANGE and a shortening order after it in
// the expiry timeline moves the expiry back to where the renewal-type
// orders before o had it (before o's expiry, when none came before).
func (inst *Instance) unsubscribed(o Order) bool {
	if o.Activity != RefreshInstance || o.Scene != RenewalChange {
		return false
	}
	timeline := inst.timeline()
	at := slices.IndexFunc(timeline, func(p Order) bool { return p.ID == o.ID })
	limit := o.ExpireTime.Add(-time.Second) // before o's expiry
	var before time.Time
	for _, p := range timeline[:at] {
		if shortening(p) || p.ExpireTime.After(before) {
			before = p.ExpireTime
		}
	}
	if !before.IsZero() {
		limit = before
	}
	return slices.ContainsFunc(timeline[at+1:], func(p Order) bool { return shortening(p) && !p.ExpireTime.After(limit) })
}

// timeline is the renewal-type and shortening orders by createTime, those
// created in the same second in arrival order.
func (inst *Instance) timeline() []Order {
	var timeline []Order
	for _, o := range inst.Orders {
		if renewalType(o) || shortening(o) {
			timeline = append(timeline, o)
		}
	}
	sort.SliceStable(timeline, func(i, j int) bool { return timeline[i].CreateTime.Before(timeline[j].CreateTime) })
	return timeline
}

// Expiry is rule E: the expiry in force, derived from the recorded orders:
// the plan-selecting order's expiry until a renewal-type order sets one.
func (inst *Instance) Expiry() time.Time {
	var expiry time.Time
	if !slices.ContainsFunc(inst.Orders, renewalType) {
		expiry = inst.definingOrder().ExpireTime
	}
	for _, o := range inst.timeline() {
		if shortening(o) || o.ExpireTime.After(expiry) {
			expiry = o.ExpireTime
		}
	}
	return expiry
}

// renewalType: a refreshInstance that sets a new expiry.
func renewalType(o Order) bool {
	return o.Activity == RefreshInstance && (o.Scene == Renewal || o.Scene == TrialToFormal || o.Scene == RenewalChange)
}

// shortening: a refreshInstance that moves the expiry earlier.
func shortening(o Order) bool {
	return o.Activity == RefreshInstance && o.Scene == Unsubscribe
}

// planChanging: the purchase, an upgrade, or a refreshInstance that may
// change the specification.
func planChanging(o Order) bool {
	switch o.Activity {
	case NewInstance, UpgradeInstance:
		return true
	case RefreshInstance:
		return o.Scene == TrialToFormal || o.Scene == RenewalChange
	}
	return false
}
