package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// The spec lists the usage push's per-record codes but not the JSON that
// carries them (§8 item 19). A failed record the answer names by another
// spelling of its metering_sn than kooper sent, or by none, was skipped:
// its window moved past the cursor and it counted as accepted, usage never
// billed and never reported.

// unmatchedMeters is one meter of its own, so that its counters move only
// with these tests.
var unmatchedMeters = []saasv1alpha1.Meter{{Name: "unmatched-sn", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}

// respelledAnswer hands each push on to the fake marketplace and respells
// the metering_sn of every record its answer names as failed, as a
// marketplace whose per-record answer is not the shape kooper assumes
// would.
type respelledAnswer struct {
	next    UsagePusher
	respell func(sn string) string
}

func (p respelledAnswer) PushUsage(ctx context.Context, key string, records []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error) {
	failed, err := p.next.PushUsage(ctx, key, records)
	for i := range failed {
		failed[i].MeteringSN = p.respell(failed[i].MeteringSN)
	}
	return failed, err
}

func respellingAnswers(next UsageClientFactory, respell func(string) string) UsageClientFactory {
	return func(ak, sk string) UsagePusher { return respelledAnswer{next: next(ak, sk), respell: respell} }
}

// failedCounterValue reads kooper_usage_records_failed_total{meter,code}.
func failedCounterValue(t *testing.T, meter, code string) float64 {
	t.Helper()
	var m dto.Metric
	NewWithT(t).Expect(usageFailed.WithLabelValues(meter, code).Write(&m)).To(Succeed())
	return m.GetCounter().GetValue()
}

func TestAFailedUsageRecordNamedByAnotherSNIsNotCountedAccepted(t *testing.T) {
	g := NewWithT(t)
	meter := unmatchedMeters[0].Name
	tenant := newMeteredTenant(t, unmatchedMeters)
	h := hourAgo(5)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	// "metering_sn":"" (or null, or a field kooper does not read).
	r.Usage = respellingAnswers(r.Usage, func(string) string { return "" })
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	accepted := counterValue(t, meter, "accepted")
	pushFailed := failedCounterValue(t, meter, "push")

	marketplace.usage.refuse(tenant.Name, "003")
	_, err = meterAt(t, r, h.Add(time.Hour+time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("did not send")), "a failed record kooper cannot place fails the push")
	g.Expect(err).To(MatchError(ContainSubstring("003")))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil == nil || !m.PushedUntil.After(h)).To(BeTrue(), "the window is not past the cursor")
	g.Expect(m.InFlight).NotTo(BeNil(), "the push stays in flight, to be sent again")
	g.Expect(totals(m)).NotTo(HaveKey(meter))
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsagePushFailedReason))
	g.Expect(counterValue(t, meter, "accepted")).To(Equal(accepted), "the record is not counted accepted")
	g.Expect(failedCounterValue(t, meter, "push")).To(Equal(pushFailed+1), "it counts as a failed push")

	// Sent again, the record is taken this time.
	_, err = meterAt(t, r, h.Add(time.Hour+2*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil).NotTo(BeNil())
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
	g.Expect(marketplace.usage.of(tenant.Name)).To(HaveLen(1))
	g.Expect(totals(m)).To(HaveKeyWithValue(meter, "1"))
	g.Expect(counterValue(t, meter, "accepted")).To(Equal(accepted + 1))
	g.Expect(apimeta.IsStatusConditionTrue(m.Conditions, saasv1alpha1.MeteredCondition)).To(BeTrue())
}

func TestAFailedUsageRecordIsMatchedWhateverItsSpacesAndCase(t *testing.T) {
	meter := unmatchedMeters[0].Name
	for _, tc := range []struct {
		name    string
		respell func(string) string
	}{
		{"a trailing space", func(sn string) string { return sn + " " }},
		{"upper case within spaces", func(sn string) string { return " " + strings.ToUpper(sn) + "\t" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := newMeteredTenant(t, unmatchedMeters)
			h := hourAgo(5)
			r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
			r.Usage = respellingAnswers(r.Usage, tc.respell)
			_, err := meterAt(t, r, h, tenant.Name)
			g.Expect(err).NotTo(HaveOccurred())
			accepted := counterValue(t, meter, "accepted")
			refused := failedCounterValue(t, meter, "003")

			// 003 never passes: the record is refused for good, reported,
			// and its window is past the cursor with no usage added.
			marketplace.usage.refuse(tenant.Name, "003")
			_, err = meterAt(t, r, h.Add(time.Hour+time.Minute), tenant.Name)
			g.Expect(err).NotTo(HaveOccurred())
			m := storedMetering(t, tenant.Name)
			g.Expect(m.PushedUntil).NotTo(BeNil())
			g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
			g.Expect(totals(m)).NotTo(HaveKey(meter), "a refused record adds nothing")
			c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(saasv1alpha1.UsageRejectedReason))
			g.Expect(c.Message).To(ContainSubstring("003"))
			g.Expect(counterValue(t, meter, "accepted")).To(Equal(accepted), "the record is not counted accepted")
			g.Expect(failedCounterValue(t, meter, "003")).To(Equal(refused + 1))

			// 013 may pass: the cursor waits at its window.
			marketplace.usage.refuse(tenant.Name, "013")
			_, err = meterAt(t, r, h.Add(2*time.Hour+time.Minute), tenant.Name)
			g.Expect(err).To(MatchError(ContainSubstring("013")))
			m = storedMetering(t, tenant.Name)
			g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
			g.Expect(counterValue(t, meter, "accepted")).To(Equal(accepted))
		})
	}
}
