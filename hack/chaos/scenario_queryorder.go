package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Scenario 5: Query Order answers HTTP 500 for cfg.qorderOutage while
// purchases keep coming. The marketplace side fails, not kooper: the
// receivers still acknowledge every purchase (the callback path never calls
// Query Order), the tenants wait, saying why, and the controllers must
// neither hammer the marketplace nor give up.
const (
	qorderPrefix = "CHAOSQO"
	// maxQueryOrderCalls is the most Query Order calls one order may get
	// in the outage's window (issue 21).
	maxQueryOrderCalls = 10
	// qorderLead is how long purchases flow before the outage.
	qorderLead = 5 * time.Second
	// conditionGrace is how long a tenant stored during the outage may
	// take to be reconciled once and say why it waits.
	conditionGrace = 5 * time.Second
)

// queryOrderOutage is scenario 5.
func queryOrderOutage(ctx context.Context, h *harness) row {
	outage := h.cfg.qorderOutage
	// The stream spans the outage: purchases before it, throughout it and
	// a few after.
	rate := float64(h.cfg.qorderTenants) / (qorderLead + outage + qorderLead).Seconds()
	r := row{name: "5. Query Order failing (HTTP 500)",
		setup: fmt.Sprintf("%d purchases at %.1f/s; Query Order answers HTTP 500 for %s", h.cfg.qorderTenants, rate, outage)}
	t := h.startStream(ctx, qorderPrefix, h.cfg.qorderTenants, rate, outage)
	// Strike once purchases are acknowledged and some tenant is still on
	// its way, so that the outage catches tenants waiting.
	var ready bool
	r.inFlight, ready = strikeWhen(ctx, time.Minute, func() (inFlight, bool) {
		if t.driver.acknowledgedCount() < 3 {
			return inFlight{}, false
		}
		leader, _, _ := h.leader(ctx)
		f := h.measureInFlight(ctx, t.driver, leader)
		return f, f.provisioning > 0
	})
	if !ready {
		r.injectionErr = "no purchase was on its way a minute into the stream"
	}
	faultStart := time.Now()
	// The simulator ends the outage by itself a minute after it should
	// have, should the scenario not get to clearing it.
	if err := h.simOutage(ctx, outage+time.Minute); err != nil {
		r.injectionErr = "starting the Query Order outage: " + err.Error()
	}
	logf("Query Order answers HTTP 500 for %s, from now; %s in flight", outage, r.inFlight)
	pause(ctx, outage-conditionGrace)
	// Just before the end: every tenant acknowledged during the outage
	// waits, and says it is Query Order.
	waiting, problems := h.checkWaitingTenants(ctx, t.driver.snapshot(), faultStart, time.Now().Add(-conditionGrace))
	r.violations = append(r.violations, problems...)
	pause(ctx, time.Until(faultStart.Add(outage)))
	if err := h.simClearOutage(ctx); err != nil {
		r.injectionErr = "clearing the Query Order outage: " + err.Error()
	}
	faultEnd := time.Now()
	logf("Query Order answers again; %d tenants were waiting on it", waiting)
	note := fmt.Sprintf("%d tenants were waiting on Query Order, saying so (Ready False, OrderQueryFailed), %s before it answered again", waiting, conditionGrace)
	if len(problems) == 0 {
		note += "; every tenant acknowledged in the outage until then did"
	}
	r.notes = append(r.notes, note)
	if waiting == 0 {
		r.injectionErr = "no tenant was waiting on Query Order at the end of the outage"
	}
	met := r.checkQueryOrderCalls(h.queryOrderCalls(ctx, faultStart, faultEnd))
	r.finish(ctx, h, t.wait(), faultStart, faultEnd)
	r.noteFirstCallsAfter(h.queryOrderCalls(ctx, faultEnd, time.Now()), faultEnd, met)
	r.noteResolution(h.resolvedAfter(ctx, faultEnd))
	return r
}

// startStream buys n orders named prefix… at rate per second, each
// retried until acknowledged, for as long as the stream, the fault and
// three minutes more.
func (h *harness) startStream(ctx context.Context, prefix string, n int, rate float64, fault time.Duration) *traffic {
	stream := time.Duration(float64(n) / rate * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, stream+fault+3*time.Minute)
	t := &traffic{driver: h.newDriver(), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(t.done)
		t.driver.run(ctx, prefix, n, rate)
	}()
	return t
}

// checkWaitingTenants reads the tenants of the orders acknowledged in
// [from, to) and returns how many of the scenario's tenants are waiting
// with Ready=False for reason OrderQueryFailed, and a problem for each of
// those orders whose tenant does not say so.
func (h *harness) checkWaitingTenants(ctx context.Context, orders []order, from, to time.Time) (int, []string) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := h.stack.Client.List(ctx, list); err != nil {
		return 0, []string{"reading the tenants during the outage: " + err.Error()}
	}
	byOrder := map[string]*saasv1alpha1.SaaSTenant{}
	waiting := 0
	for i := range list.Items {
		tenant := &list.Items[i]
		if !strings.HasPrefix(tenant.Spec.OrderID, qorderPrefix) {
			continue
		}
		byOrder[tenant.Spec.OrderID] = tenant
		if waitsOnQueryOrder(tenant) {
			waiting++
		}
	}
	var problems []string
	for _, o := range orders {
		a, ok := o.ack()
		if !ok || a.at.Before(from) || !a.at.Before(to) {
			continue
		}
		tenant := byOrder[o.id]
		switch {
		case tenant == nil:
			problems = append(problems, o.id+": acknowledged during the outage, no tenant stored")
		case !waitsOnQueryOrder(tenant):
			problems = append(problems, fmt.Sprintf("%s: stored during the outage, but its Ready condition does not say it waits on Query Order: %s",
				o.id, describeReady(tenant)))
		}
	}
	return waiting, problems
}

// waitsOnQueryOrder reports whether the tenant says it waits on Query
// Order: Ready False, reason OrderQueryFailed, and a message naming it.
func waitsOnQueryOrder(t *saasv1alpha1.SaaSTenant) bool {
	c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == saasv1alpha1.OrderQueryFailedReason &&
		strings.Contains(c.Message, "Query Order failed") && strings.Contains(c.Message, t.Spec.OrderID)
}

func describeReady(t *saasv1alpha1.SaaSTenant) string {
	c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	if c == nil {
		return "no Ready condition"
	}
	return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
}

// simOutage makes the simulator answer Query Order with HTTP 500 for d.
func (h *harness) simOutage(ctx context.Context, d time.Duration) error {
	body := fmt.Sprintf(`{"seconds":%d}`, int(d.Seconds()))
	return h.simCall(ctx, http.MethodPost, "/sim/queryorder/outage", body, http.StatusCreated, nil)
}

// simClearOutage ends the simulator's Query Order outage.
func (h *harness) simClearOutage(ctx context.Context) error {
	return h.simCall(ctx, http.MethodDelete, "/sim/queryorder/outage", "", http.StatusOK, nil)
}

// queryOrderCounts is the simulator's count of Query Order calls by order
// (GET /sim/queryorder/calls).
type queryOrderCounts struct {
	Calls  map[string]int       `json:"calls"`
	Failed map[string]int       `json:"failed"`
	First  map[string]time.Time `json:"first"`
	err    error
}

// queryOrderCalls reads the Query Order calls the simulator got in
// [from, to).
func (h *harness) queryOrderCalls(ctx context.Context, from, to time.Time) queryOrderCounts {
	q := url.Values{"since": {from.UTC().Format(time.RFC3339Nano)}, "until": {to.UTC().Format(time.RFC3339Nano)}}
	var counts queryOrderCounts
	counts.err = h.simCall(ctx, http.MethodGet, "/sim/queryorder/calls?"+q.Encode(), "", http.StatusOK, &counts)
	return counts
}

// checkQueryOrderCalls records the Query Order calls per order in the
// outage: max and mean in the notes, and a violation for every order
// called more than maxQueryOrderCalls times, or for an outage that failed
// no call at all (the controllers never met it). It returns the orders
// whose calls met the outage.
func (r *row) checkQueryOrderCalls(counts queryOrderCounts) []string {
	if counts.err != nil {
		r.injectionErr = "reading the Query Order calls: " + counts.err.Error()
		return nil
	}
	var ids []string
	total, failed, most := 0, 0, 0
	for id, n := range counts.Calls {
		if !strings.HasPrefix(id, qorderPrefix) {
			continue
		}
		ids = append(ids, id)
		total += n
		failed += counts.Failed[id]
		most = max(most, n)
	}
	if len(ids) == 0 || failed == 0 {
		r.injectionErr = "no Query Order call met the outage"
		return nil
	}
	slices.Sort(ids)
	for _, id := range ids {
		if n := counts.Calls[id]; n > maxQueryOrderCalls {
			r.violations = append(r.violations, fmt.Sprintf("%s: %d Query Order calls during the outage (at most %d allowed)", id, n, maxQueryOrderCalls))
		}
	}
	r.notes = append(r.notes, fmt.Sprintf("Query Order calls per order during the outage: max %d, mean %.1f, over %d orders (%d calls, %d answered HTTP 500; at most %d allowed per order)",
		most, float64(total)/float64(len(ids)), len(ids), total, failed, maxQueryOrderCalls))
	return slices.DeleteFunc(ids, func(id string) bool { return counts.Failed[id] == 0 })
}

// noteFirstCallsAfter records how long after the outage's end the orders
// that met it were queried again: the back-off's share of the recovery
// (at most 30 s by design), plus any wait in the controllers' queue.
func (r *row) noteFirstCallsAfter(counts queryOrderCounts, end time.Time, met []string) {
	if counts.err != nil || len(met) == 0 {
		return
	}
	var worst, sum time.Duration
	never := 0
	for _, id := range met {
		first, ok := counts.First[id]
		if !ok {
			never++
			continue
		}
		wait := first.Sub(end)
		worst, sum = max(worst, wait), sum+wait
	}
	if never > 0 {
		r.violations = append(r.violations, fmt.Sprintf("%d orders that met the outage were never queried again after it", never))
	}
	if queried := len(met) - never; queried > 0 {
		r.notes = append(r.notes, fmt.Sprintf("the %d orders that met the outage were queried again %.1f s after it on average, %.1f s at worst (the back-off alone: at most 30 s)",
			queried, (sum/time.Duration(queried)).Seconds(), worst.Seconds()))
	}
}

// resolution is how long after the outage the waiting tenants resolved
// their order and became Ready.
type resolution struct {
	resolved                 int
	worstResolve, worstReady time.Duration
	err                      error
}

// resolvedAfter reads, for the scenario's tenants whose order resolved
// after end, how long after it their order resolved (OrderResolved's
// transition) and they became Ready, the worst of each.
func (h *harness) resolvedAfter(ctx context.Context, end time.Time) resolution {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := h.stack.Client.List(ctx, list); err != nil {
		return resolution{err: err}
	}
	// Transition times are stored to the second.
	from := end.Truncate(time.Second)
	var res resolution
	for _, t := range list.Items {
		if !strings.HasPrefix(t.Spec.OrderID, qorderPrefix) {
			continue
		}
		resolved := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.OrderResolvedCondition)
		ready := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
		if resolved == nil || resolved.Status != metav1.ConditionTrue || resolved.LastTransitionTime.Time.Before(from) ||
			t.CreationTimestamp.Time.After(end) {
			continue
		}
		res.resolved++
		res.worstResolve = max(res.worstResolve, resolved.LastTransitionTime.Sub(end))
		if ready != nil && ready.Status == metav1.ConditionTrue {
			res.worstReady = max(res.worstReady, ready.LastTransitionTime.Sub(end))
		}
	}
	return res
}

// noteResolution records how promptly the waiting tenants recovered.
func (r *row) noteResolution(res resolution) {
	if res.err != nil {
		r.notes = append(r.notes, "reading the tenants after the outage: "+res.err.Error())
		return
	}
	r.notes = append(r.notes, fmt.Sprintf("after Query Order answered again, the %d tenants stored before it resolved their order within %.0f s and were all Ready within %.0f s (1 s resolution): the back-off, then the controllers' queue of tenants to provision",
		res.resolved, res.worstResolve.Seconds(), res.worstReady.Seconds()))
}
