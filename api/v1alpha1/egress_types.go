package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EgressRule lets a tenant's pods connect to the peers in to, on the ports
// in ports. It has the shape of a NetworkPolicy egress rule
// (networking.k8s.io/v1), bounded, so a rule can be copied from one. For
// example, a database outside the cluster: to [{ipBlock: {cidr:
// 192.168.10.0/24}}], ports [{port: 5432}].
type EgressRule struct {
	// to are the destinations the rule allows; a connection may go to any
	// of them. Unlike in a NetworkPolicy, at least one is required: allow
	// everything with the peers ipBlock {cidr: 0.0.0.0/0} and
	// namespaceSelector {}.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	To []EgressPeer `json:"to"`

	// ports are the destination ports the rule allows; every port of every
	// protocol when omitted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []EgressPort `json:"ports,omitempty"`
}

// EgressPeer is one destination: addresses (ipBlock), or pods of other
// namespaces (namespaceSelector, narrowed by podSelector). The tenant's own
// namespace is always allowed, so a podSelector alone, which a
// NetworkPolicy reads as pods of its own namespace, is refused.
// +kubebuilder:validation:XValidation:rule="has(self.ipBlock) != has(self.namespaceSelector)",message="a peer takes exactly one of ipBlock and namespaceSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.podSelector) || has(self.namespaceSelector)",message="podSelector needs a namespaceSelector (the tenant's own namespace is always allowed)"
type EgressPeer struct {
	// ipBlock allows addresses by CIDR. Pod addresses change, so use it for
	// destinations outside the cluster (a database, an SMTP relay) and
	// selectors for pods.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`

	// namespaceSelector allows the pods of the namespaces it selects, for
	// example matchLabels {kubernetes.io/metadata.name: monitoring}; {} is
	// every namespace.
	// +optional
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`

	// podSelector narrows namespaceSelector to the pods it selects; every
	// pod of those namespaces when omitted.
	// +optional
	PodSelector *LabelSelector `json:"podSelector,omitempty"`
}

// IPBlock is a range of addresses, minus the ranges in except.
type IPBlock struct {
	// cidr is the range, IPv4 or IPv6, for example 192.168.10.0/24; one
	// that is not an address range, such as 10.0.0.0/33, is refused. The
	// API server's NetworkPolicy validation is stricter (no leading zeros,
	// no IPv4 range written as IPv6, no address bits past the prefix
	// length): kooper checks that first and stalls the product's tenants
	// (EgressRuleInvalid, or IngressSourceInvalid for allowFrom).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=49
	// +kubebuilder:validation:Pattern=`^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*/[0-9]{1,3})$`
	// +kubebuilder:validation:Format=cidr
	CIDR string `json:"cidr"`

	// except are ranges inside cidr that are not allowed, each of the same
	// family as cidr and strictly inside it, for example 192.168.10.0/28.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:items:Pattern=`^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*/[0-9]{1,3})$`
	Except []string `json:"except,omitempty"`
}

// LabelSelector selects objects by their labels, as a Kubernetes label
// selector does: an object must carry every matchLabels pair and meet every
// matchExpressions requirement. An empty selector ({}) selects every object.
type LabelSelector struct {
	// matchLabels are label pairs the object must carry, for example
	// kubernetes.io/metadata.name: monitoring.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// matchExpressions are requirements on the object's labels.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one requirement of a LabelSelector, for
// example {key: app.kubernetes.io/name, operator: In, values: [prometheus]}.
// +kubebuilder:validation:XValidation:rule="(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",message="values must be set for In and NotIn, and only for them"
type LabelSelectorRequirement struct {
	// key is the label key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`

	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator metav1.LabelSelectorOperator `json:"operator"`

	// values are the label values In and NotIn compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
}

// EgressPort is a destination port, or a range of them.
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || self.endPort >= self.port",message="endPort must not be less than port"
type EgressPort struct {
	// protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol corev1.Protocol `json:"protocol,omitempty"`

	// port is the destination port, for example 5432. Only numbers: a named
	// port means nothing outside the cluster.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// endPort, when set, makes the rule cover every port from port to
	// endPort, for example port 30000 and endPort 32767.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	EndPort *int32 `json:"endPort,omitempty"`
}
