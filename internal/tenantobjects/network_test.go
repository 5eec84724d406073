package tenantobjects

import (
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestParseCIDRs(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "172.16.0.0/16", want: []string{"172.16.0.0/16"}},
		{in: " 172.16.0.0/16, fd00:10::/56 ,", want: []string{"172.16.0.0/16", "fd00:10::/56"}},
		{in: "172.16.0.1/16", wantErr: `"172.16.0.1/16": has address bits past the prefix length; write 172.16.0.0/16`},
		{in: "0.0.0.0/0", wantErr: `"0.0.0.0/0" is every address, not the cluster's`},
		{in: "::/0", wantErr: "is every address"},
		{in: "::ffff:172.16.0.0/112", wantErr: "an IPv4 range written as IPv6; write 172.16.0.0/16"},
		{in: "172.16.0.0", wantErr: "not an address range"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseCIDRs(tc.in)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			var strs []string
			for _, p := range got {
				strs = append(strs, p.String())
			}
			g.Expect(strs).To(Equal(tc.want))
		})
	}
}

// TestCheckEgress: what the schema lets through and the API server would
// refuse in a NetworkPolicy, with the field path of each error. (The
// controllers' envtest holds the same cases to the API server itself.)
func TestCheckEgress(t *testing.T) {
	block := func(cidr string, except ...string) saasv1alpha1.EgressRule {
		return saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: cidr, Except: except}}}}
	}
	selector := func(s saasv1alpha1.LabelSelector) saasv1alpha1.EgressRule {
		return saasv1alpha1.EgressRule{To: []saasv1alpha1.EgressPeer{{PodSelector: &s}}}
	}
	cases := []struct {
		name    string
		rules   []saasv1alpha1.EgressRule
		wantErr string // empty: valid
	}{
		{"no allow list", nil, ""},
		{"ranges and excepts inside them", []saasv1alpha1.EgressRule{block("10.0.0.0/8", "10.1.0.0/16"), block("fd00::/8", "fd00:1::/32")}, ""},
		{"a selector", []saasv1alpha1.EgressRule{selector(saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}})}, ""},
		{"not a range", []saasv1alpha1.EgressRule{block("10.0.0.256/32")}, `workload.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.256/32": not an address range`},
		{"the second rule's range", []saasv1alpha1.EgressRule{block("10.0.0.0/8"), block("10.0.0.1/8")},
			"workload.egress[1].to[0].ipBlock.cidr: Invalid value: \"10.0.0.1/8\": has address bits past the prefix length; write 10.0.0.0/8"},
		{"an IPv4 range written as IPv6", []saasv1alpha1.EgressRule{block("::ffff:10.0.0.0/104")}, "an IPv4 range written as IPv6; write 10.0.0.0/8"},
		{"an except that does not parse", []saasv1alpha1.EgressRule{block("10.0.0.0/8", "10.0.0.0")}, "ipBlock.except[0]: Invalid value: \"10.0.0.0\": not an address range"},
		{"an except outside its cidr", []saasv1alpha1.EgressRule{block("10.0.0.0/16", "10.0.0.0/24", "10.1.0.0/24")},
			"ipBlock.except[1]: Invalid value: \"10.1.0.0/24\": must lie strictly inside cidr 10.0.0.0/16"},
		{"an except equal to its cidr", []saasv1alpha1.EgressRule{block("10.0.0.0/16", "10.0.0.0/16")}, "must lie strictly inside cidr"},
		{"an except of the other family", []saasv1alpha1.EgressRule{block("10.0.0.0/8", "fd00::/64")}, "must lie strictly inside cidr"},
		{"a label key that is not one", []saasv1alpha1.EgressRule{selector(saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"bad key": "x"}})},
			"workload.egress[0].to[0].podSelector.matchLabels: Invalid value: \"bad key\""},
		{"a label value that is not one", []saasv1alpha1.EgressRule{selector(saasv1alpha1.LabelSelector{MatchExpressions: []saasv1alpha1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"-web-"}}}})}, "podSelector.matchExpressions[0].values[0]: Invalid value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckEgress(tc.rules)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

// TestEgressRules: DNS, the namespace, HTTPS outside the cluster for a
// joint-operation product (every address but the cluster's ranges and the
// link-local range; IPv6 only on a dual-stack cluster), then the allow
// list, its ports TCP by default.
func TestEgressRules(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tcp := func(n int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(n))}
	}
	https := func(blocks ...networkingv1.IPBlock) networkingv1.NetworkPolicyEgressRule {
		rule := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{tcp(443)}}
		for _, b := range blocks {
			rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{IPBlock: &b})
		}
		return rule
	}
	allowList := []saasv1alpha1.EgressRule{{
		To: []saasv1alpha1.EgressPeer{{IPBlock: &saasv1alpha1.IPBlock{CIDR: "192.168.10.0/24"}},
			{NamespaceSelector: &saasv1alpha1.LabelSelector{MatchLabels: map[string]string{"team": "db"}}}},
		Ports: []saasv1alpha1.EgressPort{{Port: 5432}, {Protocol: corev1.ProtocolUDP, Port: 30000, EndPort: ptr.To[int32](32767)}},
	}}
	wantAllowList := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.168.10.0/24"}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "db"}}}},
		Ports: []networkingv1.NetworkPolicyPort{tcp(5432),
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(30000)), EndPort: ptr.To[int32](32767)}},
	}
	cases := []struct {
		name      string
		directory bool
		cidrs     []netip.Prefix
		egress    []saasv1alpha1.EgressRule
		want      []networkingv1.NetworkPolicyEgressRule // after DNS and the namespace
	}{
		{name: "a plain product: DNS and the namespace only"},
		{name: "an allow list", egress: allowList, want: []networkingv1.NetworkPolicyEgressRule{wantAllowList}},
		{name: "joint operation, no cluster ranges: only the link-local range is excepted", directory: true,
			want: []networkingv1.NetworkPolicyEgressRule{https(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.0.0/16"}})}},
		{name: "joint operation, pod and service ranges", directory: true, cidrs: prefixes("172.16.0.0/16", "10.247.0.0/16"),
			want: []networkingv1.NetworkPolicyEgressRule{https(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "10.247.0.0/16", "169.254.0.0/16"}})}},
		{name: "joint operation, the link-local range named again is not repeated", directory: true, cidrs: prefixes("172.16.0.0/16", "169.254.0.0/16", "fe80::/10"),
			want: []networkingv1.NetworkPolicyEgressRule{https(networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "169.254.0.0/16"}})}},
		{name: "joint operation, dual stack, then the allow list", directory: true, cidrs: prefixes("172.16.0.0/16", "fd00:10::/56"), egress: allowList,
			want: []networkingv1.NetworkPolicyEgressRule{https(
				networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"172.16.0.0/16", "169.254.0.0/16"}},
				networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fd00:10::/56", "fe80::/10"}}), wantAllowList}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			product.Spec.Workload.Directory = nil
			if tc.directory {
				product.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
			}
			product.Spec.Workload.Egress = tc.egress
			d := goldenTenant(product)
			d.ClusterCIDRs = tc.cidrs
			egress := d.networkPolicy().Spec.Egress
			g.Expect(egress).To(HaveLen(2 + len(tc.want)))
			g.Expect(egress[0].To).To(Equal([]networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			}}))
			g.Expect(egress[1].To).To(Equal([]networkingv1.NetworkPolicyPeer{namespacePeer(d.Namespace)}))
			if len(tc.want) > 0 {
				g.Expect(egress[2:]).To(Equal(tc.want))
			}
		})
	}
}

// TestChartIngressAllowFrom: a chart product's load balancer ranges
// (chart.ingressAllowFrom) are admitted as a workload's are, after the
// namespaces; without them a cce-class Ingress or a NodePort Service the
// chart renders is unreachable though the tenant is Ready.
func TestChartIngressAllowFrom(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	d := goldenTenant(product) // reads the golden workload, which a chart product then drops
	product.Spec.Workload = nil
	product.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"},
		IngressAllowFrom: []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}, {CIDR: "192.168.0.0/24", Except: []string{"192.168.0.128/25"}}}}

	from := d.networkPolicy().Spec.Ingress[0].From
	g.Expect(from).To(HaveLen(4))
	g.Expect(from[:2]).To(HaveEach(HaveField("NamespaceSelector", Not(BeNil()))), "the namespaces stay first")
	g.Expect(from[2:]).To(Equal([]networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "100.125.0.0/16"}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "192.168.0.0/24", Except: []string{"192.168.0.128/25"}}},
	}))

	product.Spec.Chart.IngressAllowFrom = nil
	g.Expect(d.networkPolicy().Spec.Ingress[0].From).To(HaveLen(2), "only the namespaces when omitted")
}
