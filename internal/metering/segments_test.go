package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestBuiltinUsageIntegratesSegments(t *testing.T) {
	segments := []saasv1alpha1.UsageSegment{
		{Start: *at(0), State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 250, MemoryBytes: gib / 2, StorageBytes: 10 * gib},
		{Start: *at(30 * time.Minute), State: saasv1alpha1.StateFrozen, StorageBytes: 10 * gib},
		{Start: *at(45 * time.Minute), State: saasv1alpha1.StateReleased},
	}
	w := Window{Start: h0, End: h0.Add(time.Hour)}
	tests := []struct {
		src  saasv1alpha1.MeterSource
		want float64
	}{
		{saasv1alpha1.MeterTenantHours, 0.5},
		{saasv1alpha1.MeterReplicaHours, 1},
		{saasv1alpha1.MeterCPUCoreHours, 0.25},
		{saasv1alpha1.MeterMemoryGiBHours, 0.5},
		{saasv1alpha1.MeterStorageGiBHours, 7.5},
		{saasv1alpha1.MeterPrometheus, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			NewWithT(t).Expect(BuiltinUsage(tt.src, segments, w)).To(BeNumerically("~", tt.want, 1e-12))
		})
	}
}

// A window straddling a freeze (at 10:20) and an unfreeze (at 11:40): each
// window bills each stretch at its own rate, and the windows add up to the
// whole stretch.
func TestBuiltinUsageOfWindowsStraddlingAFreeze(t *testing.T) {
	active := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 500, StorageBytes: gib}
	frozen := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, StorageBytes: gib}
	segment := func(s saasv1alpha1.UsageSegment, start time.Duration) saasv1alpha1.UsageSegment {
		s.Start = *at(start)
		return s
	}
	segments := []saasv1alpha1.UsageSegment{segment(active, 0), segment(frozen, 20*time.Minute), segment(active, 100*time.Minute)}
	hour := func(n int) Window {
		return Window{Start: h0.Add(time.Duration(n) * time.Hour), End: h0.Add(time.Duration(n+1) * time.Hour)}
	}
	tests := []struct {
		name string
		src  saasv1alpha1.MeterSource
		w    Window
		want float64
	}{
		{"tenant-hours, the freeze's hour", saasv1alpha1.MeterTenantHours, hour(0), 20.0 / 60},
		{"tenant-hours, the unfreeze's hour", saasv1alpha1.MeterTenantHours, hour(1), 20.0 / 60},
		{"tenant-hours, the hour after", saasv1alpha1.MeterTenantHours, hour(2), 1},
		{"replica-hours, the freeze's hour", saasv1alpha1.MeterReplicaHours, hour(0), 2 * 20.0 / 60},
		{"core-hours, the unfreeze's hour", saasv1alpha1.MeterCPUCoreHours, hour(1), 2 * 0.5 * 20.0 / 60},
		{"storage is billed frozen or not", saasv1alpha1.MeterStorageGiBHours, hour(1), 1},
		{"a partial first window, frozen throughout", saasv1alpha1.MeterTenantHours, Window{Start: h0.Add(30 * time.Minute), End: h0.Add(time.Hour)}, 0},
		{"a window before the first segment counts nothing", saasv1alpha1.MeterStorageGiBHours, hour(-1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(BuiltinUsage(tt.src, segments, tt.w)).To(BeNumerically("~", tt.want, 1e-12))
		})
	}
	g := NewWithT(t)
	sum := BuiltinUsage(saasv1alpha1.MeterTenantHours, segments, hour(0)) + BuiltinUsage(saasv1alpha1.MeterTenantHours, segments, hour(1))
	g.Expect(sum).To(BeNumerically("~", BuiltinUsage(saasv1alpha1.MeterTenantHours, segments, Window{Start: h0, End: h0.Add(2 * time.Hour)}), 1e-12))
}

func TestObservedSegment(t *testing.T) {
	product := func(behavior saasv1alpha1.FreezeBehavior) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{}
		p.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse("10Gi")},
		}
		p.Spec.Plans = []saasv1alpha1.Plan{
			{SKUCode: "basic", Replicas: 2},
			{SKUCode: "big", Replicas: 3, Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}},
		}
		p.Spec.Lifecycle.Freeze.Behavior = behavior
		return p
	}
	tenant := func(state saasv1alpha1.SubscriptionState, sku string, conditions ...metav1.Condition) *saasv1alpha1.SaaSTenant {
		tn := &saasv1alpha1.SaaSTenant{}
		tn.Spec.State, tn.Status.SKUCode, tn.Status.Conditions = state, sku, conditions
		return tn
	}
	// applied records what the tenant's objects were last applied with.
	applied := func(tn *saasv1alpha1.SaaSTenant, replicas int32, cpu, memory string) *saasv1alpha1.SaaSTenant {
		a := &saasv1alpha1.AppliedPlan{SKUCode: "old", Replicas: replicas}
		if cpu != "" {
			a.Resources = &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
		}
		tn.Status.Applied = a
		return tn
	}
	expiryFrozen := metav1.Condition{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.FrozenByExpiryReason}
	exhaustionFrozen := metav1.Condition{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.FrozenByExhaustionReason}
	marketFrozen := metav1.Condition{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, Reason: "Frozen"}
	tests := []struct {
		name    string
		tenant  *saasv1alpha1.SaaSTenant
		product *saasv1alpha1.SaaSProduct
		want    saasv1alpha1.UsageSegment
	}{
		{name: "active, the workload's resources", tenant: tenant(saasv1alpha1.StateActive, "basic"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "active, the plan's resources replace them", tenant: tenant(saasv1alpha1.StateActive, "big"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 3, CPUMillis: 1500, MemoryBytes: gib, StorageBytes: 10 * gib}},
		{name: "frozen by the marketplace, scaled to zero", tenant: tenant(saasv1alpha1.StateFrozen, "basic"), product: product(saasv1alpha1.FreezeScaleToZero),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "frozen with only the ingress disabled: replicas still run", tenant: tenant(saasv1alpha1.StateFrozen, "basic"), product: product(saasv1alpha1.FreezeDisableIngress),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, Replicas: 2, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "active, frozen locally by the expiry safety net", tenant: tenant(saasv1alpha1.StateActive, "basic", expiryFrozen), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "active, frozen locally because its packages are used up", tenant: tenant(saasv1alpha1.StateActive, "basic", exhaustionFrozen), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "active after an unfreeze whose Frozen condition lags: billed active", tenant: tenant(saasv1alpha1.StateActive, "basic", marketFrozen), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		{name: "released: nothing but the state", tenant: tenant(saasv1alpha1.StateReleased, "basic"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateReleased}},
		{name: "a SKU that is no plan, never applied: the volume only", tenant: tenant(saasv1alpha1.StateActive, "gone"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, StorageBytes: 10 * gib}},
		// The plan removed or renamed: the tenant stalls PlanNotFound and
		// keeps running what was last applied, which it is billed for.
		{name: "a plan removed: what was last applied, which still runs", tenant: applied(tenant(saasv1alpha1.StateActive, "gone"), 4, "750m", "2Gi"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 4, CPUMillis: 750, MemoryBytes: 2 * gib, StorageBytes: 10 * gib}},
		{name: "a plan removed, applied without resources: replicas only", tenant: applied(tenant(saasv1alpha1.StateActive, "gone"), 2, "", ""), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 2, StorageBytes: 10 * gib}},
		{name: "a plan removed, frozen and scaled to zero", tenant: applied(tenant(saasv1alpha1.StateFrozen, "gone"), 4, "750m", "2Gi"), product: product(saasv1alpha1.FreezeScaleToZero),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, CPUMillis: 750, MemoryBytes: 2 * gib, StorageBytes: 10 * gib}},
		// The order selects big, but the change to it stalled: the tenant
		// runs what was last applied, which it is billed for, not big.
		{name: "the plan there, a change to it stalled: what was last applied", tenant: applied(tenant(saasv1alpha1.StateActive, "big"), 4, "750m", "2Gi"), product: product(""),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 4, CPUMillis: 750, MemoryBytes: 2 * gib, StorageBytes: 10 * gib}},
		{name: "no workload: the state only", tenant: tenant(saasv1alpha1.StateActive, "basic"), product: &saasv1alpha1.SaaSProduct{},
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(ObservedSegment(tt.tenant, tt.product)).To(Equal(tt.want))
		})
	}
}

func TestRecordSegment(t *testing.T) {
	active := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 1}
	frozen := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen}
	t.Run("a change starts a segment at now; the same quantities do not", func(t *testing.T) {
		g := NewWithT(t)
		m := &saasv1alpha1.TenantMetering{Since: *at(0)}
		g.Expect(RecordSegment(m, active, h0)).To(BeTrue())
		g.Expect(RecordSegment(m, active, h0.Add(time.Minute))).To(BeFalse())
		g.Expect(RecordSegment(m, frozen, h0.Add(2*time.Minute))).To(BeTrue())
		g.Expect(m.Segments).To(HaveLen(2))
		g.Expect(m.Segments[0].Start.Time).To(Equal(h0))
		g.Expect(m.Segments[1].Start.Time).To(Equal(h0.Add(2 * time.Minute)))
		g.Expect(m.Segments[1].State).To(Equal(saasv1alpha1.StateFrozen))
	})
	t.Run("at 64 distinct segments the oldest two join; the new one keeps its values and start", func(t *testing.T) {
		g := NewWithT(t)
		m := &saasv1alpha1.TenantMetering{Since: *at(0)}
		for i := range maxSegments {
			seg := active
			seg.Replicas = int32(i)
			g.Expect(RecordSegment(m, seg, h0.Add(time.Duration(i)*time.Second))).To(BeTrue())
		}
		g.Expect(RecordSegment(m, frozen, h0.Add(time.Hour))).To(BeTrue())
		g.Expect(m.Segments).To(HaveLen(maxSegments))
		g.Expect(m.Segments[0].Replicas).To(BeEquivalentTo(0))
		g.Expect(m.Segments[1].Replicas).To(BeEquivalentTo(2), "the second second is measured as the first's")
		last := m.Segments[maxSegments-1]
		g.Expect(last.State).To(Equal(saasv1alpha1.StateFrozen))
		g.Expect(last.Start.Time).To(Equal(h0.Add(time.Hour)))
	})
}

func TestPruneSegments(t *testing.T) {
	segments := []saasv1alpha1.UsageSegment{{Start: *at(0)}, {Start: *at(30 * time.Minute)}, {Start: *at(90 * time.Minute)}}
	tests := []struct {
		name   string
		cursor time.Duration
		want   int // segments kept, the last ones
	}{
		{"before every segment: all kept", -time.Hour, 3},
		{"in the first: all kept", 10 * time.Minute, 3},
		{"at the second's start: the first ends there and goes", 30 * time.Minute, 2},
		{"in the second: the one in force is kept", time.Hour, 2},
		{"after the last: the last is kept, in force", 5 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(PruneSegments(segments, h0.Add(tt.cursor))).To(Equal(segments[3-tt.want:]))
		})
	}
}

// A record whose product stops metering gives up its unpushed usage
// (Abandon), and starts afresh when it meters again (Restart): no hour
// kooper did not observe is measured with what ran before it.
func TestAbandonAndRestart(t *testing.T) {
	active := saasv1alpha1.UsageSegment{Start: *at(10 * time.Minute), State: saasv1alpha1.StateActive, Replicas: 2}
	inFlight := &saasv1alpha1.InFlightPush{Windows: []saasv1alpha1.UsageWindow{{Start: *at(time.Hour), End: *at(2 * time.Hour)}}}
	live := func() *saasv1alpha1.TenantMetering {
		return &saasv1alpha1.TenantMetering{Since: *at(10 * time.Minute), PushedUntil: at(time.Hour),
			Segments: []saasv1alpha1.UsageSegment{active}, InFlight: inFlight.DeepCopy(),
			Meters: []saasv1alpha1.MeterUsage{{Name: "duration", Total: "0.8333"}}}
	}
	released := func() *saasv1alpha1.TenantMetering {
		m := live()
		m.EndTime = at(90 * time.Minute)
		return m
	}
	tests := []struct {
		name       string
		m          *saasv1alpha1.TenantMetering
		holds      bool
		wantCursor time.Duration // after Abandon, then Restart at h0+5h
		wantSegs   int           // after Abandon, then Restart (no segment is recorded here)
	}{
		{"live: segments and the in-flight push go, the cursor moves at the restart", live(), true, 5 * time.Hour, 0},
		{"released: over at its release, never restarted", released(), true, 90 * time.Minute, 0},
		{"released and pushed: nothing to give up", func() *saasv1alpha1.TenantMetering {
			m := released()
			m.PushedUntil, m.InFlight = at(90*time.Minute), nil
			return m
		}(), false, 90 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(HoldsUnpushed(tt.m)).To(Equal(tt.holds))
			g.Expect(Abandon(tt.m)).To(Equal(tt.holds))
			g.Expect(HoldsUnpushed(tt.m)).To(BeFalse(), "Abandon is done once")
			g.Expect(Abandon(tt.m)).To(BeFalse())
			if tt.holds {
				g.Expect(tt.m.InFlight).To(BeNil())
			}
			Restart(tt.m, h0.Add(5*time.Hour))
			g.Expect(Cursor(tt.m)).To(Equal(h0.Add(tt.wantCursor)))
			g.Expect(tt.m.Segments).To(HaveLen(tt.wantSegs))
			g.Expect(tt.m.Meters).To(HaveLen(1), "the totals pushed stay")
		})
	}
	t.Run("a record being begun, or one with segments, is not restarted", func(t *testing.T) {
		g := NewWithT(t)
		begun := &saasv1alpha1.TenantMetering{Since: *at(time.Hour)}
		g.Expect(Restart(begun, h0.Add(time.Hour))).To(BeFalse())
		g.Expect(begun.PushedUntil).To(BeNil())
		m := live()
		g.Expect(Restart(m, h0.Add(5*time.Hour))).To(BeFalse())
		g.Expect(Cursor(m)).To(Equal(h0.Add(time.Hour)))
	})
	g := NewWithT(t)
	g.Expect(HoldsUnpushed(nil)).To(BeFalse())
}
