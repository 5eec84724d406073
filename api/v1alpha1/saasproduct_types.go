package v1alpha1

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProductType is what the buyer gets.
// +kubebuilder:validation:Enum=SaaS;License
type ProductType string

const (
	// ProductTypeSaaS: each purchase becomes a SaaSTenant, an isolated running copy of the workload.
	ProductTypeSaaS ProductType = "SaaS"
	// ProductTypeLicense: each purchase becomes a License, a signed key for
	// software the buyer runs themselves.
	ProductTypeLicense ProductType = "License"
)

// FreezeBehavior is what freezing a tenant does to its workload.
// +kubebuilder:validation:Enum=ScaleToZero;DisableIngress
type FreezeBehavior string

const (
	// FreezeScaleToZero scales every Deployment of the tenant to zero and
	// remembers the replica counts for the unfreeze. Data (PVCs, Secrets) is kept.
	FreezeScaleToZero FreezeBehavior = "ScaleToZero"
	// FreezeDisableIngress keeps the workload running but removes the tenant's
	// Ingress, and every Service of type LoadBalancer or NodePort (reachable
	// from outside the cluster), so buyers cannot reach it. Use it for apps
	// that must keep background work going while frozen.
	FreezeDisableIngress FreezeBehavior = "DisableIngress"
)

// RetentionPolicy is what releasing a tenant does to its data.
// +kubebuilder:validation:Enum=Retain;Delete
type RetentionPolicy string

const (
	// RetainData keeps the tenant's namespace, and with it every PVC and
	// Secret, for retentionDays after the release, then deletes it.
	RetainData RetentionPolicy = "Retain"
	// DeleteData deletes the tenant's namespace as soon as it is released.
	DeleteData RetentionPolicy = "Delete"
)

// HandDeletionPolicy is what deleting a SaaSTenant by hand (kubectl delete)
// does to its data.
// +kubebuilder:validation:Enum=Retain;Delete
type HandDeletionPolicy string

const (
	// HandDeletionRetain keeps the tenant's namespace for the release policy's
	// retentionDays, whatever its retentionPolicy: a deletion by hand is more
	// often an accident than a release.
	HandDeletionRetain HandDeletionPolicy = "Retain"
	// HandDeletionDelete deletes the tenant's namespace at once.
	HandDeletionDelete HandDeletionPolicy = "Delete"
)

// ExpiryAction is what the expiry safety net does when a subscription's
// expireTime plus the grace period passes with no marketplace callback.
// +kubebuilder:validation:Enum=Freeze;None
type ExpiryAction string

const (
	// ExpiryFreeze freezes the subscription locally, as a FREEZE callback would.
	ExpiryFreeze ExpiryAction = "Freeze"
	// ExpiryNone only sets the Expired condition and emits an Event.
	ExpiryNone ExpiryAction = "None"
)

// DebugHandling is how Seller Console debug requests (testFlag "1") are served.
// +kubebuilder:validation:Enum=Provision;Simulate
type DebugHandling string

const (
	// DebugProvision provisions debug tenants like real ones, labelled as
	// debug, so the debugger sees exactly what a buyer would.
	DebugProvision DebugHandling = "Provision"
	// DebugSimulate records the tenant and answers every callback correctly
	// and idempotently, but runs no workload for it: its namespace holds
	// the isolation objects and the credentials, no workload, Ingress or
	// copied Secret.
	DebugSimulate DebugHandling = "Simulate"
)

// SaaSProductSpec maps a KooGallery product to what a buyer gets.
// +kubebuilder:validation:XValidation:rule="self.type != 'SaaS' || has(self.workload) != has(self.chart)",message="a SaaS product needs exactly one of workload and chart"
// +kubebuilder:validation:XValidation:rule="self.type == 'SaaS' || !has(self.chart)",message="chart is for products of type SaaS"
// +kubebuilder:validation:XValidation:rule="self.type == 'License' || !has(self.license)",message="license is for products of type License"
// +kubebuilder:validation:XValidation:rule="self.type != 'SaaS' || has(self.urls)",message="urls is required for products of type SaaS"
// +kubebuilder:validation:XValidation:rule="self.type != 'License' || self.plans.all(p, has(p.license))",message="every plan of a License product needs license terms"
// +kubebuilder:validation:XValidation:rule="!has(self.debug) || !has(self.debug.skuCode) || self.plans.exists(p, p.skuCode == self.debug.skuCode)",message="debug.skuCode must name one of the plans"
// +kubebuilder:validation:XValidation:rule="!has(self.workload) || !has(self.workload.storage) || self.workload.storage.accessMode == 'ReadWriteMany' || self.plans.all(p, !has(p.replicas) || p.replicas <= 1)",fieldPath=".plans",message="a plan with more than one replica needs workload.storage.accessMode ReadWriteMany: a ReadWriteOnce or ReadWriteOncePod volume (an EVS disk on CCE) attaches to one node only, so the other replicas could not start (Multi-Attach). Give such a plan replicas: 1, use a ReadWriteMany storage class (SFS, csi-nas), or make the product a chart whose StatefulSet gives each replica a volume"
// +kubebuilder:validation:XValidation:rule="!has(self.packages) || (has(self.metering) && (has(self.packages.meter) ? self.metering.meters.exists(m, m.name == self.packages.meter) : size(self.metering.meters) == 1))",fieldPath=".packages",message="packages need metering, and packages.meter must name one of metering.meters (it may be omitted when there is exactly one meter)"
// +kubebuilder:validation:XValidation:rule="has(self.packages) || self.plans.all(p, !has(p.__package__))",fieldPath=".plans",message="a plan's package terms need spec.packages"
type SaaSProductSpec struct {
	// productId is the KooGallery product ID (商品ID), as shown in the Seller
	// Console. It never changes once set, because tenants are bound to it.
	// Example: OFFI846204237451911168.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="productId is immutable"
	ProductID string `json:"productId"`

	// type is what the buyer gets: SaaS (a running tenant) or License (a
	// signed licence key). Defaults to SaaS. Immutable.
	// +optional
	// +kubebuilder:default=SaaS
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable"
	Type ProductType `json:"type,omitempty"`

	// license is how a License product's keys are written. Defaults apply
	// when omitted. Only for products of type License.
	// +optional
	License *LicensePolicy `json:"license,omitempty"`

	// keysSecretName names the Secret, in kooper's own namespace, that holds
	// this product's marketplace keys: basicKey (required: verifies callbacks
	// and encrypts credentials), accessKeyId and secretAccessKey (the open-API
	// AK/SK), and, when used, kitKey, rsaPrivateKey and licenseSigningKey.
	// The keys themselves never appear in this object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	KeysSecretName string `json:"keysSecretName"`

	// urls are the templates of the URLs shown to the buyer. Required for SaaS products.
	// +optional
	URLs *URLTemplates `json:"urls,omitempty"`

	// workload is the one container that runs for each tenant. A SaaS
	// product has exactly one of workload and chart.
	// +optional
	Workload *WorkloadTemplate `json:"workload,omitempty"`

	// chart is a Helm chart rendered for each tenant, for a product of
	// several parts. A SaaS product has exactly one of workload and chart.
	// +optional
	Chart *ChartTemplate `json:"chart,omitempty"`

	// plans has one entry per KooGallery specification (skuCode).
	// +required
	// +listType=map
	// +listMapKey=skuCode
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Plans []Plan `json:"plans"`

	// lifecycle says what freeze, release and expiry do. Defaults apply when omitted.
	// +optional
	// +kubebuilder:default={}
	Lifecycle LifecyclePolicy `json:"lifecycle,omitempty"`

	// debug says how Seller Console debug requests are served. When omitted,
	// debug tenants are provisioned and kept until the marketplace releases
	// them (no ttlSeconds applies); set `debug: {}` for the defaults of its
	// fields, a one-day ttlSeconds among them. Omitted keeps every tenant
	// because a default added on an upgrade would delete, at once, every debug
	// tenant older than a day.
	// +optional
	Debug *DebugPolicy `json:"debug,omitempty"`

	// namespacePrefix starts the name of every tenant namespace:
	// <namespacePrefix>-<instanceId>. Defaults to "tenant". Immutable, since
	// existing tenants live in namespaces named with it.
	// +optional
	// +kubebuilder:default=tenant
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="namespacePrefix is immutable"
	NamespacePrefix string `json:"namespacePrefix,omitempty"`

	// metering declares the meters of a pay-per-use product: kooper measures
	// each pay-per-use tenant per hour and pushes the records to KooGallery.
	// No metering when omitted.
	// +optional
	Metering *MeteringSpec `json:"metering,omitempty"`

	// packages makes pay-per-use packages (ON_DEMAND_PKG orders) fund the
	// buyer's pay-per-use tenant instead of being tenants of their own, and
	// says what happens when they are used up (spec §6.8, docs/packages.md).
	// Without it, a package order is a tenant of its own, metered as itself.
	// +optional
	Packages *PackagesSpec `json:"packages,omitempty"`

	// rollout is how a new version of the app (chart, values, image or
	// template) reaches the tenants: in waves of at most 10% of them by
	// default, pausing on a wave that does not become healthy. Defaults
	// apply when omitted (docs/rollout.md).
	// +optional
	Rollout *RolloutPolicy `json:"rollout,omitempty"`
}

// URLTemplates are Go templates of the URLs a buyer receives in appInfo.
// They may use {{.InstanceID}}, {{.Namespace}} and {{.Product}}.
// Example: https://{{.InstanceID}}.crm.example.com.
type URLTemplates struct {
	// frontEndUrl is the buyer-facing URL of the app. Its host is also the
	// host of the tenant's Ingress.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="frontEndUrl must start with https:// or http://"
	FrontEndURL string `json:"frontEndUrl"`

	// adminUrl is the URL of the app's administration console, if it has one.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="adminUrl must start with https:// or http://"
	AdminURL string `json:"adminUrl,omitempty"`
}

// WorkloadTemplate is the Deployment (and, optionally, the storage and
// Ingress) created for each tenant. A plan adds its replicas and resources.
// +kubebuilder:validation:XValidation:rule="!has(self.readinessProbe) || self.ports.exists(p, p.name == self.readinessProbe.port && (!has(p.protocol) || p.protocol == 'TCP'))",message="readinessProbe.port must name a TCP port of workload.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.livenessProbe) || self.ports.exists(p, p.name == self.livenessProbe.port && (!has(p.protocol) || p.protocol == 'TCP'))",message="livenessProbe.port must name a TCP port of workload.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.startupProbe) || self.ports.exists(p, p.name == self.startupProbe.port && (!has(p.protocol) || p.protocol == 'TCP'))",message="startupProbe.port must name a TCP port of workload.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.sso) || has(self.directory)",message="sso needs directory: the gateway reads the SSO settings and the directory mounted there"
// +kubebuilder:validation:XValidation:rule="!has(self.sso) || !has(self.sso.gateway) || !has(self.sso.gateway.port) || !self.ports.exists(p, p.containerPort == self.sso.gateway.port)",message="sso.gateway.port (default 4180) must differ from every workload port"
// +kubebuilder:validation:XValidation:rule="!has(self.sso) || !has(self.sso.gateway) || !self.ports.exists(p, p.name == 'kooper-gateway')",message="with sso.gateway, no workload port may be named kooper-gateway: that is the gateway's port, which the tenant's Service sends traffic to"
// +kubebuilder:validation:XValidation:rule="!has(self.config) || !has(self.storage) || !(self.storage.mountPath + '/').startsWith(self.config.mountPath + '/')",message="config.mountPath must be neither storage.mountPath nor a directory above it"
// +kubebuilder:validation:XValidation:rule="!has(self.config) || !has(self.directory) || !has(self.directory.mountPath) || !(self.directory.mountPath + '/').startsWith(self.config.mountPath + '/')",message="config.mountPath must be neither directory.mountPath nor a directory above it"
// +kubebuilder:validation:XValidation:rule="!has(self.sso) || !has(self.sso.gateway) || !has(self.ingress) || !has(self.ingress.clusterIP)",message="ingress.clusterIP None (a headless Service) cannot go with sso.gateway: the Service's name would resolve to the pods, and callers in the tenant namespace would reach the app's port around the gateway"
type WorkloadTemplate struct {
	// image is the container image, for example
	// swr.cn-north-4.myhuaweicloud.com/acme/crm:1.4.2.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// imagePullPolicy is the container's image pull policy. Defaults to IfNotPresent.
	// +optional
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecretName names a Secret in kooper's namespace that is copied
	// into each tenant namespace and used to pull the image. It must be of
	// type kubernetes.io/dockerconfigjson (or dockercfg) and carry the label
	// saas.kooper.io/copy-to-tenants: "true"; otherwise tenants are Stalled
	// (SecretNotCopyable) and nothing is copied.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ImagePullSecretName string `json:"imagePullSecretName,omitempty"`

	// namespaceImagePullSecretName names a Secret that already exists in
	// every tenant namespace, used as it is to pull the image: on CCE,
	// default-secret, which CCE puts in every namespace with the
	// credentials of the cluster's SWR. kooper neither copies nor reads it;
	// a pod that starts before the Secret exists retries its pull until it
	// does. Both this and imagePullSecretName may be set. It must not be
	// kooper-image-pull, kooper's copy of imagePullSecretName.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'kooper-image-pull'",message="kooper-image-pull is kooper's copy of imagePullSecretName in each tenant namespace, which kooper removes when imagePullSecretName is unset: name the Secret of kooper's namespace in imagePullSecretName instead, or here a Secret of another name that every tenant namespace has"
	NamespaceImagePullSecretName string `json:"namespaceImagePullSecretName,omitempty"`

	// args are the container's arguments; the image's defaults apply when omitted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	Args []string `json:"args,omitempty"`

	// ports are the container ports. The first one is the port the Service
	// and the Ingress send traffic to.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Ports []WorkloadPort `json:"ports"`

	// env are environment variables set in the container, in addition to the
	// ones kooper sets: KOOPER_INSTANCE_ID, KOOPER_SKU_CODE, and
	// KOOPER_ADMIN_USERNAME and KOOPER_ADMIN_PASSWORD from the credentials
	// Secret. These four names are refused (only these: a rule over every
	// KOOPER_ name would refuse the status writes of a product stored with
	// another such name on a cluster without validation ratcheting, before
	// 1.30); from a product stored before the rule, kooper leaves them out,
	// so its own values apply.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Env []EnvVar `json:"env,omitempty"`

	// resources are the container's default resources; a plan's resources replace them.
	// +optional
	Resources *ContainerResources `json:"resources,omitempty"`

	// storage, when set, gives each tenant a PersistentVolumeClaim mounted in the container.
	// +optional
	Storage *StorageTemplate `json:"storage,omitempty"`

	// ingress, when set, exposes each tenant at the host of its frontEndUrl.
	// +optional
	Ingress *IngressTemplate `json:"ingress,omitempty"`

	// directory, when set, mounts a joint-operation product's SSO settings
	// and directory (see SaaSDirectory) into the container, read-only.
	// +optional
	Directory *DirectoryMount `json:"directory,omitempty"`

	// sso, when set, puts kooper's login gateway in front of the app: each
	// tenant pod runs a gateway container beside the app, the tenant's
	// Service sends traffic to it, and it lets through only users of the
	// enterprise the directory says are authorised, signed in with their
	// joint-operation account (spec §7), with their identity in the
	// X-Forwarded-User, X-Forwarded-Email and X-Forwarded-Tenant headers.
	// It needs directory, whose files the gateway reads. No gateway when
	// omitted: the app signs users in itself, if at all
	// (docs/sso-gateway.md).
	// +optional
	SSO *WorkloadSSO `json:"sso,omitempty"`

	// readinessProbe, when set, is an HTTP check that must pass before a pod
	// receives traffic, and before the tenant is Ready (and so before
	// queryInstance hands out its access details). No readiness probe when
	// omitted: a tenant is Ready once its containers have started.
	// +optional
	ReadinessProbe *WorkloadProbe `json:"readinessProbe,omitempty"`

	// livenessProbe, when set, is an HTTP check whose repeated failure makes
	// the kubelet restart the container. No liveness probe when omitted.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.successThreshold) || self.successThreshold == 1",message="livenessProbe.successThreshold must be 1"
	LivenessProbe *WorkloadProbe `json:"livenessProbe,omitempty"`

	// startupProbe, when set, is an HTTP check for slow starters: the other
	// probes wait until it has passed once, for up to initialDelaySeconds +
	// failureThreshold × periodSeconds. No startup probe when omitted.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.successThreshold) || self.successThreshold == 1",message="startupProbe.successThreshold must be 1"
	StartupProbe *WorkloadProbe `json:"startupProbe,omitempty"`

	// config, when set, gives each tenant configuration files, rendered for
	// it and mounted read-only in the container. No files when omitted.
	// +optional
	Config *WorkloadConfig `json:"config,omitempty"`

	// egress lists what each tenant's pods may connect to besides what
	// every tenant may: DNS (port 53 of the kube-dns pods in kube-system)
	// and its own namespace, and, for a joint-operation product (one with
	// directory), TCP 443 to addresses outside the cluster, where the
	// kit's domainName is. Nothing else when omitted: the tenant
	// NetworkPolicy denies every other connection. Each rule has the shape
	// of a NetworkPolicy egress rule (to: the peers, ports: the ports).
	// Changing it changes the tenants' NetworkPolicy and restarts no pod.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Egress []EgressRule `json:"egress,omitempty"`
}

// WorkloadSSO is how a joint-operation workload's users sign in (spec §7).
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:XValidation:rule="has(self.gateway)",message="sso needs gateway, kooper's login gateway, the only way it signs users in so far (gateway: {} takes every default)"
type WorkloadSSO struct {
	// gateway puts kooper's login gateway in front of the app
	// (docs/sso-gateway.md); gateway: {} takes every default. It is the
	// only way kooper signs users in so far, so sso must have it.
	// +optional
	Gateway *SSOGateway `json:"gateway,omitempty"`
}

// Gateway returns the workload's SSO gateway, nil without one (or without
// a workload).
func (w *WorkloadTemplate) Gateway() *SSOGateway {
	if w == nil || w.SSO == nil {
		return nil
	}
	return w.SSO.Gateway
}

// SSOGateway is the login gateway that runs beside the app in each tenant
// pod: a container of kooper's image running its gateway command. Browsers
// reach it through the tenant's Service and Ingress; it reaches the app on
// localhost, at the first workload port.
type SSOGateway struct {
	// appId is the joint-operation application whose authorised users
	// (authSync) the gateway admits, and whose OAuth client it signs in
	// with; product-wide, so it names an application every buyer's
	// enterprise has. Defaults to the enterprise's only application; when
	// the enterprise has several and none is named, the gateway keeps the
	// one it was delivered first (the most recently synced when it had
	// none) and the SaaSDirectory's Delivered condition says so (reason
	// SeveralApplications).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AppID string `json:"appId,omitempty"`

	// port is the container port the gateway listens on, and the port the
	// Service and Ingress send traffic to. Defaults to 4180; it must differ
	// from every workload port, and be 1024 or more (the gateway runs as a
	// user that may not bind lower ports).
	// +optional
	// +kubebuilder:default=4180
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// image is the gateway's image: kooper's own. Defaults to the image
	// the controllers were started with (--gateway-image; the chart sets
	// it to its own image).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// resources are the gateway container's resources, counted against
	// the plan's quota with the app's. Defaults to requests cpu 10m,
	// memory 32Mi and limits cpu 200m, memory 64Mi.
	// +optional
	Resources *ContainerResources `json:"resources,omitempty"`

	// workplaceLogins says what the gateway does with a sign-in callback
	// that carries a state it did not issue and no tenant: the 开天
	// enterprise workplace's own login (spec §7.2), which the spec leaves
	// open (§8). Refuse (the default) answers "Sign-in expired"; Accept
	// signs the user in, with the login-CSRF trade-off of a portal login
	// (docs/sso-gateway.md).
	// +optional
	// +kubebuilder:default=Refuse
	WorkplaceLogins WorkplaceLoginPolicy `json:"workplaceLogins,omitempty"`
}

// WorkplaceLoginPolicy is what the SSO gateway does with an enterprise
// workplace's own sign-in (spec §7.2).
// +kubebuilder:validation:Enum=Refuse;Accept
type WorkplaceLoginPolicy string

const (
	// WorkplaceLoginsRefuse refuses a callback with a state the gateway
	// did not issue and no tenant.
	WorkplaceLoginsRefuse WorkplaceLoginPolicy = "Refuse"
	// WorkplaceLoginsAccept accepts it.
	WorkplaceLoginsAccept WorkplaceLoginPolicy = "Accept"
)

// WorkloadProbe is an HTTP GET the kubelet sends to the container: any
// status from 200 to 399 passes. Durations are in seconds; the defaults
// are Kubernetes' own.
type WorkloadProbe struct {
	// path is the HTTP path requested, for example /healthz.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`

	// port is the name of the workload port the request goes to, for
	// example http; it must name a TCP port of workload.ports.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Port string `json:"port"`

	// initialDelaySeconds is how long after the container starts the first
	// check is sent. Defaults to 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`

	// periodSeconds is the time between two checks. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// timeoutSeconds is how long one check may take before it counts as
	// failed. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=600
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`

	// successThreshold is how many checks in a row must pass, after a
	// failure, for the probe to pass again. Defaults to 1, which is the
	// only value Kubernetes allows for liveness and startup probes.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	SuccessThreshold int32 `json:"successThreshold,omitempty"`

	// failureThreshold is how many checks in a row must fail for the probe
	// to fail: the pod leaves the Service (readiness), or the container is
	// restarted (liveness, startup). Defaults to 3. A startup probe for an
	// app that takes up to 5 minutes to start: periodSeconds 10,
	// failureThreshold 30.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// WorkloadConfig is the configuration files of each tenant: the files of a
// ConfigMap in kooper's namespace, or the files written here, each a Go
// template (text/template, no extra functions) rendered per tenant with
// {{.InstanceID}}, {{.Namespace}}, {{.Product}} (the SaaSProduct's name)
// and {{.SKUCode}} (the plan's skuCode). The rendered files are written
// into the ConfigMap kooper-config in the tenant's namespace and mounted
// read-only at mountPath. When the rendered content changes (the template,
// or the plan's skuCode after an upgrade), the tenant's pods are rolled;
// nothing else about them changes. A missing ConfigMap, a template that does
// not render, or rendered files of more than 1 MiB (names included) stall
// the tenant's provisioning (Stalled: ConfigMapNotFound,
// ConfigTemplateInvalid, ConfigTooLarge); freeze and release still apply.
// +kubebuilder:validation:XValidation:rule="has(self.configMapName) != has(self.files)",message="config takes exactly one of configMapName and files"
type WorkloadConfig struct {
	// mountPath is the directory the files appear in, read-only, for
	// example /etc/crm: the file app.yaml is then /etc/crm/app.yaml. It is
	// a directory of its own: nothing else of the image's is visible there.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^:]*[^:/]$`
	MountPath string `json:"mountPath"`

	// configMapName names a ConfigMap in kooper's namespace: each key of its
	// data is a file name and its value the file's template; each key of its
	// binaryData is a file copied as it is. kooper reads it through its
	// cache, which holds every ConfigMap of its namespace except
	// joint-operation directory shards (labelled saas.kooper.io/directory),
	// and re-renders every tenant of the product when it changes.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ConfigMapName string `json:"configMapName,omitempty"`

	// files are the files written inline, for small configurations.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Files []ConfigFile `json:"files,omitempty"`
}

// ConfigFile is one configuration file written inline.
type ConfigFile struct {
	// name is the file's name within mountPath, for example app.yaml: a
	// ConfigMap key (letters, digits, '-', '_' and '.'; not '.' or '..' and
	// not starting with '..').
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:validation:XValidation:rule="self != '.' && !self.startsWith('..')",message="name must not be '.', '..' or start with '..'"
	Name string `json:"name"`

	// content is the file's template, for example
	// "tenant: {{.InstanceID}}\nplan: {{.SKUCode}}\n". At most 32768 characters.
	// +required
	// +kubebuilder:validation:MaxLength=32768
	Content string `json:"content"`
}

// DirectoryMount says where the joint-operation files appear: <mountPath>/sso
// holds one file per key of the kooper-sso Secret, <mountPath>/directory
// holds tenant.json and the users-NNN.json and departments-NNN.json shards.
type DirectoryMount struct {
	// mountPath is the directory both are mounted under.
	// +optional
	// +kubebuilder:default="/etc/kooper"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^:]*$`
	MountPath string `json:"mountPath,omitempty"`

	// expiryNotice is Mounted to mount the tenant's expiry notice (the
	// kooper-notice ConfigMap: files phase, expireTime and
	// thresholdSeconds) read-only at <mountPath>/notice too, or NotMounted
	// (default): the app reads the ConfigMap through the API, if at all.
	// The files are there only while a notice is due; the kubelet adds and
	// removes them without a restart. Changing it rolls the product's
	// tenants once, as any change to the pod template does.
	// +optional
	// +kubebuilder:default=NotMounted
	ExpiryNotice NoticeMount `json:"expiryNotice,omitempty"`
}

// NoticeMount says whether a joint-operation workload mounts the tenant's
// expiry notice beside its directory.
// +kubebuilder:validation:Enum=Mounted;NotMounted
type NoticeMount string

const (
	// NoticeMounted mounts the kooper-notice ConfigMap at <mountPath>/notice.
	NoticeMounted NoticeMount = "Mounted"
	// NoticeNotMounted mounts no notice.
	NoticeNotMounted NoticeMount = "NotMounted"
)

// WorkloadPort is one container port.
type WorkloadPort struct {
	// name is the port's name, an IANA service name such as http.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// containerPort is the port number the container listens on.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ContainerPort int32 `json:"containerPort"`

	// protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// EnvVar is one environment variable with a literal value.
type EnvVar struct {
	// name is the variable's name, for example LOG_LEVEL. The four names
	// kooper sets are refused (see WorkloadTemplate.env).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['KOOPER_INSTANCE_ID', 'KOOPER_SKU_CODE', 'KOOPER_ADMIN_USERNAME', 'KOOPER_ADMIN_PASSWORD'])",message="kooper sets KOOPER_INSTANCE_ID, KOOPER_SKU_CODE, KOOPER_ADMIN_USERNAME and KOOPER_ADMIN_PASSWORD for each tenant, and a second variable of one of these names would replace the tenant's value; name this one otherwise"
	Name string `json:"name"`

	// value is the variable's value; empty when omitted.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value,omitempty"`
}

// StorageTemplate is the PersistentVolumeClaim given to each tenant.
type StorageTemplate struct {
	// size is the requested capacity, for example 10Gi.
	// +required
	Size resource.Quantity `json:"size"`

	// storageClassName is the StorageClass; the cluster default applies when omitted.
	// On CCE, for example csi-disk (an EVS disk), or csi-disk-topology in a
	// cluster whose nodes span several availability zones: it creates the
	// disk in the zone of the node the pod is scheduled to. A change
	// applies to the volumes of new tenants: a claim's class cannot change.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName string `json:"storageClassName,omitempty"`

	// accessMode is how the volume may be mounted: ReadWriteOnce (by the
	// pods of one node: a block disk, such as CCE's EVS), ReadWriteOncePod
	// (by one pod) or ReadWriteMany (by pods on every node: file storage,
	// such as CCE's SFS, csi-nas). The storage class must offer it. Only a
	// ReadWriteMany volume lets a plan run more than one replica. A change
	// applies to the volumes of new tenants: a claim's access modes cannot
	// change. Defaults to ReadWriteOnce.
	// +optional
	// +kubebuilder:default=ReadWriteOnce
	// +kubebuilder:validation:Enum=ReadWriteOnce;ReadWriteOncePod;ReadWriteMany
	AccessMode corev1.PersistentVolumeAccessMode `json:"accessMode,omitempty"`

	// mountPath is where the volume is mounted in the container, for example /data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	MountPath string `json:"mountPath"`
}

// IngressTLSCertificate says where a tenant Ingress's certificate comes from.
// +kubebuilder:validation:Enum=Copied;IngressController
type IngressTLSCertificate string

const (
	// TLSCertificateCopied is a copy of the product's tlsSecretName in each
	// tenant namespace, named in the Ingress.
	TLSCertificateCopied IngressTLSCertificate = "Copied"
	// TLSCertificateIngressController is the ingress controller's own
	// default certificate: the Ingress lists the tenant's host under
	// spec.tls without a secretName, and nothing is copied.
	TLSCertificateIngressController IngressTLSCertificate = "IngressController"
)

// IngressTemplate is the Ingress created for each tenant.
// +kubebuilder:validation:XValidation:rule="!has(self.tlsCertificate) || self.tlsCertificate != 'IngressController' || !has(self.tlsSecretName) || size(self.tlsSecretName) == 0",message="tlsCertificate IngressController serves the ingress controller's own certificate: leave tlsSecretName out, which is for a certificate copied into each tenant namespace"
// +kubebuilder:validation:XValidation:rule="!has(self.tlsCertificate) || self.tlsCertificate != 'Copied' || (has(self.tlsSecretName) && size(self.tlsSecretName) > 0)",message="tlsCertificate Copied needs tlsSecretName, the Secret to copy"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterIP) || !has(self.serviceType) || self.serviceType == 'ClusterIP'",message="clusterIP None (a headless Service) needs serviceType ClusterIP: a NodePort Service has a cluster IP"
// +kubebuilder:validation:XValidation:rule="!has(self.tlsSecretName) || size(self.tlsSecretName) == 0 || !has(self.annotations) || !self.annotations.exists(k, k.startsWith('cert-manager.io/') || k == 'kubernetes.io/tls-acme')",message="tlsSecretName with cert-manager's annotations (cert-manager.io/*, kubernetes.io/tls-acme): cert-manager would issue into the tenant's copy of tlsSecretName, which kooper puts back, and the two would rewrite it for ever; use one or the other"
type IngressTemplate struct {
	// className is the IngressClass, for example nginx or cce; the cluster
	// default applies when omitted.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClassName string `json:"className,omitempty"`

	// tlsSecretName names a TLS Secret in kooper's namespace (typically a
	// wildcard certificate for the URL template's domain) that is copied into
	// each tenant namespace and used for the Ingress. Plain HTTP when omitted.
	// It must be of type kubernetes.io/tls and carry the label
	// saas.kooper.io/copy-to-tenants: "true"; otherwise tenants are Stalled
	// (SecretNotCopyable) and nothing is copied. Leave it out with
	// tlsCertificate IngressController, which copies nothing.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// tlsCertificate says where each tenant's HTTPS certificate comes from:
	// Copied, a copy of tlsSecretName in each tenant namespace (what
	// tlsSecretName alone means); or IngressController, the ingress
	// controller's own default certificate, typically a wildcard for the
	// URL template's domain (ingress-nginx's --default-ssl-certificate;
	// for CCE's cce class see docs/operations/cce.md): the Ingress lists
	// the tenant's host under spec.tls without a secretName.
	// IngressController copies no private key into tenant namespaces, saves
	// a write per tenant, and a renewed certificate is updated in one
	// place, not in every tenant namespace. When omitted: Copied with
	// tlsSecretName, plain HTTP without.
	// +optional
	TLSCertificate IngressTLSCertificate `json:"tlsCertificate,omitempty"`

	// path is the URL path routed to the tenant. Defaults to /.
	// +optional
	// +kubebuilder:default=/
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path,omitempty"`

	// annotations are set on every tenant's Ingress, for the ingress
	// controller: CCE's cce class, for example, reads the load balancer from
	// kubernetes.io/elb.class, kubernetes.io/elb.id and
	// kubernetes.io/elb.port (docs/operations/cce.md). Keys under
	// saas.kooper.io/ are kooper's own and refused. An annotation removed
	// here is removed from the Ingresses. Each key is one the API server
	// admits on an object: an optional DNS subdomain prefix of at most 253
	// characters (of either case) and '/', then a name of at most 63. At
	// most 32, keys and values together at most 65536 characters: the API
	// server allows an object's annotations 256 KiB, and a character takes
	// up to 4 bytes (a rule that counts bytes is over the CRD's CEL cost
	// budget). What the API server would refuse on the Ingresses is
	// refused here, not on every tenant (ObjectInvalid).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('saas.kooper.io/'))",message="annotations under saas.kooper.io/ are kooper's own"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.indexOf('/') <= 253 && k.matches('^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="each annotation key must be a qualified name, as the API server requires of an object's annotations: an optional prefix of at most 253 characters, a DNS subdomain, and '/', then a name of at most 63 letters, digits, '-', '_' and '.' that begins and ends with a letter or digit, for example kubernetes.io/elb.id"
	// +kubebuilder:validation:XValidation:rule="self.map(k, size(k) + size(self[k])).sum() <= 65536",message="the annotations' keys and values must total at most 65536 characters: the API server allows an object's annotations 256 KiB, and a character takes up to 4 bytes"
	Annotations map[string]string `json:"annotations,omitempty"`

	// serviceType is the type of each tenant's Service, the Ingress's
	// backend: ClusterIP, or NodePort where the ingress controller sends
	// to the nodes, as CCE's cce class does on a CCE standard cluster
	// (cce_10_0094 lists ClusterIP as unsupported there). Defaults to
	// ClusterIP.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort
	ServiceType corev1.ServiceType `json:"serviceType,omitempty"`

	// clusterIP None makes each tenant's Service headless: the API server
	// allocates it no address from the cluster's Service range and
	// kube-proxy programs no rules for it, and the Service's name resolves
	// to the tenant's pods. For an ingress controller that routes to the
	// Service's endpoints, as ingress-nginx does (unless its
	// service-upstream annotation is set) and Traefik does, not for one that
	// sends to the Service's address or its node ports (CCE's cce class).
	// At thousands of tenants it keeps as many addresses out of the
	// Service range, and the API server's allocation, whose cost grows with
	// the Services in the cluster, off every purchase (docs/benchmarks.md).
	// Callers inside the tenant namespace then reach the pods at the
	// workload's container ports, not through the Service's port mapping;
	// so it cannot go with sso.gateway. Changing it deletes and recreates
	// each tenant's Service as the change rolls out (spec.rollout): a
	// cluster IP cannot be added to or taken from a Service, and the
	// tenant's Service is missing between the two writes. Needs serviceType
	// ClusterIP. When omitted, each Service gets a cluster IP.
	// +optional
	// +kubebuilder:validation:Enum=None
	ClusterIP string `json:"clusterIP,omitempty"`

	// allowFrom are address ranges outside the cluster that the tenant's
	// NetworkPolicy admits besides the ingress controller's namespace: the
	// load balancer's, when it sends to the pods from outside any pod, as
	// CCE's cce class does (from the nodes of a standard cluster, from the
	// ELB's backend subnet on a CCE Turbo cluster, from 100.125.0.0/16 for
	// a shared ELB). The cluster must enforce ipBlock in ingress rules (on
	// CCE, a cluster with DataPlane V2; docs/operations/cce.md). Nothing
	// besides the namespaces when omitted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	AllowFrom []IPBlock `json:"allowFrom,omitempty"`
}

// Plan is what one KooGallery specification (skuCode) entitles a tenant to.
type Plan struct {
	// skuCode is the KooGallery specification code (规格编码), as Query Order
	// reports it. Example: 0a4d1578-5295-46a7-92d4-7c803dccc51d.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode"`

	// displayName is a human name for the plan, for example Basic.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// replicas is the number of workload replicas a tenant on this plan runs.
	// Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`

	// resources replace the workload's default container resources.
	// +optional
	Resources *ContainerResources `json:"resources,omitempty"`

	// quota is the hard limit of the tenant namespace's ResourceQuota, for
	// example requests.cpu: "2", pods: "10". No ResourceQuota when omitted.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Quota corev1.ResourceList `json:"quota,omitempty"`

	// license is what a licence on this plan grants. Required for License products.
	// +optional
	License *LicenseTerms `json:"license,omitempty"`

	// package makes this plan a pay-per-use package: what a package bought
	// on it holds, in the unit of spec.packages.meter. Only with
	// spec.packages.
	// +optional
	Package *PackageTerms `json:"package,omitempty"`

	// values are the chart values of this plan, for a product with a chart:
	// they override the chart's own values and spec.chart.values, for
	// example a larger replica count or a bigger volume.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
}

// PackagesSpec is how a product's pay-per-use packages are linked, deducted
// and acted on (docs/packages.md).
type PackagesSpec struct {
	// meter is the meter (a name in spec.metering.meters) the packages pay
	// for. May be omitted when the product has exactly one meter.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Meter string `json:"meter,omitempty"`

	// linkBy is how a package finds the pay-per-use tenant it funds:
	// CustomerAndProduct (default), the same buyer (customerId) and the
	// same SaaSProduct; or Customer, the same buyer on any product.
	// +optional
	// +kubebuilder:default=CustomerAndProduct
	LinkBy PackageLinkBy `json:"linkBy,omitempty"`

	// onExhausted is what kooper does when the buyer's packages are used up:
	// Report (default) sets PackagesExhausted and sends a Warning Event;
	// Freeze also freezes the tenant, as the marketplace's FREEZE would,
	// until a new package brings quota.
	// +optional
	// +kubebuilder:default=Report
	OnExhausted PackageExhaustedAction `json:"onExhausted,omitempty"`

	// uncovered is what happens to usage no package covers: Drop (default)
	// counts it in status.metering.uncovered and pushes nothing; Push sends
	// it as plain pay-per-use usage, without relate_pkg_instance.
	// +optional
	// +kubebuilder:default=Drop
	Uncovered UncoveredUsage `json:"uncovered,omitempty"`
}

// PackageLinkBy is how a package is linked to a pay-per-use tenant.
// +kubebuilder:validation:Enum=CustomerAndProduct;Customer
type PackageLinkBy string

const (
	// LinkByCustomerAndProduct: the same customerId and the same SaaSProduct.
	LinkByCustomerAndProduct PackageLinkBy = "CustomerAndProduct"
	// LinkByCustomer: the same customerId, on any SaaSProduct.
	LinkByCustomer PackageLinkBy = "Customer"
)

// PackageExhaustedAction is what kooper does when packages are used up.
// +kubebuilder:validation:Enum=Report;Freeze
type PackageExhaustedAction string

const (
	// ExhaustedReport: a condition and an Event, the service goes on.
	ExhaustedReport PackageExhaustedAction = "Report"
	// ExhaustedFreeze: the tenant is frozen until a new package brings quota.
	ExhaustedFreeze PackageExhaustedAction = "Freeze"
)

// UncoveredUsage is what happens to usage that no package covers.
// +kubebuilder:validation:Enum=Drop;Push
type UncoveredUsage string

const (
	// UncoveredDrop: counted in status, never pushed.
	UncoveredDrop UncoveredUsage = "Drop"
	// UncoveredPush: pushed as pay-per-use usage without relate_pkg_instance.
	UncoveredPush UncoveredUsage = "Push"
)

// PackageTerms is what one package holds, in the unit of the product's
// spec.packages.meter: exactly one of quota and quotaPerLinearValue.
// +kubebuilder:validation:XValidation:rule="has(self.quota) != has(self.quotaPerLinearValue)",message="set exactly one of quota and quotaPerLinearValue"
// +kubebuilder:validation:XValidation:rule="(!has(self.quota) || self.quota.matches('[1-9]')) && (!has(self.quotaPerLinearValue) || self.quotaPerLinearValue.matches('[1-9]'))",message="a package must hold more than 0"
type PackageTerms struct {
	// quota is what a package holds, a decimal with up to 14 whole digits
	// and up to 4 decimals, for example "100". 14 digits always fit what
	// kooper counts a package in (at most 461168601842738.9999); for a
	// package without a limit, give more than the buyer can use, such as
	// "99999999999999".
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]{1,14}(\.[0-9]{1,4})?$`
	Quota string `json:"quota,omitempty"`

	// quotaPerLinearValue is what a package holds per unit of the order's
	// linearValue (the quantity the buyer chose), a decimal with up to 14
	// whole digits and up to 4 decimals: a package bought with linearValue
	// 50 and "2" holds 100. A package whose quotaPerLinearValue ×
	// linearValue is above 461168601842738.9999 stalls (NoPackageTerms).
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]{1,14}(\.[0-9]{1,4})?$`
	QuotaPerLinearValue string `json:"quotaPerLinearValue,omitempty"`
}

// LicenseTerms is what a licence key grants.
type LicenseTerms struct {
	// features are the feature names written into the licence key, for example
	// reporting or sso.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_.:-]+$`
	Features []string `json:"features,omitempty"`

	// validityDays is how long a key is valid when the order itself sets no
	// expiry (for example a one-time purchase). Defaults to 365.
	// +optional
	// +kubebuilder:default=365
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=36500
	ValidityDays int32 `json:"validityDays,omitempty"`

	// deviceBinding says whether a key is bound to a device fingerprint.
	// Defaults to Optional.
	// +optional
	// +kubebuilder:default=Optional
	DeviceBinding DeviceBinding `json:"deviceBinding,omitempty"`
}

// LicensePolicy is how a License product's keys and revocation list are
// written (docs/licence-keys.md).
type LicensePolicy struct {
	// keyFormat is the format of the keys kooper issues from now on, and of
	// the revocation list: JWS, a compact JWS signed with EdDSA that any JOSE
	// library verifies; or Legacy, kooper's own kl1 token. When omitted, the
	// operator's --licence-key-format applies (the chart's
	// licenseKeyFormat; JWS unless set), so an upgrade can keep every
	// product that says nothing on Legacy. Keys already issued are not
	// re-issued for a change: each stays valid, in its format, until it
	// expires or the licence needs a new key.
	// +optional
	KeyFormat LicenseKeyFormat `json:"keyFormat,omitempty"`
}

// LicenseKeyFormat is how licence keys and revocation lists are written.
// +kubebuilder:validation:Enum=JWS;Legacy
type LicenseKeyFormat string

const (
	// LicenseKeyFormatJWS: a compact JWS (RFC 7515) signed with EdDSA over
	// Ed25519 (RFC 8037), typ kooper-licence+jwt or kooper-revocations+jwt.
	LicenseKeyFormatJWS LicenseKeyFormat = "JWS"
	// LicenseKeyFormatLegacy: kooper's own kl1 (key) and krl1 (list) tokens.
	LicenseKeyFormatLegacy LicenseKeyFormat = "Legacy"
)

// GetLicenseKeyFormat returns license.keyFormat, or operatorDefault (the
// operator's --licence-key-format) when it is unset, or JWS when that is
// empty too.
func (s *SaaSProductSpec) GetLicenseKeyFormat(operatorDefault LicenseKeyFormat) LicenseKeyFormat {
	switch {
	case s.License != nil && s.License.KeyFormat != "":
		return s.License.KeyFormat
	case operatorDefault != "":
		return operatorDefault
	}
	return LicenseKeyFormatJWS
}

// DeviceBinding says whether a licence must name a device.
// +kubebuilder:validation:Enum=Required;Optional
type DeviceBinding string

const (
	// DeviceBindingRequired: every licence application must carry a device
	// fingerprint; one without gets result code 000903.
	DeviceBindingRequired DeviceBinding = "Required"
	// DeviceBindingOptional: a fingerprint is written into the key when given.
	DeviceBindingOptional DeviceBinding = "Optional"
)

// LifecyclePolicy is what freeze, release and expiry do to a tenant.
type LifecyclePolicy struct {
	// freeze is what updateInstanceStatus FREEZE does. Defaults apply when omitted.
	// +optional
	// +kubebuilder:default={}
	Freeze FreezePolicy `json:"freeze,omitempty"`

	// release is what releaseInstance does to the tenant's data. Defaults apply when omitted.
	// +optional
	// +kubebuilder:default={}
	Release ReleasePolicy `json:"release,omitempty"`

	// expiry is the safety net for a subscription whose expiry passed with no
	// marketplace callback. Defaults apply when omitted.
	// +optional
	// +kubebuilder:default={}
	Expiry ExpiryPolicy `json:"expiry,omitempty"`
}

// FreezePolicy is what freezing a tenant does.
type FreezePolicy struct {
	// behavior is ScaleToZero (default: scale workloads to zero, keep data) or
	// DisableIngress (keep workloads running, remove the Ingress).
	// +optional
	// +kubebuilder:default=ScaleToZero
	Behavior FreezeBehavior `json:"behavior,omitempty"`
}

// ReleasePolicy is what releasing a tenant does to its data.
type ReleasePolicy struct {
	// retentionPolicy is Retain (default: keep the namespace and its data for
	// retentionDays, then delete it) or Delete (delete it at once).
	// +optional
	// +kubebuilder:default=Retain
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`

	// retentionDays is how many days released data is kept under Retain; it
	// is ignored under Delete. 0 keeps it until someone deletes the namespace
	// by hand. Defaults to 15 (KooGallery's longest freeze period).
	// +optional
	// +kubebuilder:default=15
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3650
	RetentionDays *int32 `json:"retentionDays,omitempty"`

	// onHandDeletion is what deleting a SaaSTenant by hand (kubectl delete)
	// does to its data: Retain (default) keeps the namespace for
	// retentionDays, even under retentionPolicy Delete, since a deletion by
	// hand is more often an accident than a release; Delete deletes the
	// namespace at once. A debug tenant that kooper deletes when its
	// debug.ttlSeconds passes loses its data either way.
	// +optional
	// +kubebuilder:default=Retain
	OnHandDeletion HandDeletionPolicy `json:"onHandDeletion,omitempty"`
}

// ExpiryPolicy is the expiry safety net.
type ExpiryPolicy struct {
	// action is Freeze (default: freeze locally once expireTime plus
	// graceSeconds has passed with no marketplace callback) or None (only
	// report it with the Expired condition and an Event).
	// +optional
	// +kubebuilder:default=Freeze
	Action ExpiryAction `json:"action,omitempty"`

	// graceSeconds is how long after expireTime the safety net waits for the
	// marketplace's own FREEZE, in seconds. Defaults to 259200 (3 days); 0
	// gives no grace: the safety net acts at expireTime.
	// +optional
	// +kubebuilder:default=259200
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	GraceSeconds *int32 `json:"graceSeconds,omitempty"`

	// noticeSeconds are the expiry notices before expireTime, in seconds
	// before it: each time one is crossed, an Active tenant gets the
	// ExpiringSoon condition (True, with the time left), a Warning Event
	// ExpiringSoon, and the kooper-notice ConfigMap in its namespace
	// (docs/concepts.md, "Expiry notices"). The grace period after
	// expireTime always gives a notice too (ExpiryGracePeriod). The order
	// does not matter; each is at least 60 and at most 31536000 (a year).
	// Defaults to [604800, 86400]: 7 days and 1 day before.
	// +optional
	// +listType=set
	// +kubebuilder:default={604800,86400}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Minimum=60
	// +kubebuilder:validation:items:Maximum=31536000
	NoticeSeconds []int32 `json:"noticeSeconds,omitempty"`
}

// DebugPolicy is how Seller Console debug requests (testFlag "1") are served.
type DebugPolicy struct {
	// handling is Provision (default: debug tenants run like real ones,
	// labelled as debug) or Simulate (answer every callback correctly, run no workload).
	// +optional
	// +kubebuilder:default=Provision
	Handling DebugHandling `json:"handling,omitempty"`

	// skuCode is the plan debug tenants get when their order cannot be
	// resolved with Query Order (the debugger's orders often do not exist
	// there). When omitted, such tenants stall with PlanNotFound.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode,omitempty"`

	// ttlSeconds is how long a debug tenant lives: after that it is deleted,
	// with its data (debug data is never a buyer's). Defaults to 86400 (one
	// day) when debug is given; 0, or no debug at all, keeps debug tenants
	// until the marketplace releases them.
	// +optional
	// +kubebuilder:default=86400
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	TTLSeconds *int32 `json:"ttlSeconds,omitempty"`
}

// SaaSProductStatus is what kooper observed about a product.
// It is one atomic value to the API server's field tracking, as every
// kooper status is (SaaSTenantStatus says why).
// +structType=atomic
type SaaSProductStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, KeysAvailable, PlansValid and URLsValid;
	// EgressRestricted for a SaaS product; ChartReady for a product with a
	// chart; MetersValid for a product with metering.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// chart is the chart the product's tenants are rendered from, for a
	// product with spec.chart: resolved by the product controller.
	// +optional
	Chart *ResolvedChart `json:"chart,omitempty"`

	// refusedPlanChanges are the pairs of plans a tenant cannot change
	// between, for a product with spec.chart: the chart renders an object
	// differently on the two plans in a field the API server will not
	// change on an existing object and kooper does not replace the object
	// for (a StatefulSet's volumeClaimTemplates, a claim shrunk), so a
	// tenant changing from one to the other would stall with
	// ObjectInvalid. The product controller sets it with PlansValid
	// (reason PlanChangeRefused, whose message names the objects and
	// fields), from the chart it records in chart, and keeps it while the
	// chart cannot be checked; the receiver answers changeInstanceCheck
	// 000002 for a change between the two plans of a pair (from its from,
	// when set). Empty when
	// every plan change can be made.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2016
	RefusedPlanChanges []PlanPair `json:"refusedPlanChanges,omitempty"`

	// rollout is where the tenants are in taking the product's newest
	// version: SaaS products with a workload or chart.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`

	// orderNotifications summarises the product's orderNotify callbacks
	// still held (OrderNotification records, kept 7 days after they are
	// resolved): counts by order type and the last 10.
	// +optional
	OrderNotifications *OrderNotificationsSummary `json:"orderNotifications,omitempty"`
}

// PlanPair is two plans of a product: a change from either to the other
// is meant, or, with from, only the change from that one.
// +kubebuilder:validation:XValidation:rule="!has(self.from) || self.from in self.skuCodes",message="from must be one of skuCodes"
type PlanPair struct {
	// skuCodes are the two plans' specification codes, in the order of
	// spec.plans; the order carries no meaning.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	SKUCodes []string `json:"skuCodes"`

	// from, when set, is the one plan of skuCodes a change from which is
	// refused; the change the other way can be made (a claim may grow but
	// not shrink). Empty: a change either way is refused.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	From string `json:"from,omitempty"`
}

// PlanChangeRefused reports whether a tenant on plan from cannot change to
// plan to: refusedPlanChanges holds them as a pair, either way or, with
// the pair's from, from that plan.
func (s *SaaSProductStatus) PlanChangeRefused(from, to string) bool {
	return from != to && slices.ContainsFunc(s.RefusedPlanChanges, func(p PlanPair) bool {
		return slices.Contains(p.SKUCodes, from) && slices.Contains(p.SKUCodes, to) && (p.From == "" || p.From == from)
	})
}

// SaaSProduct is a product the merchant sells on KooGallery: its marketplace
// identity, keys, workload, plans and lifecycle policy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sp,categories=kooper
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it is the value of the label saas.kooper.io/product on every tenant, licence and tenant object"
// +kubebuilder:printcolumn:name="Product ID",type=string,JSONPath=`.spec.productId`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Updated",type=string,JSONPath=`.status.rollout.progress`
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.rollout.state`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.rollout.updateRevision`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SaaSProduct struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the name is the {product} of the
	// production URL /koogallery/{product}. At most 63 characters, since it
	// is also the value of the label saas.kooper.io/product.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the product the merchant sells.
	// +required
	Spec SaaSProductSpec `json:"spec"`

	// status is what kooper observed about it.
	// +optional
	Status SaaSProductStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SaaSProductList is a list of SaaSProduct.
type SaaSProductList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the products.
	Items []SaaSProduct `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SaaSProduct{}, &SaaSProductList{})
}
