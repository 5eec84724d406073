package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// tenantHoursMeters are built-in meters named after names, each counting
// the tenant's hours.
func tenantHoursMeters(names ...string) []saasv1alpha1.Meter {
	out := make([]saasv1alpha1.Meter, len(names))
	for i, name := range names {
		out[i] = saasv1alpha1.Meter{Name: name, Unit: "hour", Source: saasv1alpha1.MeterTenantHours}
	}
	return out
}

// seedTotals writes totals into the tenant's status.metering.meters, as
// years of pushes under other meters would have left them.
func seedTotals(t *testing.T, name string, totals []saasv1alpha1.MeterUsage) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		tn := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		before := tn.DeepCopy()
		tn.Status.Metering.Meters = totals
		return k8sClient.Status().Patch(testContext(t), tn, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}).Should(Succeed())
}

// status.metering.meters holds at most 8 totals (MaxItems), and a product
// declares at most 8 meters. A tenant billed over the years for 8 meter
// names, whose product now meters a 9th (changing a live product's meters
// is supported), had its total appended: the API server refused every
// write that moved the cursor (422, maxItems), the marketplace answered
// each retry as a duplicate, and no later hour of the tenant was billed,
// while Metered still said usage was pushed. Now the total of a meter the
// product no longer declares makes room (the oldest first), every
// declared meter's total is kept, and a Normal Event names what was
// dropped.
func TestAMeterAddedAfterEightKeepsTheTenantBilled(t *testing.T) {
	g := NewWithT(t)
	declared := tenantHoursMeters("a", "b", "c", "d", "e", "f", "g", "i")
	tenant := newMeteredTenant(t, declared)
	h := hourAgo(5)
	recorder := events.NewFakeRecorder(10)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Recorder = recorder
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	var old []saasv1alpha1.MeterUsage
	for i, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		old = append(old, saasv1alpha1.MeterUsage{Name: name, Total: fmt.Sprintf("%d", 10+i)})
	}
	seedTotals(t, tenant.Name, old)

	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), "the write that moves the cursor goes through")
	g.Expect(pushedValues(tenant.Name, declared)).To(HaveKeyWithValue(h.Format("1504")+" i", "1"))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil).NotTo(BeNil())
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
	g.Expect(m.Meters).To(HaveLen(8))
	g.Expect(totals(m)).To(Equal(map[string]string{
		"a": "11", "b": "12", "c": "13", "d": "14", "e": "15", "f": "16", "g": "17", "i": "1",
	}), "every declared meter's total is kept; h, no longer declared, made room for i")
	g.Expect(apimeta.IsStatusConditionTrue(m.Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring("Normal MeterTotalsDropped"),
		ContainSubstring("h (17)"), ContainSubstring("usageInfo"))))

	// The next hour adds to the totals it holds, and drops nothing more.
	_, err = meterAt(t, r, h.Add(2*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	g.Expect(totals(m)).To(HaveKeyWithValue("i", "2"))
	g.Expect(recorder.Events).NotTo(Receive(ContainSubstring("MeterTotalsDropped")))
}

// refusesAdvance refuses, as the API server refuses an invalid object
// (422), every status write that moves status.metering.pushedUntil past
// after; every other write goes through.
type refusesAdvance struct {
	client.Client
	after time.Time
}

func (c refusesAdvance) Status() client.SubResourceWriter {
	return advanceRefuser{c.Client.Status(), c.after}
}

type advanceRefuser struct {
	client.SubResourceWriter
	after time.Time
}

func (w advanceRefuser) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if t, ok := obj.(*saasv1alpha1.SaaSTenant); ok && t.Status.Metering != nil && t.Status.Metering.PushedUntil != nil &&
		t.Status.Metering.PushedUntil.After(w.after) {
		return apierrors.NewInvalid(saasv1alpha1.GroupVersion.WithKind("SaaSTenant").GroupKind(), t.Name,
			field.ErrorList{field.Invalid(field.NewPath("status", "metering"), "", "injected: refused")})
	}
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// The write that moves the cursor after an accepted push, refused for
// another reason than a conflict, left Metered saying "Usage is pushed up
// to status.metering.pushedUntil" while the cursor stood still and every
// later hour waited. Now Metered turns False, UsagePushFailed, with the
// API server's answer; the retry resends the push (duplicates) and moves
// the cursor once the write goes through.
func TestAnAdvanceWriteRefusedTurnsMeteredFalse(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters[:1])
	h := hourAgo(5)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apimeta.IsStatusConditionTrue(storedMetering(t, tenant.Name).Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())

	refused := meteringAt(refusesAdvance{k8sClient, h.Add(time.Hour)}, clocktesting.NewFakeClock(h))
	_, err = meterAt(t, refused, h.Add(2*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("injected: refused")))
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(2), "the push went through")
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)), "but the cursor did not move")
	g.Expect(m.InFlight).NotTo(BeNil(), "the push stays in flight, to be sent again as it was")
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsagePushFailedReason))
	g.Expect(c.Message).To(ContainSubstring("injected: refused"))

	_, err = meterAt(t, r, h.Add(2*time.Hour+6*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(2*time.Hour)))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "2"}))
	g.Expect(apimeta.IsStatusConditionTrue(m.Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())
}
