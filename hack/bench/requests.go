package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiRequests counts kooper's API requests so far, both processes
// together, by "verb resource" (kooper_api_requests_total), watches
// aside: which of a tenant's requests are worth saving.
func (b *bench) apiRequests(ctx context.Context) (map[string]float64, error) {
	counts := map[string]float64{}
	for _, url := range []string{b.stack.MetricsURL, b.stack.ControllersMetricsURL} {
		if err := b.addAPIRequests(ctx, url, counts); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

func (b *bench) addAPIRequests(ctx context.Context, url string, counts map[string]float64) error {
	return counterFamily(ctx, b.http, url, "kooper_api_requests_total", func(labels map[string]string, v float64) {
		if labels["verb"] != "watch" {
			counts[labels["verb"]+" "+labels["resource"]] += v
		}
	})
}

// counterFamily scrapes the Prometheus text at url with client and calls
// add with each series' labels and value of the counter family name; a
// family the endpoint does not have adds nothing.
func counterFamily(ctx context.Context, client *http.Client, url, name string, add func(labels map[string]string, v float64)) error {
	families, err := metricFamilies(ctx, client, url)
	if err != nil {
		return err
	}
	for _, m := range families[name].GetMetric() {
		add(labelsOf(m), m.GetCounter().GetValue())
	}
	return nil
}

// labelsOf is a series' labels by name.
func labelsOf(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

// metricFamilies reads the Prometheus text exposition at url, by family
// name.
func metricFamilies(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	body, err := get(ctx, client, url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(body)
	if err != nil {
		return nil, fmt.Errorf("failed to read the metrics at %s: %w", url, err)
	}
	return families, nil
}

// requestCounts are kooper's API requests per tenant over one way: by
// HTTP method (rest_client_requests_total) and by "verb resource"
// (kooper_api_requests_total); a map is nil when its second read failed.
// aboveRest is the total by kind less what kooper makes at rest for as
// long (lease renewals, resyncs: requests made by the clock, which a
// slower way shares among as many tenants), each kind at least 0; nil when
// there is no rate at rest to take out.
type requestCounts struct {
	byMethod, byKind map[string]float64
	aboveRest        *float64
}

// countRequests reads kooper's request counters now; the returned
// perTenant reads them again and shares what they grew by among n
// tenants, and what they grew by above idle (requests per second at rest,
// by "verb resource") for as long.
func (b *bench) countRequests(ctx context.Context) (perTenant func(n int, idle map[string]float64) requestCounts, err error) {
	methods, err := b.requestsByMethod(ctx)
	if err != nil {
		return nil, err
	}
	kinds, err := b.apiRequests(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	return func(n int, idle map[string]float64) requestCounts {
		var c requestCounts
		elapsed := time.Since(start)
		if after, err := b.requestsByMethod(ctx); err == nil {
			c.byMethod = requestsPerTenant(methods, after, n)
		}
		if after, err := b.apiRequests(ctx); err == nil {
			c.byKind = requestsPerTenant(kinds, after, n)
			if idle != nil {
				above := requestsAboveRest(c.byKind, idle, elapsed, n)
				c.aboveRest = &above
			}
		}
		return c
	}, nil
}

// requestsAboveRest is the sum over kinds of perTenant less what idle
// (requests per second at rest) makes over elapsed, shared among n
// tenants; a kind is never taken below 0.
func requestsAboveRest(perTenant, idle map[string]float64, elapsed time.Duration, n int) float64 {
	total := 0.0
	for kind, v := range perTenant {
		total += max(v-idle[kind]*elapsed.Seconds()/float64(n), 0)
	}
	return total
}

// requestsPerTenant is what each kind of request grew by from before to
// after, per tenant.
func requestsPerTenant(before, after map[string]float64, tenants int) map[string]float64 {
	out := map[string]float64{}
	for k, n := range after {
		if d := (n - before[k]) / float64(tenants); d > 0 {
			out[k] = d
		}
	}
	return out
}

// writeRequestTable writes kooper's requests per tenant by verb and
// resource, the most frequent first; kinds below 0.05 per tenant (leader
// election, the other controllers' background) are summed in one row.
func writeRequestTable(p func(string, ...any), perTenant map[string]float64) {
	if len(perTenant) == 0 {
		return
	}
	keys := make([]string, 0, len(perTenant))
	total, rest := 0.0, 0.0
	for k, n := range perTenant {
		total += n
		if n < 0.05 {
			rest += n
			continue
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(perTenant[b], perTenant[a]), strings.Compare(a, b))
	})
	p("\n| Verb | Resource | Per tenant |\n|---|---|---:|")
	for _, k := range keys {
		verb, resource, _ := strings.Cut(k, " ")
		p("| %s | `%s` | %.2f |", verb, resource, perTenant[k])
	}
	if rest > 0 {
		p("| (each < 0.05) | | %.2f |", rest)
	}
	p("| **total** | | **%.1f** |", total)
}
