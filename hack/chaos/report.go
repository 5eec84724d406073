package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// A row is one scenario's line of the report.
type row struct {
	name string
	// setup says what the scenario ran: purchases, pace, the fault's size.
	setup   string
	verdict verdict
	// answeredInFault counts callbacks answered (or failed) within the
	// fault's window; failedInFault those answered other than 000000.
	answeredInFault, failedInFault int
	inFlight                       inFlight
	unacknowledged                 int
	// recovery runs from the fault's start until every order sent before
	// its end is acknowledged and its tenant Ready.
	recovery time.Duration
	// injectionErr is set when the fault could not be injected as meant.
	injectionErr string
	// violations are broken guarantees a scenario checks beyond lost and
	// duplicated orders (e.g. Query Order called too often); any fails it.
	violations []string
	notes      []string
}

// touched reports whether the fault overlapped traffic: something was in
// flight when it hit, and callbacks were answered during it.
func (r row) touched() bool {
	return r.inFlight.total() > 0 && r.answeredInFault > 0
}

func (r row) pass() bool {
	return r.injectionErr == "" && r.touched() && len(r.verdict.lost) == 0 && len(r.verdict.duplicated) == 0 && len(r.violations) == 0
}

func (r row) summary() string {
	status := "PASS"
	if !r.pass() {
		status = "FAIL"
	}
	return fmt.Sprintf("%s: %d callbacks, %d acknowledged, %d stored, %d lost, %d duplicated, %d answered ≠000000 in the fault, in flight %s, recovery %s",
		status, r.verdict.callbacks, r.verdict.acknowledged, r.verdict.stored, len(r.verdict.lost), len(r.verdict.duplicated),
		r.failedInFault, r.inFlight, r.recovery.Round(100*time.Millisecond))
}

// renderReport writes bin/chaos/report.md: the table, then each row's
// notes and any lost or duplicated order.
func renderReport(rows []row, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kooper chaos report\n\n")
	fmt.Fprintf(&b, "%s; 2 receiver and 2 leader-elected controllers processes, the chart's arguments, each as its ServiceAccount; "+
		"%d CPUs; %s in all.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), took.Round(time.Second))
	b.WriteString("| scenario | callbacks sent | answered ≠000000 during the fault | in flight at the fault | acknowledged | stored | lost | duplicated | recovery | result |\n")
	b.WriteString("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		status := "PASS"
		if !r.pass() {
			status = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %d | %d of %d | %s | %d | %d | %d | %d | %.1f s | %s |\n",
			r.name, r.verdict.callbacks, r.failedInFault, r.answeredInFault, r.inFlight, r.verdict.acknowledged,
			r.verdict.stored, len(r.verdict.lost), len(r.verdict.duplicated), r.recovery.Seconds(), status)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "## %s\n\n", r.name)
		if r.setup != "" {
			fmt.Fprintf(&b, "- Set-up: %s\n", r.setup)
		}
		if r.injectionErr != "" {
			fmt.Fprintf(&b, "- Failed injection: %s\n", r.injectionErr)
		}
		if !r.touched() {
			b.WriteString("- The fault did not overlap traffic (nothing in flight, or no callback answered during it): a failed injection, not a pass.\n")
		}
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if r.unacknowledged > 0 {
			fmt.Fprintf(&b, "- %d of %d orders were still unacknowledged at the scenario's deadline (KooGallery would go on retrying).\n", r.unacknowledged, r.verdict.sent)
		}
		listSome(&b, "Violated", r.violations)
		listSome(&b, "Lost", r.verdict.lost)
		listSome(&b, "Duplicated", r.verdict.duplicated)
		b.WriteString("\n")
	}
	return b.String()
}

// listSome lists the first ten items of a kind.
func listSome(b *strings.Builder, kind string, items []string) {
	for i, it := range items {
		if i == 10 {
			fmt.Fprintf(b, "- … and %d more\n", len(items)-10)
			return
		}
		fmt.Fprintf(b, "- %s: %s\n", kind, it)
	}
}
