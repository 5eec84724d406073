package orders

import (
	"errors"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/textcut"
)

// retry paces the Query Order calls for an order that keeps failing
// (issue 21, scenario 5). The controllers' rate limiter would retry from
// 5 ms, doubling up to a minute (controllers' retryMaxDelay; 1000 s, a
// quarter of an hour, when this was written): a dozen calls in the first
// 20 seconds of an outage, then a tenant left waiting up to that long
// after the marketplace is back. docs/reliability.md states the
// schedule.
var retry = backoff{initial: 2 * time.Second, max: 30 * time.Second}

// backoff is a retry schedule that follows how long a failure has lasted.
type backoff struct {
	// initial is the shortest wait between two attempts.
	initial time.Duration
	// max is the longest: how late, at worst, the first attempt after
	// the failure ends comes.
	max time.Duration
}

// after is the wait before the next attempt when the failure has lasted
// failingFor: as long again, within [initial, max]. From the first
// failure, attempts come at 0, 2, 4, 8, 16 and 32 s, then every 30 s: 8 in
// the first two minutes, 2 a minute after that. The failure's start is
// recorded on the object (the condition's lastTransitionTime), so the pace
// survives a restart or a change of leader.
func (b backoff) after(failingFor time.Duration) time.Duration {
	return min(max(failingFor, b.initial), b.max)
}

// failure is what a failure to resolve an order becomes: the message of
// the OrderResolved=False condition, and the wait before the next attempt.
// A failed Query Order call (a QueryError) is retried on retry, counted
// from since (when the order started failing); any other failure (the
// keys Secret unreadable, an order without the line) gets 0: the
// controller's rate limiter retries it, or what it waits for changing.
func failure(err error, since, now time.Time) (msg string, after time.Duration) {
	var queryErr *QueryError
	if !errors.As(err, &queryErr) {
		return err.Error(), 0
	}
	msg = fmt.Sprintf("Query Order failed; retrying at least every %s: %v", retry.max, err)
	return msg, retry.after(now.Sub(since))
}

// KeysError is a failure to resolve an order before Query Order is asked:
// the product's keys Secret is missing (Reason
// saasv1alpha1.KeysSecretNotFoundReason) or lacks the AK/SK
// (KeysSecretIncompleteReason). The caller wraps its error in it, so that
// RecordFailure gives the reason; its message is Err's.
type KeysError struct {
	// Reason is the OrderResolved reason, one of the two above.
	Reason string
	// Err is the caller's error.
	Err error
}

func (e *KeysError) Error() string { return e.Err.Error() }
func (e *KeysError) Unwrap() error { return e.Err }

// failingSince is when the OrderResolved condition turned False, or now
// when it is not False: the start of the order's failure.
func failingSince(conds []metav1.Condition, now time.Time) time.Time {
	c := apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.LastTransitionTime.IsZero() {
		return now
	}
	return c.LastTransitionTime.Time
}

// failureReason is the OrderResolved reason of err: a KeysError's own,
// OrderUnusable for an answer kooper cannot use (ErrUnusable), and
// OrderQueryFailed for a failed Query Order call and anything else (a
// keys Secret that cannot be read for now), which a retry may mend.
func failureReason(err error) string {
	var keysErr *KeysError
	var queryErr *QueryError
	switch {
	case errors.As(err, &queryErr):
		return saasv1alpha1.OrderQueryFailedReason
	case errors.As(err, &keysErr):
		return keysErr.Reason
	case errors.Is(err, ErrUnusable):
		return saasv1alpha1.OrderUnusableReason
	}
	return saasv1alpha1.OrderQueryFailedReason
}

// RecordFailure records err, a failure to resolve a tenant's or licence's
// order, on conds: OrderResolved=False for generation, with err's message
// (at most 32768 bytes) and, as its lastTransitionTime, the start of the
// failure (kept from a False condition already there, else now). Its
// reason says the cause: KeysSecretNotFound or KeysSecretIncomplete (err
// wraps a KeysError), OrderUnusable (err wraps ErrUnusable), else
// OrderQueryFailed. It returns how long to wait before asking again: for a
// failed Query Order call (err wraps a QueryError), as long as the failure
// has lasted, at least 2 s and at most 30 s (docs/reliability.md, scenario
// 5), and the message says so; for any other failure 0, which leaves the
// retry to the controller's rate limiter.
func RecordFailure(conds *[]metav1.Condition, generation int64, now time.Time, err error) (retryAfter time.Duration) {
	since := failingSince(*conds, now)
	msg, after := failure(err, since, now)
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: saasv1alpha1.OrderResolvedCondition, Status: metav1.ConditionFalse,
		Reason: failureReason(err), Message: textcut.Bytes(msg, 32768), ObservedGeneration: generation,
		LastTransitionTime: metav1.NewTime(since)})
	return after
}
