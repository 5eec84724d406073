package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestOrderRetryWaitsAsLongAsTheFailureHasLasted(t *testing.T) {
	cases := []struct {
		failingFor, want time.Duration
	}{
		{0, 2 * time.Second},
		{time.Second, 2 * time.Second},
		{2 * time.Second, 2 * time.Second},
		{5 * time.Second, 5 * time.Second},
		{16 * time.Second, 16 * time.Second},
		{30 * time.Second, 30 * time.Second},
		{2 * time.Minute, 30 * time.Second},
		{3 * time.Hour, 30 * time.Second},
		{-time.Minute, 2 * time.Second}, // a clock stepped back
	}
	for _, tc := range cases {
		t.Run(tc.failingFor.String(), func(t *testing.T) {
			NewWithT(t).Expect(orderRetry.after(tc.failingFor)).To(Equal(tc.want))
		})
	}
}

// The schedule issue 21's scenario 5 checks: at most 10 calls per order in
// a two-minute outage, and the order resolved soon after it ends, however
// long it lasted.
func TestOrderRetryScheduleOverAnOutage(t *testing.T) {
	cases := []struct {
		name string
		// reconcile is how long one attempt takes, reconcile queue included.
		reconcile time.Duration
		// statusLag is how much older the failure's start looks when read
		// back: lastTransitionTime is stored to the second.
		statusLag time.Duration
	}{
		{name: "instant attempts"},
		{name: "slow attempts", reconcile: 500 * time.Millisecond},
		{name: "start read back a second early", statusLag: time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var attempts []time.Duration
			for at := time.Duration(0); at < time.Hour; {
				attempts = append(attempts, at)
				failingFor := at
				if at > 0 {
					failingFor += tc.statusLag
				}
				at += orderRetry.after(failingFor) + tc.reconcile
			}
			inFirstTwoMinutes, longestGap := 0, time.Duration(0)
			for i, at := range attempts {
				if at < 2*time.Minute {
					inFirstTwoMinutes++
				}
				if i > 0 {
					longestGap = max(longestGap, at-attempts[i-1])
				}
			}
			g.Expect(inFirstTwoMinutes).To(BeNumerically("<=", 8), "attempts %v", attempts[:10])
			g.Expect(inFirstTwoMinutes).To(BeNumerically(">=", 6), "attempts %v", attempts[:10])
			g.Expect(longestGap).To(BeNumerically("<=", orderRetry.max+tc.reconcile))
		})
	}
}

func TestOrderFailure(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	queryErr := &queryOrderError{err: errors.New("failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error")}
	cases := []struct {
		name      string
		err       error
		since     time.Time
		wantMsg   string
		wantAfter time.Duration // 0: not a retryAfterError
	}{
		{name: "Query Order just failed", err: queryErr, since: now, wantAfter: 2 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error"},
		{name: "Query Order failing for 10 s", err: queryErr, since: now.Add(-10 * time.Second), wantAfter: 10 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1"},
		{name: "Query Order failing for an hour", err: fmt.Errorf("wrapped: %w", queryErr), since: now.Add(-time.Hour), wantAfter: 30 * time.Second,
			wantMsg: "Query Order failed"},
		{name: "no credentials: the rate limiter's", err: errors.New("failed to read the keys Secret kooper/keys"), since: now,
			wantMsg: "failed to read the keys Secret kooper/keys"},
		{name: "an unusable order: the rate limiter's", err: fmt.Errorf("%w: order CS1 has no line", errOrderUnusable), since: now,
			wantMsg: "unusable order: order CS1 has no line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			msg, err := orderFailure(tc.err, tc.since, now)
			g.Expect(msg).To(HavePrefix(tc.wantMsg))
			var retry *retryAfterError
			if tc.wantAfter == 0 {
				g.Expect(errors.As(err, &retry)).To(BeFalse())
				g.Expect(err).To(MatchError(tc.err))
				return
			}
			g.Expect(errors.As(err, &retry)).To(BeTrue())
			g.Expect(retry.after).To(Equal(tc.wantAfter))
			g.Expect(err).To(MatchError(ContainSubstring("CS1")))
		})
	}
}

func TestFailingSinceKeepsTheFailuresStart(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	started := now.Add(-90 * time.Second)
	cond := func(status metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: saasv1alpha1.OrderResolvedCondition, Status: status, LastTransitionTime: metav1.NewTime(started)}}
	}
	cases := []struct {
		name  string
		conds []metav1.Condition
		want  time.Time
	}{
		{name: "no condition: failing from now", want: now},
		{name: "resolved before: failing from now", conds: cond(metav1.ConditionTrue), want: now},
		{name: "failing already: since it turned False", conds: cond(metav1.ConditionFalse), want: started},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(failingSince(tc.conds, now)).To(Equal(tc.want))
			// Setting the condition again keeps the start of a failure.
			conds := append([]metav1.Condition(nil), tc.conds...)
			_ = recordOrderFailure(&conds, 1, now, errors.New("failing"))
			g.Expect(apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition).LastTransitionTime.Time).To(Equal(tc.want))
		})
	}
}

func TestFinishReconcile(t *testing.T) {
	retry := &retryAfterError{err: errors.New("query order failed"), after: 8 * time.Second}
	cases := []struct {
		name              string
		reconcile, status error
		wantErr           bool
		wantRequeue       time.Duration
	}{
		{name: "a paced retry requeues without an error", reconcile: retry, wantRequeue: 8 * time.Second},
		{name: "a paced retry whose status was not written is an error", reconcile: retry, status: errors.New("failed to patch"), wantErr: true},
		{name: "other failures are errors", reconcile: errors.New("failed to apply"), wantErr: true},
		{name: "no error", wantRequeue: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var result ctrl.Result
			err := finishReconcile(context.Background(), &result, tc.reconcile, tc.status)
			g.Expect(err != nil).To(Equal(tc.wantErr))
			g.Expect(result.RequeueAfter).To(Equal(tc.wantRequeue))
		})
	}
}

// Query Order down: the tenant waits with a condition that says so, its
// order is queried at a pace (the rate limiter alone would call about ten
// times in these three seconds, from 5 ms doubling), and it resolves by
// itself once the marketplace answers again.
func TestAFailingQueryOrderIsRetriedAtAPaceAndTheTenantRecoversByItself(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	var orderID string
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		orderID = tn.Spec.OrderID
		marketplace.setDown(orderID, true)
	})
	waiting := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))
	hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason)(g, waiting)
	ready := apimeta.FindStatusCondition(waiting.Status.Conditions, saasv1alpha1.ReadyCondition)
	g.Expect(ready.Message).To(And(HavePrefix("Query Order failed; retrying"), ContainSubstring(orderID), ContainSubstring("HTTP 500")))
	started := apimeta.FindStatusCondition(waiting.Status.Conditions, saasv1alpha1.OrderResolvedCondition).LastTransitionTime

	g.Consistently(func() int { return marketplace.queries(orderID) }, 3*time.Second, 100*time.Millisecond).Should(BeNumerically("<=", 4))
	still := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))
	g.Expect(apimeta.FindStatusCondition(still.Status.Conditions, saasv1alpha1.OrderResolvedCondition).LastTransitionTime).
		To(Equal(started), "the failure's start is kept: the pace survives a restart")

	marketplace.setDown(orderID, false)
	resolved := eventuallyTenant(t, tenant.Name, provisioned)
	hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, resolved)
}
