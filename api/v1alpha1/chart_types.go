package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// ChartTemplate is a Helm chart rendered for each tenant of a SaaS product,
// in process: no release Secrets and no helm install per tenant. The
// rendered objects are applied into the tenant's namespace beside what
// kooper itself creates there (the quota, limits, NetworkPolicy and
// credentials), and only these kinds are accepted: Deployment,
// StatefulSet, Service, ConfigMap, Secret, PersistentVolumeClaim, Job,
// CronJob, Ingress, HorizontalPodAutoscaler, PodDisruptionBudget and
// ServiceAccount (docs/chart-tenants.md).
// +kubebuilder:validation:XValidation:rule="has(self.oci) != has(self.secretRef)",message="chart needs exactly one of oci and secretRef"
type ChartTemplate struct {
	// oci is a chart stored in an OCI registry, such as Huawei Cloud SWR.
	// +optional
	OCI *OCIChartSource `json:"oci,omitempty"`

	// secretRef is a chart packaged with helm package (a .tgz archive) and
	// stored in a Secret in kooper's namespace.
	// +optional
	SecretRef *ChartSecretRef `json:"secretRef,omitempty"`

	// values are the chart values every tenant of the product gets. A plan's
	// values override them, and kooper's own values (under the key kooper)
	// override both.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// egress lists what each tenant's pods may connect to besides DNS and
	// their own namespace, as spec.workload.egress does for a workload:
	// kooper's NetworkPolicy, not the chart, decides a tenant's isolation.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Egress []EgressRule `json:"egress,omitempty"`

	// ingressAllowFrom are address ranges outside the cluster that each
	// tenant's NetworkPolicy admits besides the ingress controller's
	// namespace, as spec.workload.ingress.allowFrom does for a workload:
	// the load balancer's, when it sends to the pods from outside any pod,
	// as an Ingress of CCE's cce class or a LoadBalancer or NodePort Service
	// the chart renders does (from the nodes of a standard cluster, from
	// the ELB's backend subnet on a CCE Turbo cluster, from 100.125.0.0/16
	// for a shared ELB). The cluster must enforce ipBlock in ingress rules
	// (on CCE, a cluster with DataPlane V2; docs/operations/cce.md).
	// Nothing besides the namespaces when omitted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	IngressAllowFrom []IPBlock `json:"ingressAllowFrom,omitempty"`
}

// ResolvedChart is the chart a product's tenants are rendered from: the
// tag resolved to a digest, so every tenant renders the same chart.
type ResolvedChart struct {
	// digest is the chart's OCI manifest digest, or for a chart in a Secret
	// the sha256 of its archive, for example sha256:4f...e1.
	// +required
	// +kubebuilder:validation:MaxLength=71
	Digest string `json:"digest"`

	// name is the chart's name (Chart.yaml).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// version is the chart's version (Chart.yaml).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version,omitempty"`

	// appVersion is the version of the app the chart deploys (Chart.yaml).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AppVersion string `json:"appVersion,omitempty"`
}

// InventoryEntry is one object kooper applied into a tenant's namespace
// from its product's chart.
type InventoryEntry struct {
	// group is the object's API group; empty for the core group.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`

	// kind is the object's kind, for example StatefulSet.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// name is the object's name in the tenant's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// OCIChartSource is a Helm chart in an OCI registry.
// +kubebuilder:validation:XValidation:rule="has(self.tag) != has(self.digest)",message="oci needs exactly one of tag and digest"
type OCIChartSource struct {
	// repository is the chart's repository, without a scheme, tag or digest.
	// Example: swr.cn-north-4.myhuaweicloud.com/acme/charts/crm.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$`
	Repository string `json:"repository"`

	// tag is the chart's version as pushed, for example 1.2.0.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.+-]*$`
	Tag string `json:"tag,omitempty"`

	// digest pins the chart's manifest, for example sha256:4f...e1.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest,omitempty"`

	// pullSecretName names a kubernetes.io/dockerconfigjson Secret in
	// kooper's namespace with the registry's credentials. Anonymous when
	// omitted.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PullSecretName string `json:"pullSecretName,omitempty"`
}

// ChartSecretRef names a packaged chart in a Secret in kooper's namespace.
type ChartSecretRef struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the Secret's key holding the .tgz archive. Defaults to chart.tgz.
	// +optional
	// +kubebuilder:default=chart.tgz
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}
