package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/orders"
)

// labelledReader lists only the objects with its labels: a collector of a
// test's own sees that test's tenants, not those every other test of the
// package left in the shared API server.
type labelledReader struct {
	client.Reader
	labels client.MatchingLabels
}

func (r labelledReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.Reader.List(ctx, list, append(opts, r.labels)...)
}

// The collector reads the manager's cache at scrape time: tenants the real
// controller provisioned (never Ready here, envtest runs no Deployment
// controller, until markAvailable) count as not Ready once their Ready
// condition is more than 15 minutes old, and fall into the expiry buckets
// by the status.expireTime the controller derived.
func TestTenantCollectorCountsStuckAndExpiringTenantsFromTheCache(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	product := newTenantProduct(t, nil) // grace: the default 3 days
	now := fakeClock.Now().UTC().Truncate(time.Second)
	run := fmt.Sprintf("collector-%d", tenantSeq.Add(1))
	expiring := func(d time.Duration) func(*saasv1alpha1.SaaSTenant) {
		return func(tn *saasv1alpha1.SaaSTenant) {
			tn.Labels = map[string]string{"test.kooper.io/run": run}
			expiry := metav1.NewTime(now.Add(d))
			tn.Spec.ExpireTime = &expiry
		}
	}
	inADay := newTenant(t, product, "basic", expiring(12*time.Hour))
	inAWeek := newTenant(t, product, "basic", expiring(3*24*time.Hour))
	later := newTenant(t, product, "basic", expiring(30*24*time.Hour))
	inGrace := newTenant(t, product, "basic", expiring(-time.Hour))
	pastGrace := newTenant(t, product, "basic", expiring(-4*24*time.Hour))
	for _, tn := range []*saasv1alpha1.SaaSTenant{inADay, inAWeek, later, inGrace} {
		eventuallyTenant(t, tn.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			provisioned(g, tn)
			g.Expect(tn.Status.ExpireTime).NotTo(BeNil())
		})
	}
	eventuallyTenant(t, pastGrace.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExpiryReason))

	scrapeAt := clocktesting.NewFakePassiveClock(time.Now())
	c := &tenantCollector{clock: scrapeAt}
	c.use(labelledReader{Reader: cachedClient, labels: client.MatchingLabels{"test.kooper.io/run": run}})
	expect := func(notReady int, in1d, in7d, grace int) {
		t.Helper()
		want := fmt.Sprintf(`
# HELP kooper_tenants_expiring %s
# TYPE kooper_tenants_expiring gauge
kooper_tenants_expiring{within="1d"} %d
kooper_tenants_expiring{within="7d"} %d
kooper_tenants_expiring{within="grace"} %d
# HELP kooper_tenants_not_ready_over_15m %s
# TYPE kooper_tenants_not_ready_over_15m gauge
kooper_tenants_not_ready_over_15m %d
`, expiringHelp, in1d, in7d, grace, notReadyHelp, notReady)
		g.Eventually(func() error {
			return testutil.CollectAndCompare(c, strings.NewReader(want), "kooper_tenants_expiring", "kooper_tenants_not_ready_over_15m")
		}).Should(Succeed())
	}

	// Just provisioned: not Ready, but not for 15 minutes yet. The tenant
	// past its grace period is frozen by the safety net: in no bucket.
	expect(0, 1, 2, 1)
	// 16 minutes on: the four Active tenants are stuck; the frozen one is
	// not meant to serve.
	scrapeAt.SetTime(time.Now().Add(16 * time.Minute))
	expect(4, 1, 2, 1)
	// One becomes Ready: three left.
	markAvailable(t, "tenant-"+later.Name)
	eventuallyTenant(t, later.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	expect(3, 1, 2, 1)
	// Two days and an hour on (the controller's clock unmoved): the
	// 12-hour tenant has expired into its grace period, the 3-day one has
	// 23 hours left.
	scrapeAt.SetTime(now.Add(49 * time.Hour))
	expect(3, 1, 1, 2)
}

func TestNotReadySinceCountsOnlyTenantsMeantToServe(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	ready := func(status metav1.ConditionStatus, d time.Duration) metav1.Condition {
		return metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: status, LastTransitionTime: ago(d)}
	}
	frozen := metav1.Condition{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, LastTransitionTime: ago(time.Hour)}
	tests := []struct {
		name  string
		state saasv1alpha1.SubscriptionState
		conds []metav1.Condition
		del   bool
		pkg   bool
		want  time.Duration
	}{
		{name: "Ready", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionTrue, time.Hour)}, want: 0},
		{name: "not Ready for 20 minutes", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionFalse, 20*time.Minute)}, want: 20 * time.Minute},
		{name: "no Ready yet: since creation", state: saasv1alpha1.StateActive, want: 2 * time.Hour},
		{name: "frozen by the marketplace", state: saasv1alpha1.StateFrozen, conds: []metav1.Condition{ready(metav1.ConditionFalse, time.Hour)}, want: 0},
		{name: "frozen by the safety net", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionFalse, time.Hour), frozen}, want: 0},
		{name: "released", state: saasv1alpha1.StateReleased, conds: []metav1.Condition{ready(metav1.ConditionFalse, time.Hour)}, want: 0},
		{name: "being deleted", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionFalse, time.Hour)}, del: true, want: 0},
		{name: "a transition in the future (clock skew)", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionFalse, -time.Minute)}, want: 0},
		// A trial's alert counted a package waiting for its buyer's pay-per-use tenant.
		{name: "a package waiting for its buyer", state: saasv1alpha1.StateActive, conds: []metav1.Condition{ready(metav1.ConditionFalse, time.Hour)}, pkg: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(2 * time.Hour)},
				Spec: saasv1alpha1.SaaSTenantSpec{State: tt.state}, Status: saasv1alpha1.SaaSTenantStatus{Conditions: tt.conds}}
			if tt.del {
				tn.DeletionTimestamp = ptrTime(ago(time.Minute))
			}
			if tt.pkg {
				tn.Status.Package = &saasv1alpha1.TenantPackage{Quota: "1"}
			}
			NewWithT(t).Expect(notReadySince(tn, now)).To(Equal(tt.want))
		})
	}
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

func TestExpiringWithinBucketsByTimeLeft(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	expired := metav1.Condition{Type: saasv1alpha1.ExpiredCondition, Status: metav1.ConditionTrue}
	tests := []struct {
		name  string
		state saasv1alpha1.SubscriptionState
		left  *time.Duration
		conds []metav1.Condition
		pkg   bool
		want  []string
	}{
		{name: "no expiry", state: saasv1alpha1.StateActive, want: nil},
		{name: "8 days", state: saasv1alpha1.StateActive, left: ptrDuration(8 * 24 * time.Hour), want: nil},
		{name: "exactly 7 days", state: saasv1alpha1.StateActive, left: ptrDuration(7 * 24 * time.Hour), want: []string{within7d}},
		{name: "2 days", state: saasv1alpha1.StateActive, left: ptrDuration(48 * time.Hour), want: []string{within7d}},
		{name: "exactly a day", state: saasv1alpha1.StateActive, left: ptrDuration(24 * time.Hour), want: []string{within1d, within7d}},
		{name: "a minute", state: saasv1alpha1.StateActive, left: ptrDuration(time.Minute), want: []string{within1d, within7d}},
		{name: "expired, in grace", state: saasv1alpha1.StateActive, left: ptrDuration(-time.Hour), want: []string{withinGrace}},
		{name: "expiring now", state: saasv1alpha1.StateActive, left: ptrDuration(0), want: []string{withinGrace}},
		{name: "expired past grace", state: saasv1alpha1.StateActive, left: ptrDuration(-5 * 24 * time.Hour), conds: []metav1.Condition{expired}, want: nil},
		{name: "frozen", state: saasv1alpha1.StateFrozen, left: ptrDuration(time.Hour), want: nil},
		{name: "released", state: saasv1alpha1.StateReleased, left: ptrDuration(time.Hour), want: nil},
		{name: "a package: its expiry ends quota, not a service", state: saasv1alpha1.StateActive, left: ptrDuration(time.Hour), pkg: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: tt.state},
				Status: saasv1alpha1.SaaSTenantStatus{Conditions: tt.conds}}
			if tt.left != nil {
				tn.Status.ExpireTime = ptrTime(metav1.NewTime(now.Add(*tt.left)))
			}
			if tt.pkg {
				tn.Status.Package = &saasv1alpha1.TenantPackage{Quota: "1"}
			}
			NewWithT(t).Expect(expiringWithin(tn, now)).To(Equal(tt.want))
		})
	}
}

func ptrDuration(d time.Duration) *time.Duration { return &d }

// orderOutcome sorts real client errors: the marketplace's own refusal
// (an API Gateway or business code below HTTP 500), no answer (5xx on
// every host, a closed port), and an answer without the order line.
func TestOrderOutcomeSortsTheClientsErrors(t *testing.T) {
	answer := func(status int, body any) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	ok := koogallery.QueryOrderResponse{ResultCode: koogallery.OpenAPISuccess, OrderInfo: &koogallery.OrderInfo{OrderID: "CS1",
		OrderLine: []koogallery.OrderLine{{OrderLineID: "CS1-000001", ProductInfo: []koogallery.ProductInfo{{ProductID: "OFFI1", SKUCode: "basic"}}}}}}
	tests := []struct {
		name   string
		urls   []string
		lineID string
		want   string
	}{
		{name: "resolved", urls: []string{answer(http.StatusOK, ok)}, lineID: "CS1-000001", want: orderOutcomeResolved},
		{name: "no such line", urls: []string{answer(http.StatusOK, ok)}, lineID: "CS1-000009", want: orderOutcomeUnusable},
		{name: "order not found", urls: []string{answer(http.StatusOK, map[string]string{"resultCode": "MKT.9001", "resultMsg": "order not found"})},
			lineID: "CS1-000001", want: orderOutcomeRefused},
		{name: "bad signature", urls: []string{answer(http.StatusUnauthorized, map[string]string{"error_code": "APIG.0301", "error_msg": "incorrect signature"})},
			lineID: "CS1-000001", want: orderOutcomeRefused},
		{name: "5xx on every host", urls: []string{answer(http.StatusInternalServerError, map[string]string{"resultCode": "MKT.0999"}), closed.URL},
			lineID: "CS1-000001", want: orderOutcomeFailed},
		{name: "connection refused", urls: []string{closed.URL}, lineID: "CS1-000001", want: orderOutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, queryErr := koogallery.NewClient("ak", "sk", tt.urls...).QueryOrder(testContext(t), "CS1", tt.lineID)
			var resolveErr error
			if queryErr == nil {
				_, resolveErr = orders.Resolved(info, &saasv1alpha1.AppliedOrder{OrderID: "CS1", OrderLineID: tt.lineID})
			}
			NewWithT(t).Expect(orderOutcome(queryErr, resolveErr)).To(Equal(tt.want))
		})
	}
	NewWithT(t).Expect(orderOutcome(errors.New("anything else"), nil)).To(Equal(orderOutcomeFailed))
}

// Each Query Order call the tenant controller makes counts once, by
// outcome: an order the marketplace does not know is refused, one whose
// marketplace is down failed, and one it knows resolved.
func TestQueryOrderCallsAreCountedByOutcome(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	count := func(outcome string) func() float64 {
		return func() float64 { return testutil.ToFloat64(orderQueries.WithLabelValues(outcome)) }
	}
	refused, failed, resolved := count(orderOutcomeRefused)(), count(orderOutcomeFailed)(), count(orderOutcomeResolved)()

	// An order the marketplace does not know (never added to it).
	newTenant(t, product, "basic", withOrder(fmt.Sprintf("CS%dUNKNOWN", tenantSeq.Add(1))))
	g.Eventually(count(orderOutcomeRefused)).Should(BeNumerically(">", refused))

	// An order the marketplace knows, while it is down, then back.
	downID := fmt.Sprintf("CS%dDOWN", tenantSeq.Add(1))
	marketplace.addOrder(downID, product.Spec.ProductID, "basic", "20991231235959")
	marketplace.setDown(downID, true)
	down := newTenant(t, product, "basic", withOrder(downID))
	g.Eventually(count(orderOutcomeFailed)).Should(BeNumerically(">", failed))
	// Read from the tenant, not the counter: the counter is the process's,
	// and another test's tenant may resolve its own order meanwhile.
	stored := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(down), stored)).To(Succeed())
	g.Expect(apimeta.IsStatusConditionTrue(stored.Status.Conditions, saasv1alpha1.OrderResolvedCondition)).To(BeFalse(),
		"nothing resolved while the marketplace is down")
	marketplace.setDown(downID, false)
	eventuallyTenant(t, down.Name, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(count(orderOutcomeResolved)()).To(BeNumerically(">", resolved))
}

// withOrder makes a new tenant's purchase order orderID (line
// orderID-000001) instead of the one newTenant adds to the marketplace.
func withOrder(orderID string) func(*saasv1alpha1.SaaSTenant) {
	return func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.OrderID, tn.Spec.OrderLineID = orderID, orderID+"-000001"
		tn.Spec.Orders[0].OrderID, tn.Spec.Orders[0].OrderLineID = orderID, orderID+"-000001"
	}
}

// The tenant gauges read the manager's cache straight from the informer's
// store: the tenants a list of the cache gives, without copying each into
// a list at every scrape (the same object, not a copy, each time).
func TestTheGaugesReadTheCachedTenantsWithoutCopies(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tenant := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	byName := func(ts []*saasv1alpha1.SaaSTenant) map[string]*saasv1alpha1.SaaSTenant {
		out := map[string]*saasv1alpha1.SaaSTenant{}
		for _, t := range ts {
			out[t.Name] = t
		}
		return out
	}
	g.Eventually(func(g Gomega) {
		fromStore, err := cachedTenants(ctx, managerCache)
		g.Expect(err).NotTo(HaveOccurred())
		listed, err := cachedTenants(ctx, struct{ client.Reader }{managerCache}) // a reader that is not the cache: listed
		g.Expect(err).NotTo(HaveOccurred())
		again, err := cachedTenants(ctx, managerCache)
		g.Expect(err).NotTo(HaveOccurred())
		stored, list, second := byName(fromStore), byName(listed), byName(again)
		g.Expect(stored).To(HaveKey(tenant.Name))
		g.Expect(slices.Sorted(maps.Keys(stored))).To(Equal(slices.Sorted(maps.Keys(list))))
		g.Expect(second[tenant.Name]).To(BeIdenticalTo(stored[tenant.Name]), "the store's object, not a copy")
		g.Expect(list[tenant.Name]).NotTo(BeIdenticalTo(stored[tenant.Name]))
	}).Should(Succeed())
}
