package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A meter removed while hours are unpushed (a backlog: here kooper did not
// push for three hours) drops that meter's usage of them: the unpushed
// hours are measured with the product's meters as they are now. Before,
// nothing said so. Now a Warning Event MetersChanged names the meters
// removed and added and the cursor. A change with no backlog (only the
// hour just closed unpushed) is no news: no Event.
func TestMetersChangedOverUnpushedHoursAreAnnounced(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:2]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(7)
	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	meter := func(at time.Duration) {
		t.Helper()
		_, err := meterAt(t, r, h.Add(at), tenant.Name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	meter(0)
	meter(time.Hour + 5*time.Minute)

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering.Meters = []saasv1alpha1.Meter{threeMeters[0], threeMeters[2]}
	})
	meter(4*time.Hour + 5*time.Minute)
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring("Warning MetersChanged"),
		ContainSubstring("from "+h.Add(time.Hour).Format(time.RFC3339)),
		ContainSubstring("removed: replicas"), ContainSubstring("added: cpu"))))
	g.Expect(pushedValues(tenant.Name, threeMeters)).NotTo(HaveKey(h.Add(2*time.Hour).Format("1504")+" replicas"),
		"the removed meter's unpushed hours are not pushed, as the Event says")

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering.Meters = meters })
	meter(5*time.Hour + 5*time.Minute) // one hour unpushed: the hour just closed
	g.Expect(recorder.Events).NotTo(Receive(ContainSubstring("MetersChanged")))
}
