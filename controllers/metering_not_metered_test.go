package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A pay-per-use tenant whose product stops metering it (the merchant
// removes spec.metering) is let go: nothing of it is measured or pushed
// from then on. Before, its Metered condition kept saying "Usage is pushed
// up to status.metering.pushedUntil", True, for ever, beside a Metered
// Until column that no longer moved. Now Metered turns False, NotMetered,
// saying since when, in the write that gives its usage up; it is written
// once, not at each pass; and when the product meters the tenant again the
// condition goes, as for a tenant whose metering just started, until the
// first push sets it again.
func TestMeteredSaysNotMeteredOnceTheProductStopsMetering(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(6)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	meter := func(at time.Duration) {
		t.Helper()
		_, err := meterAt(t, r, h.Add(at), tenant.Name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	metered := func() *metav1.Condition {
		t.Helper()
		return apimeta.FindStatusCondition(storedMetering(t, tenant.Name).Conditions, saasv1alpha1.MeteredCondition)
	}
	meter(0)
	meter(time.Hour + 5*time.Minute) // pushes [h, h+1h)
	g.Expect(metered()).To(HaveField("Status", metav1.ConditionTrue))

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil })
	stopped := h.Add(time.Hour + 20*time.Minute)
	meter(time.Hour + 20*time.Minute)
	c := metered()
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse), c.Message)
	g.Expect(c.Reason).To(Equal(saasv1alpha1.NotMeteredReason))
	g.Expect(c.Message).To(And(
		ContainSubstring("SaaSProduct "+tenant.Spec.ProductName+" no longer meters this tenant"),
		ContainSubstring("since "+stopped.Format(time.RFC3339)),
		ContainSubstring("no spec.metering.meters")))
	g.Expect(storedMetering(t, tenant.Name).PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)), "where pushing stopped")

	meter(3 * time.Hour)
	g.Expect(metered()).To(Equal(c), "a later pass leaves it as it is, since when included")

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: meters}
	})
	meter(3*time.Hour + 30*time.Minute) // metered again from here
	g.Expect(metered()).To(BeNil(), "metered again: no word until its first push, as a tenant just started")
	meter(4*time.Hour + 5*time.Minute) // pushes [h+3h30m, h+4h)
	c = metered()
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	g.Expect(c.Reason).To(Equal(saasv1alpha1.SucceededReason))
	g.Expect(storedMetering(t, tenant.Name).PushedUntil.Time).To(BeTemporally("==", h.Add(4*time.Hour)))
}
