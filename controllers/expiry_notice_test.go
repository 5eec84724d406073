package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

const day = 24 * time.Hour

func TestNoticeThreshold(t *testing.T) {
	week, oneDay := int32(604800), int32(86400)
	defaults := []int32{week, oneDay}
	tests := []struct {
		name        string
		thresholds  []int32
		left        time.Duration
		wantCrossed int32
		wantNext    time.Duration
	}{
		{name: "8 days: none crossed, the 7d one next", thresholds: defaults, left: 8 * day, wantNext: day},
		{name: "exactly 7 days: 7d crossed", thresholds: defaults, left: 7 * day, wantCrossed: week, wantNext: 6 * day},
		{name: "6 days 23 hours: 7d, the 1d next", thresholds: defaults, left: 7*day - time.Hour, wantCrossed: week, wantNext: 6*day - time.Hour},
		{name: "exactly a day: 1d crossed, expiry next", thresholds: defaults, left: day, wantCrossed: oneDay, wantNext: day},
		{name: "a minute: 1d, expiry next", thresholds: defaults, left: time.Minute, wantCrossed: oneDay, wantNext: time.Minute},
		{name: "a year: none, the 7d one next", thresholds: defaults, left: 365 * day, wantNext: 358 * day},
		{name: "any order", thresholds: []int32{oneDay, 3600, week}, left: 2 * day, wantCrossed: week, wantNext: day},
		{name: "within an hour of three", thresholds: []int32{oneDay, 3600, week}, left: 30 * time.Minute, wantCrossed: 3600, wantNext: 30 * time.Minute},
		{name: "one threshold, beyond it", thresholds: []int32{3600}, left: 2 * time.Hour, wantNext: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			crossed, next := noticeThreshold(tt.thresholds, tt.left)
			g.Expect(crossed).To(Equal(tt.wantCrossed))
			g.Expect(next).To(Equal(tt.wantNext))
		})
	}
}

// The gauge's windows are the default notice thresholds: with defaults,
// a tenant counted in kooper_tenants_expiring{within="7d"} or "1d" or
// "grace" has ExpiringSoon True, and one counted in none has no
// True ExpiringSoon.
func TestTheGaugeAndTheConditionAgree(t *testing.T) {
	g := NewWithT(t)
	g.Expect(saasv1alpha1.DefaultNoticeSeconds()).To(ConsistOf(int32(expiringWeek/time.Second), int32(expiringDay/time.Second)))
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	expired := metav1.Condition{Type: saasv1alpha1.ExpiredCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.ExpiredReason}
	for _, left := range []time.Duration{30 * day, 7*day + time.Second, 7 * day, 3 * day, day, time.Second, 0, -time.Hour, -10 * day} {
		for _, state := range []saasv1alpha1.SubscriptionState{saasv1alpha1.StateActive, saasv1alpha1.StateFrozen} {
			tn := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: state},
				Status: saasv1alpha1.SaaSTenantStatus{ExpireTime: ptrTime(metav1.NewTime(now.Add(left)))}}
			if left < -3*day {
				tn.Status.Conditions = []metav1.Condition{expired}
			}
			setExpiringSoon(tn, now, false)
			noticed := apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.ExpiringSoonCondition)
			g.Expect(noticed).To(Equal(len(expiringWithin(tn, now)) > 0), "%s left, %s", left, state)
		}
	}
}

func TestExpiringSoonCondition(t *testing.T) {
	expiry := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	tenant := func(state saasv1alpha1.SubscriptionState, conds ...metav1.Condition) *saasv1alpha1.SaaSTenant {
		return &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{State: state},
			Status: saasv1alpha1.SaaSTenantStatus{ExpireTime: ptrTime(metav1.NewTime(expiry)), Conditions: conds}}
	}
	noticed := func(msg string) metav1.Condition {
		return metav1.Condition{Type: saasv1alpha1.ExpiringSoonCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.ExpiringSoonReason, Message: msg}
	}
	expired := metav1.Condition{Type: saasv1alpha1.ExpiredCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.ExpiredReason}
	tests := []struct {
		name       string
		tenant     *saasv1alpha1.SaaSTenant
		now        time.Time
		refresh    bool
		wantStatus metav1.ConditionStatus // "" for none
		wantReason string
		wantMsg    string
	}{
		{name: "far from expiry: none", tenant: tenant(saasv1alpha1.StateActive), now: expiry.Add(-30 * day)},
		{name: "7d crossed", tenant: tenant(saasv1alpha1.StateActive), now: expiry.Add(-7*day + time.Hour),
			wantStatus: metav1.ConditionTrue, wantReason: saasv1alpha1.ExpiringSoonReason,
			wantMsg: "Expires in 6d 23h (2026-12-08T10:00:00Z), within the 7d notice"},
		{name: "the same notice an hour later: the message is kept", now: expiry.Add(-7*day + 2*time.Hour),
			tenant:     tenant(saasv1alpha1.StateActive, noticed("Expires in 6d 23h (2026-12-08T10:00:00Z), within the 7d notice")),
			wantStatus: metav1.ConditionTrue, wantReason: saasv1alpha1.ExpiringSoonReason,
			wantMsg: "Expires in 6d 23h (2026-12-08T10:00:00Z), within the 7d notice"},
		{name: "the same notice, written anyway: the time left now", now: expiry.Add(-7*day + 2*time.Hour), refresh: true,
			tenant:     tenant(saasv1alpha1.StateActive, noticed("Expires in 6d 23h (2026-12-08T10:00:00Z), within the 7d notice")),
			wantStatus: metav1.ConditionTrue, wantReason: saasv1alpha1.ExpiringSoonReason,
			wantMsg: "Expires in 6d 22h (2026-12-08T10:00:00Z), within the 7d notice"},
		{name: "1d crossed", now: expiry.Add(-90 * time.Minute),
			tenant:     tenant(saasv1alpha1.StateActive, noticed("Expires in 6d 23h (2026-12-08T10:00:00Z), within the 7d notice")),
			wantStatus: metav1.ConditionTrue, wantReason: saasv1alpha1.ExpiringSoonReason,
			wantMsg: "Expires in 1h 30m (2026-12-08T10:00:00Z), within the 1d notice"},
		{name: "the grace period", tenant: tenant(saasv1alpha1.StateActive), now: expiry.Add(time.Hour),
			wantStatus: metav1.ConditionTrue, wantReason: saasv1alpha1.GracePeriodReason,
			wantMsg: "Expired; the grace period ends in 2d 23h (expired at 2026-12-08T10:00:00Z, grace period until 2026-12-11T10:00:00Z, frozen then unless renewed)"},
		{name: "past the grace period: False", now: expiry.Add(4 * day),
			tenant:     tenant(saasv1alpha1.StateActive, expired, noticed("…")),
			wantStatus: metav1.ConditionFalse, wantReason: saasv1alpha1.ExpiredReason,
			wantMsg: "Expired at 2026-12-08T10:00:00Z; the grace period is over"},
		{name: "renewed: False", now: expiry.Add(-30 * day),
			tenant:     tenant(saasv1alpha1.StateActive, noticed("…")),
			wantStatus: metav1.ConditionFalse, wantReason: saasv1alpha1.NotExpiringReason,
			wantMsg: "Expires at 2026-12-08T10:00:00Z, further away than every notice threshold"},
		{name: "frozen by the marketplace: none", now: expiry.Add(-time.Hour),
			tenant: tenant(saasv1alpha1.StateFrozen, noticed("…"))},
		{name: "released: none", now: expiry.Add(-time.Hour),
			tenant: tenant(saasv1alpha1.StateReleased, noticed("…"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			setExpiringSoon(tt.tenant, tt.now, tt.refresh)
			c := apimeta.FindStatusCondition(tt.tenant.Status.Conditions, saasv1alpha1.ExpiringSoonCondition)
			if tt.wantStatus == "" {
				g.Expect(c).To(BeNil())
				return
			}
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(tt.wantStatus))
			g.Expect(c.Reason).To(Equal(tt.wantReason))
			g.Expect(c.Message).To(Equal(tt.wantMsg))
		})
	}
}

func TestFormatLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * day: "7d", 7*day - time.Minute: "6d 23h", day + 30*time.Minute: "1d", 23*time.Hour + 59*time.Minute + 59*time.Second: "23h 59m",
		2 * time.Hour: "2h", 45 * time.Minute: "45m", 30 * time.Second: "under a minute", 0: "under a minute",
	} {
		NewWithT(t).Expect(formatLeft(d)).To(Equal(want), "%s", d)
	}
}

// The reconciler asks to run again when the next notice threshold is
// crossed, from its clock: no polling.
func TestExpiryRequeuesAtTheNextNoticeThreshold(t *testing.T) {
	expiry := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{name: "30 days before: at the 7d notice", now: expiry.Add(-30 * day), want: 23 * day},
		{name: "3 days before: at the 1d notice", now: expiry.Add(-3 * day), want: 2 * day},
		{name: "an hour before: at expireTime", now: expiry.Add(-time.Hour), want: time.Hour},
		{name: "in the grace period: at its end", now: expiry.Add(time.Hour), want: 71 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			r := &SaaSTenantReconciler{Clock: clocktesting.NewFakeClock(tt.now)}
			exp := metav1.NewTime(expiry)
			s := &tenantState{lifecycle: saasv1alpha1.DefaultLifecyclePolicy(), tenant: &saasv1alpha1.SaaSTenant{
				Spec: saasv1alpha1.SaaSTenantSpec{State: saasv1alpha1.StateActive, ExpireTime: &exp}}}
			r.applyExpiry(s, nil)
			g.Expect(s.result.RequeueAfter).To(Equal(tt.want))
		})
	}
}

// tenantEvents counts the Events about the tenant with reason.
func tenantEvents(t *testing.T, name, reason string) func() (int, error) {
	return func() (int, error) {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(testContext(t), list); err != nil {
			return 0, err
		}
		n := 0
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
				n++
			}
		}
		return n, nil
	}
}

// noticeData is the tenant's kooper-notice ConfigMap's data; nil when
// there is none.
func noticeData(t *testing.T, ns string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		cm := &corev1.ConfigMap{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: saasv1alpha1.NoticeConfigMapName}, cm)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return cm.Data, err
	}
}

func TestExpiryNoticesAtEachThresholdAndInTheGracePeriod(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Expiry.GraceSeconds = ptr.To[int32](3600) })
	restoreClockAfter(t)
	expiry := metav1.NewTime(fakeClock.Now().Add(10 * day).UTC().Truncate(time.Second))
	stamp := expiry.UTC().Format(time.RFC3339)
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	provisionedTenant := eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	g.Expect(apimeta.FindStatusCondition(provisionedTenant.Status.Conditions, saasv1alpha1.ExpiringSoonCondition)).To(BeNil(), "10 days left: no notice")
	g.Expect(provisionedTenant.Status.ExpiryNotice).To(BeNil())
	g.Expect(noticeData(t, ns)()).To(BeNil())

	// 7 days.
	fakeClock.SetTime(expiry.Add(-7*day + time.Minute))
	poke(t, tenant)
	noticed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionTrue, saasv1alpha1.ExpiringSoonReason))
	g.Expect(apimeta.FindStatusCondition(noticed.Status.Conditions, saasv1alpha1.ExpiringSoonCondition).Message).To(
		Equal("Expires in 6d 23h (" + stamp + "), within the 7d notice"))
	g.Expect(noticed.Status.ExpiryNotice).To(PointTo(MatchAllFields(Fields{"Stage": Equal(saasv1alpha1.ExpiryStageExpiring),
		"ExpireTime": HaveField("Time", BeTemporally("==", expiry.Time)), "ThresholdSeconds": Equal(int32(604800))})))
	g.Expect(noticeData(t, ns)()).To(Equal(map[string]string{"stage": "Expiring", "expireTime": stamp, "thresholdSeconds": "604800"}))
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.ExpiringSoonReason)).Should(Equal(1))

	// Another reconcile within the same notice: no second Event.
	fakeClock.Step(time.Hour)
	poke(t, tenant)
	g.Consistently(tenantEvents(t, tenant.Name, saasv1alpha1.ExpiringSoonReason), 2*time.Second).Should(Equal(1))

	// 1 day.
	fakeClock.SetTime(expiry.Add(-day + time.Minute))
	poke(t, tenant)
	noticed = eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.ExpiryNotice).NotTo(BeNil())
		g.Expect(tn.Status.ExpiryNotice.ThresholdSeconds).To(Equal(int32(86400)))
	})
	g.Expect(apimeta.FindStatusCondition(noticed.Status.Conditions, saasv1alpha1.ExpiringSoonCondition).Message).To(
		Equal("Expires in 23h 59m (" + stamp + "), within the 1d notice"))
	g.Expect(noticeData(t, ns)()).To(HaveKeyWithValue("thresholdSeconds", "86400"))
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.ExpiringSoonReason)).Should(Equal(2))

	// The grace period: still serving, noticed.
	fakeClock.SetTime(expiry.Add(30 * time.Minute))
	poke(t, tenant)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionTrue, saasv1alpha1.GracePeriodReason))
	g.Eventually(noticeData(t, ns)).Should(Equal(map[string]string{"stage": "Grace", "expireTime": stamp, "thresholdSeconds": "0"}))
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.GracePeriodReason)).Should(Equal(1))
	g.Expect(deploymentReplicas(t, ns)()).To(Equal(int32(1)))

	// Past the grace period: Expired and frozen; ExpiringSoon False, the
	// notice says Expired.
	fakeClock.SetTime(expiry.Add(61 * time.Minute))
	poke(t, tenant)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionFalse, saasv1alpha1.ExpiredReason))
	g.Eventually(noticeData(t, ns)).Should(HaveKeyWithValue("stage", "Expired"))

	// A renewal clears it all.
	later := metav1.NewTime(expiry.AddDate(1, 0, 0))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &later })
	renewed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionFalse, saasv1alpha1.NotExpiringReason))
	g.Expect(renewed.Status.ExpiryNotice).To(BeNil())
	g.Expect(noticeData(t, ns)()).To(BeNil())
	g.Expect(tenantEvents(t, tenant.Name, saasv1alpha1.ExpiringSoonReason)()).To(Equal(2))
}

func TestARenewalWithinANoticeClearsIt(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Expiry.NoticeSeconds = []int32{3 * 86400} })
	restoreClockAfter(t)
	expiry := metav1.NewTime(fakeClock.Now().Add(2 * day).UTC().Truncate(time.Second))
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	ns := "tenant-" + tenant.Name
	noticed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionTrue, saasv1alpha1.ExpiringSoonReason))
	g.Expect(apimeta.FindStatusCondition(noticed.Status.Conditions, saasv1alpha1.ExpiringSoonCondition).Message).To(ContainSubstring("within the 3d notice"))
	g.Eventually(noticeData(t, ns)).Should(HaveKeyWithValue("thresholdSeconds", "259200"))
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.ExpiringSoonReason)).Should(Equal(1))

	later := metav1.NewTime(expiry.AddDate(0, 1, 0))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &later })
	renewed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionFalse, saasv1alpha1.NotExpiringReason))
	g.Expect(renewed.Status.ExpiryNotice).To(BeNil())
	g.Expect(noticeData(t, ns)()).To(BeNil())
}

// A tenant released during its notice keeps none: the notice leaves its
// status and kooper-notice its kept namespace (found by a fresh-user trial).
func TestAReleaseClearsTheNotice(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	restoreClockAfter(t)
	expiry := metav1.NewTime(fakeClock.Now().Add(2 * day).UTC().Truncate(time.Second))
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	ns := "tenant-" + tenant.Name
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ExpiringSoonCondition, metav1.ConditionTrue, saasv1alpha1.ExpiringSoonReason))
	g.Eventually(noticeData(t, ns)).ShouldNot(BeNil())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.ExpiryNotice).To(BeNil())
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ExpiringSoonCondition)).To(BeNil())
	})
	g.Eventually(noticeData(t, ns)).Should(BeNil())
}
