package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"k8s.io/client-go/rest"
)

// saveProfile fetches a Go profile (name: heap, profile, ...) from the
// process whose metrics endpoint is metricsURL (started with --profiling)
// and writes it to file under the bench's output directory, for
// `go tool pprof`. The query is the profile's, e.g. "gc=1".
func (b *bench) saveProfile(ctx context.Context, metricsURL, name, query, file string) error {
	url := strings.TrimSuffix(metricsURL, "/metrics") + "/debug/pprof/" + name
	if query != "" {
		url += "?" + query
	}
	return b.download(ctx, &http.Client{Timeout: 5 * time.Minute}, url, file)
}

// download writes what a GET of url answers to file under the bench's
// output directory; an answer other than 200 OK is an error.
func (b *bench) download(ctx context.Context, client *http.Client, url, file string) error {
	body, err := get(ctx, client, url)
	if err != nil {
		return err
	}
	defer func() { _ = body.Close() }()
	out, err := os.Create(filepath.Join(b.cfg.out, file))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, body); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// profileCPU records the CPU profile of the kooper process whose metrics
// endpoint is metricsURL (the controllers' or the receiver's) from now
// until the returned stop is called (wholeWayProfile), into file, in the
// background; stop blocks until it is written and logs a failure rather
// than failing the run.
func (b *bench) profileCPU(ctx context.Context, metricsURL, file string) (stop func()) {
	url := cpuProfileURL(strings.TrimSuffix(metricsURL, "/metrics"))
	finish := b.profileUntilStopped(ctx, &http.Client{Timeout: profileChunk + time.Minute}, url, file)
	return func() {
		if err := finish(); err != nil {
			logf("No CPU profile for %s: %v", file, err)
		}
	}
}

// profileAPIServer records kube-apiserver's CPU profile (its own
// /debug/pprof, read as the cluster's admin) from now until the returned
// wait is called, into file, in the background: where the API server's time
// goes for one way of provisioning against another. The profile covers the
// whole way (wholeWayProfile), so its shares by part are those of the CPU
// per tenant the report applies them to. The returned wait, called once the
// way has ended, blocks until the profile is written and returns the API
// server's requests per tenant of the way's n (countAPIServerRequests) from
// now until the profile ended, and the shares of the profile's CPU by part
// of the API server's work (apiServerCPUShares; nil without a profile).
func (b *bench) profileAPIServer(ctx context.Context, file string, n int) (wait func() (requests, cpu map[string]float64)) {
	b.collectAPIServerGarbage(ctx) // before the profile, not in it
	counted := b.countAPIServerRequests(ctx)
	httpClient, host, err := b.apiServerDebugClient(profileChunk + time.Minute)
	if err != nil {
		logf("No CPU profile of kube-apiserver: %v", err)
		return func() (map[string]float64, map[string]float64) { return counted(n), nil }
	}
	finish := b.profileUntilStopped(ctx, httpClient, cpuProfileURL(host), file)
	return func() (map[string]float64, map[string]float64) {
		var cpu map[string]float64
		if err := finish(); err != nil {
			logf("No CPU profile of kube-apiserver: %v", err)
		} else if cpu, err = apiServerCPUShares(filepath.Join(b.cfg.out, file)); err != nil {
			logf("kube-apiserver's CPU profile not split by part: %v", err)
		}
		return counted(n), cpu
	}
}

// profileFirstRound profiles the API server for the way of the first
// round only, as profileAPIServer does; in later rounds (first false) the
// returned wait returns nils at once.
func (b *bench) profileFirstRound(ctx context.Context, first bool, file string, n int) (wait func() (requests, cpu map[string]float64)) {
	if !first {
		return func() (map[string]float64, map[string]float64) { return nil, nil }
	}
	return b.profileAPIServer(ctx, file, n)
}

// collectAPIServerGarbage has kube-apiserver collect its garbage before a
// way starts (a heap profile with gc=1, thrown away), unless it did less
// than collectedRecently ago (the way's profile asked first), so that every
// way starts from the same state of the collector. With tens of thousands
// of objects in its caches, one cycle of its collector marked for 3-4.6 s
// of CPU (runs A and B of 2026-12-04), against the 10-20 s a way of 150
// chart tenants spends: in A the direct creates started where they had no
// cycle at all, and kooper's and the record's ways one each. Each way of run
// C, collected before, still had its cycles (2.8-6.2 s): the ways allocate
// as much as the API server holds, so this removes the chance of where a way
// starts, not the collector's cost.
func (b *bench) collectAPIServerGarbage(ctx context.Context) {
	if time.Since(b.collectedAt) < collectedRecently {
		return
	}
	start := time.Now()
	httpClient, host, err := b.apiServerDebugClient(2 * time.Minute)
	if err == nil {
		err = b.discard(ctx, httpClient, host+"/debug/pprof/heap?gc=1")
	}
	if err != nil {
		logf("kube-apiserver did not collect its garbage before the way: %v", err)
	} else {
		logf("kube-apiserver collected its garbage in %s", time.Since(start).Round(10*time.Millisecond))
	}
	b.collectedAt = time.Now()
}

// apiServerDebugClient is an HTTP client, as the bench's admin, for
// kube-apiserver's /debug/pprof endpoints, whose requests time out after
// timeout, and the API server's address without a trailing slash.
func (b *bench) apiServerDebugClient(timeout time.Duration) (*http.Client, string, error) {
	cfg := rest.CopyConfig(b.restConfig)
	cfg.Timeout = timeout
	httpClient, err := rest.HTTPClientFor(cfg)
	return httpClient, strings.TrimSuffix(cfg.Host, "/"), err
}

// apiServerMetricsClient is an HTTP client, as the bench's admin, and the
// URL of kube-apiserver's /metrics.
func (b *bench) apiServerMetricsClient() (*http.Client, string, error) {
	httpClient, err := rest.HTTPClientFor(b.restConfig)
	return httpClient, strings.TrimSuffix(b.restConfig.Host, "/") + "/metrics", err
}

// collectedRecently: a collection this recent is not asked for again.
const collectedRecently = 30 * time.Second

// discard GETs url and reads its answer to the end; an answer other than
// 200 OK is an error.
func (b *bench) discard(ctx context.Context, client *http.Client, url string) error {
	body, err := get(ctx, client, url)
	if err != nil {
		return err
	}
	defer func() { _ = body.Close() }()
	_, err = io.Copy(io.Discard, body)
	return err
}

// get GETs url and returns the body of a 200 OK answer, for the caller to
// close; any other answer is an error.
func get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// profileChunk is the length of each of the CPU profiles wholeWayProfile
// merges: a profile ends at most this long after its way.
const profileChunk = 5 * time.Second

// cpuProfileURL is the address of a profileChunk-long CPU profile of the
// Go process whose /debug/pprof is under base.
func cpuProfileURL(base string) string {
	return fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(profileChunk.Seconds()))
}

// profileUntilStopped takes the CPU profiles url serves (each
// profileChunk long) from now until the returned stop is called, and
// writes them merged (wholeWayProfile) to file under the bench's output
// directory, in the background. stop blocks until the file is written and
// returns what failed, if anything did.
func (b *bench) profileUntilStopped(ctx context.Context, client *http.Client, url, file string) (stop func() error) {
	stopped, done := make(chan struct{}), make(chan error, 1)
	go func() {
		p, err := wholeWayProfile(ctx, stopped, func(ctx context.Context) (*profile.Profile, error) {
			body, err := get(ctx, client, url)
			if err != nil {
				return nil, err
			}
			defer func() { _ = body.Close() }()
			return profile.Parse(body)
		})
		if err == nil {
			err = b.writeProfile(p, file)
		}
		done <- err
	}()
	return func() error {
		close(stopped)
		return <-done
	}
}

// writeProfile writes p to file under the bench's output directory.
func (b *bench) writeProfile(p *profile.Profile, file string) error {
	out, err := os.Create(filepath.Join(b.cfg.out, file))
	if err != nil {
		return err
	}
	if err := p.Write(out); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// wholeWayProfile takes CPU profiles one after another with profileOf, each
// of a fixed length, until stop is closed, and merges them into one. A
// Go CPU profile's length is fixed when it starts, and a way's length is
// not known then. A single profile of a fixed length (35 s, before
// 2026-12-05) covered only the first half of a way of a minute, kooper's
// 1,000 tenants, whose purchases are stored as fast as they come while
// their Ready writes wait in the controllers' queue; or it ran on for 20 s
// after a way of 13 s. The report applies a profile's shares to the whole
// way's CPU, so those shares were not the way's (docs/benchmarks.md). It
// fails if any profile fails, or ctx is done.
func wholeWayProfile(ctx context.Context, stop <-chan struct{}, profileOf func(context.Context) (*profile.Profile, error)) (*profile.Profile, error) {
	var chunks []*profile.Profile
	for {
		p, err := profileOf(ctx)
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, p)
		select {
		case <-stop:
			return profile.Merge(chunks)
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
	}
}
