package lifecycle

import (
	"flag"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"pgregory.net/rapid"
)

// TestLifecycle sends random sequences of marketplace callbacks for two or
// three order lines through the real receivers and controllers, and holds
// every answer, every stored object and the controllers' final word to the
// model of docs/lifecycle.md (model.go). -rapid.checks sets how many
// sequences run (default 50; make test-lifecycle runs 2,000).
func TestLifecycle(t *testing.T) {
	skip := strings.Split(*skipKinds, ",")
	mix, products := stepMix(skip), productMix(skip)
	rapid.Check(t, func(t *rapid.T) {
		s := newSequence(t, sequenceSetup(products).Draw(t, "setup"))
		steps := stepGenerator(mix, len(s.purchases))
		callbacks := rapid.IntRange(minCallbacks, maxCallbacks).Draw(t, "callbacks")
		// Each step is drawn as it runs, so a counterexample lists the
		// steps up to the failure and no further.
		for i := 0; s.delivered < callbacks && i < maxSteps; i++ {
			s.run(i, steps.Draw(t, fmt.Sprintf("step %d", i)))
		}
		s.settle()
	})
}

// A sequence runs until 20 to 30 callbacks have reached a receiver; lost
// callbacks, hand deletions and restarts come on top. maxSteps only stops a
// sequence that -lifecycle.skip left with little to send.
const (
	minCallbacks = 20
	maxCallbacks = 30
	maxSteps     = 100
)

var skipKinds = flag.String("lifecycle.skip", "",
	"comma-separated step kinds, deliveries or products never to generate, e.g. delete,restart,lost,both,license: to look past a known failure")

// Step kinds. A step is a callback, a retry of an earlier callback, a hand
// deletion of a record, a restart of manager A, or a change of the
// configuration: a plan retired (or offered again), the product or its keys
// Secret deleted (configuration_test.go).
const (
	kindQuery   = "query"
	kindNew     = "new"
	kindRefresh = "refresh"
	kindStatus  = "status"
	kindUpgrade = "upgrade"
	kindCheck   = "check"
	kindRelease = "release"
	kindRetry   = "retry"
	kindDelete  = "delete"
	kindRestart = "restart"
	kindRetire  = "retire"
	kindProduct = "deleteProduct"
	kindKeys    = "deleteKeys"
)

// Deliveries of a callback: to receiver A, to B, to both at once (a
// duplicate racing itself), or lost on the way (delivered, if ever, by a
// later retry: that is how an older order arrives after a newer one).
const (
	viaA    = "A"
	viaB    = "B"
	viaBoth = "both"
	viaLost = "lost"
)

// weights says how often each kind is drawn. A query comes first: rapid
// shrinks a step towards the first kind, so the steps a counterexample does
// not need become harmless queries.
var weights = []struct {
	kind   string
	weight int
}{
	{kindQuery, 2}, {kindNew, 3}, {kindRefresh, 6}, {kindStatus, 4}, {kindUpgrade, 3}, {kindCheck, 1},
	{kindRelease, 1}, {kindRetry, 5}, {kindDelete, 1}, {kindRestart, 1},
	{kindRetire, 1}, {kindProduct, 1}, {kindKeys, 1},
}

// mix is what a step is drawn from.
type mix struct {
	kinds, vias, retryVias []string
}

func stepMix(skip []string) mix {
	var m mix
	for _, w := range weights {
		for range w.weight {
			if !slices.Contains(skip, w.kind) {
				m.kinds = append(m.kinds, w.kind)
			}
		}
	}
	for _, via := range []string{viaA, viaB, viaA, viaB, viaBoth, viaLost} {
		if !slices.Contains(skip, via) {
			m.vias = append(m.vias, via)
			if via != viaLost {
				m.retryVias = append(m.retryVias, via)
			}
		}
	}
	return m
}

// step is one drawn step; which fields matter depends on kind.
type step struct {
	kind      string
	line      int
	scene     string
	expire    time.Time
	sku       string
	status    string
	withOrder bool
	// A retry resends a callback lost on the way (the marketplace retries
	// what it got no answer to), or, without one or unless fromLost, the
	// callback back places before the last: a duplicate, or a late retry.
	fromLost bool
	back     int
	via      string
	// hurried sends the next step at once, before what this one stored is
	// read: a receiver's cache then has had no time to catch up.
	hurried bool
}

// GoString is what rapid prints for a drawn step.
func (s step) GoString() string {
	var parts []string
	switch s.kind {
	case kindRefresh:
		parts = append(parts, s.scene, s.sku, "expires "+s.expire.Format(time.DateOnly))
	case kindUpgrade:
		parts = append(parts, s.sku, "expires "+s.expire.Format(time.DateOnly))
	case kindStatus:
		parts = append(parts, s.status)
	case kindCheck:
		parts = append(parts, s.sku)
	case kindRetire:
		return "retire(" + s.sku + ")"
	case kindProduct, kindKeys:
		return s.kind + "()"
	case kindRelease:
		parts = append(parts, fmt.Sprintf("withOrder=%t", s.withOrder))
	case kindRetry:
		parts = append(parts, fmt.Sprintf("%d back", s.back))
		if s.fromLost {
			parts[len(parts)-1] = fmt.Sprintf("lost #%d", s.back)
		}
		return fmt.Sprintf("retry(%s)", strings.Join(append(parts, s.delivery()), ", "))
	case kindRestart:
		return "restart(manager A)"
	}
	parts = append([]string{fmt.Sprintf("line %d", s.line)}, parts...)
	if s.via != "" {
		parts = append(parts, s.delivery())
	}
	return fmt.Sprintf("%s(%s)", s.kind, strings.Join(parts, ", "))
}

func (s step) delivery() string {
	if s.hurried {
		return "via " + s.via + ", hurried"
	}
	return "via " + s.via
}

// extraSKU is a plan the product does not have: changeInstanceCheck to it is refused.
const extraSKU = "sku-z"

func stepGenerator(m mix, lines int) *rapid.Generator[step] {
	return rapid.Custom(func(t *rapid.T) step {
		s := step{kind: uniform(m.kinds).Draw(t, "kind"), line: rapid.IntRange(0, lines-1).Draw(t, "line")}
		switch s.kind {
		case kindRefresh:
			s.scene = rapid.SampledFrom([]string{Renewal, TrialToFormal, RenewalChange, Unsubscribe}).Draw(t, "scene")
			s.sku, s.expire = rapid.SampledFrom(plans).Draw(t, "sku"), expiry().Draw(t, "expire")
		case kindUpgrade:
			s.sku, s.expire = rapid.SampledFrom(plans).Draw(t, "sku"), expiry().Draw(t, "expire")
		case kindStatus:
			s.status = rapid.SampledFrom([]string{Freeze, Unfreeze}).Draw(t, "status")
		case kindCheck:
			s.sku = rapid.SampledFrom(append(slices.Clone(plans), extraSKU)).Draw(t, "sku")
		case kindRetire:
			s.sku = rapid.SampledFrom(plans).Draw(t, "sku")
			return s
		case kindProduct, kindKeys:
			return s
		case kindRelease:
			s.withOrder = rapid.Bool().Draw(t, "withOrder")
		case kindRetry:
			s.fromLost = rapid.Bool().Draw(t, "fromLost")
			s.back = rapid.IntRange(0, 8).Draw(t, "back")
			s.via = uniform(m.retryVias).Draw(t, "via")
		case kindDelete, kindRestart:
			return s
		}
		if s.kind != kindRetry {
			s.via = uniform(m.vias).Draw(t, "via")
		}
		if s.via != viaLost {
			s.hurried = rapid.SampledFrom([]bool{false, false, true}).Draw(t, "hurried")
		}
		return s
	})
}

// uniform draws one of items, each as likely. rapid's own index draws
// favour the first items, which would starve the kinds listed last; a
// shrunk draw still leads to the first item.
func uniform[E any](items []E) *rapid.Generator[E] {
	width := bits.Len(uint(len(items) - 1))
	return rapid.Custom(func(t *rapid.T) E {
		for {
			i := 0
			for range width {
				i <<= 1
				if rapid.Bool().Draw(t, "bit") {
					i |= 1
				}
			}
			if i < len(items) {
				return items[i]
			}
		}
	})
}

// expiry draws an expiry on the hour in the six years before or the five
// after this one, never this year: rule F compares expiries with now, and a
// year away no margin can blur the answer.
func expiry() *rapid.Generator[time.Time] {
	thisYear := time.Now().UTC().Year()
	return rapid.Custom(func(t *rapid.T) time.Time {
		year := rapid.IntRange(thisYear-6, thisYear+4).Draw(t, "year")
		if year >= thisYear {
			year++
		}
		month := time.Month(rapid.IntRange(1, 12).Draw(t, "month"))
		return time.Date(year, month, rapid.IntRange(1, 28).Draw(t, "day"), rapid.IntRange(0, 23).Draw(t, "hour"), 0, 0, 0, time.UTC)
	})
}

// setup is a sequence's product and order lines, bought in one order or
// one order each.
type setup struct {
	product product
	shared  bool
	skus    []string
	expires []time.Time
}

func (s setup) GoString() string {
	lines := make([]string, len(s.skus))
	for i := range s.skus {
		lines[i] = fmt.Sprintf("line %d: %s expires %s", i, s.skus[i], s.expires[i].Format(time.DateOnly))
	}
	return fmt.Sprintf("setup(%s, sharedOrder=%t; %s)", s.product, s.shared, strings.Join(lines, "; "))
}

// productMix is what a sequence's product is drawn from: SaaS two times in
// three, as its tenants have more to get wrong, unless skip names one.
func productMix(skip []string) []product {
	var products []product
	for _, p := range []product{saasProduct, saasProduct, licenseProduct} {
		if !slices.Contains(skip, p.kind()) {
			products = append(products, p)
		}
	}
	return products
}

func sequenceSetup(products []product) *rapid.Generator[setup] {
	return rapid.Custom(func(t *rapid.T) setup {
		s := setup{
			product: rapid.SampledFrom(products).Draw(t, "product"),
			shared:  rapid.Bool().Draw(t, "shared"),
		}
		for range rapid.IntRange(2, 3).Draw(t, "lines") {
			s.skus = append(s.skus, rapid.SampledFrom(plans).Draw(t, "sku"))
			s.expires = append(s.expires, expiry().Draw(t, "expire"))
		}
		return s
	})
}

// sequenceCount numbers sequences, so their order IDs never meet.
var sequenceCount atomic.Int64

// sequence is one run of the property: its order lines, the model, and
// what was sent so far.
type sequence struct {
	t       *rapid.T
	product product
	// poll waits with Eventually; on a timeout it logs gomega's message
	// and lets the caller fail with one that repeats on every replay.
	poll  Gomega
	model *Model
	// prefix starts every order ID of the sequence.
	prefix    string
	orders    int
	purchases []Order
	// unissued are IDs nobody issued, one per line, that callbacks for a
	// line carry until kooper issues its instance: the "—" column.
	unissued []string
	// history holds every callback made, lost ones included, for retries;
	// lost holds those not delivered since.
	history, lost []Callback
	// delivered counts the callbacks that reached a receiver; pending
	// describes those whose effect was not checked yet.
	delivered int
	pending   []string
	// issued are the IDs kooper issued in this sequence.
	issued map[string]bool
	// seenExpiry is the latest spec.expireTime read per line (invariant 2).
	seenExpiry map[int]string
	// productDeleted and keysDeleted say what the sequence deleted.
	productDeleted, keysDeleted bool
	// plansChanged says the sequence retired or offered again a plan: a
	// change of the product, which moves no instance's generation, so an
	// instance reconciled before it reads as observed while the change
	// has yet to reach it.
	plansChanged bool
}

func newSequence(t *rapid.T, st setup) *sequence {
	s := &sequence{
		t: t, product: st.product, model: New(plans, DefaultStaleFreezeMargin),
		prefix: fmt.Sprintf("CS%06d", sequenceCount.Add(1)), issued: map[string]bool{}, seenExpiry: map[int]string{},
	}
	s.poll = NewGomega(func(message string, _ ...int) { t.Logf("%s", message) })
	s.freshProduct()
	var purchase string
	var created time.Time
	for i, sku := range st.skus {
		if i == 0 || !st.shared {
			purchase, created = s.nextOrderID(), nextCreateTime()
		}
		o := Order{ID: purchase, LineID: fmt.Sprintf("%s-%06d", purchase, i+1), Activity: NewInstance,
			SKU: sku, CreateTime: created, ExpireTime: st.expires[i]}
		market.add(o, s.product.id)
		s.purchases = append(s.purchases, o)
		s.unissued = append(s.unissued, "i-"+randomHex(10))
	}
	t.Logf("sequence %s: %d order lines of the %s", s.prefix, len(s.purchases), s.product)
	return s
}

func (s *sequence) nextOrderID() string {
	s.orders++
	return fmt.Sprintf("%s%03d", s.prefix, s.orders)
}

// newOrder is an order the marketplace creates now, known to Query Order
// from then on.
func (s *sequence) newOrder(activity, scene, sku string, expire time.Time) *Order {
	id := s.nextOrderID()
	o := Order{ID: id, LineID: id + "-000001", Activity: activity, Scene: scene, SKU: sku,
		CreateTime: nextCreateTime(), ExpireTime: expire}
	market.add(o, s.product.id)
	return &o
}

// instanceID is the ID a callback for line carries: the issued one, or,
// before kooper issued it, an ID kooper never issued.
func (s *sequence) instanceID(line int) string {
	if inst := s.model.Instance(LineOf(s.purchases[line])); inst != nil && inst.ID != "" {
		return inst.ID
	}
	return s.unissued[line]
}

// run runs step i.
func (s *sequence) run(i int, st step) {
	line := st.line
	id := s.instanceID(line)
	var cb Callback
	switch st.kind {
	case kindRestart:
		s.t.Logf("step %d: restart manager A", i)
		if err := restartA(); err != nil {
			s.fail(err.Error(), "restarting manager A failed")
		}
		return
	case kindDelete:
		s.handDelete(i, line)
		s.syncProduct()
		return
	case kindRetire:
		s.retire(i, st.sku)
		return
	case kindProduct:
		s.deleteProduct(i)
		return
	case kindKeys:
		s.deleteKeys(i)
		return
	case kindRetry:
		s.retry(i, st)
		return
	case kindQuery:
		cb = Callback{Activity: QueryInstance, InstanceID: id}
	case kindNew:
		purchase := s.purchases[line]
		cb = Callback{Activity: NewInstance, Order: &purchase}
	case kindRefresh:
		cb = Callback{Activity: RefreshInstance, InstanceID: id, Order: s.newOrder(RefreshInstance, st.scene, st.sku, st.expire)}
	case kindUpgrade:
		cb = Callback{Activity: UpgradeInstance, InstanceID: id, Order: s.newOrder(UpgradeInstance, "", st.sku, st.expire)}
	case kindStatus:
		cb = Callback{Activity: UpdateInstanceStatus, InstanceID: id, Status: st.status}
	case kindCheck:
		cb = Callback{Activity: ChangeInstanceCheck, InstanceID: id, SKU: st.sku}
	case kindRelease:
		cb = Callback{Activity: ReleaseInstance, InstanceID: id}
		if st.withOrder {
			cb.Order = s.newOrder(ReleaseInstance, "", plans[0], s.purchases[line].ExpireTime)
		}
	}
	s.history = append(s.history, cb)
	s.deliver(fmt.Sprintf("step %d", i), cb, st)
}

// retry sends an earlier callback again, with a fresh signature: one that
// was lost, which brings an older order after newer ones, or a duplicate
// of the last, or a late retry of an older one.
func (s *sequence) retry(i int, st step) {
	if st.fromLost && len(s.lost) > 0 {
		n := st.back % len(s.lost)
		cb := s.lost[n]
		s.lost = slices.Delete(s.lost, n, n+1)
		s.deliver(fmt.Sprintf("step %d: retry of a lost callback:", i), cb, st)
		return
	}
	if len(s.history) == 0 {
		s.t.Logf("step %d: retry: nothing sent yet", i)
		return
	}
	n := st.back % len(s.history)
	s.deliver(fmt.Sprintf("step %d: retry of the callback %d back:", i, n), s.history[len(s.history)-1-n], st)
}

// describe is a callback in a line of the log.
func describe(cb Callback) string {
	parts := []string{cb.Activity}
	if cb.InstanceID != "" {
		parts = append(parts, cb.InstanceID)
	}
	if o := cb.Order; o != nil {
		parts = append(parts, "order "+o.LineID)
		if o.Scene != "" {
			parts = append(parts, o.Scene)
		}
		parts = append(parts, fmt.Sprintf("(created %s, %s, expires %s)",
			o.CreateTime.Format(time.TimeOnly), o.SKU, o.ExpireTime.Format(time.DateOnly)))
	}
	parts = append(parts, cb.Status, cb.SKU)
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), " ")
}
