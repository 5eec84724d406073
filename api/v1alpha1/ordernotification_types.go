package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An OrderNotification is one orderNotify callback (spec §3.9), recorded by
// the receiver before it answers 000000 and resolved by the order
// notification controller with Query Order. It is cluster-scoped, like the
// tenants, and named "n-" and 20 hex digits of SHA-256 over orderId and
// orderLineId, so a repeat of the same notification hits AlreadyExists. It
// holds the order's IDs and what Query Order said about the order's type and
// product, never the buyer (docs/personal-data.md). The controller deletes
// it a retention period after it was resolved (docs/concepts.md).

// OrderNotificationSpec is the notification as the marketplace sent it.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an order notification is immutable: the marketplace sent it once"
type OrderNotificationSpec struct {
	// productName is the SaaSProduct whose production URL received the
	// notification.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ProductName string `json:"productName"`

	// orderId is the order the marketplace notified.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId"`

	// orderLineId is the notified order's line.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	OrderLineID string `json:"orderLineId"`

	// mode is Debug for a Seller Console debug notification (testFlag 1),
	// Production otherwise.
	// +required
	Mode RequestMode `json:"mode"`

	// receivedTime is when the receiver recorded the notification.
	// +required
	ReceivedTime metav1.Time `json:"receivedTime"`
}

// OrderNotificationStatus is what Query Order said about the order.
// It is one atomic value to the API server's field tracking, as every
// kooper status is (SaaSTenantStatus says why).
// +structType=atomic
type OrderNotificationStatus struct {
	// conditions holds OrderResolved: True once Query Order described the
	// order line, False with OrderQueryFailed while kooper retries.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=4
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// order is the order line as Query Order described it, without the
	// buyer's account (customerId and customerName are left empty).
	// +optional
	Order *ResolvedOrder `json:"order,omitempty"`

	// resolvedTime is when Query Order described the order line; the
	// controller deletes the record 7 days after it.
	// +optional
	ResolvedTime *metav1.Time `json:"resolvedTime,omitempty"`
}

// OrderNotification is one orderNotify callback, resolved with Query Order.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=on,categories=kooper
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name must be at most 63 characters"
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.productName`
// +kubebuilder:printcolumn:name="Order",type=string,JSONPath=`.spec.orderId`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.order.orderType`
// +kubebuilder:printcolumn:name="Resolved",type=string,JSONPath=`.status.conditions[?(@.type=="OrderResolved")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OrderNotification struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; the receiver names it "n-" and 20
	// hex digits of a hash of orderId and orderLineId.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the notification as received.
	// +required
	Spec OrderNotificationSpec `json:"spec"`

	// status is what Query Order said about it.
	// +optional
	Status OrderNotificationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// OrderNotificationList is a list of OrderNotification.
type OrderNotificationList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the notifications.
	Items []OrderNotification `json:"items"`
}

// OrderNotificationsSummary is a bounded summary of a product's order
// notifications, kept in its status by the order notification controller
// from the records it still holds (those within the retention).
type OrderNotificationsSummary struct {
	// total is how many notifications of the product are held.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total,omitempty"`

	// unresolved is how many of them Query Order has not yet described.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Unresolved int32 `json:"unresolved,omitempty"`

	// byOrderType counts the resolved notifications by order type (NEW,
	// RENEW, …); at most 16 types, the rest counted under "Other".
	// +optional
	// +listType=map
	// +listMapKey=orderType
	// +kubebuilder:validation:MaxItems=17
	ByOrderType []OrderTypeCount `json:"byOrderType,omitempty"`

	// recent are the last notifications received, newest first, at most 10.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Recent []OrderNotificationEntry `json:"recent,omitempty"`
}

// OrderTypeCount is how many notifications were of one order type.
type OrderTypeCount struct {
	// orderType is the order type as Query Order reports it, or Other.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	OrderType string `json:"orderType"`

	// count is how many.
	// +required
	// +kubebuilder:validation:Minimum=0
	Count int32 `json:"count"`
}

// OrderNotificationEntry is one notification in a product's summary.
type OrderNotificationEntry struct {
	// orderId is the notified order.
	// +required
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId"`

	// orderLineId is the notified order's line.
	// +required
	// +kubebuilder:validation:MaxLength=64
	OrderLineID string `json:"orderLineId"`

	// receivedTime is when the receiver recorded it.
	// +required
	ReceivedTime metav1.Time `json:"receivedTime"`

	// orderType is the order type Query Order reported; empty while unresolved.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	OrderType string `json:"orderType,omitempty"`

	// skuCode is the specification of the order line; empty while unresolved.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode,omitempty"`
}

func init() {
	SchemeBuilder.Register(&OrderNotification{}, &OrderNotificationList{})
}
