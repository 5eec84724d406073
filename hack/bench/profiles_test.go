package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// cpuProfileOf is a CPU profile of one sample of nanoseconds in function,
// whole enough to be written and parsed again.
func cpuProfileOf(nanoseconds int64, function string) *profile.Profile {
	sample := stackOf(nanoseconds, function)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		Sample:     []*profile.Sample{sample},
	}
	for _, loc := range sample.Location {
		p.Location = append(p.Location, loc)
		p.Function = append(p.Function, loc.Line[0].Function)
	}
	return p
}

// A way's profile goes on until the way ends, however long it takes: each
// profile of a fixed length is followed by another until stop, and all are
// merged, so the CPU of the way's last part counts as much as its first.
func TestTheAPIServerIsProfiledUntilTheWayEnds(t *testing.T) {
	stop := make(chan struct{})
	parts := []string{"handlers.CreateResource", "handlers.CreateResource", "customresource.(*StatusREST).Update"}
	taken := 0
	p, err := wholeWayProfile(context.Background(), stop, func(context.Context) (*profile.Profile, error) {
		chunk := cpuProfileOf(1_000_000, parts[taken])
		taken++
		if taken == len(parts) {
			close(stop) // the way ends while the last profile runs
		}
		return chunk, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if taken != len(parts) {
		t.Fatalf("took %d profiles, want %d: one more after the way ended, or one fewer before", taken, len(parts))
	}
	byPart := map[string]int64{}
	for _, s := range p.Sample {
		byPart[partOf(s)] += s.Value[1]
	}
	if byPart["creates"] != 2_000_000 || byPart["custom resources' status writes"] != 1_000_000 {
		t.Errorf("merged CPU by part = %v, want every profile's: creates 2 ms, status writes 1 ms", byPart)
	}
}

// A profile that fails leaves no profile rather than a part of one, which
// would misstate the way's shares; so does a run cancelled.
func TestAPartialProfileIsNoProfile(t *testing.T) {
	failed := errors.New("cpu profiling already in use")
	calls := 0
	_, err := wholeWayProfile(context.Background(), make(chan struct{}), func(context.Context) (*profile.Profile, error) {
		calls++
		if calls == 2 {
			return nil, failed
		}
		return cpuProfileOf(1, "handlers.CreateResource"), nil
	})
	if !errors.Is(err, failed) {
		t.Errorf("error = %v, want the failed profile's", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = wholeWayProfile(ctx, make(chan struct{}), func(context.Context) (*profile.Profile, error) {
		cancel()
		return cpuProfileOf(1, "handlers.CreateResource"), nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want the run's cancellation", err)
	}
}

// A process's profile is asked for in profileChunk pieces at its pprof
// endpoint until stop, and what stop leaves in the file is every piece.
func TestAProcessProfileHoldsEveryPieceUntilStopped(t *testing.T) {
	var served atomic.Int64
	twice := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "5" {
			http.NotFound(w, r)
			return
		}
		if served.Add(1) == 2 {
			close(twice)
		}
		_ = cpuProfileOf(1_000_000, "handlers.CreateResource").Write(w)
	}))
	defer server.Close()
	b := &bench{cfg: config{out: t.TempDir()}}
	stop := b.profileCPU(context.Background(), server.URL+"/metrics", "controllers-cpu.pprof")
	select {
	case <-twice:
	case <-time.After(time.Minute):
		t.Fatal("the second piece was never asked for")
	}
	stop()
	f, err := os.Open(filepath.Join(b.cfg.out, "controllers-cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range p.Sample {
		total += s.Value[1]
	}
	if want := served.Load() * 1_000_000; total != want {
		t.Errorf("the profile holds %d ns of CPU, want %d: every one of the %d pieces served", total, want, served.Load())
	}
}
