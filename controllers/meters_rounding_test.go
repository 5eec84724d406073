package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The metering controller rounds each hour to the meter's decimals and
// pushes nothing for an hour that rounds to 0 (measureWindow): a memory
// meter at 0 decimals of one replica requesting 256Mi measures 0.25
// GiB-hours an hour, which HalfUp makes 0, so every tenant's every hour
// bills nothing. MetersValid judges the rounded hour, as billed, and says
// what to change; with 4 decimals, or rounding Up, the hour bills.
func TestAMeterWhoseHourRoundsToZeroIsNotValid(t *testing.T) {
	product := func(meter saasv1alpha1.Meter) *saasv1alpha1.SaaSProduct {
		return &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{NamespacePrefix: "crm",
			Workload: &saasv1alpha1.WorkloadTemplate{Resources: &saasv1alpha1.ContainerResources{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}},
			Plans:    []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
			Metering: &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{meter}}}}
	}
	memory := func(decimals int32, rounding saasv1alpha1.MeterRounding) saasv1alpha1.Meter {
		return saasv1alpha1.Meter{Name: "memory", Source: saasv1alpha1.MeterMemoryGiBHours, Decimals: ptr.To(decimals), Rounding: rounding}
	}
	cases := []struct {
		name  string
		meter saasv1alpha1.Meter
		want  string // "": MetersValid is True
	}{
		{name: "0 decimals, the default rounding", meter: memory(0, ""),
			want: "Meter memory (MemoryGiBHours) bills 0 every hour for every tenant: an active tenant's hour measures 0.25, " +
				"which rounds to 0 at 0 decimals with rounding HalfUp; set decimals to 1 or more, or rounding to Up"},
		{name: "0 decimals, rounding Down", meter: memory(0, saasv1alpha1.RoundDown),
			want: "Meter memory (MemoryGiBHours) bills 0 every hour for every tenant: an active tenant's hour measures 0.25, " +
				"which rounds to 0 at 0 decimals with rounding Down; set decimals to 1 or more, or rounding to Up"},
		{name: "4 decimals", meter: memory(4, "")},
		{name: "0 decimals, rounding Up", meter: memory(0, saasv1alpha1.RoundUp)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := metersCondition(product(tc.meter), "")
			g.Expect(cond).NotTo(BeNil())
			if tc.want == "" {
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
				g.Expect(cond.Reason).To(Equal(saasv1alpha1.SucceededReason))
				return
			}
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(saasv1alpha1.MeterMeasuresNothingReason))
			g.Expect(cond.Message).To(Equal(tc.want))
		})
	}
}
