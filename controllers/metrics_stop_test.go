package controllers

import (
	"fmt"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// gaugeOf reads one series of collector c, by metric name and the value of
// its product label, as a scrape would: through a pedantic registry, which
// also fails a series c does not describe. An absent series is an error.
func gaugeOf(c prometheus.Collector, name, product string) func() (float64, error) {
	return func() (float64, error) {
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			return 0, err
		}
		families, err := reg.Gather()
		if err != nil {
			return 0, err
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "product" && l.GetValue() == product {
						return m.GetGauge().GetValue(), nil
					}
				}
			}
		}
		return 0, fmt.Errorf("no series %s{product=%q}", name, product)
	}
}

// A marketplace FREEZE, then a release, that the cluster's policy engine
// keeps from taking effect (it refuses scaling the tenant's Deployment to
// zero, then deleting it): the buyer who stopped paying is still served,
// and before this gauge only the Reconciling condition and the reconcile
// error counter said so, which no alert watches. Once the stop has been
// due for 15 minutes (since the history recorded it), the tenant counts
// in kooper_tenants_not_stopped_over_15m under its product; once the
// policy is lifted and the stop done, it no longer does.
func TestATenantWhoseFreezeOrReleaseTheClusterRefusesCountsAsNotStopped(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	run := fmt.Sprintf("not-stopped-%d", tenantSeq.Add(1))
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Labels = map[string]string{"test.kooper.io/run": run}
	})
	ns := "tenant-" + tenant.Name
	eventuallyTenant(t, tenant.Name, provisioned)
	markAvailable(t, ns)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	scrapeAt := clocktesting.NewFakePassiveClock(fakeClock.Now())
	c := &tenantCollector{clock: scrapeAt}
	c.use(labelledReader{Reader: cachedClient, labels: client.MatchingLabels{"test.kooper.io/run": run}})
	notStopped := gaugeOf(c, "kooper_tenants_not_stopped_over_15m", product.Name)
	// A scrape d after the tenant controller's now: the history is stamped
	// by the suite's shared fakeClock, which another test may have set
	// elsewhere or which stands still while real time runs on, so real
	// time says nothing of how old the stop is.
	at := func(d time.Duration) func() (float64, error) {
		return func() (float64, error) {
			scrapeAt.SetTime(fakeClock.Now().Add(d))
			return notStopped()
		}
	}

	// The freeze: the policy refuses the Deployment at zero replicas.
	liftFreeze := installDenyingPolicy(t, "refuse-scale-to-zero-"+tenant.Name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`object.metadata.namespace != %q || !has(object.spec.replicas) || object.spec.replicas != 0`, ns),
			Message:    "scaling to zero is refused by policy",
		})
	g.Eventually(func() bool {
		d := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
		d.Spec.Replicas = ptr.To[int32](0)
		return admissionRefusal(k8sClient.Update(ctx, d, client.DryRunAll))
	}).Should(BeTrue(), "the policy is enforced")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	refused := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.History).NotTo(BeEmpty())
		g.Expect(tn.Status.History[len(tn.Status.History)-1].State).To(Equal(saasv1alpha1.StateFrozen))
		reconciling := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(reconciling).NotTo(BeNil())
		g.Expect(reconciling.Message).To(ContainSubstring("refuse-scale-to-zero-"+tenant.Name), "the policy named, its message withheld")
	})
	g.Expect(apimeta.IsStatusConditionTrue(refused.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeFalse())
	g.Expect(deploymentReplicas(t, ns)()).To(BeEquivalentTo(1), "still serving")

	g.Eventually(at(0)).Should(BeZero(), "the freeze is not 15 minutes old yet")
	g.Eventually(at(16 * time.Minute)).Should(BeEquivalentTo(1))

	liftFreeze()
	poke(t, tenant)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(at(16*time.Minute)).Should(BeZero(), "frozen at last")

	// The release: the policy refuses deleting the Deployment.
	liftRelease := installDenyingPolicy(t, "refuse-workload-deletion-"+tenant.Name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`oldObject.metadata.namespace != %q`, ns),
			Message:    "deleting workloads is refused by policy",
		})
	g.Eventually(func() bool {
		return admissionRefusal(k8sClient.Delete(ctx, getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName), client.DryRunAll))
	}).Should(BeTrue(), "the policy is enforced")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.History[len(tn.Status.History)-1].State).To(Equal(saasv1alpha1.StateReleased))
		reconciling := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(reconciling).NotTo(BeNil())
		g.Expect(reconciling.Message).To(ContainSubstring("refuse-workload-deletion-"+tenant.Name), "the policy named, its message withheld")
	})
	g.Eventually(at(0)).Should(BeZero(), "the release is not 15 minutes old yet")
	g.Eventually(at(16 * time.Minute)).Should(BeEquivalentTo(1))

	liftRelease()
	poke(t, tenant)
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.ReleasedCondition)).To(BeTrue())
	})
	g.Eventually(at(16*time.Minute)).Should(BeZero(), "released at last")
}

// An asynchronous licence the marketplace keeps refusing to take (a wrong
// upload path answers 404 to every upload, docs/licence-keys.md) was seen
// only in Warning Events. Once its Ready has been False for 15 minutes it
// counts in kooper_licences_not_ready_over_15m under its product; its
// instance, Ready, does not; and once it is delivered it no longer counts.
func TestALicenceWhoseUploadKeepsFailingCountsAsNotReady(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	instance := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	event := fmt.Sprintf("EVT%d", tenantSeq.Add(1))
	marketplace.failNextUploads(event, math.MaxInt32)
	application := newApplication(t, product, instance.Name, event)
	eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.UploadFailedReason))

	scrapeAt := clocktesting.NewFakePassiveClock(time.Now())
	c := &tenantCollector{clock: scrapeAt}
	c.use(labelledReader{Reader: cachedClient, labels: client.MatchingLabels{saasv1alpha1.ProductLabel: product.Name}})
	notReady := gaugeOf(c, "kooper_licences_not_ready_over_15m", product.Name)
	at := func(d time.Duration) func() (float64, error) {
		return func() (float64, error) {
			scrapeAt.SetTime(time.Now().Add(d))
			return notReady()
		}
	}
	g.Eventually(at(0)).Should(BeZero(), "not 15 minutes yet")
	g.Eventually(at(16*time.Minute)).Should(BeEquivalentTo(1), "the application, not its Ready instance")

	marketplace.failNextUploads(event, 0)
	fakeClock.Step(time.Minute) // the next upload is due
	poke(t, application)
	eventuallyLicense(t, application.Name, licenseReady)
	g.Eventually(at(16*time.Minute)).Should(BeZero(), "delivered at last")
}

func TestNotStoppedSinceCountsStopsDueWithoutEffect(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	cond := func(condType string, status metav1.ConditionStatus, d time.Duration) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, LastTransitionTime: ago(d)}
	}
	event := func(state saasv1alpha1.SubscriptionState, d time.Duration) saasv1alpha1.MarketplaceEvent {
		return saasv1alpha1.MarketplaceEvent{Time: ago(d), State: state}
	}
	active, frozen, released := saasv1alpha1.StateActive, saasv1alpha1.StateFrozen, saasv1alpha1.StateReleased
	bought := event(active, 30*24*time.Hour)
	expired := cond(saasv1alpha1.ExpiredCondition, metav1.ConditionTrue, 40*time.Minute)
	notify := &saasv1alpha1.LifecyclePolicy{Expiry: saasv1alpha1.ExpiryPolicy{Action: saasv1alpha1.ExpiryNone}}
	tests := []struct {
		name      string
		state     saasv1alpha1.SubscriptionState
		history   []saasv1alpha1.MarketplaceEvent
		conds     []metav1.Condition
		lifecycle *saasv1alpha1.LifecyclePolicy
		noNS, del bool
		pkg       bool
		want      time.Duration
	}{
		{name: "active, serving", state: active, history: []saasv1alpha1.MarketplaceEvent{bought}, want: 0},
		{name: "frozen 20 minutes ago, not stopped", state: frozen,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, 20*time.Minute)}, want: 20 * time.Minute},
		{name: "frozen, stopped", state: frozen, history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, 20*time.Minute)},
			conds: []metav1.Condition{cond(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, 19*time.Minute)}, want: 0},
		// Orders recorded while frozen (a renewal) do not restart the count.
		{name: "frozen, a renewal since", state: frozen, history: []saasv1alpha1.MarketplaceEvent{bought,
			event(frozen, time.Hour), event(frozen, 10*time.Minute)}, want: time.Hour},
		{name: "frozen again after an unfreeze", state: frozen, history: []saasv1alpha1.MarketplaceEvent{bought,
			event(frozen, 3*time.Hour), event(active, 2*time.Hour), event(frozen, 5*time.Minute)}, want: 5 * time.Minute},
		// Until the controller records the change, how long it has waited is not known.
		{name: "frozen, not recorded yet", state: frozen, history: []saasv1alpha1.MarketplaceEvent{bought}, want: 0},
		{name: "frozen, no history yet", state: frozen, want: 0},
		{name: "released 2 hours ago, workload not removed", state: released,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(released, 2*time.Hour)}, want: 2 * time.Hour},
		{name: "released, done", state: released, history: []saasv1alpha1.MarketplaceEvent{bought, event(released, 2*time.Hour)},
			conds: []metav1.Condition{cond(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, time.Hour)}, want: 0},
		// Frozen before, its release not done: Frozen does not stand for Released.
		{name: "released while frozen, not done", state: released,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, 3*time.Hour), event(released, time.Hour)},
			conds:   []metav1.Condition{cond(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, 3*time.Hour)}, want: time.Hour},
		{name: "expired, the safety net's freeze not done", state: active, history: []saasv1alpha1.MarketplaceEvent{bought},
			conds: []metav1.Condition{expired}, want: 40 * time.Minute},
		{name: "expired, frozen by the safety net", state: active, history: []saasv1alpha1.MarketplaceEvent{bought},
			conds: []metav1.Condition{expired, cond(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, 39*time.Minute)}, want: 0},
		{name: "expired, the policy says None", state: active, history: []saasv1alpha1.MarketplaceEvent{bought},
			conds: []metav1.Condition{expired}, lifecycle: notify, want: 0},
		{name: "an expired package: nothing to freeze", state: active, history: []saasv1alpha1.MarketplaceEvent{bought},
			conds: []metav1.Condition{expired}, pkg: true, want: 0},
		{name: "frozen, nothing provisioned", state: frozen,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, time.Hour)}, noNS: true, want: 0},
		{name: "frozen, being deleted", state: frozen,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, time.Hour)}, del: true, want: 0},
		{name: "a change in the future (clock skew)", state: frozen,
			history: []saasv1alpha1.MarketplaceEvent{bought, event(frozen, -time.Minute)}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(60 * 24 * time.Hour)},
				Spec:   saasv1alpha1.SaaSTenantSpec{State: tt.state},
				Status: saasv1alpha1.SaaSTenantStatus{Namespace: "tenant-i-1", History: tt.history, Conditions: tt.conds, Lifecycle: tt.lifecycle}}
			if tt.noNS {
				tn.Status.Namespace = ""
			}
			if tt.del {
				tn.DeletionTimestamp = ptrTime(ago(time.Minute))
			}
			if tt.pkg {
				tn.Status.Package = &saasv1alpha1.TenantPackage{Quota: "1"}
			}
			NewWithT(t).Expect(notStoppedSince(tn, now)).To(Equal(tt.want))
		})
	}
}

func TestLicenceNotReadySinceCountsOnlyLicencesMeantToBeValid(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	ready := func(status metav1.ConditionStatus, reason string, d time.Duration) metav1.Condition {
		return metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: status, Reason: reason, LastTransitionTime: ago(d)}
	}
	trueFor := func(condType string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: metav1.ConditionTrue, LastTransitionTime: ago(time.Hour)}
	}
	active := saasv1alpha1.StateActive
	tests := []struct {
		name  string
		state saasv1alpha1.SubscriptionState
		conds []metav1.Condition
		del   bool
		want  time.Duration
	}{
		{name: "Ready", state: active, conds: []metav1.Condition{ready(metav1.ConditionTrue, saasv1alpha1.SucceededReason, time.Hour)}, want: 0},
		{name: "not uploaded for 20 minutes", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.ProgressingReason, 20*time.Minute)}, want: 20 * time.Minute},
		{name: "stalled: no signing key", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.KeysSecretIncompleteReason, time.Hour)}, want: time.Hour},
		{name: "no Ready yet: since creation", state: active, want: 2 * time.Hour},
		{name: "its key past its window", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.ExpiredReason, time.Hour)}, want: 0},
		{name: "frozen", state: saasv1alpha1.StateFrozen,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.RevokedReason, time.Hour)}, want: 0},
		{name: "released", state: saasv1alpha1.StateReleased,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.RevokedReason, time.Hour)}, want: 0},
		{name: "an application of a frozen instance", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.RevokedReason, time.Hour), trueFor(saasv1alpha1.FrozenCondition)}, want: 0},
		{name: "an application of a released instance", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.RevokedReason, time.Hour), trueFor(saasv1alpha1.ReleasedCondition)}, want: 0},
		{name: "being deleted", state: active,
			conds: []metav1.Condition{ready(metav1.ConditionFalse, saasv1alpha1.ProgressingReason, time.Hour)}, del: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: ago(2 * time.Hour)},
				Spec: saasv1alpha1.LicenseSpec{State: tt.state}, Status: saasv1alpha1.LicenseStatus{Conditions: tt.conds}}
			if tt.del {
				l.DeletionTimestamp = ptrTime(ago(time.Minute))
			}
			NewWithT(t).Expect(licenceNotReadySince(l, now)).To(Equal(tt.want))
		})
	}
}

// Every product of the objects has a series, 0 when none of its own is
// over the threshold, so a product's alert has its series from the start.
func TestOverByProductGivesEveryProductASeries(t *testing.T) {
	type obj struct {
		product string
		since   time.Duration
	}
	objs := []obj{{"crm", time.Hour}, {"crm", time.Minute}, {"erp", 15 * time.Minute}, {"crm", 16 * time.Minute}}
	got := overByProduct(objs, func(o obj) string { return o.product }, func(o obj, _ time.Time) time.Duration { return o.since }, time.Now())
	NewWithT(t).Expect(got).To(Equal(map[string]float64{"crm": 2, "erp": 0}))
}
