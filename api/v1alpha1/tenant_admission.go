package v1alpha1

// What a tenant shows when the cluster's admission refuses kooper's writes.
const (
	// AdmissionRefusedReason: an admission webhook or a
	// ValidatingAdmissionPolicy of the cluster (a policy engine such as
	// Kyverno or Gatekeeper, or kooper's own policy, after another
	// component changed what kooper sent) refuses objects of the tenant.
	// The condition's message quotes each refusal. kooper applies the
	// tenant's other objects and tries again with backoff: it cannot see
	// a policy change, so the refusal is not taken as final. Also a
	// Warning Event on the tenant.
	AdmissionRefusedReason = "AdmissionRefused"
)
