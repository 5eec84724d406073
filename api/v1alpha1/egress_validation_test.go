package v1alpha1_test

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The bounds of workload.egress.
const (
	maxEgressRules = 32
	maxEgressPeers = 8
	maxEgressPorts = 16
	maxExcept      = 16
	maxSelector    = 16
)

func cidrPeer(cidr string, except ...string) saasv1alpha1.EgressPeer {
	return saasv1alpha1.EgressPeer{IPBlock: &saasv1alpha1.IPBlock{CIDR: cidr, Except: except}}
}

// withEgress is a valid product with the given egress rules.
func withEgress(rules ...saasv1alpha1.EgressRule) *saasv1alpha1.SaaSProduct {
	return with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.Workload.Egress = rules })
}

func ports(n int) []saasv1alpha1.EgressPort {
	out := make([]saasv1alpha1.EgressPort, n)
	for i := range out {
		out[i] = saasv1alpha1.EgressPort{Port: int32(1000 + i)}
	}
	return out
}

func peers(n int) []saasv1alpha1.EgressPeer {
	out := make([]saasv1alpha1.EgressPeer, n)
	for i := range out {
		out[i] = cidrPeer(fmt.Sprintf("10.%d.0.0/16", i))
	}
	return out
}

func labels(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		out[fmt.Sprintf("example.com/label-%02d", i)] = "v"
	}
	return out
}

func requirements(n, values int) []saasv1alpha1.LabelSelectorRequirement {
	out := make([]saasv1alpha1.LabelSelectorRequirement, n)
	for i := range out {
		vs := make([]string, values)
		for j := range vs {
			vs[j] = fmt.Sprintf("value-%02d", j)
		}
		out[i] = saasv1alpha1.LabelSelectorRequirement{Key: fmt.Sprintf("key-%02d", i), Operator: metav1.LabelSelectorOpIn, Values: vs}
	}
	return out
}

func excepts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.0/24", i)
	}
	return out
}

func TestSchemaRejectsInvalidEgress(t *testing.T) {
	rule := func(p ...saasv1alpha1.EgressPeer) saasv1alpha1.EgressRule { return saasv1alpha1.EgressRule{To: p} }
	cases := []struct {
		name        string
		product     *saasv1alpha1.SaaSProduct
		wantMessage string
	}{
		{"one rule more than the bound", withEgress(func() []saasv1alpha1.EgressRule {
			rules := make([]saasv1alpha1.EgressRule, maxEgressRules+1)
			for i := range rules {
				rules[i] = rule(cidrPeer("10.0.0.0/8"))
			}
			return rules
		}()...), "spec.workload.egress: Too many: 33: must have at most 32 items"},
		{"a rule without peers", withEgress(saasv1alpha1.EgressRule{Ports: ports(1)}), "spec.workload.egress[0].to: Required value"},
		{"a rule with an empty list of peers", withEgress(saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{}}),
			"spec.workload.egress[0].to in body should have at least 1 items"},
		{"one peer more than the bound", withEgress(rule(peers(maxEgressPeers + 1)...)),
			"spec.workload.egress[0].to: Too many: 9: must have at most 8 items"},
		{"one port more than the bound", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: ports(maxEgressPorts + 1)}),
			"spec.workload.egress[0].ports: Too many: 17: must have at most 16 items"},
		{"a peer with neither ipBlock nor namespaceSelector", withEgress(rule(saasv1alpha1.EgressPeer{})),
			"a peer takes exactly one of ipBlock and namespaceSelector"},
		{"a peer with both ipBlock and namespaceSelector", withEgress(rule(saasv1alpha1.EgressPeer{
			IPBlock: &saasv1alpha1.IPBlock{CIDR: "10.0.0.0/8"}, NamespaceSelector: &saasv1alpha1.LabelSelector{}})),
			"a peer takes exactly one of ipBlock and namespaceSelector"},
		{"a podSelector alone (the tenant's own namespace)", withEgress(rule(saasv1alpha1.EgressPeer{
			PodSelector: &saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}})),
			"podSelector needs a namespaceSelector (the tenant's own namespace is always allowed)"},
		{"a podSelector beside an ipBlock", withEgress(rule(saasv1alpha1.EgressPeer{
			IPBlock: &saasv1alpha1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: &saasv1alpha1.LabelSelector{}})),
			"podSelector needs a namespaceSelector"},
		{"an address without a prefix length", withEgress(rule(cidrPeer("10.0.0.1"))), "spec.workload.egress[0].to[0].ipBlock.cidr in body should match"},
		{"a host name", withEgress(rule(cidrPeer("db.example.com/32"))), "spec.workload.egress[0].to[0].ipBlock.cidr in body should match"},
		{"a cidr one character over the bound", withEgress(rule(cidrPeer("1234:5678:9abc:def0:1234:5678:9abc:def0:1234:56/128"))),
			"spec.workload.egress[0].to[0].ipBlock.cidr: Too long: may not be more than 49"},
		{"an except that is not a range", withEgress(rule(cidrPeer("10.0.0.0/8", "10.1.0.0"))),
			"spec.workload.egress[0].to[0].ipBlock.except[0] in body should match"},
		{"one except more than the bound", withEgress(rule(cidrPeer("10.0.0.0/8", excepts(maxExcept+1)...))),
			"spec.workload.egress[0].to[0].ipBlock.except: Too many: 17: must have at most 16 items"},
		{"port 0", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Port: 0}}}),
			"spec.workload.egress[0].ports[0].port in body should be greater than or equal to 1"},
		{"port 65536", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Port: 65536}}}),
			"spec.workload.egress[0].ports[0].port in body should be less than or equal to 65535"},
		{"endPort 65536", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Port: 1, EndPort: ptr.To[int32](65536)}}}),
			"spec.workload.egress[0].ports[0].endPort in body should be less than or equal to 65535"},
		{"endPort below port", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Port: 5432, EndPort: ptr.To[int32](5431)}}}),
			"endPort must not be less than port"},
		{"protocol ICMP", withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Protocol: "ICMP", Port: 1}}}),
			`spec.workload.egress[0].ports[0].protocol: Unsupported value: "ICMP"`},
		{"one matchLabels pair more than the bound", withEgress(rule(saasv1alpha1.EgressPeer{
			NamespaceSelector: &saasv1alpha1.LabelSelector{MatchLabels: labels(maxSelector + 1)}})),
			"spec.workload.egress[0].to[0].namespaceSelector.matchLabels: Too many: 17: must have at most 16 items"},
		{"one requirement more than the bound", withEgress(rule(saasv1alpha1.EgressPeer{
			NamespaceSelector: &saasv1alpha1.LabelSelector{MatchExpressions: requirements(maxSelector+1, 1)}})),
			"spec.workload.egress[0].to[0].namespaceSelector.matchExpressions: Too many: 17: must have at most 16 items"},
		{"one value more than the bound", withEgress(rule(saasv1alpha1.EgressPeer{
			NamespaceSelector: &saasv1alpha1.LabelSelector{MatchExpressions: requirements(1, maxSelector+1)}})),
			"spec.workload.egress[0].to[0].namespaceSelector.matchExpressions[0].values: Too many: 17: must have at most 16 items"},
		{"In without values", withEgress(rule(saasv1alpha1.EgressPeer{NamespaceSelector: &saasv1alpha1.LabelSelector{
			MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}}})),
			"values must be set for In and NotIn, and only for them"},
		{"Exists with values", withEgress(rule(saasv1alpha1.EgressPeer{NamespaceSelector: &saasv1alpha1.LabelSelector{},
			PodSelector: &saasv1alpha1.LabelSelector{MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"a"}}}}})),
			"values must be set for In and NotIn, and only for them"},
		{"an unknown operator", withEgress(rule(saasv1alpha1.EgressPeer{NamespaceSelector: &saasv1alpha1.LabelSelector{
			MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{{Key: "team", Operator: "Gt", Values: []string{"1"}}}}})),
			`spec.workload.egress[0].to[0].namespaceSelector.matchExpressions[0].operator: Unsupported value: "Gt"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8sClient.Create(ctx(t), tc.product)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMessage))
		})
	}
}

// TestSchemaAcceptsEgressAtItsLimits admits every bound of workload.egress
// at its maximum (one over is a row of TestSchemaRejectsInvalidEgress) and
// fills the port protocol's default.
func TestSchemaAcceptsEgressAtItsLimits(t *testing.T) {
	fullSelector := &saasv1alpha1.LabelSelector{MatchLabels: labels(maxSelector), MatchExpressions: requirements(maxSelector, maxSelector)}
	cases := []struct {
		name  string
		rules []saasv1alpha1.EgressRule
	}{
		{"32 rules of 8 peers and 16 ports", func() []saasv1alpha1.EgressRule {
			rules := make([]saasv1alpha1.EgressRule, maxEgressRules)
			for i := range rules {
				rules[i] = saasv1alpha1.EgressRule{To: peers(maxEgressPeers), Ports: ports(maxEgressPorts)}
			}
			return rules
		}()},
		{"16 excepts, and the longest IPv6 cidr", []saasv1alpha1.EgressRule{{To: []saasv1alpha1.EgressPeer{
			cidrPeer("10.0.0.0/8", excepts(maxExcept)...),
			cidrPeer("1234:5678:9abc:def0:1234:5678:9abc:def0/128"),
			cidrPeer("0000:0000:0000:0000:0000:ffff:192.168.100.228/128"),
		}}}},
		{"selectors at their bounds", []saasv1alpha1.EgressRule{{To: []saasv1alpha1.EgressPeer{
			{NamespaceSelector: fullSelector, PodSelector: fullSelector},
		}}}},
		{"every namespace, and a port range", []saasv1alpha1.EgressRule{{
			To:    []saasv1alpha1.EgressPeer{{NamespaceSelector: &saasv1alpha1.LabelSelector{}}},
			Ports: []saasv1alpha1.EgressPort{{Protocol: corev1.ProtocolUDP, Port: 30000, EndPort: ptr.To[int32](32767)}, {Port: 1, EndPort: ptr.To[int32](1)}},
		}}},
		{"NotIn, Exists and DoesNotExist", []saasv1alpha1.EgressRule{{To: []saasv1alpha1.EgressPeer{
			{NamespaceSelector: &saasv1alpha1.LabelSelector{MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}},
				{Key: "tier", Operator: metav1.LabelSelectorOpExists},
				{Key: strings.Repeat("k", 317), Operator: metav1.LabelSelectorOpDoesNotExist},
			}}},
		}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(k8sClient.Create(ctx(t), withEgress(tc.rules...))).To(Succeed())
		})
	}

	t.Run("defaults", func(t *testing.T) {
		g := NewWithT(t)
		product := withEgress(saasv1alpha1.EgressRule{To: peers(1), Ports: []saasv1alpha1.EgressPort{{Port: 5432}}})
		g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
		g.Expect(product.Spec.Workload.Egress[0].Ports[0]).To(Equal(saasv1alpha1.EgressPort{Protocol: corev1.ProtocolTCP, Port: 5432}))
	})
}
