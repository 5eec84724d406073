package controllers

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kooper-io/kooper/internal/metering"
)

// Metering metrics. Labels are bounded: the meter name (at most 8 per
// product, chosen by the merchant), the result, and the documented
// record-level codes; never a tenant.
var (
	usagePushed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_usage_records_pushed_total",
		Help: "Usage records the marketplace accepted (result=accepted) or already held (result=duplicate), by meter.",
	}, []string{"meter", "result"})
	usageFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_usage_records_failed_total",
		Help: "Usage records not accepted, by meter and record-level code (001-013, other, or push for a failed request).",
	}, []string{"meter", "code"})
	usagePushSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kooper_usage_push_duration_seconds",
		Help:    "Latency of one usage push request to the marketplace.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12), // 10 ms to about 20 s
	})
	usageUncovered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_usage_uncovered_total",
		Help: "Usage of a packages' meter that no package covered and that was held back, not pushed (spec.packages.uncovered Drop), in the meter's unit.",
	}, []string{"meter"})
	oldestUnpushedDesc = prometheus.NewDesc("kooper_usage_oldest_unpushed_window_age_seconds",
		"Age of the oldest closed metering window not yet pushed, over all tenants (0 when none).", nil, nil)
	meteringGauge = &meteringCollector{}
)

func init() {
	metrics.Registry.MustRegister(usagePushed, usageFailed, usageUncovered, usagePushSeconds, meteringGauge)
}

// meteringCollector computes the oldest unpushed window from the informer
// cache at scrape time, so it is right after a restart without bookkeeping.
type meteringCollector struct {
	reader atomic.Pointer[client.Reader]
	clock  atomic.Pointer[clock.PassiveClock]
}

func (c *meteringCollector) use(r client.Reader, clk clock.PassiveClock) {
	c.reader.Store(&r)
	c.clock.Store(&clk)
}

// Describe implements prometheus.Collector.
func (c *meteringCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oldestUnpushedDesc }

// Collect implements prometheus.Collector.
func (c *meteringCollector) Collect(ch chan<- prometheus.Metric) {
	r, clk := c.reader.Load(), c.clock.Load()
	if r == nil || clk == nil {
		return
	}
	tenants, err := cachedTenants(context.Background(), *r)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(oldestUnpushedDesc, prometheus.GaugeValue, metering.OldestUnpushedAge(tenants, (*clk).Now()).Seconds())
}
