package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Metering turned off and on again by the merchant, while the buyer froze
// the tenant in between. Turning it off says, in a Warning Event, that the
// usage from the cursor on is not pushed; kooper observes nothing of the
// tenant meanwhile. Before, turning it on again pushed from the old cursor,
// measuring every hour of the gap with the last segment seen before it
// (Active, one replica): frozen hours billed, against the Event's word.
// Now metering starts again when kooper sees the meters back, and no record
// covers the gap.
func TestMeteringTurnedOffAndOnAgainBillsNoHourOfTheGap(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(6)
	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	meter := func(at time.Duration) {
		t.Helper()
		_, err := meterAt(t, r, h.Add(at), tenant.Name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	meter(10 * time.Minute)
	meter(time.Hour + 5*time.Minute) // pushes [h+10m, h+1h)

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil })
	meter(time.Hour + 20*time.Minute)
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).NotTo(ContainElement(saasv1alpha1.MeteringFinalizer))
	})
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring(saasv1alpha1.UsageAbandonedReason),
		ContainSubstring("Usage from "+h.Add(time.Hour).Format(time.RFC3339)))))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	meter(2 * time.Hour)
	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: threeMeters}
	})
	meter(4*time.Hour + 30*time.Minute) // metered again, still frozen
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	meter(4*time.Hour + 45*time.Minute)
	meter(5*time.Hour + 5*time.Minute) // pushes [h+4h30m, h+5h)

	hhmm := func(d time.Duration) string { return h.Add(d).Format("1504") }
	g.Expect(pushedValues(tenant.Name, threeMeters)).To(Equal(map[string]string{
		hhmm(10*time.Minute) + " duration": "0.8333", hhmm(10*time.Minute) + " replicas": "0.8333", hhmm(10*time.Minute) + " cpu": "0.0833",
		// Frozen from the meters' return at :30 to the unfreeze at :45.
		hhmm(4*time.Hour+30*time.Minute) + " duration": "0.25", hhmm(4*time.Hour+30*time.Minute) + " replicas": "0.25",
		hhmm(4*time.Hour+30*time.Minute) + " cpu": "0.025",
	}), "no record covers the hours from h+1h to h+4h30m")
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(5*time.Hour)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "1.0833", "replicas": "1.0833", "cpu": "0.1083"}))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Finalizers).To(ContainElement(saasv1alpha1.MeteringFinalizer), "held again for its usage")
	})
}

// A push written down and sent, whose answer was lost (statusLost), when
// the merchant turns metering off: the Event says that push's hours may
// have reached the marketplace and are not sent again, and turning
// metering on again neither resends it nor moves the cursor back over the
// gap.
func TestMeteringTurnedOffWithAPushInFlightSaysSoAndNeverResendsIt(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(8)
	_, err := meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, meteringAt(statusLost{k8sClient}, clocktesting.NewFakeClock(h)), h.Add(2*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("injected")))
	g.Expect(storedMetering(t, tenant.Name).InFlight).NotTo(BeNil(), "the push is in flight")
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(2))

	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil })
	_, err = meterAt(t, r, h.Add(2*time.Hour+10*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring(saasv1alpha1.UsageAbandonedReason),
		ContainSubstring("Usage from "+h.Format(time.RFC3339)),
		ContainSubstring("the push of the hours from "+h.Format(time.RFC3339)+" to "+h.Add(2*time.Hour).Format(time.RFC3339)))))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.InFlight).To(BeNil())
	g.Expect(m.Segments).To(BeEmpty())

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: meters}
	})
	_, err = meterAt(t, r, h.Add(3*time.Hour+30*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(4*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(marketplace.usage.duplicatesOf(tenant.Name)).To(BeZero(), "the abandoned push is not sent again")
	hhmm := func(d time.Duration) string { return h.Add(d).Format("1504") }
	g.Expect(pushedValues(tenant.Name, meters)).To(Equal(map[string]string{
		hhmm(0) + " duration": "1", hhmm(time.Hour) + " duration": "1", // the lost answer's push
		hhmm(3*time.Hour+30*time.Minute) + " duration": "0.5",
	}))
	g.Expect(storedMetering(t, tenant.Name).PushedUntil.Time).To(BeTemporally("==", h.Add(4*time.Hour)))
}
