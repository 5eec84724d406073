package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Limits the conformance run holds a receiver to.
const (
	// answerDeadline is the marketplace's shortest documented timeout (§1.6).
	answerDeadline = 5 * time.Second
	// oversizedBodyBytes is just over the receiver's default 1 MiB body cap.
	oversizedBodyBytes = 1<<20 + 1
	// staleAge is how old the stale timestamp is; the window is 60 s (§2.1.2).
	staleAge = 5 * time.Minute
	// maxInstanceIDLength is the documented length of instanceId (§3.2).
	maxInstanceIDLength = 64
)

// conformanceCommand is `conformance`.
func conformanceCommand() command {
	return command{
		name:    "conformance",
		summary: "Run the Seller Console's debug scenarios against a receiver and print a pass/fail table; exits 1 on any failure.",
		example: `  export KOOPER_SIM_KEY=test-access-key
  go run ./hack/marketplace-sim conformance --url http://127.0.0.1:8082/koogallery/crm
  # with Query Order served by a running 'serve', so kooper's controllers can resolve the orders:
  go run ./hack/marketplace-sim conformance --url http://127.0.0.1:8082/koogallery/crm --sim-url http://127.0.0.1:9099`,
		run: runConformance,
	}
}

// verdict is the outcome of one scenario.
type verdict struct {
	// result is PASS, FAIL or SKIP.
	result string
	// detail says what was seen, or why it failed.
	detail string
}

// Verdict results.
const (
	resultPass = "PASS"
	resultFail = "FAIL"
	resultSkip = "SKIP"
)

// pass, fail and skip build verdicts.
func pass(format string, args ...any) verdict {
	return verdict{resultPass, fmt.Sprintf(format, args...)}
}

// fail builds a failing verdict.
func fail(format string, args ...any) verdict {
	return verdict{resultFail, fmt.Sprintf(format, args...)}
}

// skip builds a skipped verdict.
func skip(format string, args ...any) verdict {
	return verdict{resultSkip, fmt.Sprintf(format, args...)}
}

// scenario is one row of the run.
type scenario struct {
	name string
	run  func(ctx context.Context) verdict
}

// scenarios are run in this order: the lifecycle ones use the instance of
// the purchase, so they follow it as the marketplace's calls would.
func (r *conformance) scenarios() []scenario {
	base := []scenario{
		{"new purchase", r.newPurchase},
		{"repeat purchase (same order)", r.repeatPurchase},
		{"query instance", r.queryInstance},
		{"renewal", r.renewal},
		{"renewal repeat", r.renewalRepeat},
		{"freeze", r.statusChange(koogallery.StatusFreeze)},
		{"unfreeze", r.statusChange(koogallery.StatusUnfreeze)},
		{"upgrade", r.upgrade},
		{"renewal change check", r.changeCheck},
		{"order notification", r.orderNotify},
		{"order notification repeat", r.orderNotifyRepeat},
		{"order notification without orderLineId", r.orderNotifyIncomplete},
		{"release", r.release},
		{"release repeat", r.release},
		{"unknown instance (query)", r.unknownInstanceQuery},
		{"unknown instance (freeze)", r.unknownInstanceFreeze},
		{"bad signature", r.badSignature},
		{"stale timestamp", r.staleTimestamp},
		{"replayed nonce", r.replayedNonce},
		{"malformed JSON", r.malformedJSON},
		{"oversized body", r.oversizedBody},
		{"debug flag set", r.debugPurchase(true)},
		{"debug flag absent", r.debugPurchase(false)},
	}
	base = append(base, r.kitScenarios()...)
	// Loosely typed bodies and an overlong product name (tolerance.go).
	base = append(base, r.toleranceScenarios()...)
	// URL shapes and the timestamp window's edges (routes_conformance.go).
	return append(base, r.routeScenarios()...)
}

// conformance is one run's settings and the state its scenarios share.
type conformance struct {
	m         *marketplace
	ids       *idGenerator
	debug     bool
	purchase  purchaseFlags
	sim       *simClient
	changeSKU string

	// orderID, orderLineID and instanceID are the purchase's.
	orderID, orderLineID, instanceID string
	// renewalBody is the renewal's body, re-sent by "renewal repeat".
	renewalBody callbackBody
	// extra lists the other instances the run created, released at the end.
	extra []string
	// kit sends the joint-operation calls; nil without a kit key.
	kit *kitSender
	// kitInstance is the unknown instance the kit rows sync.
	kitInstance string
	// notifiedOrder is the order of "order notification", notified again
	// by its repeat.
	notifiedOrder string
	// tolerant is the purchase of the loosely typed rows (tolerance.go).
	tolerant tolerantPurchase
}

// runConformance parses the flags, runs every scenario and prints the table.
func runConformance(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("conformance")
	var cb callbackFlags
	var kf kitFlags
	r := &conformance{ids: c.ids}
	cb.bind(fs)
	kf.bind(fs)
	r.purchase.bind(fs)
	fs.StringVar(&r.changeSKU, "change-sku", "", "target skuCode for the renewal change check; it must be a plan of the product (default: the scenario is skipped)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := cb.marketplace(c)
	if err != nil {
		return err
	}
	if err := r.purchase.validate(); err != nil {
		return err
	}
	if r.purchase.simURL != "" {
		if r.sim, err = newSimClient(r.purchase.simURL); err != nil {
			return err
		}
	}
	if r.kit, err = kf.sender(c, m); err != nil {
		return err
	}
	r.m, r.debug = m, cb.debug
	fmt.Fprintf(c.stdout, "Conformance run against %s (%s)\n\n", m.display(), testFlagNote(cb.debug))
	verdicts := r.runAll(ctx)
	printTable(c.stdout, verdicts)
	r.cleanUp(ctx, c.stdout)
	return summarize(c.stdout, verdicts)
}

// testFlagNote says how the lifecycle scenarios mark their requests.
func testFlagNote(debug bool) string {
	if debug {
		return `requests carry testFlag "1", as the Seller Console's debugger sends`
	}
	return "requests carry no testFlag, as production callbacks; add --debug to send testFlag \"1\""
}

// namedVerdict pairs a scenario's name with its verdict.
type namedVerdict struct {
	name string
	verdict
}

// runAll runs the scenarios in order.
func (r *conformance) runAll(ctx context.Context) []namedVerdict {
	var out []namedVerdict
	for _, s := range r.scenarios() {
		v := s.run(ctx)
		if ctx.Err() != nil {
			v = fail("interrupted: %v", ctx.Err())
		}
		out = append(out, namedVerdict{s.name, v})
	}
	return out
}

// printTable writes the aligned SCENARIO | RESULT | DETAIL table.
func printTable(w io.Writer, verdicts []namedVerdict) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\t| RESULT\t| DETAIL")
	for _, v := range verdicts {
		fmt.Fprintf(tw, "%s\t| %s\t| %s\n", v.name, v.result, oneLine(v.detail))
	}
	_ = tw.Flush()
}

// summarize writes the counts and returns errReported on any failure.
func summarize(w io.Writer, verdicts []namedVerdict) error {
	counts := map[string]int{}
	for _, v := range verdicts {
		counts[v.result]++
	}
	fmt.Fprintf(w, "\n%d passed, %d failed", counts[resultPass], counts[resultFail])
	if counts[resultSkip] > 0 {
		fmt.Fprintf(w, " (%d skipped)", counts[resultSkip])
	}
	fmt.Fprintln(w)
	if counts[resultFail] > 0 {
		return errReported
	}
	return nil
}

// oneLine keeps a table cell on one line and reasonably short.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return clip(s, 200)
}

// cleanUp releases the instances the debug-flag scenarios created, so a
// run against a deployment leaves nothing active behind.
func (r *conformance) cleanUp(ctx context.Context, w io.Writer) {
	released := 0
	for _, id := range r.extra {
		if _, problem := r.expect(ctx, releaseInstanceBody(id, "", "", r.debug), successCodes...); problem != "" {
			fmt.Fprintf(w, "\nCleanup: could not release %s: %s\n", id, problem)
			continue
		}
		released++
	}
	if released > 0 {
		fmt.Fprintf(w, "\nCleanup: released %d more instance(s) the run created.\n", released)
	}
}

// expect signs b now and sends it; see expectRequest.
func (r *conformance) expect(ctx context.Context, b callbackBody, want ...string) (*answer, string) {
	req, err := r.m.sign(b)
	if err != nil {
		return nil, err.Error()
	}
	return r.expectRequest(ctx, req, want...)
}

// expectRequest sends req and returns the answer and, when it is not what
// the marketplace needs, why: the envelope every answer must have, an
// answer within 5 s, and one of the wanted result codes.
func (r *conformance) expectRequest(ctx context.Context, req signedRequest, want ...string) (*answer, string) {
	a, err := r.m.send(ctx, req)
	if err != nil {
		return nil, err.Error()
	}
	return a, answerProblem(a, want...)
}

// answerProblem says why a is not what the marketplace needs: the envelope
// every answer must have, an answer within 5 s, and one of the wanted
// result codes. It returns "" when all hold.
func answerProblem(a *answer, want ...string) string {
	if problem := a.envelopeProblem(); problem != "" {
		return problem
	}
	if a.elapsed > answerDeadline {
		return fmt.Sprintf("answered in %s; the marketplace may give up after %s", roundDuration(a.elapsed), answerDeadline)
	}
	if !slices.Contains(want, a.code()) {
		return fmt.Sprintf("got %s, want %s", a.codeAndMessage(), strings.Join(want, " or "))
	}
	return ""
}

// registerOrder registers an order on the simulator when --sim-url is set,
// so that kooper's Query Order resolves it.
func (r *conformance) registerOrder(ctx context.Context, orderID, orderType, expireTime string) error {
	if r.sim == nil {
		return nil
	}
	return r.sim.register(ctx, r.purchase.registration(orderID, firstLine(orderID), orderType, expireTime))
}

// needInstance fails the scenarios that need the purchase's instance when
// the purchase did not produce one.
func (r *conformance) needInstance() (verdict, bool) {
	if r.instanceID == "" {
		return fail("needs the instance of \"new purchase\", which failed"), false
	}
	return verdict{}, true
}

// doneWith passes a scenario whose answer was as wanted, or fails it. A
// refusal's message is shown, since it says which check refused.
func doneWith(a *answer, problem string) verdict {
	if problem != "" {
		return fail("%s", problem)
	}
	if a.code() == string(koogallery.ResultSuccess) {
		return pass("%s in %s", a.code(), formatElapsed(a.elapsed))
	}
	return pass("%s in %s", a.codeAndMessage(), formatElapsed(a.elapsed))
}

// formatElapsed writes an answer time in whole milliseconds.
func formatElapsed(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return roundDuration(d).String()
}

// checkAppInfo checks an appInfo the way the marketplace would use it: a
// front-end URL, and credentials that decrypt with the key and fit 128
// characters (§3.2, §4.1). It returns "" when all hold.
func checkAppInfo(key, encryptType string, app *appInfo) string {
	if app.FrontEndURL == "" {
		return "appInfo has no frontEndUrl"
	}
	for _, cred := range []struct{ name, value string }{{"userName", app.UserName}, {"password", app.Password}} {
		if utf8.RuneCountInString(cred.value) > koogallery.MaxCredentialLength {
			return fmt.Sprintf("appInfo.%s is longer than %d characters", cred.name, koogallery.MaxCredentialLength)
		}
	}
	if _, err := decryptAppInfo(key, encryptType, app); err != nil {
		return "appInfo " + err.Error()
	}
	return ""
}

// appInfoNote describes the appInfo of instanceID in a passing answer.
func appInfoNote(a *answer, instanceID string) string {
	if a.appInfos()[instanceID] == nil {
		return "appInfo pending"
	}
	return "appInfo decrypts"
}
