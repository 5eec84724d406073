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
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/orders"
)

// The error a failure to resolve an order becomes: a failed Query Order
// call is retried after its own wait (a retryAfterError, the schedule
// internal/orders tests), anything else on the rate limiter, as it is.
func TestRecordOrderFailureRetries(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	queryErr := &orders.QueryError{Err: errors.New("failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error")}
	_, unusable := orders.Resolved(&koogallery.OrderInfo{}, &saasv1alpha1.AppliedOrder{OrderID: "CS1", OrderLineID: "CS1-000001"})
	failingFor := func(d time.Duration) []metav1.Condition {
		return []metav1.Condition{{Type: saasv1alpha1.OrderResolvedCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.OrderQueryFailedReason, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
	cases := []struct {
		name      string
		err       error
		conds     []metav1.Condition
		wantMsg   string
		wantAfter time.Duration // 0: not a retryAfterError
	}{
		{name: "Query Order just failed", err: queryErr, wantAfter: 2 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error"},
		{name: "Query Order failing for 10 s", err: queryErr, conds: failingFor(10 * time.Second), wantAfter: 10 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1"},
		{name: "Query Order failing for an hour", err: fmt.Errorf("wrapped: %w", queryErr), conds: failingFor(time.Hour), wantAfter: 30 * time.Second,
			wantMsg: "Query Order failed"},
		{name: "no credentials: the rate limiter's", err: errors.New("failed to read the keys Secret kooper/keys"),
			wantMsg: "failed to read the keys Secret kooper/keys"},
		{name: "an unusable order: the rate limiter's", err: unusable,
			wantMsg: "unusable order: order CS1 has no line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			conds := append([]metav1.Condition(nil), tc.conds...)
			err := recordOrderFailure(&conds, 1, now, tc.err)
			g.Expect(apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition).Message).To(HavePrefix(tc.wantMsg))
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
