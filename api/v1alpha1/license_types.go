package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LicenseSpec is what the marketplace said about one licence: a purchase of a
// License product (newInstance), or one asynchronous licence application
// (getLicenseAsync).
// +kubebuilder:validation:XValidation:rule="has(self.orderId) || has(self.eventId)",message="a licence needs an orderId (newInstance) or an eventId (getLicenseAsync)"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.orderId) || (has(self.orderId) && self.orderId == oldSelf.orderId)",message="orderId is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.orderLineId) || (has(self.orderLineId) && self.orderLineId == oldSelf.orderLineId)",message="orderLineId is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.eventId) == has(oldSelf.eventId) && (!has(oldSelf.eventId) || self.eventId == oldSelf.eventId)",message="eventId is immutable: a purchase never becomes an application, nor an application a purchase"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.deviceFingerprint) || (has(self.deviceFingerprint) && self.deviceFingerprint == oldSelf.deviceFingerprint)",message="deviceFingerprint is immutable"
// +kubebuilder:validation:XValidation:rule="!has(self.notBefore) || !has(self.notAfter) || self.notBefore < self.notAfter",message="notBefore must be earlier than notAfter"
type LicenseSpec struct {
	// instanceId is the marketplace instance ID of the licence's subscription:
	// the name of the License of the purchase. At most 63 characters, since it
	// is the value of the label saas.kooper.io/instance-id on the licence's key
	// Secret. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="instanceId is immutable"
	InstanceID string `json:"instanceId"`

	// productName names the SaaSProduct (of type License) this licence
	// belongs to. At most 63 characters, since it is the value of the label
	// saas.kooper.io/product. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="productName is immutable"
	ProductName string `json:"productName"`

	// orderId is the purchase order, for a licence bought with newInstance.
	// Immutable once set.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId,omitempty"`

	// orderLineId is the purchase order line. Immutable once set.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderLineID string `json:"orderLineId,omitempty"`

	// eventId is the marketplace business serial number of a getLicenseAsync
	// application; with deviceFingerprint it identifies the application.
	// Immutable: set at creation or never, so a purchase never becomes an
	// application, nor an application a purchase.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	EventID string `json:"eventId,omitempty"`

	// deviceFingerprint is the device or hardware ID the licence is bound to.
	// Immutable once set.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	DeviceFingerprint string `json:"deviceFingerprint,omitempty"`

	// notBefore is the start of the licence window the marketplace asked for
	// (getLicenseAsync effectiveTime). When omitted, the window starts when
	// the record was created, and once a key is issued, where that key's
	// window starts: a record restored from a backup keeps its window.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// notAfter is the end of the licence window the marketplace asked for:
	// getLicenseAsync's expireTime for an application; for an instance, the
	// latest expiry of its renewal-type orders (a late retry of an older
	// renewal never moves it back; shortening orders apply by their
	// creation time, docs/lifecycle.md rule E). The order's expiry, or the
	// plan's validityDays, applies when omitted.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// lastUnfreezeTime is when the receiver last took an UNFREEZE for the
	// instance, whether it changed the state or found it Active already: a
	// FREEZE received less than the receiver's freeze retry window after it
	// is taken for the retry of the FREEZE that UNFREEZE ended, and not
	// applied (docs/lifecycle.md rule F).
	// +optional
	LastUnfreezeTime *metav1.Time `json:"lastUnfreezeTime,omitempty"`

	// state is Active (default), Frozen (key revoked until unfrozen) or
	// Released (key revoked for good). Released is final.
	// +optional
	// +kubebuilder:default=Active
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'Released' || self == 'Released'",message="a released licence cannot change state"
	State SubscriptionState `json:"state,omitempty"`

	// mode is Debug for a Seller Console debug request (testFlag "1"),
	// Production (default) otherwise. Immutable.
	// +optional
	// +kubebuilder:default=Production
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="mode is immutable"
	Mode RequestMode `json:"mode,omitempty"`

	// orders are the marketplace orders applied to this licence, oldest first;
	// each orderId appears once.
	// +optional
	// +listType=map
	// +listMapKey=orderId
	// +kubebuilder:validation:MaxItems=256
	Orders []AppliedOrder `json:"orders,omitempty"`
}

// SecretKeyReference points at one key of a Secret.
type SecretKeyReference struct {
	// namespace is the Secret's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// LicenseUpload records the delivery of an asynchronous licence to the marketplace.
type LicenseUpload struct {
	// eventId is the application the upload answered.
	// +required
	// +kubebuilder:validation:MaxLength=64
	EventID string `json:"eventId"`

	// attempts is how many uploads were tried.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// uploadedTime is when the marketplace accepted the upload.
	// +optional
	UploadedTime *metav1.Time `json:"uploadedTime,omitempty"`

	// lastError is the last upload failure, without any secret.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// LicenseStatus is what kooper observed and did for a licence.
// It is one atomic value to the API server's field tracking, as every
// kooper status is (SaaSTenantStatus says why).
// +structType=atomic
type LicenseStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling, Stalled, OrderResolved, Issued,
	// Delivered, Frozen and Released.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// order is the order that currently defines the licence, as Query Order reported it.
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

	// skuCode is the plan the current key was issued for.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode,omitempty"`

	// features are the features written into the current key.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	Features []string `json:"features,omitempty"`

	// notBefore is the start of the current key's window.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// notAfter is the end of the current key's window.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// keyId is the ID of the signing key that signed the current key.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	KeyID string `json:"keyId,omitempty"`

	// licenseKeyRef points at the Secret key holding the current licence key.
	// +optional
	LicenseKeyRef *SecretKeyReference `json:"licenseKeyRef,omitempty"`

	// upload records the delivery of an asynchronous licence.
	// +optional
	Upload *LicenseUpload `json:"upload,omitempty"`

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

// License is one licence of a KooGallery licence product: a signed key the
// buyer's software verifies offline.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=lic,categories=kooper
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters: it is the instanceId of the licences applied for under it, carried as the label saas.kooper.io/instance-id"
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.instanceId`
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.productName`
// +kubebuilder:printcolumn:name="SKU",type=string,JSONPath=`.status.skuCode`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Frozen",type=string,JSONPath=`.status.conditions[?(@.type=="Frozen")].status`,description="True while the licence key is revoked until unfrozen, empty otherwise (a key revoked for good shows in Released): an application's State stays Active when its instance is frozen"
// +kubebuilder:printcolumn:name="Released",type=string,JSONPath=`.status.conditions[?(@.type=="Released")].status`,description="True once the licence key is revoked for good (its instance released, or its record deleted), empty otherwise: an application's State stays Active when its instance is released"
// +kubebuilder:printcolumn:name="Not After",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type License struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata. The name is the instanceId of a
	// purchase (i- and 20 hex digits) or derived from an application's eventId
	// and device fingerprint (l- and 20 hex digits). At most 63 characters:
	// it is the instanceId of the licences applied for under it, whose key
	// Secrets carry it as the label saas.kooper.io/instance-id.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the marketplace said.
	// +required
	Spec LicenseSpec `json:"spec"`

	// status is what kooper observed and did. Only kooper's controllers
	// write it: it is one atomic value to server-side apply, so an apply of
	// any part of it by another field manager conflicts, and a forced one
	// replaces all of it, state kooper cannot rebuild included; use a merge
	// patch to mend a status by hand.
	// +optional
	Status LicenseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LicenseList is a list of License.
type LicenseList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the licences.
	Items []License `json:"items"`
}

func init() {
	SchemeBuilder.Register(&License{}, &LicenseList{})
}
