package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A chart product's load balancer ranges (chart.ingressAllowFrom) reach
// its tenants' NetworkPolicy, as a workload's do: without them the traffic
// of a cce-class Ingress or a NodePort Service the chart renders is dropped
// while the tenant reports Ready.
func TestAChartProductsLoadBalancerRangesReachTheNetworkPolicy(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.IngressAllowFrom = []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}}
	})
	key := client.ObjectKey{Namespace: tenantobjects.NamespaceName(product, tenant.Spec.InstanceID), Name: tenantobjects.NetworkPolicyName}
	policy := &networkingv1.NetworkPolicy{}
	g.Expect(k8sClient.Get(testContext(t), key, policy)).To(Succeed())
	g.Expect(policy.Spec.Ingress[0].From).To(ContainElement(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "100.125.0.0/16"}}))
}

// A chart product's load balancer range the API server would refuse stalls
// its tenants with IngressSourceInvalid, before anything is made, as a
// workload's does (TestAnInvalidLoadBalancerRangeStallsTheTenant).
func TestAnInvalidChartLoadBalancerRangeStallsTheTenant(t *testing.T) {
	product, digest := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.IngressAllowFrom = []saasv1alpha1.IPBlock{{CIDR: "100.125.0.1/16"}}
	})
	resolveChart(t, product.Name, digest)
	tenant := newTenant(t, product, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressSourceInvalidReason))
	NewWithT(t).Expect(stalled.Status.Namespace).To(BeEmpty())
}
