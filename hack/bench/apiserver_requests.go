package main

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
)

// apiServerRequests reads kube-apiserver's apiserver_request_total (its
// own /metrics, as the cluster's admin): every client's requests so far,
// kooper's, kube-controller-manager's, the scheduler's, kwok's and the
// bench's, by "VERB group/resource[/subresource] code". Where kooper's
// own counters show what it asks, these show what its way makes the
// whole cluster ask, against another way's. Beside them, under
// watchEventsPrefix, apiserver_watch_events_total: the events it sent to
// every watcher so far, by resource, which a way's informers add to.
func (b *bench) apiServerRequests(ctx context.Context) (map[string]float64, error) {
	httpClient, url, err := b.apiServerMetricsClient()
	if err != nil {
		return nil, err
	}
	counts := map[string]float64{}
	err = counterFamily(ctx, httpClient, url, "apiserver_request_total", func(labels map[string]string, v float64) {
		counts[apiServerRequestKey(labels)] += v
	})
	if err != nil {
		return nil, err
	}
	err = counterFamily(ctx, httpClient, url, "apiserver_watch_events_total", func(labels map[string]string, v float64) {
		counts[watchEventsKey(labels)] += v
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// watchEventsPrefix starts the keys of apiServerRequests' counts that are
// not requests but events the API server sent to watchers.
const watchEventsPrefix = "watch events "

// watchEventsKey names the events sent to watchers of a resource by
// apiserver_watch_events_total's labels, e.g. "watch events
// apps/deployments" (older servers label the kind instead).
func watchEventsKey(l map[string]string) string {
	resource := cmp.Or(l["resource"], l["kind"])
	if l["group"] != "" {
		resource = l["group"] + "/" + resource
	}
	return watchEventsPrefix + resource
}

// apiServerRequestKey names a request kind by its metric labels, e.g.
// "PUT apps/deployments/status 200"; the core group is left out.
func apiServerRequestKey(l map[string]string) string {
	resource := l["resource"]
	if l["group"] != "" {
		resource = l["group"] + "/" + resource
	}
	if l["subresource"] != "" {
		resource += "/" + l["subresource"]
	}
	return l["verb"] + " " + resource + " " + l["code"]
}

// countAPIServerRequests reads the API server's request counters now; the
// returned perTenant reads them again and shares what they grew by among
// n tenants (nil when either read failed: the report leaves the table out).
func (b *bench) countAPIServerRequests(ctx context.Context) (perTenant func(n int) map[string]float64) {
	before, err := b.apiServerRequests(ctx)
	if err != nil {
		logf("No request counts of kube-apiserver: %v", err)
		return func(int) map[string]float64 { return nil }
	}
	return func(n int) map[string]float64 {
		after, err := b.apiServerRequests(ctx)
		if err != nil {
			logf("No request counts of kube-apiserver: %v", err)
			return nil
		}
		return requestsPerTenant(before, after, n)
	}
}

// writeAPIServerRequestDiff writes the API server's requests per tenant
// during way a against way b, by kind, the largest difference first, and
// then the same of the events it sent to watchers; kinds that differ by
// less than 0.05 per tenant are summed in one row.
func writeAPIServerRequestDiff(p func(string, ...any), a, b provisionRun) {
	if a.APIServerRequests == nil || b.APIServerRequests == nil {
		return
	}
	requestsA, eventsA := splitWatchEvents(a.APIServerRequests)
	requestsB, eventsB := splitWatchEvents(b.APIServerRequests)
	p("\nkube-apiserver's requests per tenant from every client (apiserver_request_total: kooper, kube-controller-manager, "+
		"the scheduler, kwok, the bench), %s against %s, each counted from the start of the way's API server profile (before its "+
		"at-rest sample) until both the profile and the way had ended; requests made by the clock (lease renewals, node "+
		"heartbeats) are shared among the tenants too:\n", a.Name, b.Name)
	writeDiffTable(p, "Request (verb, resource, code)", a.Name, b.Name, requestsA, requestsB)
	if len(eventsA) == 0 && len(eventsB) == 0 {
		return
	}
	p("\nThe events kube-apiserver sent to watchers per tenant over the same windows (apiserver_watch_events_total, every " +
		"watcher: kooper's informers, kube-controller-manager's, the scheduler's, kwok's, the bench's), by resource:\n")
	writeDiffTable(p, "Events of (resource)", a.Name, b.Name, eventsA, eventsB)
}

// splitWatchEvents parts counts into requests and watch events, the
// latter keyed by resource alone.
func splitWatchEvents(counts map[string]float64) (requests, events map[string]float64) {
	requests, events = map[string]float64{}, map[string]float64{}
	for k, v := range counts {
		if resource, ok := strings.CutPrefix(k, watchEventsPrefix); ok {
			events[resource] = v
			continue
		}
		requests[k] = v
	}
	return requests, events
}

// writeDiffTable writes a per tenant against b per tenant by kind (the
// first column, headed first), the largest difference first.
func writeDiffTable(p func(string, ...any), first, nameA, nameB string, a, b map[string]float64) {
	kinds := map[string]bool{}
	for k := range a {
		kinds[k] = true
	}
	for k := range b {
		kinds[k] = true
	}
	var shown []string
	var totalA, totalB, restA, restB float64
	for k := range kinds {
		x, y := a[k], b[k]
		totalA, totalB = totalA+x, totalB+y
		if math.Abs(x-y) < 0.05 {
			restA, restB = restA+x, restB+y
			continue
		}
		shown = append(shown, k)
	}
	diff := func(k string) float64 { return a[k] - b[k] }
	slices.SortFunc(shown, func(x, y string) int {
		return cmp.Or(cmp.Compare(math.Abs(diff(y)), math.Abs(diff(x))), strings.Compare(x, y))
	})
	p("| %s | %s | %s | difference |", first, nameA, nameB)
	p("|---|---:|---:|---:|")
	for _, k := range shown {
		p("| `%s` | %.2f | %.2f | %+.2f |", k, a[k], b[k], diff(k))
	}
	p("| (each differing by < 0.05) | %.2f | %.2f | %+.2f |", restA, restB, restA-restB)
	p("| **total** | **%.1f** | **%.1f** | **%+.1f** |", totalA, totalB, totalA-totalB)
}
