package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A meter that bills wrongly says nothing where it bills: each tenant's
// Metered stays True while the meter pushes 0 every hour, or pushes every
// buyer what all tenants used together. The product says so (MetersValid),
// naming the meter, with a Warning Event, and stays Ready, so that what is
// already sold keeps running. newTenantProduct's workload requests cpu and
// memory and stores 1Gi; its pro plan's resources request cpu only, and
// replace the workload's.
func TestAMeterThatBillsWronglyIsReportedOnTheProduct(t *testing.T) {
	cases := []struct {
		name   string
		meter  saasv1alpha1.Meter
		change func(*saasv1alpha1.SaaSProduct)
		reason string
		want   string
	}{
		{name: "a query of every tenant's requests together", reason: saasv1alpha1.QueryNotPerTenantReason,
			meter: saasv1alpha1.Meter{Name: "requests", Source: saasv1alpha1.MeterPrometheus, Query: `sum(increase(http_requests_total[{{.Window}}]))`},
			want:  "Meter requests: its query is the same for every tenant, so each buyer would be billed what all tenants used together"},
		{name: "a query of the tenants sharing a part of the instance ID", reason: saasv1alpha1.QueryNotPerTenantReason,
			meter: saasv1alpha1.Meter{Name: "requests", Source: saasv1alpha1.MeterPrometheus,
				Query: `sum(increase(http_requests_total{tenant=~"{{slice .InstanceID 0 10}}.*"}[{{.Window}}]))`},
			want: "Meter requests: its query leaves out digits 9-20 of the instance ID, so tenants whose IDs agree on the others would each be billed what they used together"},
		{name: "a memory meter of a plan that requests no memory", reason: saasv1alpha1.MeterMeasuresNothingReason,
			meter: saasv1alpha1.Meter{Name: "memory", Source: saasv1alpha1.MeterMemoryGiBHours},
			want:  "Meter memory (MemoryGiBHours) bills 0 every hour for the tenants of plan pro: no requests.memory in the plan's resources"},
		{name: "a storage meter of a workload without storage", reason: saasv1alpha1.MeterMeasuresNothingReason,
			meter:  saasv1alpha1.Meter{Name: "storage", Source: saasv1alpha1.MeterStorageGiBHours},
			change: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage = nil },
			want:   "Meter storage (StorageGiBHours) bills 0 every hour for every tenant: spec.workload has no storage"},
		{name: "meters of each tenant's own usage", reason: saasv1alpha1.SucceededReason,
			meter: saasv1alpha1.Meter{Name: "cpu", Source: saasv1alpha1.MeterCPUCoreHours},
			want:  "Every meter measures each tenant's own usage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "hours", Source: saasv1alpha1.MeterTenantHours}, tc.meter}}
				if tc.change != nil {
					tc.change(p)
				}
			})
			status := map[bool]metav1.ConditionStatus{true: metav1.ConditionTrue, false: metav1.ConditionFalse}[tc.reason == saasv1alpha1.SucceededReason]
			cond := expectCondition(t, product, saasv1alpha1.MetersValidCondition, status, tc.reason)
			g.Expect(cond.Message).To(HavePrefix(tc.want))
			expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
			if status == metav1.ConditionFalse {
				expectEventSaying(t, product.Name, tc.reason, tc.want)
			}
		})
	}
}
