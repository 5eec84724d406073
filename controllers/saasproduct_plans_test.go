package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestAPlanWhoseQuotaCannotHoldARolloutIsRefused(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Storage = nil // a RollingUpdate strategy
		p.Spec.Plans[1].Quota = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}
	})
	cond := expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionFalse, saasv1alpha1.QuotaTooSmallReason)
	g.Expect(cond.Message).To(Equal("plan pro: quota pods=3 cannot hold the 4 pods of a rolling update (3 replicas and 1 surge); " +
		"raise the quota, or lower the replicas or resources"))
	ready := expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.QuotaTooSmallReason)
	g.Expect(ready.Message).To(Equal(cond.Message))
	expectEvent(t, product.Name, corev1.EventTypeWarning, saasv1alpha1.QuotaTooSmallReason)

	// A tenant on that plan is refused, with the same words, and runs nothing.
	tenant := newTenant(t, product, "pro", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.QuotaTooSmallReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(HavePrefix("plan pro: quota pods=3"))
	g.Expect(stalled.Status.Namespace).To(BeEmpty(), "nothing is provisioned")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Quota = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}
	})
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	eventuallyTenant(t, tenant.Name, provisioned)
}

// A product stored before the schema refused more than one replica on a
// volume that attaches to one node is reported on PlansValid (issue 28).
func TestPlansOfSeveralReplicasOnOneNodeVolumes(t *testing.T) {
	product := func(mode corev1.PersistentVolumeAccessMode, replicas int32) *saasv1alpha1.SaaSProduct {
		return &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Workload: &saasv1alpha1.WorkloadTemplate{Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse("5Gi"), AccessMode: mode}},
			Plans:    []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}, {SKUCode: "pro", Replicas: replicas}},
		}}
	}
	g := NewWithT(t)
	cond := plansCondition(product(corev1.ReadWriteOnce, 3))
	g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.VolumeNotSharedReason))
	g.Expect(cond.Message).To(HavePrefix("plan pro runs 3 replicas: a ReadWriteOnce volume attaches to one node"))
	g.Expect(plansCondition(product("", 2)).Reason).To(Equal(saasv1alpha1.VolumeNotSharedReason), "unset is ReadWriteOnce")
	g.Expect(plansCondition(product(corev1.ReadWriteMany, 3)).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(plansCondition(product(corev1.ReadWriteOnce, 1)).Status).To(Equal(metav1.ConditionTrue))
}

// A chart product's tenants run what the chart's values say: plans[].replicas,
// which only a workload's Deployment reads, would be ignored without a
// word. PlansValid says so, and stays True: the product's tenants run.
// Replicas 1 is the schema's default, so it is not told from a plan that
// leaves replicas out, and says nothing.
func TestPlansValidSaysReplicasHaveNoEffectOnAChart(t *testing.T) {
	product := func(replicas ...int32) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}}}
		for i, n := range replicas {
			p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: []string{"basic", "pro", "max"}[i], Replicas: n})
		}
		return p
	}
	const unchecked = "Plans of a chart are not checked against their quotas: each quota bounds what the chart runs for a tenant"
	g := NewWithT(t)

	cond := plansCondition(product(1, 3, 0))
	g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.SucceededReason))
	g.Expect(cond.Message).To(Equal(unchecked + "; plans[].replicas has no effect on a chart product, whose tenants run the replica " +
		"counts the chart's values set (spec.chart.values, plans[].values): plan pro sets replicas: 3, plan max sets replicas: 0"))

	g.Expect(plansCondition(product(1, 1)).Message).To(Equal(unchecked), "the default says nothing")

	workload := product(3)
	workload.Spec.Chart, workload.Spec.Workload = nil, &saasv1alpha1.WorkloadTemplate{}
	g.Expect(plansCondition(workload).Message).NotTo(ContainSubstring("no effect"), "a workload runs the plan's replicas")
}
