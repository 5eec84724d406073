package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The merchant renames the plan a metered tenant runs: the tenant stalls
// PlanNotFound and its workload keeps running as it was last applied.
// Before, the built-in meters measured no plan, so 0 replicas and 0 CPU,
// and the hours it kept serving were billed as nothing. Now they measure
// what was last applied (status.applied).
func TestARenamedPlanBillsWhatTheTenantStillRuns(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(3)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	changeProduct(t, tenant.Spec.ProductName, func(p *saasv1alpha1.SaaSProduct) {
		for i := range p.Spec.Plans {
			if p.Spec.Plans[i].SKUCode == "basic" {
				p.Spec.Plans[i].SKUCode = "basic-2026"
			}
		}
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))
	_, err = meterAt(t, r, h.Add(30*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	hhmm := h.Format("1504")
	g.Expect(pushedValues(tenant.Name, threeMeters)).To(Equal(map[string]string{
		// One replica of 100m, as applied, the whole hour.
		hhmm + " duration": "1", hhmm + " replicas": "1", hhmm + " cpu": "0.1",
	}))
}
