package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// One plan whose values add an object no tenant may hold (a ClusterRole)
// refuses that plan only: the chart of a new product is recorded, so a
// buyer of another plan is provisioned, a buyer of that plan stalls on its
// own render, and the product names the plan and its refused object.
// A product that already records a chart keeps it.
func TestAPlanWhoseChartRenderIsRefusedLeavesTheOtherPlansSold(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3},"report":{"enabled":false},"files":{"enabled":false},
			"extraObjects":[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"pro-admin"}}]}`)
	})

	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	cond := expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason, "plan pro")
	g.Expect(cond.Message).To(ContainSubstring("rbac.authorization.k8s.io/ClusterRole pro-admin: kind not allowed in a tenant namespace"))
	g.Expect(cond.Message).To(ContainSubstring("the tenants of plan basic run it"))
	g.Expect(cond.Message).NotTo(ContainSubstring("would run for no tenant"))
	// Ready stays False: kubectl wait --for=condition=Ready still means
	// every plan can be sold.
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason)

	basic := newTenant(t, product, "basic", nil)
	pro := newTenant(t, product, "pro", nil)
	eventuallyTenant(t, basic.Name, provisioned)
	stalled := eventuallyTenant(t, pro.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).
		To(ContainSubstring("ClusterRole pro-admin"))
	g.Expect(stalled.Status.Inventory).To(BeEmpty(), "nothing of a refused render is applied")

	// A new chart refused on plan pro does not replace the recorded one:
	// every tenant keeps the chart it runs.
	newer := crmChartTgz(t, withVersion("1.3.0"))
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: product.Name + "-chart"}, secret)).To(Succeed())
	patchSecretData(t, secret, "chart.tgz", newer)
	cond = expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason, "crm 1.3.0")
	g.Expect(cond.Message).To(ContainSubstring("plan pro's render is refused"))
	g.Expect(cond.Message).To(HaveSuffix("keeps chart " + digest + ", the one status.chart records"))
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: digest, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
}
