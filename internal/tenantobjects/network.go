package tenantobjects

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// What every tenant may reach. The cluster DNS is CoreDNS in kube-system
// under the label k8s-app=kube-dns, as on CCE (the CoreDNS add-on) and
// kubeadm clusters; kube-system is selected by the label the API server
// puts on every namespace, which nobody can forge.
const (
	dnsNamespace     = "kube-system"
	dnsPodLabelKey   = "k8s-app"
	dnsPodLabelValue = "kube-dns"
	dnsPort          = 53
	httpsPort        = 443
)

// Link-local ranges: the node's and the cloud's own services (on Huawei
// Cloud the ECS metadata service, 169.254.169.254, which hands out the
// node's credentials) are never "outside the cluster".
var (
	linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
)

// networkPolicy isolates the tenant. Ingress: only from the namespace
// itself, the ingress controller's namespace, when configured the
// monitoring namespace, and the product's load balancer ranges
// (allowedSources). Egress: only DNS, the namespace itself, for a
// joint-operation product HTTPS outside the cluster (outsideClusterHTTPS),
// and the product's allow list (workload.egress or chart.egress), in that
// order.
// NetworkPolicies are not part of any pod template: changing this policy
// restarts no pod.
func (d *Desired) networkPolicy() *networkingv1.NetworkPolicy {
	from := []networkingv1.NetworkPolicyPeer{namespacePeer(d.Namespace), namespacePeer(d.IngressNamespace)}
	if m := d.MonitoringNamespace; m != "" && m != d.Namespace && m != d.IngressNamespace {
		from = append(from, namespacePeer(m))
	}
	blocks, _ := allowedSources(&d.Product.Spec)
	for _, b := range blocks {
		from = append(from, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b.CIDR, Except: b.Except}})
	}
	egress := []networkingv1.NetworkPolicyEgressRule{
		{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: dnsNamespace}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{dnsPodLabelKey: dnsPodLabelValue}},
			}},
			Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolUDP, dnsPort), policyPort(corev1.ProtocolTCP, dnsPort)},
		},
		{To: []networkingv1.NetworkPolicyPeer{namespacePeer(d.Namespace)}},
	}
	if workload := d.Product.Spec.Workload; workload != nil && workload.Directory != nil {
		egress = append(egress, outsideClusterHTTPS(d.ClusterCIDRs))
	}
	for _, rule := range d.Product.Spec.TenantEgress() {
		egress = append(egress, egressRule(rule))
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: d.Meta(NetworkPolicyName),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from}},
			Egress:      egress,
		},
	}
}

// namespacePeer selects every pod of one namespace, by the name label the
// API server sets.
func namespacePeer(namespace string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}}}
}

func policyPort(protocol corev1.Protocol, port int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocol), Port: ptr.To(intstr.FromInt32(port))}
}

// outsideClusterHTTPS lets a joint-operation tenant reach the kit's
// domainName, the enterprise's unified-authentication host (its token and
// userinfo endpoints, spec §7). A NetworkPolicy cannot name a host, so it
// allows TCP 443 to every address but the cluster's pod and service ranges
// (cidrs, which kooper cannot discover: --cluster-pod-cidrs and
// --cluster-service-cidrs) and the link-local range. IPv6 is allowed only
// when a cluster range is IPv6 (a dual-stack cluster): an IPv4 cluster's
// IPv6 ranges are unknown.
func outsideClusterHTTPS(cidrs []netip.Prefix) networkingv1.NetworkPolicyEgressRule {
	except4, except6 := []string{}, []string{}
	for _, c := range cidrs {
		switch {
		case c == linkLocal4 || c == linkLocal6:
		case c.Addr().Is4():
			except4 = append(except4, c.String())
		default:
			except6 = append(except6, c.String())
		}
	}
	to := []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
		CIDR: "0.0.0.0/0", Except: append(except4, linkLocal4.String())}}}
	if len(except6) > 0 {
		to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{
			CIDR: "::/0", Except: append(except6, linkLocal6.String())}})
	}
	return networkingv1.NetworkPolicyEgressRule{To: to, Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolTCP, httpsPort)}}
}

// egressRule is one rule of a product's allow list as a NetworkPolicy rule.
func egressRule(rule saasv1alpha1.EgressRule) networkingv1.NetworkPolicyEgressRule {
	var out networkingv1.NetworkPolicyEgressRule
	for _, p := range rule.To {
		peer := networkingv1.NetworkPolicyPeer{
			NamespaceSelector: labelSelector(p.NamespaceSelector),
			PodSelector:       labelSelector(p.PodSelector),
		}
		if p.IPBlock != nil {
			peer.IPBlock = &networkingv1.IPBlock{CIDR: p.IPBlock.CIDR, Except: p.IPBlock.Except}
		}
		out.To = append(out.To, peer)
	}
	for _, p := range rule.Ports {
		protocol := p.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP // the schema's default
		}
		port := policyPort(protocol, p.Port)
		port.EndPort = p.EndPort
		out.Ports = append(out.Ports, port)
	}
	return out
}

func labelSelector(s *saasv1alpha1.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, r := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: r.Values})
	}
	return out
}

// CheckEgress finds what the schema cannot check in a product's allow list
// (spec.workload.egress) and the API server would refuse in the tenant
// NetworkPolicy: an address range that does not parse, an except outside
// its cidr, a label key or value that is not one. It returns nil, or an
// aggregate of field errors whose paths start at workload.egress. A tenant
// of such a product stalls (EgressRuleInvalid, docs/lifecycle.md rule S)
// rather than fail every apply.
func CheckEgress(rules []saasv1alpha1.EgressRule) error {
	var errs field.ErrorList
	base := field.NewPath("workload", "egress")
	for i, rule := range rules {
		for j, p := range rule.To {
			path := base.Index(i).Child("to").Index(j)
			if p.IPBlock != nil {
				errs = append(errs, checkIPBlock(p.IPBlock, path.Child("ipBlock"))...)
			}
			opts := metav1validation.LabelSelectorValidationOptions{}
			errs = append(errs, metav1validation.ValidateLabelSelector(labelSelector(p.NamespaceSelector), opts, path.Child("namespaceSelector"))...)
			errs = append(errs, metav1validation.ValidateLabelSelector(labelSelector(p.PodSelector), opts, path.Child("podSelector"))...)
		}
	}
	return errs.ToAggregate()
}

// allowedSources are the load balancer ranges a product's tenants'
// NetworkPolicy admits, from whichever template the product uses
// (spec.workload.ingress.allowFrom or spec.chart.ingressAllowFrom, as
// TenantEgress picks the egress list), and that list's field path. A
// chart's Ingress of CCE's cce class or its NodePort Service needs them as
// much as a workload's does (docs/operations/cce.md); both read them here,
// so the policy and its check cannot disagree.
func allowedSources(spec *saasv1alpha1.SaaSProductSpec) ([]saasv1alpha1.IPBlock, *field.Path) {
	switch {
	case spec.Workload != nil:
		if spec.Workload.Ingress == nil {
			return nil, nil
		}
		return spec.Workload.Ingress.AllowFrom, field.NewPath("workload", "ingress", "allowFrom")
	case spec.Chart != nil:
		return spec.Chart.IngressAllowFrom, field.NewPath("chart", "ingressAllowFrom")
	}
	return nil, nil
}

// CheckAllowFrom is CheckEgress for a product's load balancer ranges
// (allowedSources): it returns nil, or an aggregate of field errors whose
// paths start at workload.ingress.allowFrom or chart.ingressAllowFrom. A
// tenant of such a product stalls (IngressSourceInvalid).
func CheckAllowFrom(spec *saasv1alpha1.SaaSProductSpec) error {
	blocks, base := allowedSources(spec)
	var errs field.ErrorList
	for i := range blocks {
		errs = append(errs, checkIPBlock(&blocks[i], base.Index(i))...)
	}
	return errs.ToAggregate()
}

func checkIPBlock(b *saasv1alpha1.IPBlock, path *field.Path) field.ErrorList {
	cidr, err := parseRange(b.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(path.Child("cidr"), b.CIDR, err.Error())}
	}
	var errs field.ErrorList
	for k, e := range b.Except {
		except, err := parseRange(e)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(path.Child("except").Index(k), e, err.Error()))
		case except.Addr().Is4() != cidr.Addr().Is4() || except.Bits() <= cidr.Bits() || !cidr.Contains(except.Addr()):
			errs = append(errs, field.Invalid(path.Child("except").Index(k), e, "must lie strictly inside cidr "+b.CIDR))
		}
	}
	return errs
}

// parseRange parses an address range as the API server accepts it in a
// NetworkPolicy: no leading zeros, no IPv4 address written as IPv6, and no
// address bits past the prefix length.
func parseRange(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return p, fmt.Errorf("not an address range: %w", err)
	case p.Addr().Is4In6():
		return p, fmt.Errorf("an IPv4 range written as IPv6; write %s", netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	case p != p.Masked():
		return p, fmt.Errorf("has address bits past the prefix length; write %s", p.Masked())
	}
	return p, nil
}

// ParseCIDRs parses a comma-separated list of address ranges, as the
// --cluster-pod-cidrs and --cluster-service-cidrs flags take them, for
// example "172.16.0.0/16,fd00:10::/56". Empty entries are skipped. A range
// must be one the API server accepts in a NetworkPolicy, and narrower than
// a whole address family; the error names the first range that is not.
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := parseRange(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q is every address, not the cluster's", s)
		}
		out = append(out, p)
	}
	return out, nil
}
