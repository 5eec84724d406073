package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubscriptionState is the state the marketplace asked for.
// +kubebuilder:validation:Enum=Active;Frozen;Released
type SubscriptionState string

const (
	// StateActive: the subscription is paid and in service.
	StateActive SubscriptionState = "Active"
	// StateFrozen: the marketplace froze it (expiry or arrears); service stops
	// and every byte of data is kept.
	StateFrozen SubscriptionState = "Frozen"
	// StateReleased: the marketplace released it; it never becomes active again.
	StateReleased SubscriptionState = "Released"
)

// RequestMode tells a real purchase from a Seller Console debug request
// (testFlag "1").
// +kubebuilder:validation:Enum=Production;Debug
type RequestMode string

const (
	// ModeProduction: a request from a real buyer.
	ModeProduction RequestMode = "Production"
	// ModeDebug: a request from the Seller Console debugging tool (testFlag "1").
	ModeDebug RequestMode = "Debug"
)

// OrderActivity is the marketplace callback that brought an order.
// +kubebuilder:validation:Enum=NewInstance;RefreshInstance;UpgradeInstance;ReleaseInstance
type OrderActivity string

const (
	// ActivityNewInstance: newInstance, the purchase that created the subscription.
	ActivityNewInstance OrderActivity = "NewInstance"
	// ActivityRefreshInstance: refreshInstance (renewal, trial to formal,
	// unsubscribed renewal period, renewal with change).
	ActivityRefreshInstance OrderActivity = "RefreshInstance"
	// ActivityUpgradeInstance: upgradeInstance, a paid upgrade.
	ActivityUpgradeInstance OrderActivity = "UpgradeInstance"
	// ActivityReleaseInstance: releaseInstance caused by an unsubscription order.
	ActivityReleaseInstance OrderActivity = "ReleaseInstance"
)

// RefreshScene is the scene of a refreshInstance callback.
// +kubebuilder:validation:Enum=Renewal;TrialToFormal;UnsubscribeRenewalPeriod;RenewalChange
type RefreshScene string

const (
	// SceneRenewal: RENEWAL, a renewal was paid.
	SceneRenewal RefreshScene = "Renewal"
	// SceneTrialToFormal: TRIAL_TO_FORMAL, a trial became a paid subscription.
	SceneTrialToFormal RefreshScene = "TrialToFormal"
	// SceneUnsubscribeRenewalPeriod: UNSUBSCRIBE_RENEWAL_PERIOD, renewal periods
	// were unsubscribed and the expiry moved earlier.
	SceneUnsubscribeRenewalPeriod RefreshScene = "UnsubscribeRenewalPeriod"
	// SceneRenewalChange: RENEWAL_CHANGE, a renewal that changes the specification.
	SceneRenewalChange RefreshScene = "RenewalChange"
)

// AppliedOrder is one marketplace order recorded on a subscription. The
// receiver records each order once (keyed by orderId), which is what makes
// renewals and upgrades apply exactly once.
type AppliedOrder struct {
	// orderId is the marketplace order ID.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId"`

	// orderLineId is the order line ID, when the callback carried one.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderLineID string `json:"orderLineId,omitempty"`

	// activity is the callback that brought the order.
	// +required
	Activity OrderActivity `json:"activity"`

	// scene is the refreshInstance scene; set only for RefreshInstance.
	// +optional
	Scene RefreshScene `json:"scene,omitempty"`

	// productId is the new product ID a refreshInstance carried, when the
	// product or period type changed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ProductID string `json:"productId,omitempty"`

	// expireTime is the expiry the callback carried, if any.
	// +optional
	ExpireTime *metav1.Time `json:"expireTime,omitempty"`

	// receivedTime is when kooper stored the order.
	// +required
	ReceivedTime metav1.Time `json:"receivedTime"`
}

// MaxHistory is how many marketplace events a subscription's status.history
// keeps: the oldest is dropped when a new one comes.
const MaxHistory = 20

// HistoryResult is what kooper did with a marketplace event.
// +kubebuilder:validation:Enum=Applied;Unchanged
type HistoryResult string

const (
	// HistoryApplied: the event changed the subscription (its plan, expiry
	// or state).
	HistoryApplied HistoryResult = "Applied"
	// HistoryUnchanged: the event was recorded and changed nothing, for
	// example a late renewal whose expiry is not later than one already
	// applied, or a plan change a later order superseded.
	HistoryUnchanged HistoryResult = "Unchanged"
)

// MarketplaceEvent is one marketplace event in a subscription's history:
// an order the receiver recorded in spec.orders, or a change of spec.state
// (freeze, unfreeze, release). It holds IDs, times, plan codes and states,
// never a buyer's details, a credential or a callback's body.
type MarketplaceEvent struct {
	// time is when kooper received the order (its receivedTime) or, for a
	// change of state, when the controller first saw it.
	// +required
	Time metav1.Time `json:"time"`

	// activity is the marketplace callback, as the marketplace names it:
	// newInstance, refreshInstance, upgradeInstance, releaseInstance or
	// updateInstanceStatus.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Activity string `json:"activity"`

	// orderId is the event's order; empty for updateInstanceStatus, which
	// carries none.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId,omitempty"`

	// state is the subscription's state after the event: Active, Frozen or
	// Released.
	// +required
	State SubscriptionState `json:"state"`

	// result is Applied when the event changed the subscription, Unchanged
	// when it was recorded and changed nothing.
	// +required
	Result HistoryResult `json:"result"`

	// change says what changed, for example "purchased plan basic", "plan
	// basic → pro", "expireTime moved to 2027-01-31T16:00:00Z", "frozen",
	// "unfrozen" or "released".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Change string `json:"change,omitempty"`
}

// ChargingMode is how an order line is billed, as Query Order reports it.
// +kubebuilder:validation:Enum=Period;OneTime;OnDemand;OnDemandPackage
type ChargingMode string

const (
	// ChargingPeriod: PERIOD, billed per year, month or day.
	ChargingPeriod ChargingMode = "Period"
	// ChargingOneTime: ONE_TIME, billed once.
	ChargingOneTime ChargingMode = "OneTime"
	// ChargingOnDemand: ON_DEMAND, pay-per-use; usage is pushed to the marketplace.
	ChargingOnDemand ChargingMode = "OnDemand"
	// ChargingOnDemandPackage: ON_DEMAND_PKG, a pay-per-use package.
	ChargingOnDemandPackage ChargingMode = "OnDemandPackage"
)

// ResolvedOrder is what Query Order said about the order that currently
// defines a subscription. Buyer contact details (phone, e-mail) are never
// recorded.
type ResolvedOrder struct {
	// orderId is the order that was resolved.
	// +required
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId"`

	// orderType is the marketplace order type as reported, for example NEW,
	// TRIAL, RENEW or CHANGE.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	OrderType string `json:"orderType,omitempty"`

	// productId is the marketplace product ID of the order line.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ProductID string `json:"productId"`

	// skuCode is the specification bought; it selects the product's plan.
	// +required
	// +kubebuilder:validation:MaxLength=64
	SKUCode string `json:"skuCode"`

	// chargingMode is how the order line is billed.
	// +optional
	ChargingMode ChargingMode `json:"chargingMode,omitempty"`

	// periodType is the period unit of a periodic order, for example year,
	// month or day; a longer one Query Order reports is cut to 32 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	PeriodType string `json:"periodType,omitempty"`

	// periodNumber is the number of periods bought.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	PeriodNumber int32 `json:"periodNumber,omitempty"`

	// linearValue is the quantity of the product's linear attribute (for
	// example users) bought.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LinearValue int64 `json:"linearValue,omitempty"`

	// expireTime is the order line's expiry.
	// +optional
	ExpireTime *metav1.Time `json:"expireTime,omitempty"`

	// createTime is when the marketplace created the order (Query Order
	// createTime, read in timeZone). It orders plan changes and expiry
	// changes (docs/lifecycle.md rules E and P).
	// +optional
	CreateTime *metav1.Time `json:"createTime,omitempty"`

	// timeZone is the zone Query Order's expireTime and createTime were
	// read in (--query-order-time-zone): UTC, or a fixed offset, for
	// example +08:00. The spec does not say which zone they are in (spec
	// §6.3, §8 item 18). When the flag names another zone, kooper asks
	// Query Order again, once, and reads them in that one. Empty for an
	// order resolved before kooper recorded the zone, which counts as UTC
	// (the flag's default), and for a debug order, whose times no Query
	// Order gave.
	// +optional
	// +kubebuilder:validation:MaxLength=6
	// +kubebuilder:validation:Pattern=`^(UTC|[+-][0-9]{2}:[0-9]{2})$`
	TimeZone string `json:"timeZone,omitempty"`

	// customerId is the buyer's Huawei Cloud account ID.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CustomerID string `json:"customerId,omitempty"`

	// customerName is the buyer's Huawei Cloud account name.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	CustomerName string `json:"customerName,omitempty"`
}

// ContainerResources are the compute resources of one container.
type ContainerResources struct {
	// requests are the resources the scheduler reserves, for example cpu: 100m.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Requests corev1.ResourceList `json:"requests,omitempty"`

	// limits are the most the container may use, for example memory: 256Mi.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// OrderTime is the marketplace's creation time of one applied order, as
// Query Order reported it: kooper orders plan and expiry changes by it, not
// by arrival (docs/lifecycle.md rules E and P).
type OrderTime struct {
	// orderId is the order.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId"`

	// createTime is when the marketplace created it (Query Order
	// createTime, read in timeZone).
	// +required
	CreateTime metav1.Time `json:"createTime"`

	// timeZone is the zone createTime was read in (--query-order-time-zone):
	// UTC, or a fixed offset such as +08:00. The spec does not say which
	// zone Query Order's times are in (spec §6.3, §8 item 18). When the flag
	// names another zone, kooper asks Query Order again, once, and reads
	// createTime in that one, so that all the orders are sequenced in one
	// zone. Empty for a time recorded before kooper recorded the zone, which
	// counts as UTC (the flag's default).
	// +optional
	// +kubebuilder:validation:MaxLength=6
	// +kubebuilder:validation:Pattern=`^(UTC|[+-][0-9]{2}:[0-9]{2})$`
	TimeZone string `json:"timeZone,omitempty"`
}
