package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// stackOf is a sample of cpu nanoseconds whose stack holds the functions
// given, the leaf first, as a CPU profile's samples are.
func stackOf(nanoseconds int64, functions ...string) *profile.Sample {
	s := &profile.Sample{Value: []int64{1, nanoseconds}}
	for i, name := range functions {
		f := &profile.Function{ID: uint64(i + 1), Name: name}
		s.Location = append(s.Location, &profile.Location{ID: uint64(i + 1), Line: []profile.Line{{Function: f}}})
	}
	return s
}

// Each sample goes to the first part whose code its stack holds: an
// admission policy inside a create is the policy's, a watch served from a
// list handler is a watch, and a create that priority and fairness holds
// is a create.
func TestAPIServerSamplesGoToTheInnermostPartOfTheirWork(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		{[]string{"github.com/google/cel-go/interpreter.(*evalOr).Eval", "k8s.io/apiserver/pkg/admission/plugin/policy/validating.(*dispatcher).Dispatch",
			"k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1"}, "admission policies (CEL)"},
		{[]string{"k8s.io/apiserver/pkg/endpoints/handlers.(*watchEncoder).Encode", "k8s.io/apiserver/pkg/endpoints/handlers.handleWatch",
			"k8s.io/apiserver/pkg/endpoints/handlers.ListResource.func1"}, "watches served (events sent to watchers)"},
		{[]string{"k8s.io/apiserver/pkg/storage/etcd3.(*store).Create", "k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1",
			"k8s.io/apiserver/pkg/util/flowcontrol.(*configController).Handle"}, "creates"},
		{[]string{"k8s.io/apiserver/pkg/util/flowcontrol/fairqueuing/queueset.(*queueSet).StartRequest",
			"k8s.io/apiserver/pkg/util/flowcontrol.(*configController).Handle"}, "priority and fairness"},
		{[]string{"k8s.io/apiextensions-apiserver/pkg/registry/customresource.(*StatusREST).Update",
			"k8s.io/apiserver/pkg/endpoints/handlers.PatchResource.func1"}, "custom resources' status writes"},
		{[]string{"crypto/x509.(*Certificate).Verify", "k8s.io/apiserver/pkg/authentication/request/x509.(*Authenticator).AuthenticateRequest"},
			"authentication (client certificates, tokens)"},
		{[]string{"runtime.scanobject", "runtime.gcBgMarkWorker"}, "garbage collection"},
		{[]string{"main.somethingNew"}, otherAPIServerCPU},
	} {
		if got := partOf(stackOf(1, c.stack...)); got != c.want {
			t.Errorf("%v: %q, want %q", c.stack, got, c.want)
		}
	}
}

// A profile's CPU is summed by part, as shares of its whole.
func TestAPIServerCPUIsSharedByPart(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			stackOf(30e6, "k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1"),
			stackOf(10e6, "k8s.io/apiserver/pkg/endpoints/handlers.CreateResource.createHandler.func1"),
			stackOf(20e6, "runtime.gcBgMarkWorker"),
		},
	}
	// Written, a profile lists every location and function once, by ID.
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			loc.ID = uint64(len(p.Location) + 1)
			loc.Line[0].Function.ID = loc.ID
			p.Location, p.Function = append(p.Location, loc), append(p.Function, loc.Line[0].Function)
		}
	}
	file := filepath.Join(t.TempDir(), "apiserver.pprof")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	got, err := apiServerCPUShares(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"creates": 40.0 / 60, "garbage collection": 20.0 / 60}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if _, err := apiServerCPUShares(filepath.Join(t.TempDir(), "none.pprof")); err == nil {
		t.Fatal("a missing profile is an error")
	}
}

// Two profiled ways are tabled by part, each way's CPU per tenant split
// by its profile's shares, the largest difference first; a way without a
// profile or a CPU figure tables nothing.
func TestAPIServerCPUOfTwoWaysIsTabledByItsDifference(t *testing.T) {
	a := provisionRun{Name: "kooper", CPUPerTenant: map[string]float64{"kube-apiserver": 40},
		APIServerCPU: map[string]float64{"custom resources' status writes": 0.25, "creates": 0.75}}
	b := provisionRun{Name: "record", CPUPerTenant: map[string]float64{"kube-apiserver": 32},
		APIServerCPU: map[string]float64{"custom resources' status writes": 0.125, "creates": 0.875}}
	var out strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) }
	writeAPIServerCPUDiff(p, a, b)
	want := "| `custom resources' status writes` | 10.00 | 4.00 | +6.00 |\n| `creates` | 30.00 | 28.00 | +2.00 |\n"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "| **total** | **40.0** | **32.0** | **+8.0** |") {
		t.Fatalf("missing\n%s\nin\n%s", want, out.String())
	}
	for _, unread := range []provisionRun{{Name: "unprofiled", CPUPerTenant: b.CPUPerTenant}, {Name: "no CPU", APIServerCPU: b.APIServerCPU}} {
		out.Reset()
		writeAPIServerCPUDiff(p, a, unread)
		if out.Len() != 0 {
			t.Fatalf("%s is not tabled: %s", unread.Name, out.String())
		}
	}
}
