package metering

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// An upgradeInstance (or a downgrade) moves status.skuCode as soon as the
// order resolves, before the new plan is applied; a plan change that stalls
// (QuotaTooSmall, ObjectInvalid, AdmissionRefused, SecretNotCopyable) leaves
// the workload running what status.applied records. Before, the segment
// measured the ordered plan, so the buyer paid for replicas, CPU and memory
// never provisioned: more after a stalled upgrade, less after a stalled
// downgrade. A segment measures what runs: status.applied once there is one,
// the ordered plan only before the first apply.
func TestAStalledUpgradeMetersTheAppliedPlan(t *testing.T) {
	requests := func(cpu, memory string) *saasv1alpha1.ContainerResources {
		return &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
	}
	product := func(behavior saasv1alpha1.FreezeBehavior, plans ...saasv1alpha1.Plan) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{}
		p.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Resources: requests("100m", "128Mi"),
			Storage:   &saasv1alpha1.StorageTemplate{Size: resource.MustParse("10Gi")},
		}
		p.Spec.Plans = plans
		p.Spec.Lifecycle.Freeze.Behavior = behavior
		return p
	}
	basic := saasv1alpha1.Plan{SKUCode: "basic", Replicas: 1}
	pro := saasv1alpha1.Plan{SKUCode: "pro", Replicas: 3, Resources: requests("1500m", "1Gi")}
	// proEdited is pro after the merchant raised it past its quota: the
	// re-apply stalls QuotaTooSmall and pro keeps running as applied before.
	proEdited := saasv1alpha1.Plan{SKUCode: "pro", Replicas: 5, Resources: requests("2", "4Gi")}
	// The status.applied the tenant controller writes after applying a
	// plan: the plan's resources, else the workload's.
	basicApplied := &saasv1alpha1.AppliedPlan{SKUCode: "basic", Replicas: 1, Resources: requests("100m", "128Mi")}
	proApplied := &saasv1alpha1.AppliedPlan{SKUCode: "pro", Replicas: 3, Resources: requests("1500m", "1Gi")}
	tenant := func(state saasv1alpha1.SubscriptionState, sku string, applied *saasv1alpha1.AppliedPlan) *saasv1alpha1.SaaSTenant {
		tn := &saasv1alpha1.SaaSTenant{}
		tn.Spec.State, tn.Status.SKUCode, tn.Status.Applied = state, sku, applied
		return tn
	}
	basicRuns := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 1, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}
	proRuns := saasv1alpha1.UsageSegment{State: saasv1alpha1.StateActive, Replicas: 3, CPUMillis: 1500, MemoryBytes: gib, StorageBytes: 10 * gib}
	tests := []struct {
		name    string
		tenant  *saasv1alpha1.SaaSTenant
		product *saasv1alpha1.SaaSProduct
		want    saasv1alpha1.UsageSegment
	}{
		{name: "an upgrade to pro stalled: basic still runs and is billed",
			tenant: tenant(saasv1alpha1.StateActive, "pro", basicApplied), product: product("", basic, pro), want: basicRuns},
		{name: "the upgrade applied (status.applied caught up): pro is billed",
			tenant: tenant(saasv1alpha1.StateActive, "pro", proApplied), product: product("", basic, pro), want: proRuns},
		{name: "a downgrade to basic stalled: pro still runs and is billed",
			tenant: tenant(saasv1alpha1.StateActive, "basic", proApplied), product: product("", basic, pro), want: proRuns},
		{name: "the merchant edited pro and its re-apply stalled: pro as applied",
			tenant: tenant(saasv1alpha1.StateActive, "pro", proApplied), product: product("", basic, proEdited), want: proRuns},
		{name: "a stalled upgrade frozen to zero: no replicas, basic's requests",
			tenant: tenant(saasv1alpha1.StateFrozen, "pro", basicApplied), product: product(saasv1alpha1.FreezeScaleToZero, basic, pro),
			want: saasv1alpha1.UsageSegment{State: saasv1alpha1.StateFrozen, CPUMillis: 100, MemoryBytes: 128 << 20, StorageBytes: 10 * gib}},
		// Nothing applied yet (a first apply under way, or one that stopped
		// half-way and left objects of the ordered plan), or a tenant last
		// provisioned before status.applied existed: the ordered plan.
		{name: "never applied: the ordered plan",
			tenant: tenant(saasv1alpha1.StateActive, "pro", nil), product: product("", basic, pro), want: proRuns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(ObservedSegment(tt.tenant, tt.product)).To(Equal(tt.want))
		})
	}
}
