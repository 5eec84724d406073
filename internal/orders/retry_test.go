package orders

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			NewWithT(t).Expect(retry.after(tc.failingFor)).To(Equal(tc.want))
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
				at += retry.after(failingFor) + tc.reconcile
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
			g.Expect(longestGap).To(BeNumerically("<=", retry.max+tc.reconcile))
		})
	}
}

// The back-off grows with the failure (0, 2, 4, 8, 16 s after the first
// attempt) until its cap, 30 s.
func TestOrderRetryGrowsThenIsCapped(t *testing.T) {
	g := NewWithT(t)
	var waits []time.Duration
	for at := time.Duration(0); len(waits) < 8; {
		wait := retry.after(at)
		waits = append(waits, wait)
		at += wait
	}
	g.Expect(waits).To(Equal([]time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second, 30 * time.Second}))
}

// The message and the pace of a failure; the controllers' own test
// (TestRecordOrderFailureRetries) checks the error they make of it.
func TestOrderFailure(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	queryErr := &QueryError{Err: errors.New("failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error")}
	cases := []struct {
		name      string
		err       error
		since     time.Time
		wantMsg   string
		wantAfter time.Duration // 0: left to the rate limiter
	}{
		{name: "Query Order just failed", err: queryErr, since: now, wantAfter: 2 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1: marketplace answered MKT.0999 (HTTP 500): system error"},
		{name: "Query Order failing for 10 s", err: queryErr, since: now.Add(-10 * time.Second), wantAfter: 10 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1"},
		{name: "Query Order failing for an hour", err: fmt.Errorf("wrapped: %w", queryErr), since: now.Add(-time.Hour), wantAfter: 30 * time.Second,
			wantMsg: "Query Order failed"},
		{name: "no credentials: the rate limiter's", err: errors.New("failed to read the keys Secret kooper/keys"), since: now,
			wantMsg: "failed to read the keys Secret kooper/keys"},
		{name: "an unusable order: the rate limiter's", err: fmt.Errorf("%w: order CS1 has no line", ErrUnusable), since: now,
			wantMsg: "unusable order: order CS1 has no line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			msg, after := failure(tc.err, tc.since, now)
			g.Expect(msg).To(HavePrefix(tc.wantMsg))
			g.Expect(after).To(Equal(tc.wantAfter))
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
			_ = RecordFailure(&conds, 1, now, errors.New("failing"))
			g.Expect(apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition).LastTransitionTime.Time).To(Equal(tc.want))
		})
	}
}

func TestRecordFailure(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	failingFor := func(d time.Duration) []metav1.Condition {
		return []metav1.Condition{{Type: saasv1alpha1.OrderResolvedCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.OrderQueryFailedReason, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
	queryErr := &QueryError{Err: errors.New("failed to query order CS1: HTTP 500")}
	cases := []struct {
		name      string
		conds     []metav1.Condition
		err       error
		wantAfter time.Duration
		wantMsg   string
	}{
		{name: "a first Query Order failure", err: queryErr, wantAfter: 2 * time.Second,
			wantMsg: "Query Order failed; retrying at least every 30s: failed to query order CS1: HTTP 500"},
		{name: "failing for 8 s", conds: failingFor(8 * time.Second), err: queryErr, wantAfter: 8 * time.Second},
		{name: "failing for 10 minutes", conds: failingFor(10 * time.Minute), err: queryErr, wantAfter: 30 * time.Second},
		{name: "not a Query Order failure", conds: failingFor(time.Minute), err: errors.New("no keys Secret"), wantMsg: "no keys Secret"},
		{name: "a long message is cut to the condition's bound", err: errors.New(strings.Repeat("x", 40000)),
			wantMsg: strings.Repeat("x", 32768)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			conds := append([]metav1.Condition(nil), tc.conds...)
			g.Expect(RecordFailure(&conds, 7, now, tc.err)).To(Equal(tc.wantAfter))
			c := apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(saasv1alpha1.OrderQueryFailedReason))
			g.Expect(c.ObservedGeneration).To(Equal(int64(7)))
			if tc.wantMsg != "" {
				g.Expect(c.Message).To(Equal(tc.wantMsg))
			}
		})
	}
}

// Each cause of a failure has a reason of its own, so that OrderQueryFailed
// ("retried until the marketplace answers again") is said only of a
// failed Query Order call: a keys Secret missing or incomplete
// (KeysError) or an answer kooper cannot use (ErrUnusable) does not pass
// by the marketplace answering again. The retry is unchanged.
func TestRecordFailureGivesEachCauseItsReason(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		err        error
		wantReason string
		wantAfter  time.Duration
	}{
		{name: "a failed Query Order call", err: &QueryError{Err: errors.New("failed to query order CS1: HTTP 500")},
			wantReason: saasv1alpha1.OrderQueryFailedReason, wantAfter: 2 * time.Second},
		{name: "no keys Secret", err: fmt.Errorf("wrapped: %w", &KeysError{Reason: saasv1alpha1.KeysSecretNotFoundReason,
			Err: errors.New(`failed to read the keys Secret kooper/keys: secrets "keys" not found`)}),
			wantReason: saasv1alpha1.KeysSecretNotFoundReason},
		{name: "a keys Secret without the AK/SK", err: &KeysError{Reason: saasv1alpha1.KeysSecretIncompleteReason,
			Err: errors.New("the keys Secret kooper/keys lacks accessKeyId or secretAccessKey")},
			wantReason: saasv1alpha1.KeysSecretIncompleteReason},
		{name: "an unusable order", err: fmt.Errorf("%w: order CS1 has no line", ErrUnusable), wantReason: saasv1alpha1.OrderUnusableReason},
		{name: "the keys Secret unreadable for now", err: errors.New("failed to read the keys Secret kooper/keys: timeout"),
			wantReason: saasv1alpha1.OrderQueryFailedReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var conds []metav1.Condition
			g.Expect(RecordFailure(&conds, 1, now, tc.err)).To(Equal(tc.wantAfter))
			c := apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(tc.wantReason))
			g.Expect(c.Message).To(ContainSubstring(tc.err.Error()))
		})
	}
}
