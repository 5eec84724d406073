package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// goneTimeout bounds the wait for a gone record to stay gone. Rule B lets a
// newInstance create a record for a moment, when the tombstone was written
// too recently to be cached; the tenant controller deletes it at once.
const goneTimeout = 10 * time.Second

// view is what the test compares of a record with the model's Stored.
type view struct {
	Exists     bool
	State      string
	Orders     []string // sorted
	ExpireTime string   // spec.expireTime (spec.notAfter of a licence); empty when unset
}

func viewOf(st Stored) view {
	v := view{Exists: st.Exists, State: string(st.State), Orders: st.OrderIDs}
	if st.ExpireTime != nil {
		v.ExpireTime = formatTime(*st.ExpireTime)
	}
	return v
}

func recordView(r record) view {
	v := view{Exists: r.exists, State: r.state, Orders: slices.Sorted(slices.Values(r.orders))}
	if r.expireTime != nil {
		v.ExpireTime = formatTime(r.expireTime.Time)
	}
	return v
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// show is a view in a message, with the sequence's own order numbers.
func (s *sequence) show(v view) string {
	if !v.Exists {
		return "no record"
	}
	orders := make([]string, len(v.Orders))
	for i, o := range v.Orders {
		orders[i] = s.local(o)
	}
	expiry := v.ExpireTime
	if expiry == "" {
		expiry = "unset"
	}
	return fmt.Sprintf("%s, orders %v, expiry %s", v.State, orders, expiry)
}

// checkStored holds every issued instance of the sequence to the model,
// read around every cache, after the callbacks delivered since the last
// check (more than one after hurried steps).
func (s *sequence) checkStored() {
	why := strings.Join(s.pending, ", then ")
	s.pending = nil
	for line, p := range s.purchases {
		if inst := s.model.Instance(LineOf(p)); inst != nil && inst.ID != "" {
			s.checkInstance(line, inst, why)
			s.checkTeardown(line, inst)
		}
	}
}

// checkInstance is invariant 1 (every 000000 is stored, rule A, and
// stored as the model says), and the receiver's half of rule E (the spec
// keeps the latest renewal-type expiry).
func (s *sequence) checkInstance(line int, inst *Instance, why string) {
	want := viewOf(inst.Stored())
	if !want.Exists {
		s.checkGone(line, inst)
		return
	}
	r, err := s.product.read(s.t.Context(), inst.ID)
	if err != nil {
		s.fail(err.Error(), "reading line %d's record failed", line)
	}
	got := recordView(r)
	s.checkMonotone(line, got)
	if got.Exists != want.Exists || got.State != want.State || !slices.Equal(got.Orders, want.Orders) {
		s.fail(inst.ID, "invariant 1: after %s, line %d holds %s; the model stored %s",
			why, line, s.show(got), s.show(want))
	}
	if got.ExpireTime != want.ExpireTime {
		s.fail(inst.ID, "rule E: the receiver keeps the spec's expiry at the latest renewal-type expiry, but line %d holds %s; the model: %s",
			line, s.show(got), s.show(want))
	}
}

// checkGone: a gone record stays gone (rule B). A newInstance may create
// it for a moment, when the tombstone was too fresh to be cached; the
// controller deletes it before provisioning anything.
func (s *sequence) checkGone(line int, inst *Instance) {
	var got record
	gone := s.poll.Eventually(func() (bool, error) {
		var err error
		got, err = s.product.read(s.t.Context(), inst.ID)
		return got.exists, err
	}).WithTimeout(goneTimeout).Should(BeFalse())
	if !gone {
		s.fail(inst.ID, "rule B: line %d is gone and must stay gone (never provisioned again), but holds %s", line, s.show(recordView(got)))
	}
}

// checkMonotone is invariant 2: the receiver keeps the spec's expiry at the
// latest renewal-type expiry, so it never moves back.
func (s *sequence) checkMonotone(line int, got view) {
	prev, seen := s.seenExpiry[line]
	if got.ExpireTime == "" {
		if seen {
			s.fail("", "invariant 2: the spec's expiry of line %d was %s and is now unset", line, prev)
		}
		return
	}
	if seen && got.ExpireTime < prev { // RFC 3339 in UTC sorts as time does
		s.fail("", "invariant 2: the spec's expiry of line %d moved back from %s to %s", line, prev, got.ExpireTime)
	}
	s.seenExpiry[line] = got.ExpireTime
}

// handDelete deletes line's record as kubectl delete would, and waits until
// it is gone (a finalizer may hold it a moment): from then on the instance
// is Gone.
func (s *sequence) handDelete(i, line int) {
	inst := s.model.Instance(LineOf(s.purchases[line]))
	if inst == nil || inst.ID == "" || inst.State == Gone {
		s.t.Logf("step %d: delete: line %d has no record", i, line)
		return
	}
	s.t.Logf("step %d: kubectl delete %s", i, inst.ID)
	ctx := s.t.Context()
	if err := direct.Delete(ctx, s.product.object(inst.ID)); err != nil {
		s.fail(err.Error(), "deleting line %d's record failed", line)
	}
	released := s.poll.Eventually(func() (bool, error) {
		r, err := s.product.read(ctx, inst.ID)
		return r.exists, err
	}).Should(BeFalse())
	if !released {
		s.fail(inst.ID, "line %d's record was deleted but never went", line)
	}
	s.model.Delete(inst)
}

// settle ends a sequence: one record per order line (invariant 3), then,
// once the controllers caught up, the plan (rule P) and expiry (rule E) of
// each instance whose controller acts on them.
func (s *sequence) settle() {
	ctx := s.t.Context()
	s.t.Logf("settling after %d callbacks delivered", s.delivered)
	s.checkStored()
	s.checkOneRecordPerLine(ctx)
	for line, p := range s.purchases {
		if inst := s.model.Instance(LineOf(p)); inst != nil && s.resolves(inst) {
			s.checkResolved(ctx, line, inst)
		}
	}
	s.cleanup(ctx)
}

// resolves says whether the controllers must show inst's plan and expiry.
// A released instance is left out: for it "nothing happens", so its status
// may keep what it had; so is one whose plan is retired, as provisioning
// stalls on it (rule S). A licence shows them on the key it issues, which
// it does for an active licence whose window has not ended.
func (s *sequence) resolves(inst *Instance) bool {
	if !slices.Contains(s.model.Plans, inst.Plan()) {
		return false
	}
	if s.product.license {
		return inst.State == Active && inst.Expiry().After(time.Now())
	}
	return inst.State == Active || inst.State == Frozen
}

// checkResolved waits until the controllers show inst's plan (rule P) and
// expiry (rule E), or have reconciled its current spec without showing
// them: then there is no point waiting longer. After a plan was retired or
// offered again, "reconciled" proves nothing (the product's change moves
// no instance's generation): then it waits the whole timeout.
func (s *sequence) checkResolved(ctx context.Context, line int, inst *Instance) {
	want := resolution{SKU: inst.Plan(), Expiry: formatTime(inst.Expiry())}
	var got resolution
	s.poll.Eventually(func() (bool, error) {
		r, err := s.product.read(ctx, inst.ID)
		got = resolution{SKU: r.sku}
		if r.expiry != nil {
			got.Expiry = formatTime(r.expiry.Time)
		}
		return got == want || (r.observed && !s.plansChanged), err
	}).Should(BeTrue())
	if got != want {
		s.fail(inst.ID, "rules P and E: line %d runs %s until %s; from its orders %s the model says %s until %s",
			line, got.SKU, got.Expiry, s.ordersOf(inst), want.SKU, want.Expiry)
	}
}

// resolution is what the controllers derive from the orders: status.skuCode
// and the expiry in force.
type resolution struct {
	SKU    string
	Expiry string
}

// ordersOf lists an instance's recorded orders, in arrival order, by what
// rules E and P read of them.
func (s *sequence) ordersOf(inst *Instance) string {
	parts := make([]string, len(inst.Orders))
	for i, o := range inst.Orders {
		kind := o.Activity
		if o.Scene != "" {
			kind = o.Scene
		}
		parts[i] = fmt.Sprintf("%s %s %s expires %s", s.local(o.ID), kind, o.SKU, o.ExpireTime.Format(time.DateOnly))
	}
	return "[" + strings.Join(parts, "; ") + "] (order numbers rise with createTime)"
}

// checkOneRecordPerLine is invariant 3: no two records share an order line,
// and exactly the lines the model keeps have one.
func (s *sequence) checkOneRecordPerLine(ctx context.Context) {
	records, err := s.product.list(ctx)
	if err != nil {
		s.fail(err.Error(), "listing the records failed")
	}
	perLine := map[Line]int{}
	for _, r := range records {
		if !r.deleting {
			perLine[Line{OrderID: r.orderID, OrderLineID: r.orderLineID}]++
		}
	}
	for line, p := range s.purchases {
		inst, want := s.model.Instance(LineOf(p)), 0
		if inst != nil && inst.State != Gone {
			want = 1
		}
		if got := perLine[LineOf(p)]; got != want {
			s.fail("", "invariant 3: line %d has %d records; the model keeps %d", line, got, want)
		}
	}
}

// cleanup deletes the sequence's records, so later sequences list, and a
// restarted manager reconciles, only what is still in play.
func (s *sequence) cleanup(ctx context.Context) {
	for line, p := range s.purchases {
		inst := s.model.Instance(LineOf(p))
		if inst == nil || inst.ID == "" || inst.State == Gone {
			continue
		}
		if err := direct.Delete(ctx, s.product.object(inst.ID)); err != nil && !apierrors.IsNotFound(err) {
			s.fail(err.Error(), "cleaning up line %d's record failed", line)
		}
	}
}
