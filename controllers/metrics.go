package controllers

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Domain metrics on controller-runtime's registry. Reconcile counts and
// errors are controller-runtime's own (controller_runtime_reconcile_errors_total
// with controller="saastenant"); they are not repeated here. Labels are
// bounded: never a tenant or order ID.
var (
	timeToReady = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kooper_tenant_time_to_ready_seconds",
		Help:    "Time from a SaaSTenant's creation to its first Ready.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12), // 0.5 s to about 17 min
	})
	tenantsDesc = prometheus.NewDesc("kooper_tenants", "SaaSTenants by desired state and readiness.", []string{"state", "ready"}, nil)
	tenants     = &tenantCollector{}
)

func init() {
	metrics.Registry.MustRegister(timeToReady, tenants)
}

// tenantCollector counts tenants from the informer cache at scrape time, so
// the figures are right after a restart without any bookkeeping.
type tenantCollector struct {
	reader atomic.Pointer[client.Reader]
}

func (c *tenantCollector) use(r client.Reader) { c.reader.Store(&r) }

// Describe implements prometheus.Collector.
func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tenantsDesc }

// Collect implements prometheus.Collector.
func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.reader.Load()
	if r == nil {
		return
	}
	list := &saasv1alpha1.SaaSTenantList{}
	if err := (*r).List(context.Background(), list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	counts := map[[2]string]float64{}
	for _, s := range []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased} {
		counts[[2]string{string(s), "true"}], counts[[2]string{string(s), "false"}] = 0, 0
	}
	for i := range list.Items {
		t := &list.Items[i]
		ready := "false"
		if apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition) {
			ready = "true"
		}
		counts[[2]string{string(t.Spec.State), ready}]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, v, k[0], k[1])
	}
}
