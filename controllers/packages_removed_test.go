package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A product's spec.packages removed while its pay-per-use tenant shows its
// packages exhausted. Before, PackagesExhausted stayed in the tenant's
// status for ever (only a funded tenant's pass set it, only a release
// removed it): should the merchant put spec.packages back with onExhausted
// Freeze, the tenant controller froze the tenant at once on that stale
// condition, before any pass had looked at its packages. Now the first pass
// after the removal takes the condition away, whether the product still
// meters the tenant or stopped metering it too.
func TestPackagesRemovedClearsExhausted(t *testing.T) {
	cases := []struct {
		name   string
		remove func(*saasv1alpha1.SaaSProduct)
	}{{
		name:   "spec.packages removed",
		remove: func(*saasv1alpha1.SaaSProduct) {},
	}, {
		name:   "spec.packages and spec.metering removed",
		remove: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Metering = nil },
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
			customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
			ppu := buyPayPerUse(t, product, customer)
			h := hourAgo(3)
			r, _ := packageMetering(clocktesting.NewFakeClock(h))
			meterUntil(t, r, h, ppu.Name, func(g Gomega, m *saasv1alpha1.TenantMetering) {
				exhaustedCondition(g, m, metav1.ConditionTrue, saasv1alpha1.NoPackageReason)
			})

			changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Packages = nil
				// A plan's package terms need spec.packages (the CRD's rule).
				p.Spec.Plans = slices.DeleteFunc(p.Spec.Plans, func(plan saasv1alpha1.Plan) bool { return plan.Package != nil })
				tc.remove(p)
			})
			meterUntil(t, r, h.Add(10*time.Minute), ppu.Name, func(g Gomega, m *saasv1alpha1.TenantMetering) {
				g.Expect(m.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.PackagesExhaustedCondition)))
			})
		})
	}
}
