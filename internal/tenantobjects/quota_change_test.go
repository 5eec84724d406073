package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

// While pods of what ran before may still run, the tenant's quota keeps,
// entry by entry, the larger of the quota in force and the plan's; no
// bound counts as the larger. Once they are gone, QuotaAbove says whether
// the plan's quota is lower than the one kept.
func TestQuotaDuringChange(t *testing.T) {
	q := resource.MustParse
	for _, tc := range []struct {
		name          string
		inForce, plan corev1.ResourceList
		want          corev1.ResourceList
		wantAbove     bool
	}{{
		name:      "a downgrade keeps the larger quota",
		inForce:   corev1.ResourceList{corev1.ResourceLimitsCPU: q("3"), corev1.ResourcePods: q("4")},
		plan:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("1"), corev1.ResourcePods: q("2")},
		want:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("3"), corev1.ResourcePods: q("4")},
		wantAbove: true,
	}, {
		name:    "an upgrade is the plan's",
		inForce: corev1.ResourceList{corev1.ResourceLimitsCPU: q("1")},
		plan:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
		want:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
	}, {
		name:      "each entry on its own",
		inForce:   corev1.ResourceList{corev1.ResourceLimitsCPU: q("3"), corev1.ResourceLimitsMemory: q("1Gi")},
		plan:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("1"), corev1.ResourceLimitsMemory: q("2Gi")},
		want:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("3"), corev1.ResourceLimitsMemory: q("2Gi")},
		wantAbove: true,
	}, {
		name:    "the same quantity written otherwise",
		inForce: corev1.ResourceList{corev1.ResourceLimitsCPU: q("1000m")},
		plan:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("1")},
		want:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("1")},
	}, {
		name:      "an entry the quota in force does not bound stays unbounded",
		inForce:   corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
		plan:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("1"), corev1.ResourcePods: q("2")},
		want:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
		wantAbove: true,
	}, {
		name:    "an entry the plan no longer bounds goes",
		inForce: corev1.ResourceList{corev1.ResourceLimitsCPU: q("1"), corev1.ResourcePods: q("2")},
		plan:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
		want:    corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")},
	}, {
		name:      "a quota in force without entries bounds nothing",
		inForce:   corev1.ResourceList{},
		plan:      corev1.ResourceList{corev1.ResourceLimitsCPU: q("1")},
		want:      corev1.ResourceList{},
		wantAbove: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			inForce, plan := tc.inForce.DeepCopy(), tc.plan.DeepCopy()
			got := QuotaDuringChange(tc.inForce, tc.plan)
			g.Expect(apiequality.Semantic.DeepEqual(got, tc.want)).To(BeTrue(), "got %v, want %v", got, tc.want)
			g.Expect(QuotaAbove(tc.inForce, tc.plan)).To(Equal(tc.wantAbove))
			g.Expect(QuotaAbove(got, tc.plan)).To(Equal(tc.wantAbove), "the quota kept is narrowed exactly when it is above the plan's")
			g.Expect(tc.inForce).To(Equal(inForce), "the quota in force is only read")
			g.Expect(tc.plan).To(Equal(plan), "the plan is only read")
		})
	}
}

// The tenant's ResourceQuota is the plan's, unless a quota is in force:
// then each entry is the larger of the two.
func TestTheResourceQuotaKeepsTheQuotaInForce(t *testing.T) {
	g := NewWithT(t)
	q := resource.MustParse
	product := goldenProduct()
	d := goldenTenant(product)
	d.Plan.Quota = corev1.ResourceList{corev1.ResourceLimitsCPU: q("1")}

	present, _ := d.Objects()
	g.Expect(find[*corev1.ResourceQuota](present).Spec.Hard).To(Equal(d.Plan.Quota), "no quota in force: the plan's")

	d.QuotaInForce = &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsCPU: q("3")}}}
	present, _ = d.Objects()
	kept := find[*corev1.ResourceQuota](present)
	g.Expect(kept).NotTo(BeNil())
	g.Expect(kept.Name).To(Equal(ResourceQuotaName))
	g.Expect(kept.Spec.Hard.Name(corev1.ResourceLimitsCPU, resource.DecimalSI).String()).To(Equal("3"))

	d.Plan.Quota = nil
	present, absent := d.Objects()
	g.Expect(find[*corev1.ResourceQuota](present)).To(BeNil(), "a plan without a quota bounds nothing, whatever is in force")
	g.Expect(find[*corev1.ResourceQuota](absent)).NotTo(BeNil())
}
