package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBenchmark is one line of go test -bench output.
type goBenchmark struct {
	Name    string
	Metrics map[string]float64 // unit → value, e.g. "ns/op"
}

// goBenchRuns are the go benchmarks the report includes: the receiver's
// overhead next to a bare handler, 200 tenants through the controller next
// to direct creates, each pair run in one process, the API server's CPU
// per kind of request a tenant sends, what one pass of a settled tenant
// costs (a restart's per tenant), and what the informers hold per tenant
// with and without kooper's cache transform.
var goBenchRuns = [][]string{
	{"-bench=.", "-benchmem", "./webhook"},
	{"-bench=200Tenants", "-benchtime=1x", "./controllers"},
	{"-bench=SettledTenantPass", "-benchmem", "./controllers"},
	{"-bench=APIServerCPU", "-benchtime=1x", "./api/v1alpha1"},
	{"-bench=CachedTenantObjects", "-benchtime=1x", "./internal/intern"},
}

// runGoBenchmarks runs go test -bench and parses its output; the output
// also goes to stderr as it comes.
func runGoBenchmarks(ctx context.Context, root string) ([]goBenchmark, error) {
	var all []goBenchmark
	for _, args := range goBenchRuns {
		cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-run=^$", "-count=1", "-timeout=15m"}, args...)...)
		cmd.Dir = root
		var out strings.Builder
		cmd.Stdout = &teeWriter{&out}
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return all, fmt.Errorf("go test %s: %w", strings.Join(args, " "), err)
		}
		all = append(all, parseGoBench(out.String())...)
	}
	return all, nil
}

// teeWriter copies to stderr what it collects, so a long run shows progress.
type teeWriter struct{ b *strings.Builder }

func (t *teeWriter) Write(p []byte) (int, error) {
	_, _ = os.Stderr.Write(p)
	return t.b.Write(p)
}

// parseGoBench reads "BenchmarkX-2  N  v unit  v unit ..." lines. A
// benchmark that logs to stdout splits its line: the name comes first, the
// figures after the log lines, so a name without figures waits for them.
func parseGoBench(out string) []goBenchmark {
	var res []goBenchmark
	pending := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
			pending, f = strings.TrimPrefix(f[0], "Benchmark"), f[1:]
		}
		if pending == "" || len(f) < 3 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		b := goBenchmark{Name: pending, Metrics: map[string]float64{}}
		for i := 1; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				b.Metrics[f[i+1]] = v
			}
		}
		res = append(res, b)
		pending = ""
	}
	return res
}
