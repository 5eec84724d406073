package controllers

import (
	"context"
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The rules below are written out literally, as a reader of the tenant's
// NetworkPolicy would see them, not built with the code under test.

func nsPeer(name string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": name}}}
}

func port(protocol corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocol), Port: ptr.To(intstr.FromInt32(n))}
}

var wantDNS = networkingv1.NetworkPolicyEgressRule{
	To: []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
	}},
	Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
}

func wantOwnNamespace(ns string) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{nsPeer(ns)}}
}

// wantHTTPSOutside is TCP 443 to the given ipBlocks.
func wantHTTPSOutside(blocks ...networkingv1.IPBlock) networkingv1.NetworkPolicyEgressRule {
	rule := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 443)}}
	for _, b := range blocks {
		rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{IPBlock: &b})
	}
	return rule
}

// allowList is a product's allow list and the NetworkPolicy rules it must become.
var (
	allowList = []saasv1alpha1.EgressRule{
		{
			To:    []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: "192.168.10.0/24", Except: []string{"192.168.10.0/28"}}}},
			Ports: []saasv1alpha1.EgressPort{{Protocol: corev1.ProtocolTCP, Port: 5432}},
		},
		{
			To: []saasv1alpha1.EgressPeer{{
				NamespaceSelector: &saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
				PodSelector: &saasv1alpha1.LabelSelector{MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{
					{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"prometheus", "pushgateway"}}}},
			}},
			Ports: []saasv1alpha1.EgressPort{{Port: 9090}, {Protocol: corev1.ProtocolUDP, Port: 30000, EndPort: ptr.To[int32](32767)}},
		},
		{To: []saasv1alpha1.EgressPeer{{NamespaceSelector: &saasv1alpha1.LabelSelector{}}, {IPBlock: &saasv1alpha1.IPBlock{CIDR: "fd00:1::/64"}}}},
	}
	wantAllowList = []networkingv1.NetworkPolicyEgressRule{
		{
			To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.168.10.0/24", Except: []string{"192.168.10.0/28"}}}},
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 5432)},
		},
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"prometheus", "pushgateway"}}}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 9090),
				{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(30000)), EndPort: ptr.To[int32](32767)}},
		},
		{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}, {IPBlock: &networkingv1.IPBlock{CIDR: "fd00:1::/64"}}}},
	}
)

func tenantPolicy(t *testing.T, ns string) *networkingv1.NetworkPolicy {
	return getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
}

// TestTenantNetworkPolicy checks the NetworkPolicy of each kind of tenant
// as the API server stores it: ingress from its namespace, the ingress
// controller's and the monitoring's; egress to DNS and its namespace, then
// HTTPS outside the cluster (joint operation: the suite's pod and service
// ranges are excepted), then the product's allow list.
func TestTenantNetworkPolicy(t *testing.T) {
	outside := wantHTTPSOutside(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "10.247.0.0/16", "169.254.0.0/16"}})
	cases := []struct {
		name       string
		workload   func(*saasv1alpha1.WorkloadTemplate)
		wantEgress func(ns string) []networkingv1.NetworkPolicyEgressRule
		wantCond   metav1.ConditionStatus
		wantReason string
	}{
		{"a plain product: DNS and the namespace", nil,
			func(ns string) []networkingv1.NetworkPolicyEgressRule {
				return []networkingv1.NetworkPolicyEgressRule{wantDNS, wantOwnNamespace(ns)}
			}, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason},
		{"a product with an allow list", func(w *saasv1alpha1.WorkloadTemplate) { w.Egress = allowList },
			func(ns string) []networkingv1.NetworkPolicyEgressRule {
				return append([]networkingv1.NetworkPolicyEgressRule{wantDNS, wantOwnNamespace(ns)}, wantAllowList...)
			}, metav1.ConditionFalse, saasv1alpha1.EgressAllowListReason},
		{"a joint-operation product: HTTPS outside the cluster", func(w *saasv1alpha1.WorkloadTemplate) { w.Directory = &saasv1alpha1.DirectoryMount{} },
			func(ns string) []networkingv1.NetworkPolicyEgressRule {
				return []networkingv1.NetworkPolicyEgressRule{wantDNS, wantOwnNamespace(ns), outside}
			}, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason},
		{"a joint-operation product with an allow list", func(w *saasv1alpha1.WorkloadTemplate) {
			w.Directory = &saasv1alpha1.DirectoryMount{}
			w.Egress = allowList
		}, func(ns string) []networkingv1.NetworkPolicyEgressRule {
			return append([]networkingv1.NetworkPolicyEgressRule{wantDNS, wantOwnNamespace(ns), outside}, wantAllowList...)
		}, metav1.ConditionFalse, saasv1alpha1.EgressAllowListReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
				if tc.workload != nil {
					tc.workload(p.Spec.Workload)
				}
			})
			expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, tc.wantCond, tc.wantReason)
			tenant := newTenant(t, product, "basic", nil)
			eventuallyTenant(t, tenant.Name, provisioned)
			ns := "tenant-" + tenant.Name
			g.Expect(tenantPolicy(t, ns).Spec).To(Equal(networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					nsPeer(ns), nsPeer("ingress-nginx"), nsPeer(monitoringNamespace)}}},
				Egress: tc.wantEgress(ns),
			}))
		})
	}
}

// TestHTTPSOutsideTheClusterExceptsTheClusterRanges renders a
// joint-operation tenant's NetworkPolicy for each shape of
// --cluster-pod-cidrs and --cluster-service-cidrs and has the API server
// store it.
func TestHTTPSOutsideTheClusterExceptsTheClusterRanges(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	cases := []struct {
		name  string
		cidrs []netip.Prefix
		want  networkingv1.NetworkPolicyEgressRule
	}{
		{"no cluster ranges: only the link-local range is excepted", nil,
			wantHTTPSOutside(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.0.0/16"}})},
		{"pod and service ranges", prefixes("172.16.0.0/16", "10.247.0.0/16"),
			wantHTTPSOutside(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "10.247.0.0/16", "169.254.0.0/16"}})},
		{"the link-local range named again is not repeated", prefixes("172.16.0.0/16", "169.254.0.0/16", "fe80::/10"),
			wantHTTPSOutside(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "169.254.0.0/16"}})},
		{"dual stack: IPv6 outside the IPv6 ranges too", prefixes("172.16.0.0/16", "fd00:10::/56", "10.247.0.0/16", "fd00:20::/108"),
			wantHTTPSOutside(
				networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "10.247.0.0/16", "169.254.0.0/16"}},
				networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fd00:10::/56", "fd00:20::/108", "fe80::/10"}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			policy := renderedPolicy(tc.cidrs, nil)
			policy.Namespace = testNamespace(t)
			g.Expect(k8sClient.Create(testContext(t), policy)).To(Succeed())
			stored := tenantPolicy(t, policy.Namespace)
			g.Expect(stored.Spec.Egress).To(HaveLen(3))
			g.Expect(stored.Spec.Egress[2]).To(Equal(tc.want))
		})
	}
}

// renderedPolicy is the NetworkPolicy tenantobjects renders for a tenant of
// a joint-operation product with the given allow list, on a cluster of the
// given pod and service ranges: its egress rules are DNS, the namespace,
// HTTPS outside the cluster, then the allow list's.
func renderedPolicy(cidrs []netip.Prefix, egress []saasv1alpha1.EgressRule) *networkingv1.NetworkPolicy {
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{NamespacePrefix: "tenant", Workload: &saasv1alpha1.WorkloadTemplate{
			Image: "registry.example.com/crm:1.0", Directory: &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}, Egress: egress}},
	}
	id := "i-0123456789abcdef0123"
	d := &tenantobjects.Desired{
		Tenant:  &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name}},
		Product: product, Plan: &saasv1alpha1.Plan{SKUCode: "basic", Replicas: 1}, Namespace: tenantobjects.NamespaceName(product, id),
		IngressNamespace: "ingress-nginx", ClusterCIDRs: cidrs,
	}
	present, _ := d.Objects()
	for _, obj := range present {
		if policy, ok := obj.(*networkingv1.NetworkPolicy); ok {
			return policy
		}
	}
	panic("tenantobjects rendered no NetworkPolicy")
}

// testNamespace creates a namespace for one test.
func testNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "netpol-"}}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), ns)).To(Succeed())
	return ns.Name
}

// TestCheckEgressRefusesWhatTheAPIServerRefuses holds
// tenantobjects.CheckEgress to the API server's own NetworkPolicy
// validation, on what the schema lets through: each rule is checked, then
// sent in a NetworkPolicy, as tenantobjects renders it.
func TestCheckEgressRefusesWhatTheAPIServerRefuses(t *testing.T) {
	block := func(cidr string, except ...string) saasv1alpha1.EgressRule {
		return saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: cidr, Except: except}}}}
	}
	selector := func(s saasv1alpha1.LabelSelector) saasv1alpha1.EgressRule {
		return saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{{NamespaceSelector: &s}}}
	}
	cases := []struct {
		name    string
		rule    saasv1alpha1.EgressRule
		wantErr string // empty: valid
	}{
		{"an IPv4 range and an except inside it", block("10.0.0.0/8", "10.1.0.0/16"), ""},
		{"an IPv6 range and an except inside it", block("fd00::/8", "fd00:1::/32"), ""},
		{"selectors", selector(saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"example.com/team": "db"},
			MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}}), ""},
		{"an octet over 255", block("10.0.0.256/32"), "workload.egress[0].to[0].ipBlock.cidr: Invalid value"},
		{"a prefix length over 32", block("10.0.0.0/33"), "ipBlock.cidr: Invalid value"},
		{"leading zeros", block("010.0.0.0/8"), "ipBlock.cidr: Invalid value"},
		{"address bits past the prefix length", block("10.0.0.1/8"), "has address bits past the prefix length; write 10.0.0.0/8"},
		{"an IPv4 range written as IPv6", block("::ffff:10.0.0.0/104"), "an IPv4 range written as IPv6; write 10.0.0.0/8"},
		{"an except outside its cidr", block("10.0.0.0/16", "10.1.0.0/24"), "ipBlock.except[0]: Invalid value: \"10.1.0.0/24\": must lie strictly inside cidr 10.0.0.0/16"},
		{"an except equal to its cidr", block("10.0.0.0/16", "10.0.0.0/16"), "must lie strictly inside cidr"},
		{"an except of the other family", block("10.0.0.0/8", "fd00::/64"), "must lie strictly inside cidr"},
		{"a label key with a space", selector(saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"bad key": "x"}}),
			"workload.egress[0].to[0].namespaceSelector.matchLabels: Invalid value: \"bad key\""},
		{"a label value that is not one", selector(saasv1alpha1.LabelSelector{MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"-web-"}}}}), "namespaceSelector.matchExpressions[0].values[0]: Invalid value"},
	}
	ns := testNamespace(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := tenantobjects.CheckEgress([]saasv1alpha1.EgressRule{tc.rule})
			policy := &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "case-" + string(rune('a'+i))},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: renderedPolicy(nil, []saasv1alpha1.EgressRule{tc.rule}).Spec.Egress[3:]},
			}
			apiErr := k8sClient.Create(testContext(t), policy)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(apiErr).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			g.Expect(apierrors.IsInvalid(apiErr)).To(BeTrue(), "the API server accepted what CheckEgress refuses: %v", apiErr)
		})
	}
}

// TestChangingEgressRestartsNoPod changes a product's allow list: the
// tenants' NetworkPolicy follows, their Deployment does not change.
func TestChangingEgressRestartsNoPod(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	before := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = allowList })
	g.Eventually(func() []networkingv1.NetworkPolicyEgressRule { return tenantPolicy(t, ns).Spec.Egress }).Should(
		Equal(append([]networkingv1.NetworkPolicyEgressRule{wantDNS, wantOwnNamespace(ns)}, wantAllowList...)))
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = allowList[:1] })
	g.Eventually(func() []networkingv1.NetworkPolicyEgressRule { return tenantPolicy(t, ns).Spec.Egress }).Should(HaveLen(3))

	after := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(after.Generation).To(Equal(before.Generation), "the Deployment changed")
	g.Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the Deployment was written")
}

// productEvents lists the Events of a reason about a product.
func productEvents(g Gomega, product, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list)).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == product && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// TestEgressRestrictedWarnsOnceTenantsLoseEgress: removing a product's
// allow list while it has tenants, and the first reconcile of a product
// whose status predates the condition (an upgrade of kooper), are a
// Warning Event naming the tenants; a product whose tenants never had more
// is not.
func TestEgressRestrictedWarnsOnceTenantsLoseEgress(t *testing.T) {
	t.Run("the allow list removed", func(t *testing.T) {
		g := NewWithT(t)
		product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = allowList })
		expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, metav1.ConditionFalse, saasv1alpha1.EgressAllowListReason)
		tenant := newTenant(t, product, "basic", nil)
		eventuallyTenant(t, tenant.Name, provisioned)

		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = nil })
		cond := expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason)
		g.Expect(cond.Message).To(Equal("Each tenant may connect only to DNS and its own namespace: spec.workload.egress lists nothing else"))
		g.Eventually(func(g Gomega) {
			events := productEvents(g, product.Name, saasv1alpha1.EgressRestrictedReason)
			g.Expect(events).To(ConsistOf(And(HaveField("Type", corev1.EventTypeWarning),
				HaveField("Note", ContainSubstring("Egress of tenant "+tenant.Name+" is now restricted: each may connect only to DNS and its own namespace; list what else they reach (databases, APIs, mail) in spec.workload.egress")))))
		}).Should(Succeed())
		g.Eventually(func() []networkingv1.NetworkPolicyEgressRule {
			return tenantPolicy(t, "tenant-"+tenant.Name).Spec.Egress
		}).Should(HaveLen(2))
	})

	t.Run("an upgrade", func(t *testing.T) {
		g := NewWithT(t)
		product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{} })
		expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason)
		tenant := newTenant(t, product, "basic", nil)
		eventuallyTenant(t, tenant.Name, provisioned)
		g.Consistently(func(g Gomega) []eventsv1.Event {
			return productEvents(g, product.Name, saasv1alpha1.EgressRestrictedReason)
		}).Should(BeEmpty(), "a tenant that never had more egress lost none")

		// The status a kooper without tenant egress rules wrote, then the
		// first reconcile of the new one.
		stored := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stored)).To(Succeed())
		patch := client.MergeFrom(stored.DeepCopy())
		apimeta.RemoveStatusCondition(&stored.Status.Conditions, saasv1alpha1.EgressRestrictedCondition)
		g.Expect(k8sClient.Status().Patch(testContext(t), stored, patch)).To(Succeed())
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
			metav1.SetMetaDataAnnotation(&p.ObjectMeta, saasv1alpha1.ReconcileRequestedAnnotation, "upgrade")
		})
		g.Eventually(func(g Gomega) {
			g.Expect(productEvents(g, product.Name, saasv1alpha1.EgressRestrictedReason)).To(ConsistOf(
				HaveField("Note", ContainSubstring("each may connect only to DNS, its own namespace and TCP 443 outside the cluster"))))
		}).Should(Succeed())
		expectCondition(t, product, saasv1alpha1.EgressRestrictedCondition, metav1.ConditionTrue, saasv1alpha1.EgressRestrictedReason)
	})
}

// docs/lifecycle.md rule S: an allow list the API server would refuse
// stalls provisioning, and the tenant is still frozen and released.
func TestAnInvalidAllowListStallsProvisioningNotTeardown(t *testing.T) {
	g := NewWithT(t)
	invalid := []saasv1alpha1.EgressRule{{To: []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: "10.0.0.0/16", Except: []string{"10.1.0.0/24"}}}}}}

	t.Run("a new tenant is not provisioned", func(t *testing.T) {
		product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = invalid })
		tenant := newTenant(t, product, "basic", nil)
		stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.EgressRuleInvalidReason))
		g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(Equal(
			`SaaSProduct "` + product.Name + `": workload.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must lie strictly inside cidr 10.0.0.0/16`))
		g.Expect(stalled.Status.Namespace).To(BeEmpty())
	})

	t.Run("a running tenant is still frozen and released", func(t *testing.T) {
		product := newTenantProduct(t, nil)
		tenant := readyTenant(t, product, "basic")
		ns := "tenant-" + tenant.Name
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Egress = invalid })
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.EgressRuleInvalidReason))
		g.Expect(tenantPolicy(t, ns).Spec.Egress).To(HaveLen(2), "the last valid policy stays")

		setState(t, tenant.Name, saasv1alpha1.StateFrozen)
		g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
		setState(t, tenant.Name, saasv1alpha1.StateReleased)
		workloadRemoved(t, ns)
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	})
}
