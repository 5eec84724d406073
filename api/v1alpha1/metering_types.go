package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeterSource is where a meter's hourly value comes from.
// +kubebuilder:validation:Enum=TenantHours;ReplicaHours;CPUCoreHours;MemoryGiBHours;StorageGiBHours;Prometheus
type MeterSource string

const (
	// MeterTenantHours counts the hours the tenant was in service (not frozen, not released).
	MeterTenantHours MeterSource = "TenantHours"
	// MeterReplicaHours counts workload replica-hours: the plan's replicas while
	// they run (zero while frozen with ScaleToZero).
	MeterReplicaHours MeterSource = "ReplicaHours"
	// MeterCPUCoreHours counts requested CPU cores times running replicas, per hour.
	MeterCPUCoreHours MeterSource = "CPUCoreHours"
	// MeterMemoryGiBHours counts requested memory in GiB times running replicas, per hour.
	MeterMemoryGiBHours MeterSource = "MemoryGiBHours"
	// MeterStorageGiBHours counts the GiB of the tenant's volume per hour, frozen or
	// not, until the tenant is released.
	MeterStorageGiBHours MeterSource = "StorageGiBHours"
	// MeterPrometheus evaluates the meter's query against a Prometheus-compatible API
	// at the end of each window.
	MeterPrometheus MeterSource = "Prometheus"
)

// MeterRounding is how a window's value is rounded to the meter's decimals.
// +kubebuilder:validation:Enum=HalfUp;Up;Down
type MeterRounding string

const (
	// RoundHalfUp rounds to the nearest value, halves away from zero.
	RoundHalfUp MeterRounding = "HalfUp"
	// RoundUp rounds towards positive infinity (the buyer pays any started fraction).
	RoundUp MeterRounding = "Up"
	// RoundDown truncates (the buyer never pays a fraction not fully used).
	RoundDown MeterRounding = "Down"
)

// MeteringSpec declares how a pay-per-use product's usage is measured and
// pushed to KooGallery (spec §6.4). Only tenants whose order is pay-per-use
// (OnDemand) or a pay-per-use package (OnDemandPackage) are metered.
type MeteringSpec struct {
	// prometheusUrl is the base URL of the Prometheus-compatible HTTP API that
	// Prometheus meters query, for example http://prometheus.monitoring:9090.
	// When omitted, the operator's --prometheus-url flag applies.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="prometheusUrl must start with https:// or http://"
	PrometheusURL string `json:"prometheusUrl,omitempty"`

	// meters are the quantities measured per tenant and hour.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Meters []Meter `json:"meters"`
}

// Meter is one measured quantity.
// +kubebuilder:validation:XValidation:rule="self.source == 'Prometheus' ? has(self.query) : !has(self.query)",message="query is required for, and only for, source Prometheus"
type Meter struct {
	// name is the usage factor (计量因子) as configured for the product on
	// KooGallery, for example duration or cpu_hours. It keys the records'
	// metering_sn, so it must not be renamed while tenants are metered.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	Name string `json:"name"`

	// unit is the unit of the value as the marketplace bills it, for example
	// hour or GiB-hour. Informational.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Unit string `json:"unit,omitempty"`

	// source is where the value comes from.
	// +required
	Source MeterSource `json:"source"`

	// query is the PromQL expression of a Prometheus meter, evaluated at the
	// end of each window; it must return one sample, the window's usage. It may
	// use {{.Namespace}}, {{.InstanceID}} and {{.Window}} (the window's length
	// as a PromQL duration, e.g. 1h or 37m12s). Example:
	// sum(increase(http_requests_total{namespace="{{.Namespace}}"}[{{.Window}}])) / 1000
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query,omitempty"`

	// decimals is how many decimals a pushed value keeps, 0 to 4 (the
	// marketplace's limit). Defaults to 4.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4
	Decimals *int32 `json:"decimals,omitempty"`

	// rounding is HalfUp (default), Up or Down. A value that rounds to zero is not pushed.
	// +optional
	// +kubebuilder:default=HalfUp
	Rounding MeterRounding `json:"rounding,omitempty"`
}

// UsageSegment is a stretch of time during which the quantities behind the
// built-in meters stayed the same. Segments end where the next one starts.
type UsageSegment struct {
	// start is when the quantities took these values (as kooper observed it).
	// +required
	Start metav1.Time `json:"start"`

	// state is the tenant's effective state: Active, Frozen or Released.
	// +required
	State SubscriptionState `json:"state"`

	// replicas is the number of workload replicas running.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`

	// cpuMillis is the CPU requested per replica, in millicores.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CPUMillis int64 `json:"cpuMillis,omitempty"`

	// memoryBytes is the memory requested per replica.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MemoryBytes int64 `json:"memoryBytes,omitempty"`

	// storageBytes is the size of the tenant's volume.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StorageBytes int64 `json:"storageBytes,omitempty"`
}

// MeterUsage is the usage of one meter pushed so far.
type MeterUsage struct {
	// name is the meter's name.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// total is the cumulative value accepted by the marketplace, as a decimal
	// with up to 4 decimals; queryInstance reports it as usageInfo.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Total string `json:"total"`
}

// TenantMetering is the metering controller's record of a tenant: what it
// observed, and how far usage has been pushed. Only that controller writes it.
type TenantMetering struct {
	// since is when metering began: the first hour window starts here.
	// +required
	Since metav1.Time `json:"since"`

	// pushedUntil is the end of the last window whose records the marketplace
	// accepted; every window before it has been pushed exactly once.
	// +optional
	PushedUntil *metav1.Time `json:"pushedUntil,omitempty"`

	// endTime is when the tenant was released: the last, partial window ends here.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// segments are the observed quantities from the oldest unpushed window on,
	// oldest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Segments []UsageSegment `json:"segments,omitempty"`

	// meters are the cumulative values pushed, per meter.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Meters []MeterUsage `json:"meters,omitempty"`

	// packages is the ledger of the packages that fund this tenant (a
	// product with spec.packages): what each holds and has paid for.
	// consumed moves in the same write as pushedUntil (docs/packages.md).
	// +optional
	// +listType=map
	// +listMapKey=instanceId
	// +kubebuilder:validation:MaxItems=64
	Packages []PackageBalance `json:"packages,omitempty"`

	// uncovered is the usage of the packages' meter that no package
	// covered, per meter, and was not pushed (spec.packages.uncovered Drop).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Uncovered []MeterUsage `json:"uncovered,omitempty"`

	// inFlight is the usage push being sent, as it was built: written before
	// it is sent, so that a retry, a restart or another leader sends exactly
	// these records again (the marketplace takes a metering_sn once, spec
	// §6.4) and never measures or splits its windows anew. It is cleared in
	// the write that moves pushedUntil past its windows.
	// +optional
	InFlight *InFlightPush `json:"inFlight,omitempty"`

	// conditions has Metered, and PackagesExhausted for a tenant funded by
	// packages.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=4
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PackageBalance is one package in a pay-per-use tenant's ledger.
type PackageBalance struct {
	// instanceId is the package's instance.
	// +required
	// +kubebuilder:validation:MaxLength=64
	InstanceID string `json:"instanceId"`

	// quota is what the package holds, a decimal with up to 4 decimals.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Quota string `json:"quota"`

	// consumed is what the package has paid for in all, carried included.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Consumed string `json:"consumed"`

	// carried is what the package had paid for before it entered this
	// ledger (for tenants of the buyer since released): this tenant's own
	// use of it is consumed − carried.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Carried string `json:"carried,omitempty"`

	// since is when kooper entered the package in the ledger: it pays for
	// windows that end after it.
	// +required
	Since metav1.Time `json:"since"`

	// expireTime is the package's expiry: the soonest to expire pays first.
	// +optional
	ExpireTime *metav1.Time `json:"expireTime,omitempty"`

	// endTime is when the package was frozen or released: it pays for no
	// window that begins after it.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// InFlightPush is a usage push as it was built (spec §6.4): its windows and
// every record of them, with each record's value and the package that pays
// for it, so that it can be sent again exactly as before.
type InFlightPush struct {
	// windows are the push's windows, oldest first; the first starts at the
	// cursor (pushedUntil, or since).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	Windows []UsageWindow `json:"windows"`

	// records are the push's records: one per meter and window with usage,
	// and for the packages' meter one per package that pays a share, plus
	// the rest no package covers.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	Records []InFlightRecord `json:"records,omitempty"`
}

// UsageWindow is a window of usage: from start, up to but not including end.
type UsageWindow struct {
	// start is the window's beginning (the record's begin_time).
	// +required
	Start metav1.Time `json:"start"`

	// end is the window's end (the record's end_time).
	// +required
	End metav1.Time `json:"end"`
}

// InFlightRecord is one record of an in-flight usage push.
type InFlightRecord struct {
	// window is the record's window, an index into windows.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=999
	Window int32 `json:"window"`

	// meter is the meter's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Meter string `json:"meter"`

	// value is the usage, a decimal greater than zero with up to 4 decimals
	// (the record's usage_value).
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,4})?$`
	Value string `json:"value"`

	// package is the instanceId of the package that pays for this share
	// (the record's relate_pkg_instance), for the packages' meter.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Package string `json:"package,omitempty"`

	// uncovered is set on usage of the packages' meter that no package
	// covered: Push when it is sent without a package, Drop when it is
	// counted and not sent (spec.packages.uncovered).
	// +optional
	Uncovered UncoveredUsage `json:"uncovered,omitempty"`
}
