package lifecycle

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// internalRetries is how often a 000005 is retried, as the marketplace
// retries it, before the test gives up.
const internalRetries = 5

// instanceIDPattern is "i-" and 20 hex digits (docs/lifecycle.md, Terms).
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{20}$`)

// deliver sends cb as st says and checks the answers against the model,
// then, unless st is hurried, what the API server holds.
func (s *sequence) deliver(label string, cb Callback, st step) {
	if st.via == viaLost {
		s.t.Logf("%s %s: lost on the way", label, describe(cb))
		s.lost = append(s.lost, cb)
		return
	}
	// Applying once is right for both of a concurrent pair too: a callback
	// applied twice changes nothing more and answers the same.
	want := s.model.Apply(cb, time.Now())
	targets := []*running{managerA}
	switch st.via {
	case viaB:
		targets = []*running{managerB}
	case viaBoth:
		targets = []*running{managerA, managerB}
	}
	answers := s.sendTo(targets, cb)
	s.delivered++
	s.t.Logf("%s %s → %s", label, describe(cb), summary(targets, answers))
	line := s.lineOfCallback(cb)
	for i, a := range answers {
		s.checkAnswer(targets[i].name, line, cb, want, a)
	}
	if want.NewID {
		s.issue(line, cb, answers)
	}
	s.pending = append(s.pending, fmt.Sprintf("%s of line %d (%s)", cb.Activity, line, want.Rule))
	// Even a hurried step waits for a deleted product to go once nothing
	// holds it: the next answer depends on it.
	s.syncProduct()
	if !st.hurried {
		s.checkStored()
	}
}

// fail ends the sequence. rapid replays a failure, and shrinks it, only
// while its message repeats word for word, so the message names lines,
// codes and drawn values only; IDs, ports and timings, which differ from
// run to run, go to the log as detail.
func (s *sequence) fail(detail, format string, args ...any) {
	if detail != "" {
		s.t.Logf("detail: %s", detail)
	}
	// rapid prints the log of its last replay only, which may not fail:
	// the first failure's own words go to stderr too.
	fmt.Fprintf(os.Stderr, "lifecycle: sequence %s failed: %s (detail: %s)\n", s.prefix, fmt.Sprintf(format, args...), detail)
	s.t.Fatalf(format, args...)
}

// lineOfCallback is the line a callback is for, for messages.
func (s *sequence) lineOfCallback(cb Callback) int {
	if cb.Activity == NewInstance {
		return slices.IndexFunc(s.purchases, func(p Order) bool { return LineOf(p) == LineOf(*cb.Order) })
	}
	for i, p := range s.purchases {
		if inst := s.model.Instance(LineOf(p)); cb.InstanceID == s.unissued[i] || (inst != nil && inst.ID == cb.InstanceID) {
			return i
		}
	}
	return -1
}

// local names an order of the sequence by its number, the same in every replay.
func (s *sequence) local(orderID string) string {
	if n, ok := strings.CutPrefix(orderID, s.prefix); ok {
		return "#" + n
	}
	return orderID
}

// sendTo sends cb to every target at once, each with its own signature.
func (s *sequence) sendTo(targets []*running, cb Callback) []answer {
	answers := make([]answer, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Go(func() { answers[i], errs[i] = sendRetrying(s.t.Context(), target.url, s.product, cb) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			s.fail(err.Error(), "sending %s to receiver %s failed", cb.Activity, targets[i].name)
		}
	}
	return answers
}

// shedRetryAfter is how long a callback the receiver shed waits before it
// is sent again: the marketplace comes back minutes later (spec §1.7); the
// receiver's budget of reads for requests not yet authenticated refills
// one every 50 ms, and a verification slot frees in less.
const shedRetryAfter = 100 * time.Millisecond

// sendRetrying sends cb until the answer is not 000005, as the marketplace
// retries an internal error; each retry is signed afresh, and one the
// receiver shed (an answer that ends "; retry") after shedRetryAfter.
func sendRetrying(ctx context.Context, receiverURL string, p product, cb Callback) (answer, error) {
	for range internalRetries - 1 {
		a, err := send(ctx, receiverURL, p, cb)
		if err != nil || a.Code != "000005" {
			return a, err
		}
		if strings.HasSuffix(a.Msg, "; retry") {
			select {
			case <-time.After(shedRetryAfter):
			case <-ctx.Done():
				return a, ctx.Err()
			}
		}
	}
	return send(ctx, receiverURL, p, cb)
}

func summary(targets []*running, answers []answer) string {
	parts := make([]string, len(answers))
	for i, a := range answers {
		parts[i] = targets[i].name + " " + a.Code
		if a.InstanceID != "" {
			parts[i] += " " + a.InstanceID
		}
	}
	return strings.Join(parts, ", ")
}

// checkAnswer holds one answer to the model's.
func (s *sequence) checkAnswer(receiver string, line int, cb Callback, want Answer, a answer) {
	detail := fmt.Sprintf("receiver %s answered %s: %q", receiver, a.Code, a.Msg)
	if a.Code == NotFound && s.issued[cb.InstanceID] {
		s.fail(detail, "invariant 4: receiver %s answered 000003 to %s of line %d, whose ID kooper issued; the model says %s by %s",
			receiver, cb.Activity, line, want.Code, want.Rule)
	}
	if a.Code != want.Code {
		s.fail(detail, "receiver %s answered %s to %s of line %d; the model says %s by %s", receiver, a.Code, cb.Activity, line, want.Code, want.Rule)
	}
	if a.Code != Success {
		return
	}
	switch cb.Activity {
	case NewInstance:
		if !want.NewID && a.InstanceID != want.InstanceID {
			s.fail(fmt.Sprintf("%s issued %s", a.InstanceID, want.InstanceID),
				"receiver %s answered newInstance of line %d with an ID other than the one issued for it", receiver, line)
		}
		if want.NoAppInfo && hasAppInfo(a.AppInfo) {
			s.fail("", "receiver %s answered newInstance of line %d with appInfo; the model forbids it by %s", receiver, line, want.Rule)
		}
	case QueryInstance:
		i := slices.IndexFunc(a.Info, func(e instanceAnswer) bool { return e.InstanceID == want.InstanceID })
		if i < 0 {
			s.fail(detail, "receiver %s answered queryInstance of line %d without an info entry for it (%s)", receiver, line, want.Rule)
		}
		if want.NoAppInfo && hasAppInfo(a.Info[i].AppInfo) {
			s.fail("", "receiver %s answered queryInstance of line %d with appInfo; the model forbids it by %s", receiver, line, want.Rule)
		}
	}
}

func hasAppInfo(raw []byte) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// issue learns the ID kooper issued for a new order line: the page says how
// it is derived, not its exact bytes, so the model takes it from the
// answer, once it is well-formed and new.
func (s *sequence) issue(line int, cb Callback, answers []answer) {
	id := answers[0].InstanceID
	for _, a := range answers[1:] {
		if a.InstanceID != id {
			s.fail(id+" and "+a.InstanceID, "concurrent newInstance of line %d issued two IDs", line)
		}
	}
	if !instanceIDPattern.MatchString(id) {
		s.fail(id, "newInstance of line %d issued an ID that is not i- and 20 hex digits", line)
	}
	if s.issued[id] {
		s.fail(id, "newInstance of line %d issued the ID of another order line", line)
	}
	s.issued[id] = true
	s.model.Issue(LineOf(*cb.Order), id)
}
