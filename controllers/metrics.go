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
	// Per product (a SaaSProduct's name, at most 63 characters): which
	// product's policy or workload keeps the stop from taking effect.
	notStoppedDesc       = prometheus.NewDesc("kooper_tenants_not_stopped_over_15m", notStoppedHelp, []string{"product"}, nil)
	licencesNotReadyDesc = prometheus.NewDesc("kooper_licences_not_ready_over_15m", licencesNotReadyHelp, []string{"product"}, nil)
	tenants              = &tenantCollector{}

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
	notStoppedHelp = "SaaSTenants, by product, whose stop has been due for more than 15 minutes without taking effect: " +
		"spec.state Frozen without Frozen=True, or Released without Released=True (since status.history recorded the change), " +
		"or expired past the grace period under the expiry action Freeze without Frozen=True (since Expired turned True). " +
		"Tenants being deleted, and those with no namespace (nothing runs), are left out."
	licencesNotReadyHelp = "Licenses, by product, meant to be valid (spec.state Active, not Frozen or Released, not being deleted) " +
		"whose Ready condition has not been True for more than 15 minutes (since its last transition, or since creation without one); " +
		"a key past its window (Ready reason Expired) is left out."
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

// tenantCollector counts tenants and licences from the informer cache at
// scrape time, so the figures are right after a restart without any
// bookkeeping. One list of tenants per scrape feeds kooper_tenants,
// kooper_tenants_not_ready_over_15m, kooper_tenants_expiring and
// kooper_tenants_not_stopped_over_15m; one of licences feeds
// kooper_licences_not_ready_over_15m.
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
	ch <- notStoppedDesc
	ch <- licencesNotReadyDesc
}

// Collect implements prometheus.Collector. A kind the cache cannot list
// has no series this scrape (KooperMetricsAbsent watches the tenants').
func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.reader.Load()
	if r == nil {
		return
	}
	now := c.now()
	if items, err := cachedTenants(context.Background(), *r); err == nil {
		collectTenants(ch, items, now)
	}
	if items, err := cachedLicences(context.Background(), *r); err == nil {
		for product, v := range overByProduct(items, licenceProduct, licenceNotReadySince, now) {
			ch <- prometheus.MustNewConstMetric(licencesNotReadyDesc, prometheus.GaugeValue, v, product)
		}
	}
}

// collectTenants sends the tenant gauges of items at now.
func collectTenants(ch chan<- prometheus.Metric, items []*saasv1alpha1.SaaSTenant, now time.Time) {
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
	for product, v := range overByProduct(items, tenantProduct, notStoppedSince, now) {
		ch <- prometheus.MustNewConstMetric(notStoppedDesc, prometheus.GaugeValue, v, product)
	}
}

func tenantProduct(t *saasv1alpha1.SaaSTenant) string { return t.Spec.ProductName }

func licenceProduct(l *saasv1alpha1.License) string { return l.Spec.ProductName }

// overByProduct counts, by product, the objects whose since at now is
// more than notReadyThreshold. Every product of objs has an entry, 0 when
// none of its objects counts, so that its series is there from the start.
func overByProduct[T any](objs []T, product func(T) string, since func(T, time.Time) time.Duration, now time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, o := range objs {
		p := product(o)
		if since(o, now) > notReadyThreshold {
			out[p]++
		} else if _, ok := out[p]; !ok {
			out[p] = 0
		}
	}
	return out
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
	if items, ok, err := storeObjects[*saasv1alpha1.SaaSTenant](ctx, r, &saasv1alpha1.SaaSTenant{}); ok || err != nil {
		return items, err
	}
	list := &saasv1alpha1.SaaSTenantList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return tenantPointers(list.Items), nil
}

// cachedLicences is cachedTenants for Licenses.
func cachedLicences(ctx context.Context, r client.Reader) ([]*saasv1alpha1.License, error) {
	if items, ok, err := storeObjects[*saasv1alpha1.License](ctx, r, &saasv1alpha1.License{}); ok || err != nil {
		return items, err
	}
	list := &saasv1alpha1.LicenseList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*saasv1alpha1.License, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// storeObjects returns the objects of kind's type that r's informer store
// holds, read-only (the store's own pointers), and true; false, and
// nothing, when r is not an informer cache whose informer has a store.
func storeObjects[T client.Object](ctx context.Context, r client.Reader, kind T) ([]T, bool, error) {
	c, ok := r.(cache.Informers)
	if !ok {
		return nil, false, nil
	}
	informer, err := c.GetInformer(ctx, kind)
	if err != nil {
		return nil, false, err
	}
	store, ok := informer.(informerStore)
	if !ok {
		return nil, false, nil
	}
	objs := store.GetStore().List()
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		if o, ok := obj.(T); ok {
			out = append(out, o)
		}
	}
	return out, true, nil
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

// notStoppedSince is how long, at now, the tenant's stop has been due
// without taking effect: a release (spec.state Released) without
// Released=True, a freeze (spec.state Frozen, or the expiry safety net's)
// without Frozen=True. Both conditions are set only once the workload is
// stopped (scaled to zero or its Ingress removed) or removed. A freeze or
// release counts from when status.history recorded the change of state
// (the controller's first pass after it, a little after the callback),
// and is 0 until it is recorded; the safety net's freeze counts from when
// Expired turned True. It is 0 for a tenant stopped or meant to serve,
// one being deleted, and one with no namespace, where nothing runs.
func notStoppedSince(t *saasv1alpha1.SaaSTenant, now time.Time) time.Duration {
	if !t.DeletionTimestamp.IsZero() || t.Status.Namespace == "" {
		return 0
	}
	conds := t.Status.Conditions
	var since time.Time
	var due bool
	switch {
	case t.Spec.State == saasv1alpha1.StateReleased:
		if apimeta.IsStatusConditionTrue(conds, saasv1alpha1.ReleasedCondition) {
			return 0
		}
		since, due = enteredState(t.Status.History, saasv1alpha1.StateReleased)
	case apimeta.IsStatusConditionTrue(conds, saasv1alpha1.FrozenCondition):
		return 0
	case t.Spec.State == saasv1alpha1.StateFrozen:
		since, due = enteredState(t.Status.History, saasv1alpha1.StateFrozen)
	default:
		since, due = expiryFreezeDue(t)
	}
	if !due {
		return 0
	}
	return max(now.Sub(since), 0)
}

// enteredState is when history records the subscription entering state:
// the time of the first of the events in state that end it. It is false
// when the last event is in another state, or there is none: the change
// is not recorded yet.
func enteredState(history []saasv1alpha1.MarketplaceEvent, state saasv1alpha1.SubscriptionState) (time.Time, bool) {
	i := len(history)
	for i > 0 && history[i-1].State == state {
		i--
	}
	if i == len(history) {
		return time.Time{}, false
	}
	return history[i].Time.Time, true
}

// expiryFreezeDue reports whether the expiry safety net is to freeze the
// tenant, and since when, as applyExpiry decides it: Expired is True, the
// expiry policy the tenant recorded (the schema's default without one)
// says Freeze, and it is no package, which runs nothing to freeze.
func expiryFreezeDue(t *saasv1alpha1.SaaSTenant) (time.Time, bool) {
	expired := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ExpiredCondition)
	if expired == nil || expired.Status != metav1.ConditionTrue || t.Status.Package != nil {
		return time.Time{}, false
	}
	policy := t.Status.Lifecycle
	if policy == nil {
		policy = saasv1alpha1.DefaultLifecyclePolicy()
	}
	return expired.LastTransitionTime.Time, policy.Expiry.Action == saasv1alpha1.ExpiryFreeze
}

// licenceNotReadySince is how long, at now, a licence meant to be valid
// has not been Ready: since its Ready condition's last transition, or
// since its creation when it has none yet. It is 0 for a Ready licence,
// one whose key is past its window (Ready reason Expired: the buyer's
// term ended, nothing for the merchant to mend), and one not meant to be
// valid: frozen or released (its own state, or an application's Frozen
// or Released from its instance), or being deleted.
func licenceNotReadySince(l *saasv1alpha1.License, now time.Time) time.Duration {
	conds := l.Status.Conditions
	if l.Spec.State != saasv1alpha1.StateActive || !l.DeletionTimestamp.IsZero() ||
		apimeta.IsStatusConditionTrue(conds, saasv1alpha1.FrozenCondition) || apimeta.IsStatusConditionTrue(conds, saasv1alpha1.ReleasedCondition) {
		return 0
	}
	since := l.CreationTimestamp.Time
	if c := apimeta.FindStatusCondition(conds, saasv1alpha1.ReadyCondition); c != nil {
		if c.Status == metav1.ConditionTrue || c.Reason == saasv1alpha1.ExpiredReason {
			return 0
		}
		since = c.LastTransitionTime.Time
	}
	return max(now.Sub(since), 0)
}
