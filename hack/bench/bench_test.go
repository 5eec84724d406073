package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func TestParseGoBench(t *testing.T) {
	g := NewWithT(t)
	out := "goos: linux\n" +
		"BenchmarkBareHandler-2   \t  360397\t      3257 ns/op\t    6736 B/op\t      21 allocs/op\n" +
		"BenchmarkQueryInstanceCached-2   \t2026-11-22T16:28:00Z\tINFO\treceiver\tCallback answered\n" +
		"2026-11-22T16:28:00Z\tINFO\treceiver\tCallback answered\n" +
		"   16911\t     72424 ns/op\t   33107 B/op\t     336 allocs/op\n" +
		"BenchmarkProvision200Tenants-2 \t 1\t6943062717 ns/op\t 34.72 ms/tenant\n" +
		"PASS\n"
	got := parseGoBench(out)
	g.Expect(got).To(HaveLen(3))
	g.Expect(got[0].Name).To(Equal("BareHandler-2"))
	g.Expect(got[0].Metrics).To(HaveKeyWithValue("ns/op", 3257.0))
	g.Expect(got[1].Name).To(Equal("QueryInstanceCached-2"))
	g.Expect(got[1].Metrics).To(HaveKeyWithValue("allocs/op", 336.0))
	g.Expect(got[2].Metrics).To(HaveKeyWithValue("ms/tenant", 34.72))
}

func TestPercentile(t *testing.T) {
	g := NewWithT(t)
	var took []time.Duration
	for i := 100; i >= 1; i-- {
		took = append(took, time.Duration(i)*time.Millisecond)
	}
	s := summarise(took)
	g.Expect(s.P50).To(Equal(50 * time.Millisecond))
	g.Expect(s.P99).To(Equal(99 * time.Millisecond))
	g.Expect(s.Max).To(Equal(100 * time.Millisecond))
	g.Expect(summarise(nil)).To(Equal(latencies{}))
}

func TestRequestCostsAreListedByKind(t *testing.T) {
	g := NewWithT(t)
	got := parseGoBench("BenchmarkAPIServerCPU-2 \t 1\t5469575584 ns/op\t 1.900 ConfigMapApplyCreate-apiserver-ms/op\t 1.167 ConfigMapCreate-apiserver-ms/op\n")
	var lines []string
	writeRequestCosts(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }, got)
	g.Expect(lines).To(ContainElements("| ConfigMapApplyCreate | 1.90 |", "| ConfigMapCreate | 1.17 |"))
	lines = nil
	writeRequestCosts(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }, parseGoBench("BenchmarkX-2 \t 1\t 5 ns/op\n"))
	g.Expect(lines).To(BeEmpty(), "no section without the benchmark")
}

func TestRequestsPerTenantAreTabledMostFrequentFirst(t *testing.T) {
	before := map[string]float64{"patch apps/deployments": 5, "update coordination.k8s.io/leases": 10}
	after := map[string]float64{"patch apps/deployments": 105, "create saas.kooper.io/saastenants": 100,
		"patch saas.kooper.io/saastenants/status": 300, "update coordination.k8s.io/leases": 12}
	per := requestsPerTenant(before, after, 100)
	if per["patch apps/deployments"] != 1 || per["patch saas.kooper.io/saastenants/status"] != 3 {
		t.Fatalf("per tenant: %v", per)
	}
	var out strings.Builder
	writeRequestTable(func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) }, per)
	want := "\n| Verb | Resource | Per tenant |\n|---|---|---:|\n" +
		"| patch | `saas.kooper.io/saastenants/status` | 3.00 |\n" +
		"| create | `saas.kooper.io/saastenants` | 1.00 |\n" +
		"| patch | `apps/deployments` | 1.00 |\n" +
		"| (each < 0.05) | | 0.02 |\n" +
		"| **total** | | **5.0** |\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// What kooper requests at rest for as long (lease renewals) is taken out of
// a tenant's requests, each kind at most down to 0: a rate at rest sampled
// in 5 s may be larger than what the way saw.
func TestRequestsAboveRestTakeOutTheClocksShare(t *testing.T) {
	g := NewWithT(t)
	perTenant := map[string]float64{"create namespaces": 1, "update coordination.k8s.io/leases": 0.15, "get secrets": 0.01}
	idle := map[string]float64{"update coordination.k8s.io/leases": 0.5, "get secrets": 1}
	// 30 s at 0.5/s are 15 renewals, 0.15 per tenant of 100; the Secret
	// reads at rest would be 0.3 per tenant, more than the way saw.
	g.Expect(requestsAboveRest(perTenant, idle, 30*time.Second, 100)).To(BeNumerically("~", 1.0, 1e-9))
	g.Expect(requestsAboveRest(perTenant, nil, 30*time.Second, 100)).To(BeNumerically("~", 1.16, 1e-9))
	g.Expect(aboveRestNote(nil)).To(BeEmpty(), "not measured")
	g.Expect(aboveRestNote(ptr.To(12.04))).To(ContainSubstring(", 12.0 per tenant."))
}

// --memory-limit none removes the chart's memory limit (a null Helm drops);
// a quantity sets it.
func TestMemoryLimitSetsOrDropsTheChartsLimit(t *testing.T) {
	g := NewWithT(t)
	g.Expect(config{memoryLimit: "none"}.resources()).To(Equal(map[string]any{"limits": map[string]any{"memory": nil}}))
	g.Expect(config{memoryLimit: "384Mi"}.resources()).To(Equal(map[string]any{"limits": map[string]any{"memory": "384Mi"}}))
}

// The default run's pods fit its nodes: 3,050 workload pods and 700 chart
// pods need 17 nodes of 250 with a tenth to spare; 12, the default before
// the record ceiling, held 3,000 and left its last tenants Pending.
func TestTheNodesHoldEveryPodOfTheRun(t *testing.T) {
	g := NewWithT(t)
	g.Expect(config{tenants: 1000, helmTenants: 50, chartTenants: 150}.nodesNeeded()).To(Equal(18))
	g.Expect(config{tenants: 200, helmTenants: 50}.nodesNeeded()).To(Equal(3))
}

func TestCPUPerTenantIsChargedPerWayAndComparedWithKooper(t *testing.T) {
	// At rest the API server used 0.1 cores; over the way's 10 s that is 1 s not charged.
	charge := cpuCharge{idle: cpuSnapshot{"kube-apiserver": 0.1}, before: cpuSnapshot{"kube-apiserver": 10, "etcd": 2},
		start: time.Now().Add(-10 * time.Second)}
	got := charge.perTenant(cpuSnapshot{"kube-apiserver": 14, "etcd": 2.5, "kooper": 1}, 100)
	if len(got) != 2 || got["kube-apiserver"] < 29.9 || got["kube-apiserver"] > 30.1 || got["etcd"] != 5 {
		t.Fatalf("perTenant = %v, want kube-apiserver 30 ms above rest (4 s used, 1 s of it at rest), etcd 5 ms, and kooper (missing before) left out", got)
	}
	if charge.perTenant(cpuSnapshot{}, 0) != nil {
		t.Fatal("no tenant: no figure")
	}
	var lines []string
	p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	writeCPUTable(p, []provisionRun{
		{Name: "kooper", CPUPerTenant: map[string]float64{"kube-apiserver": 120, "etcd": 20, "kooper": 30, clusterControllers: 12},
			CPUAtRest: cpuSnapshot{"kube-apiserver": 0.071, "etcd": 0.02, "kooper": 0.004, clusterControllers: 0.25}},
		{Name: "direct", CPUPerTenant: map[string]float64{"kube-apiserver": 100, "etcd": 15}},
	})
	table := strings.Join(lines, "\n")
	for _, row := range []string{"| kooper | 120.0 ms | 20.0 ms | 30.0 ms | 12.0 ms | 1.00× |", "| direct | 100.0 ms | 15.0 ms | – | – | 1.20× |",
		"| kooper | 0.071 | 0.020 | 0.004 | 0.250 |", "| direct | – | – | – | – |"} {
		if !strings.Contains(table, row) {
			t.Errorf("no row %q in:\n%s", row, table)
		}
	}
}

// The machine is at rest when its busiest process is: a snapshot's cores
// are each process's since the snapshot before.
func TestTheBusiestProcessDecidesRest(t *testing.T) {
	earlier := cpuSnapshot{"kube-apiserver": 10, "etcd": 4, clusterControllers: 6}
	now := cpuSnapshot{"kube-apiserver": 10.1, "etcd": 4.06, clusterControllers: 6.9, "kooper": 3}
	cores := now.since(earlier, 2*time.Second)
	if len(cores) != 3 || cores["kube-apiserver"] < 0.049 || cores["kube-apiserver"] > 0.051 {
		t.Fatalf("since = %v, want kube-apiserver 0.05 cores, kooper (missing before) left out", cores)
	}
	name, most := cores.busiest()
	if name != clusterControllers || most < 0.449 || most > 0.451 {
		t.Errorf("busiest = %s %.3f, want the cluster controllers at 0.45 cores", name, most)
	}
	if got, want := cores.String(), "cluster controllers 0.45, etcd 0.03, kube-apiserver 0.05 cores"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if name, most := (cpuSnapshot{}).busiest(); name != "" || most != 0 {
		t.Errorf("busiest of nothing = %q %v", name, most)
	}
}

func TestRoundsAreTabledWithTheMedianOfTheirRatios(t *testing.T) {
	g := NewWithT(t)
	way := func(rate, apiCPU float64) provisionRun {
		return provisionRun{Rate: rate, CPUPerTenant: map[string]float64{"kube-apiserver": apiCPU}}
	}
	var lines []string
	p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	writeRounds(p, []round{{Kooper: way(8, 110)}})
	g.Expect(lines).To(BeEmpty(), "one round: the tables above say it all")
	writeRounds(p, []round{
		{Kooper: way(8, 110), Ceiling: way(10, 80), Record: way(10, 100)},                       // 0.80×
		{Kooper: way(9, 100), Ceiling: way(12, 80), Record: way(10, 100), Order: roundOrder(1)}, // 0.90×
		{Kooper: way(12, 90), Ceiling: way(12, 80), Record: way(12.5, 100)},                     // 0.96×
	})
	table := strings.Join(lines, "\n")
	g.Expect(table).To(ContainSubstring("| 1 | 8.00 | 10.00 | 10.00 | 0.80× | 0.80× | 1.10× |"))
	g.Expect(table).To(ContainSubstring("| 2 (direct, record, kooper) | 9.00 | 12.00 | 10.00 | 0.90× |"))
	g.Expect(table).To(ContainSubstring("| **median** | | | | **0.90×** | 0.80× | 1.00× |"))
	g.Expect(table).To(ContainSubstring("the rounds' range 0.80–0.96×"))
	g.Expect(median([]float64{4, 1, 3, 2})).To(Equal(2.5))
	g.Expect(config{tenants: 200, rounds: 3, helmTenants: 50}.nodesNeeded()).To(Equal(config{tenants: 600, helmTenants: 50}.nodesNeeded()))
}

// The API server's requests of two ways are tabled by kind, the largest
// difference first, whichever way made more.
func TestAPIServerRequestsOfTwoWaysAreTabledByTheirDifference(t *testing.T) {
	key := apiServerRequestKey(map[string]string{"verb": "PUT", "group": "apps", "resource": "deployments",
		"subresource": "status", "code": "200"})
	if key != "PUT apps/deployments/status 200" {
		t.Fatalf("key: %q", key)
	}
	if core := apiServerRequestKey(map[string]string{"verb": "POST", "resource": "pods", "code": "403"}); core != "POST pods 403" {
		t.Fatalf("core group key: %q", core)
	}
	a := provisionRun{Name: "kooper", APIServerRequests: map[string]float64{
		"POST pods 201": 2, "PUT apps/deployments/status 200": 3, "PATCH saas.kooper.io/saastenants/status 200": 2, "GET pods 200": 0.51}}
	b := provisionRun{Name: "direct", APIServerRequests: map[string]float64{
		"POST pods 201": 2, "PUT apps/deployments/status 200": 2, "POST pods 403": 0.5, "GET pods 200": 0.5}}
	var out strings.Builder
	writeAPIServerRequestDiff(func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) }, a, b)
	for _, row := range []string{
		"| `PATCH saas.kooper.io/saastenants/status 200` | 2.00 | 0.00 | +2.00 |\n" +
			"| `PUT apps/deployments/status 200` | 3.00 | 2.00 | +1.00 |\n" +
			"| `POST pods 403` | 0.00 | 0.50 | -0.50 |\n" +
			"| (each differing by < 0.05) | 2.51 | 2.50 | +0.01 |\n" +
			"| **total** | **7.5** | **5.0** | **+2.5** |\n",
	} {
		if !strings.Contains(out.String(), row) {
			t.Fatalf("missing\n%s\nin\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), "watchers") {
		t.Fatalf("no watch events counted, no table of them: %s", out.String())
	}

	// The events sent to watchers, in a table of their own.
	if k := watchEventsKey(map[string]string{"group": "apps", "resource": "deployments", "version": "v1"}); k != watchEventsPrefix+"apps/deployments" {
		t.Fatalf("watch events key: %q", k)
	}
	if k := watchEventsKey(map[string]string{"group": "", "kind": "Pod", "version": "v1"}); k != watchEventsPrefix+"Pod" {
		t.Fatalf("watch events key of an older server: %q", k)
	}
	a.APIServerRequests[watchEventsPrefix+"apps/deployments"] = 9
	b.APIServerRequests[watchEventsPrefix+"apps/deployments"] = 6
	out.Reset()
	writeAPIServerRequestDiff(func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) }, a, b)
	events := "| Events of (resource) | kooper | direct | difference |\n|---|---:|---:|---:|\n" +
		"| `apps/deployments` | 9.00 | 6.00 | +3.00 |\n"
	if !strings.Contains(out.String(), events) || !strings.Contains(out.String(), "| **total** | **7.5** | **5.0** | **+2.5** |") {
		t.Fatalf("missing\n%s\nor the requests' total unchanged in\n%s", events, out.String())
	}

	out.Reset()
	writeAPIServerRequestDiff(func(f string, a ...any) { fmt.Fprintf(&out, f+"\n", a...) }, a, provisionRun{Name: "unread"})
	if out.Len() != 0 {
		t.Fatalf("a way whose counts were not read is not tabled: %s", out.String())
	}
}

// The chart phase's rounds are tabled with kooper against the direct
// creates and against the record alone, each with its median.
func TestChartRoundsAreTabledAgainstTheDirectCreatesAndTheRecord(t *testing.T) {
	g := NewWithT(t)
	way := func(rate, apiCPU float64) provisionRun {
		return provisionRun{Rate: rate, CPUPerTenant: map[string]float64{"kube-apiserver": apiCPU}}
	}
	var lines []string
	p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	writeChartRounds(p, []chartRound{{Kooper: way(7, 130)}})
	g.Expect(lines).To(BeEmpty(), "one round: the tables above say it all")
	writeChartRounds(p, []chartRound{
		{Kooper: way(7, 130), Direct: way(10, 100), Record: way(8, 120)},                       // 0.70×, record 0.80×
		{Kooper: way(9, 120), Direct: way(10, 100), Record: way(9, 115), Order: roundOrder(2)}, // 0.90×, record 0.90×
		{Kooper: way(8, 125), Direct: way(10, 100), Record: way(10, 105)},                      // 0.80×, record 1.00×
	})
	table := strings.Join(lines, "\n")
	g.Expect(table).To(ContainSubstring("| 1 | 7.00 | 10.00 | 8.00 | 0.70× | 0.80× | 0.88× | 1.30× |"))
	g.Expect(table).To(ContainSubstring("| 2 (record, kooper, direct) | 9.00 | 10.00 | 9.00 | 0.90× |"))
	g.Expect(table).To(ContainSubstring("| **median** | | | | **0.80×** | 0.90× | 0.88× | 1.25× |"))
	g.Expect(table).To(ContainSubstring("the rounds' range 0.70–0.90×"))
}

// Each round starts one way further on, but the first starts with
// kooper's, whose first tenant the other ways copy: no way runs first, or
// on the fewest objects, in every round.
func TestEachRoundStartsOneWayFurtherOn(t *testing.T) {
	g := NewWithT(t)
	g.Expect(roundOrder(0)).To(Equal([]way{wayKooper, wayDirect, wayRecord}))
	g.Expect(roundOrder(1)).To(Equal([]way{wayDirect, wayRecord, wayKooper}))
	g.Expect(roundOrder(2)).To(Equal([]way{wayRecord, wayKooper, wayDirect}))
	g.Expect(roundOrder(3)).To(Equal(roundOrder(0)))
	firsts := map[way]int{}
	for k := range 3 {
		firsts[roundOrder(k)[0]]++
		g.Expect(roundOrder(k)).To(ConsistOf(wayKooper, wayDirect, wayRecord))
	}
	g.Expect(firsts).To(HaveLen(3), "each way runs first once in three rounds")
	g.Expect(roundCell(0, nil)).To(Equal("1"))
}

// A round's ways run in its order; a kooper way after the record's waits
// for the controllers the record restarted, and the first error ends the
// round.
func TestRunWaysSettlesBeforeAKooperWayAfterTheRecord(t *testing.T) {
	g := NewWithT(t)
	for k, want := range [][]string{
		{"kooper", "direct", "record"},
		{"direct", "record", "settle", "kooper"},
		{"record", "settle", "kooper", "direct"},
	} {
		var ran []string
		note := func(s string) func() error { return func() error { ran = append(ran, s); return nil } }
		settle := func(context.Context) error { ran = append(ran, "settle"); return nil }
		err := runWays(context.Background(), roundOrder(k), settle,
			map[way]func() error{wayKooper: note("kooper"), wayDirect: note("direct"), wayRecord: note("record")})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ran).To(Equal(want), "round %d", k+1)
	}
	failed := errors.New("the record failed")
	var ran []way
	err := runWays(context.Background(), roundOrder(2), func(context.Context) error { return nil }, map[way]func() error{
		wayRecord: func() error { ran = append(ran, wayRecord); return failed },
		wayKooper: func() error { ran = append(ran, wayKooper); return nil },
		wayDirect: func() error { ran = append(ran, wayDirect); return nil },
	})
	g.Expect(err).To(MatchError(failed))
	g.Expect(ran).To(Equal([]way{wayRecord}))
}

// TestRetriesEndStoredOrLost: a receiver that answers 000005 is sent the
// order again until it answers 000000; an order never stored is lost.
func TestRetriesEndStoredOrLost(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	seen := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ OrderID string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		seen[body.OrderID]++
		n := seen[body.OrderID]
		mu.Unlock()
		code := "000000"
		if body.OrderID == "NEVER" || (body.OrderID == "THIRD" && n < 3) {
			code = "000005"
		}
		_, _ = fmt.Fprintf(w, `{"resultCode":%q}`, code)
	}))
	t.Cleanup(receiver.Close)
	b := &bench{http: receiver.Client(), receiverURL: receiver.URL}

	got := b.retryUntilStored(context.Background(), []string{"THIRD", "NEVER", "FIRST"}, time.Second)
	g.Expect(got.Answered000005).To(Equal(3))
	g.Expect(got.Stored).To(Equal(2), "THIRD on its third try, FIRST on its first")
	g.Expect(got.Lost).To(Equal(1))
	g.Expect(got.MaxAttempts).To(BeNumerically(">=", 3))
	g.Expect(got.FirstErr).To(ContainSubstring("order NEVER not stored"))
	g.Expect(got.FirstErr).To(ContainSubstring("resultCode 000005"))

	g.Expect(b.retryUntilStored(context.Background(), nil, time.Second)).To(Equal(retries{}))

	var lines []string
	writeRetries(func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) },
		[]rateResult{{Rate: 500, Receiver: latencies{Sent: 100}, Retries: retries{Answered000005: 5, Stored: 5, MaxAttempts: 2, Took: time.Second}}})
	g.Expect(lines).To(ContainElement("| 500 | 5 | 5.0% | 5 | 0 | 2 | 1s |"))
}

// A run removes what an earlier run wrote into its output directory, so a
// run that skips a phase shows none of the earlier run's profiles of it
// (found when a throughput-only run's directory held a chart phase's
// profiles from the run before), and leaves anything else there.
func TestARunRemovesTheEarlierRunsOutputsOnly(t *testing.T) {
	dir := t.TempDir()
	earlier := []string{"report.md", "time-to-ready.png", "controllers-heap.pprof", "chart-values/ch-0.json"}
	kept := []string{"notes.txt", "stack/apiserver.log"}
	for _, name := range append(slices.Clone(earlier), kept...) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeEarlierOutputs(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range earlier {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: want removed, got %v", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: want kept, got %v", name, err)
		}
	}
}

// The direct ways copy kooper's tenant Service without the address the API
// server allocated, but a headless one stays headless: the copies must
// cost the API server what kooper's objects cost it.
func TestScrubKeepsAHeadlessServiceHeadless(t *testing.T) {
	g := NewWithT(t)
	service := func(clusterIP string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "app", "uid": "1"},
			"spec":     map[string]any{"clusterIP": clusterIP, "clusterIPs": []any{clusterIP}}}}
	}
	allocated := service("10.96.3.4")
	scrub(allocated)
	g.Expect(allocated.Object["spec"]).To(BeEmpty())
	g.Expect(allocated.GetUID()).To(BeEmpty())
	headless := service("None")
	scrub(headless)
	g.Expect(headless.Object["spec"]).To(HaveKeyWithValue("clusterIP", "None"))
	g.Expect(headless.Object["spec"]).To(HaveKeyWithValue("clusterIPs", []any{"None"}))
}

// Before a way, kube-apiserver is asked to collect its garbage (a heap
// profile with gc=1), once: the way's profile asks first, and the way's
// charge a moment later does not ask again.
func TestTheAPIServerCollectsItsGarbageOnceBeforeAWay(t *testing.T) {
	g := NewWithT(t)
	var asked []string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.String())
		_, _ = w.Write([]byte("a heap profile"))
	}))
	defer server.Close()
	b := &bench{restConfig: &rest.Config{Host: server.URL}}
	b.collectAPIServerGarbage(context.Background())
	b.collectAPIServerGarbage(context.Background())
	g.Expect(asked).To(Equal([]string{"/debug/pprof/heap?gc=1"}))
	b.collectedAt = time.Now().Add(-collectedRecently)
	b.collectAPIServerGarbage(context.Background())
	g.Expect(asked).To(HaveLen(2), "the next way's")
}

// The report says whether kube-apiserver ran its watch-cache consistency
// check, as its kubernetes_feature_enabled gauge says, not as asked.
func TestTheReportReadsTheCacheConsistencyCheckFromKubeAPIServer(t *testing.T) {
	for _, tc := range []struct {
		name, metrics, want string
	}{
		{"off", `kubernetes_feature_enabled{name="DetectCacheInconsistency",stage="BETA"} 0` + "\n", "off (DetectCacheInconsistency=false)"},
		{"on", `kubernetes_feature_enabled{name="DetectCacheInconsistency",stage="BETA"} 1` + "\n", "on (DetectCacheInconsistency=true)"},
		{"another gate only", `kubernetes_feature_enabled{name="ListFromCacheSnapshot",stage="BETA"} 0` + "\n", "unknown: kube-apiserver reports no DetectCacheInconsistency gate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				g.Expect(r.URL.Path).To(Equal("/metrics"))
				_, _ = w.Write([]byte("# TYPE kubernetes_feature_enabled gauge\n" + tc.metrics))
			}))
			defer server.Close()
			b := &bench{restConfig: &rest.Config{Host: server.URL}}
			g.Expect(b.cacheConsistencyCheckState(context.Background())).To(Equal(tc.want))
			// kube-apiserver inherits the bench's environment, where this
			// variable turns the check on whatever the gate says.
			t.Setenv(consistencyCheckerEnv, "true")
			g.Expect(b.cacheConsistencyCheckState(context.Background())).To(Equal("on (KUBE_WATCHCACHE_CONSISTENCY_CHECKER=true in the environment)"))
		})
	}
}

func TestRunsOfOneWayArePooled(t *testing.T) {
	g := NewWithT(t)
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	first := openRun{took: ms(10, 20, 30), errors: 1, firstErr: "first", elapsed: time.Second}
	second := openRun{took: ms(40, 50, 60, 70, 80, 90), errors: 2, firstErr: "second", elapsed: 2 * time.Second}
	l := pooled(first, second)
	g.Expect(l.Sent).To(Equal(9))
	g.Expect(l.Errors).To(Equal(3))
	g.Expect(l.FirstErr).To(Equal("first"))
	g.Expect(l.Achieved).To(BeNumerically("==", 3.0)) // 9 answers over 3 s
	g.Expect(l.P50).To(Equal(50 * time.Millisecond))
	g.Expect(l.Max).To(Equal(90 * time.Millisecond))
	g.Expect(pooled()).To(Equal(latencies{}))
}

func TestWaitsAndRetriesOfTwoRunsAreSummed(t *testing.T) {
	g := NewWithT(t)
	a := queueWaits{"x": {Count: 2, Sum: 0.2, Buckets: map[float64]float64{0.1: 1}}}
	b := queueWaits{"x": {Count: 3, Sum: 0.3, Buckets: map[float64]float64{0.1: 3}}, "y": {Count: 1}}
	sum := sumWaits(a, b)
	g.Expect(sum["x"].Count).To(BeNumerically("==", 5))
	g.Expect(sum["x"].Buckets[0.1]).To(BeNumerically("==", 4))
	g.Expect(sum["y"].Count).To(BeNumerically("==", 1))
	g.Expect(sumWaits(a, nil)).To(BeNil(), "a run whose waits are unknown leaves the sum unknown")

	r := retries{Answered000005: 3, Stored: 3, MaxAttempts: 2, Took: time.Second}.
		plus(retries{Answered000005: 2, Stored: 1, Lost: 1, MaxAttempts: 5, Took: time.Second, FirstErr: "lost"})
	g.Expect(r).To(Equal(retries{Answered000005: 5, Stored: 4, Lost: 1, MaxAttempts: 5, Took: 2 * time.Second, FirstErr: "lost"}))
}
