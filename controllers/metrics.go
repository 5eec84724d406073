package controllers

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
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
	tenantsDesc  = prometheus.NewDesc("kooper_tenants", "SaaSTenants by desired state and readiness.", []string{"state", "ready"}, nil)
	notReadyDesc = prometheus.NewDesc("kooper_tenants_not_ready_over_15m", notReadyHelp, nil, nil)
	expiringDesc = prometheus.NewDesc("kooper_tenants_expiring", expiringHelp, []string{"within"}, nil)
	tenants      = &tenantCollector{}

	// orderQueries counts Query Order calls (spec §6.3) of the tenant and
	// licence controllers by outcome (the orderOutcome* values).
	orderQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_order_queries_total",
		Help: "Query Order calls by outcome: resolved, refused (the marketplace answered an error code), failed (no answer: network, timeout, 5xx), unusable (the answer lacks the order line).",
	}, []string{"outcome"})
)

// Outcomes of kooper_order_queries_total.
const (
	orderOutcomeResolved = "resolved"
	orderOutcomeRefused  = "refused"
	orderOutcomeFailed   = "failed"
	orderOutcomeUnusable = "unusable"
)

// Help texts of the tenant collector's gauges.
const (
	notReadyHelp = "SaaSTenants meant to serve (state Active, not frozen locally, not being deleted, not a package) " +
		"whose Ready condition has not been True for more than 15 minutes (since its last transition, or since creation without one)."
	expiringHelp = "Active SaaSTenants by time to status.expireTime: within=1d (at most a day left), " +
		"7d (at most 7 days, the 1d ones included), grace (expired, within the expiry safety net's grace period)."
)

// Thresholds of kooper_tenants_not_ready_over_15m and
// kooper_tenants_expiring.
const (
	notReadyThreshold = 15 * time.Minute
	expiringDay       = 24 * time.Hour
	expiringWeek      = 7 * expiringDay
)

// Values of kooper_tenants_expiring's within label.
const (
	within1d    = "1d"
	within7d    = "7d"
	withinGrace = "grace"
)

func init() {
	metrics.Registry.MustRegister(timeToReady, tenants, orderQueries)
	// Every outcome exists from the start, so a rate() over it is 0, not absent.
	for _, o := range []string{orderOutcomeResolved, orderOutcomeRefused, orderOutcomeFailed, orderOutcomeUnusable} {
		orderQueries.WithLabelValues(o)
	}
}

// orderOutcome names the outcome of one Query Order call for
// kooper_order_queries_total: queryErr is the client's error, resolveErr
// the error of reading the order line from its answer.
func orderOutcome(queryErr, resolveErr error) string {
	var apiErr *koogallery.APIError
	switch {
	case queryErr == nil && resolveErr == nil:
		return orderOutcomeResolved
	case queryErr == nil:
		return orderOutcomeUnusable
	case errors.As(queryErr, &apiErr) && apiErr.HTTPStatus < 500:
		return orderOutcomeRefused
	default:
		return orderOutcomeFailed
	}
}

// tenantCollector counts tenants from the informer cache at scrape time, so
// the figures are right after a restart without any bookkeeping. One list
// per scrape feeds kooper_tenants, kooper_tenants_not_ready_over_15m and
// kooper_tenants_expiring.
type tenantCollector struct {
	reader atomic.Pointer[client.Reader]
	// clock is the scrape's time; nil is the real clock. Tests set it on a
	// collector of their own.
	clock clock.PassiveClock
}

func (c *tenantCollector) use(r client.Reader) { c.reader.Store(&r) }

// Describe implements prometheus.Collector.
func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantsDesc
	ch <- notReadyDesc
	ch <- expiringDesc
}

// Collect implements prometheus.Collector.
func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.reader.Load()
	if r == nil {
		return
	}
	items, err := cachedTenants(context.Background(), *r)
	if err != nil {
		return
	}
	counts := map[[2]string]float64{}
	for _, s := range []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased} {
		counts[[2]string{string(s), "true"}], counts[[2]string{string(s), "false"}] = 0, 0
	}
	for _, t := range items {
		ready := "false"
		if apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition) {
			ready = "true"
		}
		counts[[2]string{string(t.Spec.State), ready}]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, v, k[0], k[1])
	}
	now := c.now()
	var notReady float64
	expiring := map[string]float64{within1d: 0, within7d: 0, withinGrace: 0}
	for _, t := range items {
		if notReadySince(t, now) > notReadyThreshold {
			notReady++
		}
		for _, w := range expiringWithin(t, now) {
			expiring[w]++
		}
	}
	ch <- prometheus.MustNewConstMetric(notReadyDesc, prometheus.GaugeValue, notReady)
	for w, v := range expiring {
		ch <- prometheus.MustNewConstMetric(expiringDesc, prometheus.GaugeValue, v, w)
	}
}

// informerStore is what client-go's shared informers, under
// controller-runtime's cache, offer beyond its Informer interface.
type informerStore interface {
	GetStore() toolscache.Store
}

// cachedTenants returns the tenants r holds, read-only: straight from the
// informer's store when r is the manager's cache, else listed without
// deep copies. A list, even without deep copies, copies each tenant into
// the list's items: about 15 MB and 0.4 s of CPU a scrape at 10,000
// tenants (the restart's CPU profile, docs/benchmarks.md), where the
// store's pointers cost nothing.
func cachedTenants(ctx context.Context, r client.Reader) ([]*saasv1alpha1.SaaSTenant, error) {
	if c, ok := r.(cache.Informers); ok {
		informer, err := c.GetInformer(ctx, &saasv1alpha1.SaaSTenant{})
		if err != nil {
			return nil, err
		}
		if store, ok := informer.(informerStore); ok {
			objs := store.GetStore().List()
			out := make([]*saasv1alpha1.SaaSTenant, 0, len(objs))
			for _, obj := range objs {
				if t, ok := obj.(*saasv1alpha1.SaaSTenant); ok {
					out = append(out, t)
				}
			}
			return out, nil
		}
	}
	list := &saasv1alpha1.SaaSTenantList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return tenantPointers(list.Items), nil
}

func (c *tenantCollector) now() time.Time {
	if c.clock == nil {
		return time.Now()
	}
	return c.clock.Now()
}

// notReadySince is how long, at now, a tenant meant to serve has not been
// Ready: since its Ready condition's last transition, or since its
// creation when it has none yet. It is 0 for a Ready tenant and for one
// not meant to serve: frozen (spec.state Frozen, or Frozen=True from the
// expiry safety net, whose Ready is False by design), released, being
// deleted, or a package (which serves nothing; one waiting for its buyer's
// pay-per-use tenant waits on the buyer, not on the merchant).
func notReadySince(t *saasv1alpha1.SaaSTenant, now time.Time) time.Duration {
	if t.Spec.State != saasv1alpha1.StateActive || !t.DeletionTimestamp.IsZero() || t.Status.Package != nil ||
		apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.FrozenCondition) {
		return 0
	}
	since := t.CreationTimestamp.Time
	if c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition); c != nil {
		if c.Status == metav1.ConditionTrue {
			return 0
		}
		since = c.LastTransitionTime.Time
	}
	return max(now.Sub(since), 0)
}

// expiringWithin lists the kooper_tenants_expiring buckets an Active
// tenant falls in at now, by its status.expireTime: 1d and 7d with at most
// that much left (so a tenant in 1d is in 7d too), grace once expired but
// not yet Expired (the safety net's grace period). Frozen and released
// tenants, and tenants without an expiry, are in none. The stages are
// tenantExpiryStage's, which the ExpiringSoon condition shares.
func expiringWithin(t *saasv1alpha1.SaaSTenant, now time.Time) []string {
	stage, left := tenantExpiryStage(t, now)
	switch {
	case stage == stageBefore && left <= expiringDay:
		return []string{within1d, within7d}
	case stage == stageBefore && left <= expiringWeek:
		return []string{within7d}
	case stage == stageGrace:
		return []string{withinGrace}
	}
	return nil
}
