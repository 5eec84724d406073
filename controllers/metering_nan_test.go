package controllers

import (
	"context"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// constantPrometheus answers every query with one value, as a query like
// sum(a)/sum(b) does with b=0 (NaN), or a meter that overflows.
type constantPrometheus struct{ value float64 }

func (p constantPrometheus) Query(context.Context, string, string, time.Time) (float64, error) {
	return p.value, nil
}

// A Prometheus meter's value that is no usage kooper can bill (not a
// number, infinite, or above what one record carries) is a failed
// measurement, like a failed query: the hour is not pushed as no usage,
// which would lose its revenue without a word, but retried, with
// Metered=False naming the meter. A negative value is no usage.
func TestAPrometheusMeterThatAnswersNoBillableNumberFailsTheHour(t *testing.T) {
	meter := saasv1alpha1.Meter{Name: "ratio", Unit: "call", Source: saasv1alpha1.MeterPrometheus, Query: "sum(a) / sum(b)"}
	for _, tc := range []struct {
		name  string
		value float64
		// fails is a text of the failure; "" when the hour is pushed with no usage.
		fails string
		// advice is what the failure tells the merchant to do.
		advice string
	}{
		{"NaN", math.NaN(), "NaN", "or vector(0)"},
		{"plus infinity", math.Inf(1), "+Inf", "or vector(0)"},
		{"minus infinity", math.Inf(-1), "-Inf", "or vector(0)"},
		{"above what a record carries", 1e16, "more than one usage record carries", "461168601842738.9999"},
		{"negative", -3, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := newMeteredTenant(t, []saasv1alpha1.Meter{meter})
			h := hourAgo(3)
			r := promMetering(clocktesting.NewFakeClock(h), constantPrometheus{tc.value})
			_, err := meterAt(t, r, h, tenant.Name)
			g.Expect(err).NotTo(HaveOccurred(), "metering starts at h")

			_, err = meterAt(t, r, h.Add(time.Hour+time.Minute), tenant.Name)
			m := storedMetering(t, tenant.Name)
			c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(marketplace.usage.of(tenant.Name)).To(BeEmpty(), "no record")
			if tc.fails == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)), "the hour is pushed, with no usage")
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				return
			}
			g.Expect(err).To(MatchError(And(ContainSubstring("meter ratio"), ContainSubstring(tc.fails))))
			g.Expect(m.PushedUntil).To(BeNil(), "the hour is retried, not skipped")
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(saasv1alpha1.MeterSourceFailedReason))
			g.Expect(c.Message).To(And(ContainSubstring("meter ratio"), ContainSubstring(tc.advice)))
		})
	}
}
