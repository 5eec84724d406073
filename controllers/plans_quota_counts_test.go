package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A plan's object-count quota below what kooper itself writes in every
// tenant namespace refuses kooper's own writes mid-way (403 exceeded
// quota): the apply stops at the first, the expiry notice is never
// delivered. PlansValid names the plan, the quota, its value and what a
// tenant namespace holds, for a workload product (its tenants are stalled
// with the same words, as for pods) and for a chart product, from the
// example tenant's render of each plan.
func TestPlansValidNamesACountQuotaBelowWhatATenantNamespaceHolds(t *testing.T) {
	q := resource.MustParse
	const holds = "cannot hold what every tenant namespace holds, "
	workload := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
		Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:1.0",
			Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
		Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourceConfigMaps: q("1")}}}}}
	chart := func(quota corev1.ResourceList, change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Quota: quota}}}}
		if change != nil {
			change(p)
		}
		return p
	}
	renders := []planRender{{skuCode: "basic", objects: []*unstructured.Unstructured{
		renderedDeployment(t, "i-example-web", requesting("web", nil, nil))}}}
	rolloutTooSmall := "plan basic: quota count/replicasets.apps=11 " + holds + "at least 12: the 12 ReplicaSets of Deployment i-example-web " +
		"during a rollout (the 10 old ones its revisionHistoryLimit keeps, the current one and the new one)" + chartQuotaCountsTooSmall
	cases := []struct {
		name        string
		product     *saasv1alpha1.SaaSProduct
		renders     []planRender
		unchecked   bool // the chart was not checked this time (s.chart nil)
		wantReason  string
		wantMessage string
	}{
		{name: "a workload's expiry notice beside kube-root-ca.crt", product: workload, wantReason: saasv1alpha1.QuotaTooSmallReason,
			wantMessage: "plan basic: quota configmaps=1 " + holds + "at least 2: ConfigMap kooper-notice (while an expiry notice is due), " +
				"ConfigMap kube-root-ca.crt (kube-controller-manager's); raise the quota, or lower the replicas or resources"},
		{name: "a chart Deployment's ReplicaSets in a rollout", product: chart(corev1.ResourceList{"count/replicasets.apps": q("11")}, nil),
			renders: renders, wantReason: saasv1alpha1.QuotaTooSmallReason, wantMessage: rolloutTooSmall},
		{name: "room for them", product: chart(corev1.ResourceList{"count/replicasets.apps": q("12")}, nil), renders: renders,
			wantReason: saasv1alpha1.SucceededReason},
		{name: "a package plan's tenants have no namespace", product: chart(corev1.ResourceList{"count/replicasets.apps": q("0")},
			func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Packages = &saasv1alpha1.PackagesSpec{}
				p.Spec.Plans[0].Package = &saasv1alpha1.PackageTerms{Quota: "100"}
			}), renders: renders, wantReason: saasv1alpha1.SucceededReason},
		{name: "a chart not checked this time keeps what was said of the chart the tenants run",
			product: chart(corev1.ResourceList{"count/replicasets.apps": q("11")}, func(p *saasv1alpha1.SaaSProduct) {
				p.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.PlansValidCondition, Status: metav1.ConditionFalse,
					Reason: saasv1alpha1.QuotaTooSmallReason, Message: rolloutTooSmall}}
			}), unchecked: true, wantReason: saasv1alpha1.QuotaTooSmallReason, wantMessage: rolloutTooSmall},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var cond metav1.Condition
			if tc.unchecked {
				s := &productState{product: tc.product}
				(&SaaSProductReconciler{}).checkPlans(testContext(t), s)
				g.Expect(s.conds).To(HaveLen(1))
				cond = s.conds[0]
			} else {
				cond = plansValidOf(t, tc.product, tc.renders)
			}
			g.Expect(cond.Reason).To(Equal(tc.wantReason), cond.Message)
			if tc.wantMessage != "" {
				g.Expect(cond.Message).To(Equal(tc.wantMessage))
			}
		})
	}
}
