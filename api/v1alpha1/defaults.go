package v1alpha1

// Go-side defaults, beside the types they belong to. The schema's
// +kubebuilder:default markers fill these fields on every object the API
// server stores; these getters serve what the schema never saw: a policy a
// tenant recorded before a field existed, or an object built in Go. Each
// returns the same value as its field's marker.

// DefaultRetentionDays is ReleasePolicy.RetentionDays's default.
const DefaultRetentionDays int32 = 15

// DefaultMeterDecimals is Meter.Decimals's default.
const DefaultMeterDecimals int32 = 4

// DefaultGraceSeconds is ExpiryPolicy.GraceSeconds's default: 3 days.
const DefaultGraceSeconds int32 = 259200

// GetRetentionDays returns retentionDays, or its default when unset.
func (p *ReleasePolicy) GetRetentionDays() int32 {
	if p.RetentionDays == nil {
		return DefaultRetentionDays
	}
	return *p.RetentionDays
}

// GetDecimals returns decimals, or its default when unset.
func (m *Meter) GetDecimals() int32 {
	if m.Decimals == nil {
		return DefaultMeterDecimals
	}
	return *m.Decimals
}

// DefaultLifecyclePolicy returns a LifecyclePolicy with the schema's
// defaults: scale to zero on freeze, keep the data 15 days after a release
// and after a deletion by hand, freeze 3 days after expiry.
func DefaultLifecyclePolicy() *LifecyclePolicy {
	days := DefaultRetentionDays
	return &LifecyclePolicy{
		Freeze: FreezePolicy{Behavior: FreezeScaleToZero},
		Release: ReleasePolicy{RetentionPolicy: RetainData, RetentionDays: &days,
			OnHandDeletion: HandDeletionRetain},
		Expiry: ExpiryPolicy{Action: ExpiryFreeze, GraceSeconds: DefaultGraceSeconds},
	}
}

// TenantEgress is what each tenant's pods may connect to besides DNS and
// their own namespace: spec.workload.egress, or spec.chart.egress for a
// product whose tenants are a chart.
func (s *SaaSProductSpec) TenantEgress() []EgressRule {
	switch {
	case s.Workload != nil:
		return s.Workload.Egress
	case s.Chart != nil:
		return s.Chart.Egress
	}
	return nil
}
