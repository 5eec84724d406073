package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SaaSTenantSpec is what the marketplace said about one subscription. The
// receiver writes it; people rarely should.
type SaaSTenantSpec struct {
	// instanceId is the marketplace instance ID kooper issued for this
	// subscription; the object's name equals it. Lower-case letters, digits
	// and '-', at most 40 characters so that the tenant namespace
	// <namespacePrefix>-<instanceId> fits in 63. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="instanceId is immutable"
	InstanceID string `json:"instanceId"`

	// productName names the SaaSProduct this tenant was bought from. At most
	// 63 characters, since it is the value of the label saas.kooper.io/product
	// on the tenant and its objects. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="productName is immutable"
	ProductName string `json:"productName"`

	// orderId is the order of the purchase (newInstance) that created the
	// subscription. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="orderId is immutable"
	OrderID string `json:"orderId"`

	// orderLineId is the order line of that purchase. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="orderLineId is immutable"
	OrderLineID string `json:"orderLineId"`

	// businessId is the marketplace business ID of the first newInstance
	// request for this order line. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="businessId is immutable"
	BusinessID string `json:"businessId,omitempty"`

	// state is the state the marketplace asked for: Active (default), Frozen
	// or Released. Released is final.
	// +optional
	// +kubebuilder:default=Active
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'Released' || self == 'Released'",message="a released tenant cannot change state"
	State SubscriptionState `json:"state,omitempty"`

	// expireTime is the latest expiry of the renewal-type orders
	// (refreshInstance RENEWAL, TRIAL_TO_FORMAL, RENEWAL_CHANGE) in orders:
	// a late retry of an older renewal never moves it back. The expiry in
	// force, status.expireTime, also applies shortening orders
	// (UNSUBSCRIBE_RENEWAL_PERIOD) by their creation time; see
	// docs/lifecycle.md rule E.
	// +optional
	ExpireTime *metav1.Time `json:"expireTime,omitempty"`

	// lastUnfreezeTime is when the receiver last took an UNFREEZE for the
	// instance, whether it changed the state or found it Active already: a
	// FREEZE received less than the receiver's freeze retry window after it
	// is taken for the retry of the FREEZE that UNFREEZE ended, and not
	// applied (docs/lifecycle.md rule F).
	// +optional
	LastUnfreezeTime *metav1.Time `json:"lastUnfreezeTime,omitempty"`

	// mode is Debug for a Seller Console debug purchase (testFlag "1"),
	// Production (default) otherwise. Immutable.
	// +optional
	// +kubebuilder:default=Production
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="mode is immutable"
	Mode RequestMode `json:"mode,omitempty"`

	// orders are the marketplace orders applied to this subscription, oldest
	// first: the purchase, then renewals, upgrades and conversions. Each
	// orderId appears once, which is what applies a repeated callback once.
	// +optional
	// +listType=map
	// +listMapKey=orderId
	// +kubebuilder:validation:MaxItems=256
	Orders []AppliedOrder `json:"orders,omitempty"`
}

// WorkloadReplicas remembers the replica count of one Deployment or
// StatefulSet across a freeze.
type WorkloadReplicas struct {
	// kind is Deployment or StatefulSet. Defaults to Deployment.
	// +optional
	// +kubebuilder:default=Deployment
	// +kubebuilder:validation:Enum=Deployment;StatefulSet
	Kind string `json:"kind,omitempty"`

	// name is the object's name in the tenant namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// replicas is the count it had before the freeze.
	// +required
	// +kubebuilder:validation:Minimum=0
	Replicas int32 `json:"replicas"`
}

// AppliedPlan is what a tenant's workload was last applied with.
type AppliedPlan struct {
	// skuCode is the plan's specification code.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode"`

	// replicas is the plan's replica count.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas"`

	// resources are the container resources applied: the plan's, or else
	// the workload's. None when omitted.
	// +optional
	Resources *ContainerResources `json:"resources,omitempty"`
}

// TenantPackage is what a package is and which tenant it funds.
type TenantPackage struct {
	// quota is what the package holds, in the unit of the product's
	// spec.packages.meter, a decimal with up to 4 decimals.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Quota string `json:"quota"`

	// fundsInstanceId is the instanceId of the pay-per-use tenant whose
	// usage the package pays for; empty while the buyer has none. Kept
	// until that tenant is released and its last usage pushed; then the
	// package funds the buyer's next pay-per-use tenant, with what it has
	// left.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FundsInstanceID string `json:"fundsInstanceId,omitempty"`

	// consumedBefore is what the package paid for while it funded tenants
	// since released, a decimal with up to 4 decimals: the ledger of the
	// tenant it funds now starts from it.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	ConsumedBefore string `json:"consumedBefore,omitempty"`

	// consumedUntil is the end of the last window pushed by the tenants
	// consumedBefore was paid for: queryInstance reports consumedBefore as
	// of then until the tenant it funds now pushes its first window.
	// +optional
	ConsumedUntil *metav1.Time `json:"consumedUntil,omitempty"`
}

// SaaSTenantStatus is what kooper observed and did for a subscription.
// It is one atomic value to the API server's field tracking: only kooper's
// controllers write it, with merge patches, which never consult field
// ownership, so each write records one managed field for the whole status
// rather than one per field and condition (docs/benchmarks.md, 2026-12-04).
// +structType=atomic
type SaaSTenantStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling, Stalled, OrderResolved, Provisioned,
	// Available, Frozen, Expired and Released.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// order is the order that currently defines the subscription, as Query
	// Order reported it.
	// +optional
	Order *ResolvedOrder `json:"order,omitempty"`

	// orderTimes are the creation times of the orders kooper had to put in
	// order (several plan changes, or a shortened renewal period), kept so
	// that a restart does not ask Query Order again.
	// +optional
	// +listType=map
	// +listMapKey=orderId
	// +kubebuilder:validation:MaxItems=256
	OrderTimes []OrderTime `json:"orderTimes,omitempty"`

	// skuCode is the plan the tenant's orders select (docs/lifecycle.md rule
	// P), which its objects run once applied: until then (a change being
	// applied, or stalled on, say, a plan the product lacks) applied.skuCode
	// is the plan they run.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode,omitempty"`

	// expireTime is the expiry in force, derived from the orders
	// (docs/lifecycle.md rule E): the latest of the defining order's expiry
	// and the renewal-type orders', cut by any newer shortening order.
	// +optional
	ExpireTime *metav1.Time `json:"expireTime,omitempty"`

	// expiryNotice is the expiry notice delivered into the tenant's
	// namespace (the kooper-notice ConfigMap) and announced with a Warning
	// Event: absent while none is due. It changes only when a notice
	// threshold (the product's lifecycle.expiry.noticeSeconds), expireTime
	// itself (the grace period) or the end of the grace period is crossed,
	// or on renewal, which removes it.
	// +optional
	ExpiryNotice *ExpiryNotice `json:"expiryNotice,omitempty"`

	// namespace is the tenant's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// frontEndUrl is the buyer-facing URL, reported in appInfo.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	FrontEndURL string `json:"frontEndUrl,omitempty"`

	// adminUrl is the administration URL, reported in appInfo.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	AdminURL string `json:"adminUrl,omitempty"`

	// credentialsSecretName names the Secret, in the tenant namespace, holding
	// the tenant's initial admin user name and password.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// credentialsKeyID names the key the tenant's password is derived from:
	// the fingerprint (16 hex characters) of the key in Secret
	// kooper-credentials-key of kooper's namespace. The receiver derives
	// the password for appInfo from that key, and refuses to when the key
	// there has another fingerprint. Empty for a tenant whose password was
	// drawn at random by an earlier kooper: its copy in kooper's
	// namespace (credentials-<instanceId>) is read instead.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CredentialsKeyID string `json:"credentialsKeyID,omitempty"`

	// firstReadyTime is when the tenant was first Ready with its URLs and
	// credentials: from then on its access details were delivered, and
	// queryInstance returns them (appInfo) while the tenant is Active or
	// Frozen, Ready or not, so a rolling update or an outage never takes
	// them back. Set once by the tenant controller and never cleared.
	// +optional
	FirstReadyTime *metav1.Time `json:"firstReadyTime,omitempty"`

	// frozenReplicas are the replica counts to restore on unfreeze.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	FrozenReplicas []WorkloadReplicas `json:"frozenReplicas,omitempty"`

	// inventory lists the objects applied from the product's chart, for a
	// product with spec.chart: an object the chart no longer renders is
	// deleted (a PersistentVolumeClaim excepted), and release removes the
	// workloads it names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Inventory []InventoryEntry `json:"inventory,omitempty"`

	// applied is the plan the tenant's objects were last applied for, as it
	// was then: what the tenant runs with when it is not frozen. Set once the
	// tenant is provisioned.
	// +optional
	Applied *AppliedPlan `json:"applied,omitempty"`

	// revision is the product revision (a ControllerRevision in kooper's
	// namespace) the tenant's objects were last applied from: the app's
	// version it runs (docs/rollout.md). A new tenant's is recorded with
	// its namespace, just before its objects are first applied.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision,omitempty"`

	// lifecycle is the product's lifecycle policy as kooper last read it.
	// Freeze, the expiry safety net, release and retention work from it and
	// from namespace and applied, so they never wait for a product, plan,
	// order or Secret that is missing (DESIGN.md rule 10).
	// +optional
	Lifecycle *LifecyclePolicy `json:"lifecycle,omitempty"`

	// retainUntil is when a released tenant's data will be deleted.
	// +optional
	RetainUntil *metav1.Time `json:"retainUntil,omitempty"`

	// metering is the usage measured and pushed for a pay-per-use tenant.
	// +optional
	Metering *TenantMetering `json:"metering,omitempty"`

	// package is set when the tenant is a pay-per-use package of a product
	// with spec.packages: it has no namespace or workload of its own and
	// funds a pay-per-use tenant (docs/packages.md).
	// +optional
	Package *TenantPackage `json:"package,omitempty"`

	// directory summarises the joint-operation directory (SaaSDirectory)
	// delivered into the tenant's namespace: joint-operation products only.
	// +optional
	Directory *TenantDirectory `json:"directory,omitempty"`

	// history is the subscription's last 20 marketplace events, oldest
	// first: the orders of spec.orders and the changes of spec.state,
	// derived by the controller when it writes status (no write of its own).
	// queryInstance and changeInstanceCheck change nothing and are not
	// recorded; the receiver's audit line logs every callback
	// (docs/operations.md#the-audit-line).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	History []MarketplaceEvent `json:"history,omitempty"`
}

// TenantDirectory is what the tenant's app currently gets of its
// enterprise's directory.
type TenantDirectory struct {
	// name of the SaaSDirectory delivered.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// tenantId is the enterprise's ID.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	TenantID string `json:"tenantId"`

	// users is how many authorised users were delivered.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Users int32 `json:"users,omitempty"`

	// departments is how many departments were delivered.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Departments int32 `json:"departments,omitempty"`

	// lastSyncTime is when the last sync the receiver recorded arrived: one
	// that changed the enterprise or an application, or any users or
	// departments sync answered 000000.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// SaaSTenant is one KooGallery subscription of a SaaS product: the
// marketplace's view in spec, the running tenant in status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=st,categories=kooper
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.instanceId",message="metadata.name must equal spec.instanceId"
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.instanceId`
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.productName`
// +kubebuilder:printcolumn:name="SKU",type=string,JSONPath=`.status.skuCode`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Frozen",type=string,JSONPath=`.status.conditions[?(@.type=="Frozen")].reason`,description="Why the tenant is frozen, empty when it is not: FrozenByMarketplace, or kooper's own FrozenByExpiry or FrozenByExhaustion while State still says Active"
// +kubebuilder:printcolumn:name="Expiry",type=string,JSONPath=`.status.expireTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`,priority=1
// +kubebuilder:printcolumn:name="Metered Until",type=date,JSONPath=`.status.metering.pushedUntil`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SaaSTenant struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the name is the instanceId.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the marketplace said.
	// +required
	Spec SaaSTenantSpec `json:"spec"`

	// status is what kooper observed and did. Only kooper's controllers
	// write it: it is one atomic value to server-side apply, so an apply of
	// any part of it by another field manager conflicts, and a forced one
	// replaces all of it, state kooper cannot rebuild included; use a merge
	// patch to mend a status by hand.
	// +optional
	Status SaaSTenantStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SaaSTenantList is a list of SaaSTenant.
type SaaSTenantList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the tenants.
	Items []SaaSTenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SaaSTenant{}, &SaaSTenantList{})
}

// ExpiryStage is where a tenant stands against its expireTime in an expiry
// notice.
// +kubebuilder:validation:Enum=Expiring;Grace;Expired
type ExpiryStage string

const (
	// ExpiryStageExpiring: before expireTime, within a notice threshold.
	ExpiryStageExpiring ExpiryStage = "Expiring"
	// ExpiryStageGrace: past expireTime, within the expiry safety net's
	// grace period (lifecycle.expiry.graceSeconds): not yet Expired.
	ExpiryStageGrace ExpiryStage = "Grace"
	// ExpiryStageExpired: the grace period is over (the Expired condition);
	// the tenant is frozen unless lifecycle.expiry.action is None.
	ExpiryStageExpired ExpiryStage = "Expired"
)

// ExpiryNotice is an expiry notice given to a tenant.
type ExpiryNotice struct {
	// stage is Expiring, Grace or Expired.
	// +required
	Stage ExpiryStage `json:"stage"`

	// expireTime is the expiry the notice is about (status.expireTime when
	// it was given).
	// +required
	ExpireTime metav1.Time `json:"expireTime"`

	// thresholdSeconds is the notice threshold crossed, in seconds before
	// expireTime (one of lifecycle.expiry.noticeSeconds): the smallest that
	// is at least the time left. Set in stage Expiring only.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	ThresholdSeconds int32 `json:"thresholdSeconds,omitempty"`
}
