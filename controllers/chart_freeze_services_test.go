package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Tests of what a DisableIngress freeze withdraws: every way in from
// outside the cluster, the Ingresses and the Services of type
// LoadBalancer or NodePort, not the Ingresses alone.

// exposedServiceValues are the test chart's values with two Services
// reachable from outside the cluster beside the chart's own ClusterIP
// Service web: one of type LoadBalancer (a CCE ELB) and one of type
// NodePort, both sending to the web pods.
const exposedServiceValues = `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
	{"apiVersion":"v1","kind":"Service","metadata":{"name":"elb"},"spec":{"type":"LoadBalancer",
		"selector":{"app.kubernetes.io/component":"web"},"ports":[{"port":443,"targetPort":8080}]}},
	{"apiVersion":"v1","kind":"Service","metadata":{"name":"nodes"},"spec":{"type":"NodePort",
		"selector":{"app.kubernetes.io/component":"web"},"ports":[{"port":80,"targetPort":8080}]}}]}`

// exposedServiceValuesRefused are exposedServiceValues with an object no
// tenant may hold (a Role): every render is refused, and a freeze works
// from the inventory (stopChart).
const exposedServiceValuesRefused = `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
	{"apiVersion":"v1","kind":"Service","metadata":{"name":"elb"},"spec":{"type":"LoadBalancer",
		"selector":{"app.kubernetes.io/component":"web"},"ports":[{"port":443,"targetPort":8080}]}},
	{"apiVersion":"v1","kind":"Service","metadata":{"name":"nodes"},"spec":{"type":"NodePort",
		"selector":{"app.kubernetes.io/component":"web"},"ports":[{"port":80,"targetPort":8080}]}},
	{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"sneaky"}}]}`

// A chart's Service of type LoadBalancer or NodePort takes the buyer's
// traffic from outside the cluster as its Ingress does. A DisableIngress
// freeze withdrew only the Ingresses, so a tenant that stopped paying was
// still served through them, with Frozen=True and its hours not billed.
// Both are withdrawn now, whether the freeze applies the render or, when
// the chart cannot render, works from the inventory; a ClusterIP Service
// stays, and both come back on unfreeze.
func TestADisableIngressFreezeWithdrawsAChartsLoadBalancerService(t *testing.T) {
	cases := []struct {
		name string
		// frozenValues are the product's values while the tenant is frozen.
		frozenValues string
	}{
		{name: "rendered", frozenValues: exposedServiceValues},
		{name: "from the inventory", frozenValues: exposedServiceValuesRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeDisableIngress
				p.Spec.Chart.Values = jsonValues(exposedServiceValues)
			})
			id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
			g.Expect(getObject(t, &corev1.Service{}, ns, "elb").Spec.Type).To(Equal(corev1.ServiceTypeLoadBalancer))
			g.Expect(getObject(t, &corev1.Service{}, ns, "nodes").Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
			if tc.frozenValues != exposedServiceValues {
				changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(tc.frozenValues) })
				eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))
			}

			setState(t, tenant.Name, saasv1alpha1.StateFrozen)
			eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
			g.Eventually(absent(t, &networkingv1.Ingress{}, ns, id+"-web")).Should(BeTrue())
			g.Eventually(absent(t, &corev1.Service{}, ns, "elb")).Should(BeTrue(), "the LoadBalancer Service serves from outside the cluster")
			g.Eventually(absent(t, &corev1.Service{}, ns, "nodes")).Should(BeTrue(), "the NodePort Service serves from outside the cluster")
			g.Consistently(absent(t, &corev1.Service{}, ns, id+"-web")).Should(BeFalse(), "a ClusterIP Service serves only the cluster")

			setState(t, tenant.Name, saasv1alpha1.StateActive)
			changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(exposedServiceValues) })
			eventuallyTenant(t, tenant.Name, provisioned)
			g.Eventually(absent(t, &corev1.Service{}, ns, "elb")).Should(BeFalse(), "unfrozen, the LoadBalancer Service is back")
			g.Eventually(absent(t, &corev1.Service{}, ns, "nodes")).Should(BeFalse(), "unfrozen, the NodePort Service is back")
			g.Eventually(absent(t, &networkingv1.Ingress{}, ns, id+"-web")).Should(BeFalse())
		})
	}
}

// The single app's Service of type NodePort (CCE's cce class sends to the
// nodes) is reachable from outside the cluster too: the same rule
// withdraws it under DisableIngress, and unfreeze applies it again.
func TestADisableIngressFreezeWithdrawsAWorkloadsNodePortService(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeDisableIngress
		p.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "cce", ServiceType: corev1.ServiceTypeNodePort}
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	g.Expect(getObject(t, &corev1.Service{}, ns, tenantobjects.AppName).Spec.Type).To(Equal(corev1.ServiceTypeNodePort))

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(absent(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)).Should(BeTrue())
	g.Eventually(absent(t, &corev1.Service{}, ns, tenantobjects.AppName)).Should(BeTrue(), "the NodePort Service serves from outside the cluster")
	g.Consistently(deploymentReplicas(t, ns)).Should(Equal(int32(1)), "the workload keeps running")

	setState(t, tenant.Name, saasv1alpha1.StateActive)
	g.Eventually(absent(t, &corev1.Service{}, ns, tenantobjects.AppName)).Should(BeFalse(), "unfrozen, the Service is back")
	g.Expect(getObject(t, &corev1.Service{}, ns, tenantobjects.AppName).Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
	g.Eventually(absent(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)).Should(BeFalse())
}
