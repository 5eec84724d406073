package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutPolicy is how a change of the product's app (its chart, the
// chart's values, the workload's image or template) reaches the product's
// tenants: in waves, each waiting for its tenants' health, pausing on a
// wave that does not become healthy (docs/rollout.md).
type RolloutPolicy struct {
	// maxUnavailableTenants is the size of a wave: how many tenants are
	// updated at once, and so may be unavailable at once. A count, or a
	// percentage of the product's tenants, rounded up. Defaults to 10%.
	// A count is at most 2147483647: IntOrString holds an int32, and a
	// larger number the API server stored would fail to decode in every
	// client, kooper's informers included (no product could be read).
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? int(self) >= 1 && int(self) <= 2147483647 : string(self).matches('^(100|[1-9][0-9]?)%$')",message="maxUnavailableTenants must be a count of at least 1 and at most 2147483647 (a number, unquoted) or a percentage from 1% to 100% (a string such as \"10%\")"
	MaxUnavailableTenants *intstr.IntOrString `json:"maxUnavailableTenants,omitempty"`

	// canary is an optional first wave: these tenants are updated, and
	// must become healthy, before any other.
	// +optional
	Canary *RolloutCanary `json:"canary,omitempty"`

	// progressDeadlineSeconds is how long a wave's tenants have to become
	// healthy on the new version (every object current: rolled out and
	// available, Jobs complete, claims bound). A wave that takes longer
	// pauses the rollout. Defaults to 600.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=86400
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// resume resumes a rollout paused on a failed wave: set it to a value
	// it has not had (the time, say). The tenants of the failed wave stay on
	// the new version, and the next wave starts. kooper records the value it
	// acted on in status.rollout.resumed. A new version resumes too.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Resume string `json:"resume,omitempty"`
}

// RolloutCanary names the tenants of a rollout's first wave.
type RolloutCanary struct {
	// instanceIds are tenants updated first.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	InstanceIDs []string `json:"instanceIds,omitempty"`

	// debugTenants says where the product's debug tenants (those of the
	// Seller Console's debugger) go: First puts them in the first wave;
	// WithOthers (the default) in the waves of the others.
	// +optional
	DebugTenants DebugTenantsWave `json:"debugTenants,omitempty"`
}

// DebugTenantsWave is the wave a rollout gives debug tenants.
// +kubebuilder:validation:Enum=First;WithOthers
type DebugTenantsWave string

const (
	// DebugTenantsFirst puts debug tenants in a rollout's first wave.
	DebugTenantsFirst DebugTenantsWave = "First"
	// DebugTenantsWithOthers updates debug tenants in the waves of the others.
	DebugTenantsWithOthers DebugTenantsWave = "WithOthers"
)

// RolloutState is where a product's rollout is.
// +kubebuilder:validation:Enum=RollingOut;Paused;Complete
type RolloutState string

const (
	// RolloutRollingOut: waves are under way.
	RolloutRollingOut RolloutState = "RollingOut"
	// RolloutPaused: a wave did not become healthy in time; the remaining
	// tenants stay on their version until spec.rollout.resume changes or a
	// new version comes.
	RolloutPaused RolloutState = "Paused"
	// RolloutComplete: every tenant runs updateRevision and is healthy.
	RolloutComplete RolloutState = "Complete"
)

// RolloutStatus is where the product's tenants are in a rollout.
type RolloutStatus struct {
	// currentRevision is the revision a new tenant gets: the newest one a
	// wave of tenants has become healthy on (or the first revision).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CurrentRevision string `json:"currentRevision,omitempty"`

	// updateRevision is the revision the product's spec asks for now.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	UpdateRevision string `json:"updateRevision,omitempty"`

	// tenants is how many of the product's tenants the rollout covers
	// (every tenant not released).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Tenants int32 `json:"tenants,omitempty"`

	// updatedTenants is how many of them run updateRevision and are healthy.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UpdatedTenants int32 `json:"updatedTenants,omitempty"`

	// progress is updatedTenants/tenants, for kubectl.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Progress string `json:"progress,omitempty"`

	// wave counts the waves of the rollout to updateRevision started so far.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Wave int32 `json:"wave,omitempty"`

	// waveStartTime is when the current wave's tenants were told to update.
	// +optional
	WaveStartTime *metav1.Time `json:"waveStartTime,omitempty"`

	// state is RollingOut while waves are under way, Paused when a wave
	// did not become healthy in time (the remaining tenants stay on their
	// version until spec.rollout.resume changes or a new version comes), and
	// Complete when every tenant runs updateRevision, healthy.
	// +optional
	State RolloutState `json:"state,omitempty"`

	// resumed is the value of spec.rollout.resume kooper last acted on.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Resumed string `json:"resumed,omitempty"`
}
