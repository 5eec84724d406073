package e2e

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
)

// testTenantNetworkPolicy reads the tenant's NetworkPolicy as the operator,
// running under the chart's RBAC, applied it, then gives the product an
// allow list and takes it away again. kwok runs no network plugin, so this
// checks the rules, not their enforcement.
func testTenantNetworkPolicy(t *testing.T, e *env) {
	g := NewWithT(t)
	ns := getTenant(g, e, e.tenant).Status.Namespace
	nsPeer := func(name string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"kubernetes.io/metadata.name": name}}}
	}
	port := func(protocol corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocol), Port: ptr.To(intstr.FromInt32(n))}
	}
	defaults := []networkingv1.NetworkPolicyEgressRule{
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
		},
		{To: []networkingv1.NetworkPolicyPeer{nsPeer(ns)}},
	}
	policy := func(g Gomega) networkingv1.NetworkPolicySpec {
		p := &networkingv1.NetworkPolicy{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "kooper-isolation"}, p)).To(Succeed())
		return p.Spec
	}
	spec := policy(g)
	g.Expect(spec.PodSelector).To(Equal(metav1.LabelSelector{}))
	g.Expect(spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}))
	g.Expect(spec.Ingress).To(HaveLen(1))
	g.Expect(spec.Ingress[0].Ports).To(BeEmpty())
	// The chart's default ingress controller namespace; no monitoring namespace is set.
	g.Expect(spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{nsPeer(ns), nsPeer("kube-system")}))
	g.Expect(spec.Egress).To(Equal(defaults))
	expectProductCondition(g, e, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason)

	// An allow list reaches the policy and restarts nothing.
	generation := getDeployment(g, e, ns).Generation
	database := networkingv1.NetworkPolicyEgressRule{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.168.0.0/16", Except: []string{"192.168.0.0/24"}}}},
		Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 5432)},
	}
	setEgress(g, e, []saasv1alpha1.EgressRule{{
		To:    []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: "192.168.0.0/16", Except: []string{"192.168.0.0/24"}}}},
		Ports: []saasv1alpha1.EgressPort{{Port: 5432}},
	}})
	g.Eventually(func(g Gomega) {
		g.Expect(policy(g).Egress).To(Equal(append(defaults[:2:2], database)))
	}).Should(Succeed())
	expectProductCondition(g, e, metav1.ConditionFalse, saasv1alpha1.EgressAllowListReason)
	g.Expect(getDeployment(g, e, ns).Generation).To(Equal(generation), "a NetworkPolicy change rolled the tenant's pods")

	// Taking it away again cuts the running tenants' egress: a Warning on the product.
	setEgress(g, e, nil)
	g.Eventually(func(g Gomega) { g.Expect(policy(g).Egress).To(Equal(defaults)) }).Should(Succeed())
	g.Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(e.stack.Client.List(e.ctx, list)).To(Succeed())
		g.Expect(list.Items).To(ContainElement(And(
			HaveField("Regarding.Name", localstack.Product),
			HaveField("Reason", saasv1alpha1.EgressRestrictedReason),
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Note", And(ContainSubstring(e.tenant), ContainSubstring(e.survivor))),
		)))
	}).Should(Succeed())
}

// setEgress replaces the product's allow list, as a merchant editing it would.
func setEgress(g Gomega, e *env, rules []saasv1alpha1.EgressRule) {
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Workload.Egress = rules
	g.Expect(e.stack.Client.Patch(e.ctx, product, patch)).To(Succeed())
}

func expectProductCondition(g Gomega, e *env, status metav1.ConditionStatus, reason string) {
	g.Eventually(func(g Gomega) {
		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: localstack.Product}, product)).To(Succeed())
		cond := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.EgressRestrictedCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(status))
		g.Expect(cond.Reason).To(Equal(reason))
		g.Expect(cond.ObservedGeneration).To(Equal(product.Generation))
	}).Should(Succeed())
}
