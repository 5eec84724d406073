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

// DefaultNoticeSeconds is ExpiryPolicy.NoticeSeconds's default: 7 days
// and 1 day before expireTime.
func DefaultNoticeSeconds() []int32 { return []int32{604800, 86400} }

// GetNoticeSeconds returns noticeSeconds, or its default when unset (a
// policy recorded before the field existed, or built in Go).
func (p *ExpiryPolicy) GetNoticeSeconds() []int32 {
	if len(p.NoticeSeconds) == 0 {
		return DefaultNoticeSeconds()
	}
	return p.NoticeSeconds
}

// GetGraceSeconds returns graceSeconds in seconds, or its default when
// unset. 0 is no grace, not unset: the field is a pointer so that a 0
// kooper writes (a product's policy copied into a tenant's
// status.lifecycle) is stored as 0, which omitempty on an int32 would drop
// for the schema's default to replace.
func (p *ExpiryPolicy) GetGraceSeconds() int32 {
	if p.GraceSeconds == nil {
		return DefaultGraceSeconds
	}
	return *p.GraceSeconds
}

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
// and after a deletion by hand, freeze 3 days after expiry, give notice 7
// days and 1 day before it.
func DefaultLifecyclePolicy() *LifecyclePolicy {
	days, grace := DefaultRetentionDays, DefaultGraceSeconds
	return &LifecyclePolicy{
		Freeze: FreezePolicy{Behavior: FreezeScaleToZero},
		Release: ReleasePolicy{RetentionPolicy: RetainData, RetentionDays: &days,
			OnHandDeletion: HandDeletionRetain},
		Expiry: ExpiryPolicy{Action: ExpiryFreeze, GraceSeconds: &grace,
			NoticeSeconds: DefaultNoticeSeconds()},
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
