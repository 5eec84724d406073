package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pollOptions say how to wait for appInfo after newInstance.
type pollOptions struct {
	// wait is how long to wait, counted from start.
	wait time.Duration
	// interval is the time between queryInstance polls; the marketplace's
	// interval is not documented, so 1 s by default.
	interval time.Duration
	// start is when newInstance was sent.
	start time.Time
	// debug marks the polls as debug requests, like the purchase.
	debug bool
}

// errWaitOver means the wait ended before appInfo arrived.
var errWaitOver = errors.New("the wait is over")

// waitForAppInfo does what the marketplace does after an asynchronous
// newInstance (§1.5): poll queryInstance until the instance's appInfo
// arrives, then report how long it took. A newInstance answer that already
// holds appInfo needs no poll.
func (c *cli) waitForAppInfo(ctx context.Context, m *marketplace, purchase *answer, opts pollOptions) error {
	instanceID := purchase.body.InstanceID
	if app := purchase.appInfos()[instanceID]; app != nil {
		fmt.Fprintf(c.stdout, "\nappInfo arrived with the newInstance answer, after %s\n", roundDuration(time.Since(opts.start)))
		return nil
	}
	deadline := opts.start.Add(opts.wait)
	// Requests are cut at the deadline too, so --wait bounds the whole run.
	pollCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	fmt.Fprintf(c.stdout, "\nPolling queryInstance for %s every %s for up to %s\n", instanceID, opts.interval, opts.wait)
	last := ""
	for attempt := 1; ; attempt++ {
		if err := sleepUntil(ctx, time.Now().Add(opts.interval), deadline); err != nil {
			if errors.Is(err, errWaitOver) {
				return timeoutError(instanceID, opts.wait, attempt-1, last)
			}
			return err
		}
		found, summary, err := c.pollOnce(pollCtx, m, instanceID, attempt, opts)
		if err != nil || found {
			return err
		}
		if ctx.Err() == nil && pollCtx.Err() != nil && last != "" {
			// The deadline, not an interrupt, cut this query short: the
			// last answer is the one before it.
			return timeoutError(instanceID, opts.wait, attempt-1, last)
		}
		last = summary
	}
}

// timeoutError says that appInfo did not come within wait, and what the
// last answer was.
func timeoutError(instanceID string, wait time.Duration, queries int, last string) error {
	if queries == 0 {
		return fmt.Errorf("no appInfo for %s within %s: the newInstance answer alone took longer and had none", instanceID, wait)
	}
	return fmt.Errorf("no appInfo for %s after %s (%s); last answer: %s", instanceID, wait, queryCount(queries), last)
}

// pollOnce sends one queryInstance and reports whether appInfo arrived,
// with a summary of the answer. It prints one line per poll, and the whole
// answer once appInfo is there.
func (c *cli) pollOnce(ctx context.Context, m *marketplace, instanceID string, attempt int, opts pollOptions) (bool, string, error) {
	req, err := m.sign(queryInstanceBody(instanceID, opts.debug))
	if err != nil {
		return false, "", err
	}
	a, err := m.send(ctx, req)
	elapsed := roundDuration(time.Since(opts.start))
	if err != nil {
		// The marketplace keeps polling through failures; so does this.
		fmt.Fprintf(c.stdout, "  query %d at %s: %v\n", attempt, elapsed, err)
		return false, err.Error(), nil
	}
	app := a.appInfos()[instanceID]
	if app == nil {
		summary := a.codeAndMessage() + ", appInfo pending"
		fmt.Fprintf(c.stdout, "  query %d at %s: %s\n", attempt, elapsed, summary)
		return false, summary, nil
	}
	printAnswer(c.stdout, a, m.key, m.showCredentials)
	if problem := a.envelopeProblem(); problem != "" {
		return true, "", fmt.Errorf("appInfo arrived after %s, but the marketplace would not accept the answer: %s", elapsed, problem)
	}
	if _, err := decryptAppInfo(m.key, a.body.EncryptType, app); err != nil {
		return true, "", fmt.Errorf("appInfo arrived after %s, but %w", elapsed, err)
	}
	fmt.Fprintf(c.stdout, "\nappInfo arrived after %s (%s)\n", elapsed, queryCount(attempt))
	return true, "", nil
}

// sleepUntil waits until next, or returns errWaitOver once deadline comes
// first, or ctx's error when it ends.
func sleepUntil(ctx context.Context, next, deadline time.Time) error {
	if !next.Before(deadline) {
		next = deadline
	}
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	if !time.Now().Before(deadline) {
		return errWaitOver
	}
	return nil
}

// roundDuration rounds d for output.
func roundDuration(d time.Duration) time.Duration {
	return d.Round(timeRounding(d))
}

// queryCount is n queries in words: "1 query", "3 queries".
func queryCount(n int) string {
	if n == 1 {
		return "1 query"
	}
	return fmt.Sprintf("%d queries", n)
}
