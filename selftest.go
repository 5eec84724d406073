package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/selftest"
)

// selfTestCommand is the first argument that runs the self-test instead of
// the operator: the chart's `helm test` hook runs kooper's image with it.
const selfTestCommand = "self-test"

// runSelfTest is `kooper self-test`: a signed queryInstance for an
// instance that cannot exist, sent to a product's production interface,
// which must answer 000003 (internal/selftest). It returns the process's
// exit code: 0 when it does, 1 when the receiver answers otherwise or
// cannot be reached, 2 on a usage error; it writes what it saw to out.
func runSelfTest(args []string, out io.Writer) int {
	fs := flag.NewFlagSet(selfTestCommand, flag.ContinueOnError)
	fs.SetOutput(out)
	productionURL := fs.String("url", "", "The product's production interface, e.g. http://kooper.kooper-system.svc/koogallery/crm.")
	keyFile := fs.String("key-file", "", "File holding the product's basicKey (its keys Secret mounted read-only).")
	timeout := fs.Duration("timeout", 10*time.Second, "How long to wait for the answer; KooGallery waits 5 s.")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *productionURL == "" || *keyFile == "" {
		fmt.Fprintln(out, "kooper self-test: --url and --key-file are required")
		fs.Usage()
		return 2
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintf(out, "kooper self-test: failed to read the key: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := selftest.QueryUnknownInstance(ctx, http.DefaultClient, *productionURL, strings.TrimSpace(string(raw)), time.Now())
	if err != nil {
		fmt.Fprintf(out, "FAIL: %v\n", err)
		return 1
	}
	verdict := "PASS"
	if !res.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(out, "%s: queryInstance of %s answered %s %q in %s (want 000003, instance not found)\n",
		verdict, res.InstanceID, res.Code, res.Message, res.Elapsed.Round(time.Millisecond))
	if !res.OK() {
		fmt.Fprintln(out, "  000001: the key differs from the product's keys Secret; 000002: the receiver refused the request as it came (its message says why: a clock off, a URL naming no product); anything else: see the receiver's log")
		return 1
	}
	return 0
}
