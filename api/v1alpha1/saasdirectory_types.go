package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Where joint-operation (kit) data lives. A SaaSDirectory is one
// (instanceId, tenantId) pair, the idempotency key of the kit interfaces
// (spec §1.8). It is cluster-scoped and independent of SaaSTenant because kit
// syncs may arrive before the instance exists (the seller's test tenant has
// no order at all), and because the data must outlive a tenant namespace that
// is not there yet. Its spec is small (the enterprise and its application
// credentials); users and departments can run to tens of thousands of
// entries, far beyond one object's size limit, so they live in Secret shards
// (personal data: never ConfigMaps, which the view role reads) in the
// directory namespace, labelled DirectoryLabel and owned by the
// SaaSDirectory. clientSecret is stored as the marketplace sent it, RSA
// encrypted: only the merchant's private key opens it, so neither this object
// nor etcd holds it in the clear; the controller decrypts it into the
// tenant's kooper-sso Secret.

// DirectoryState says whether the enterprise is bound to the instance.
// +kubebuilder:validation:Enum=Active;Deleted
type DirectoryState string

const (
	// DirectoryActive: the enterprise is bound; its directory is delivered.
	DirectoryActive DirectoryState = "Active"
	// DirectoryDeleted: tenantSync deleted the enterprise (flag 0); nothing is delivered.
	DirectoryDeleted DirectoryState = "Deleted"
)

// KitInterface names a joint-operation sync interface (spec §3.11).
// +kubebuilder:validation:Enum=tenantSync;applicationSync;authSync;singleOrgSync;allOrgSync
type KitInterface string

// The five kit interfaces.
const (
	KitTenantSync      KitInterface = "tenantSync"
	KitApplicationSync KitInterface = "applicationSync"
	KitAuthSync        KitInterface = "authSync"
	KitSingleOrgSync   KitInterface = "singleOrgSync"
	KitAllOrgSync      KitInterface = "allOrgSync"
)

// DirectoryApplication is one joint-operation application's OAuth client.
type DirectoryApplication struct {
	// appId is the application ID in the joint-operation platform.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	AppID string `json:"appId"`

	// clientId is the OAuth client ID.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ClientID string `json:"clientId"`

	// encryptedClientSecret is clientSecret as the marketplace sent it: RSA-OAEP
	// ciphertext, Base64, decryptable only with the product's rsaPrivateKey.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	EncryptedClientSecret string `json:"encryptedClientSecret"`

	// oaepHash is the OAEP variant that decrypted it when it arrived.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	OAEPHash string `json:"oaepHash"`
}

// DirectorySync is the last kit call that changed a directory.
type DirectorySync struct {
	// interface is the kit interface that was called.
	// +required
	Interface KitInterface `json:"interface"`

	// flag is the call's flag: 0 delete, 1 add, 2 modify, 3 cancel
	// authorisation; -1 for allOrgSync, which has none.
	// +required
	// +kubebuilder:validation:Minimum=-1
	// +kubebuilder:validation:Maximum=3
	Flag int32 `json:"flag"`

	// items is how many users or departments the call carried.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Items int32 `json:"items,omitempty"`

	// receivedTime is when kooper stored it.
	// +required
	ReceivedTime metav1.Time `json:"receivedTime"`

	// sequence counts the stored kit calls that changed the directory. Two
	// calls within one second would otherwise leave the object unchanged
	// (times are stored to the second), and the second change undelivered.
	// +required
	// +kubebuilder:validation:Minimum=1
	Sequence int64 `json:"sequence"`
}

// SaaSDirectorySpec is what the joint-operation kit said about one enterprise
// bound to one instance. The receiver writes it.
type SaaSDirectorySpec struct {
	// instanceId is the marketplace instance the enterprise is bound to. It
	// may name an instance kooper does not have (yet). Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="instanceId is immutable"
	InstanceID string `json:"instanceId"`

	// tenantId is the enterprise's ID. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantId is immutable"
	TenantID string `json:"tenantId"`

	// productName names the SaaSProduct whose production URL received the
	// syncs; its keys Secret holds the RSA key. At most 63 characters, the
	// limit of a SaaSProduct's name. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="productName is immutable"
	ProductName string `json:"productName"`

	// state is Deleted after tenantSync flag 0, Active otherwise.
	// +optional
	// +kubebuilder:default=Active
	State DirectoryState `json:"state,omitempty"`

	// tenantCode is the enterprise's code.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TenantCode string `json:"tenantCode,omitempty"`

	// name is the enterprise's name.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name,omitempty"`

	// domainName is the enterprise's unified-authentication domain, the base
	// of its OAuth endpoints (spec §7), scheme included.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	DomainName string `json:"domainName,omitempty"`

	// orderId is the order tenantSync named; empty for the seller's test tenant.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId,omitempty"`

	// mode is Debug when the last tenantSync had testFlag 1.
	// +optional
	// +kubebuilder:default=Production
	Mode RequestMode `json:"mode,omitempty"`

	// applications are the OAuth clients applicationSync delivered.
	// +optional
	// +listType=map
	// +listMapKey=appId
	// +kubebuilder:validation:MaxItems=16
	Applications []DirectoryApplication `json:"applications,omitempty"`

	// lastSync is the last kit call stored for this directory.
	// +optional
	LastSync *DirectorySync `json:"lastSync,omitempty"`
}

// SaaSDirectoryStatus is what kooper delivered.
// It is one atomic value to the API server's field tracking, as every
// kooper status is (SaaSTenantStatus says why).
// +structType=atomic
type SaaSDirectoryStatus struct {
	// observedGeneration is the generation last delivered (or found
	// undeliverable) successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready and Delivered.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// users is how many authorised users the directory holds.
	// +optional
	Users int32 `json:"users,omitempty"`

	// departments is how many departments the directory holds.
	// +optional
	Departments int32 `json:"departments,omitempty"`

	// lastSyncTime is when the last kit call reflected here was stored.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// observedSync is the sequence of the last kit call reflected here.
	// +optional
	ObservedSync int64 `json:"observedSync,omitempty"`

	// namespace is the tenant namespace the directory was delivered to.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// instanceNamespace is the namespace kooper gave the directory's
	// instance, recorded once the instance had one and kept after the
	// delivery is withdrawn: when that namespace is deleted (by retention, or
	// at once on release), the directory and its shards are deleted too.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	InstanceNamespace string `json:"instanceNamespace,omitempty"`

	// deliveredHash is a hash of what was last delivered to namespace, so an
	// unchanged directory costs no write.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DeliveredHash string `json:"deliveredHash,omitempty"`
}

// SaaSDirectory is the joint-operation directory (enterprise, application
// credentials, departments, authorised users) of one enterprise bound to one
// marketplace instance, delivered into the tenant's namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sd,categories=kooper
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it is the value of the label saas.kooper.io/directory on the directory's shards"
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.instanceId`
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantCode`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users`
// +kubebuilder:printcolumn:name="Departments",type=integer,JSONPath=`.status.departments`
// +kubebuilder:printcolumn:name="Delivered",type=string,JSONPath=`.status.conditions[?(@.type=="Delivered")].status`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
type SaaSDirectory struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the name is derived from instanceId
	// and tenantId (d- and 20 hex digits). At most 63 characters, since it is
	// the value of the label saas.kooper.io/directory.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the kit said.
	// +required
	Spec SaaSDirectorySpec `json:"spec"`

	// status is what kooper delivered.
	// +optional
	Status SaaSDirectoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SaaSDirectoryList is a list of SaaSDirectory.
type SaaSDirectoryList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the directories.
	Items []SaaSDirectory `json:"items"`
}

// ShardDirectoryUIDAnnotation on a directory shard holds the ID of the
// SaaSDirectory it was written for (SaaSDirectory.ShardOwnerID). Shards have
// no owner reference: the garbage collector would delete them with their
// directory, and deleting the SaaSDirectory CRD deletes every directory, an
// accident that must cost no tenant its users. The annotation tells a shard
// written for an earlier directory of the same name (a sync racing that
// one's deletion) from the current directory's.
const ShardDirectoryUIDAnnotation = "saas.kooper.io/directory-uid"

// DirectoryIDAnnotation on a SaaSDirectory holds the ID its shards are
// written for. Unlike metadata.uid, which the API server assigns anew, it is
// restored with the directory from a backup (kubectl or Velero), so the
// restored directory keeps the shards restored with it. The directory
// controller sets it, once, to the directory's UID: the ID shards written
// before name, and the one a kooper of the version before (a receiver or
// controllers not yet upgraded, during a rolling upgrade) reads a shard's
// annotation against.
const DirectoryIDAnnotation = "saas.kooper.io/directory-id"

// ShardOwnerID is the ID d's shards are written for: its
// DirectoryIDAnnotation, or its UID when it has none yet.
func (d *SaaSDirectory) ShardOwnerID() types.UID {
	if id := d.Annotations[DirectoryIDAnnotation]; id != "" {
		return types.UID(id)
	}
	return d.UID
}

// ShardDirectoryUID is the ID of the directory shard was written for: its
// ShardDirectoryUIDAnnotation or, on a shard an earlier version wrote, its
// SaaSDirectory owner reference; "" for a shard kept for no directory in
// particular, as the directory controller leaves them when their directory
// goes with its CRD.
func ShardDirectoryUID(shard metav1.Object) types.UID {
	if uid := shard.GetAnnotations()[ShardDirectoryUIDAnnotation]; uid != "" {
		return types.UID(uid)
	}
	for _, ref := range shard.GetOwnerReferences() {
		if IsDirectoryOwnerReference(ref) {
			return ref.UID
		}
	}
	return ""
}

// ShardBelongsTo reports whether shard is d's data: written for d (naming its
// ID or, as an earlier version wrote, its UID), or for no
// directory in particular (kept when its directory went with the CRD), so
// that the directory restored under that name, or created again by the next
// sync, carries on with it rather than starting empty.
func ShardBelongsTo(shard metav1.Object, d *SaaSDirectory) bool {
	uid := ShardDirectoryUID(shard)
	return uid == "" || uid == d.ShardOwnerID() || uid == d.UID
}

// IsDirectoryOwnerReference reports whether ref names a SaaSDirectory, as
// the owner references earlier versions put on shards did.
func IsDirectoryOwnerReference(ref metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == GroupVersion.Group && ref.Kind == "SaaSDirectory"
}

// ShardsInSecrets reports whether d is marked as having no ConfigMap shard
// of an earlier version left (ShardsFormatAnnotation), so that nobody need
// look for one.
func (d *SaaSDirectory) ShardsInSecrets() bool {
	return d.Annotations[ShardsFormatAnnotation] == ShardsFormatSecrets
}

func init() {
	SchemeBuilder.Register(&SaaSDirectory{}, &SaaSDirectoryList{})
}
