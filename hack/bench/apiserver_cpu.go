package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/pprof/profile"
)

// apiServerCPUPart is one part of kube-apiserver's work that a CPU
// profile's sample can be charged to, known by a frame on its stack.
type apiServerCPUPart struct {
	name string
	// frames: a sample is of this part when any of its functions' names
	// contains one of them.
	frames []string
}

// apiServerCPUParts are tried in order and the first whose frames a
// sample's stack holds takes it. The admission policies run inside a
// write's handler, and a watch is served from a list handler, so each
// comes before the handler that holds it; priority and fairness, and the
// connections, hold every handler, so they come after them all. The names
// are those of Kubernetes' own packages; a sample none matches is
// "everything else".
var apiServerCPUParts = []apiServerCPUPart{
	{"garbage collection", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"}},
	{"admission policies (CEL)", []string{"admission/plugin/policy/", "admission/plugin/cel."}},
	{"authentication (client certificates, tokens)", []string{"apiserver/pkg/authentication/"}},
	{"authorization (RBAC, impersonation)", []string{"apiserver/pkg/authorization/", "plugin/pkg/auth/authorizer/", "filters/impersonation.(*impersonationModesTracker)"}},
	{"watches served (events sent to watchers)", []string{"handlers.handleWatch", "handlers.(*WatchServer)", "cacher.(*cacheWatcher)", "cacher.(*Cacher).dispatchEvent"}},
	{"custom resources' status writes", []string{"customresource.(*StatusREST)"}},
	{"custom resources' creates", []string{"customresource.(*REST).Create", "apiextensions-apiserver/pkg/apiserver.(*crdHandler).serveResource.CreateResource"}},
	{"other custom resource requests", []string{"apiextensions-apiserver/"}},
	{"creates", []string{"handlers.CreateResource", "handlers.createHandler"}},
	{"updates", []string{"handlers.UpdateResource"}},
	{"patches", []string{"handlers.PatchResource", "handlers.(*patcher)"}},
	{"deletes", []string{"handlers.DeleteResource", "handlers.DeleteCollection"}},
	{"reads (get, list)", []string{"handlers.GetResource", "handlers.ListResource", "handlers.getResourceHandler"}},
	{"priority and fairness", []string{"apiserver/pkg/util/flowcontrol/"}},
	{"etcd client and its watches", []string{"storage/etcd3.", "google.golang.org/grpc"}},
	{"connections (HTTP/2, TLS)", []string{"golang.org/x/net/http2", "net/http.", "crypto/tls."}},
}

const otherAPIServerCPU = "everything else"

// apiServerCPUShares reads the CPU profile in file and returns the share
// (0 to 1) of its CPU time spent in each part of kube-apiserver's work
// (apiServerCPUParts). A profile covers a fixed window, which a long way
// outlasts: the report applies the shares to the way's own CPU per tenant.
func apiServerCPUShares(file string) (map[string]float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	cpu := cpuSampleIndex(p)
	if cpu < 0 {
		return nil, fmt.Errorf("%s: no cpu nanoseconds in the profile's sample types", file)
	}
	byPart, total := map[string]float64{}, 0.0
	for _, s := range p.Sample {
		v := float64(s.Value[cpu])
		byPart[partOf(s)] += v
		total += v
	}
	if total == 0 {
		return nil, fmt.Errorf("%s: no CPU time sampled", file)
	}
	for part := range byPart {
		byPart[part] /= total
	}
	return byPart, nil
}

// cpuSampleIndex returns the index of the profile's CPU time, in
// nanoseconds, among each sample's values, or -1.
func cpuSampleIndex(p *profile.Profile) int {
	for i, t := range p.SampleType {
		if t.Type == "cpu" && t.Unit == "nanoseconds" {
			return i
		}
	}
	return -1
}

// partOf names the part of the API server's work a sample was spent in.
func partOf(s *profile.Sample) string {
	var stack strings.Builder
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				stack.WriteString(line.Function.Name)
				stack.WriteByte('\n')
			}
		}
	}
	frames := stack.String()
	for _, part := range apiServerCPUParts {
		for _, frame := range part.frames {
			if strings.Contains(frames, frame) {
				return part.name
			}
		}
	}
	return otherAPIServerCPU
}

// writeAPIServerCPUDiff writes the API server's CPU per tenant while way a
// ran against while way b ran (each way's own figure, CPUPerTenant), split
// by part of its work by the shares of the way's profile, the largest
// difference first: where what a costs the API server beyond b goes.
// Nothing is written unless both ways were profiled and their CPU read.
func writeAPIServerCPUDiff(p func(string, ...any), a, b provisionRun) {
	msA, msB := apiServerCPUByPart(a), apiServerCPUByPart(b)
	if msA == nil || msB == nil {
		return
	}
	names := make([]string, 0, len(apiServerCPUParts))
	for _, part := range apiServerCPUParts {
		names = append(names, part.name)
	}
	p("\nkube-apiserver's CPU per tenant, in milliseconds (the CPU table's), %s against %s, split by the shares of each way's "+
		"CPU profile (its file in this directory, for `go tool pprof`) by the part of the API server's work each sample was "+
		"spent in: the first of these whose code its stack holds: %s; else %s:\n", a.Name, b.Name, strings.Join(names, ", "), otherAPIServerCPU)
	writeDiffTable(p, "Part of the API server's work", a.Name, b.Name, msA, msB)
}

// apiServerCPUByPart is the way's API server CPU per tenant, in
// milliseconds, by part of its work; nil without a profile or a CPU figure.
func apiServerCPUByPart(run provisionRun) map[string]float64 {
	perTenant, ok := run.CPUPerTenant["kube-apiserver"]
	if run.APIServerCPU == nil || !ok {
		return nil
	}
	ms := make(map[string]float64, len(run.APIServerCPU))
	for part, share := range run.APIServerCPU {
		ms[part] = share * perTenant
	}
	return ms
}
