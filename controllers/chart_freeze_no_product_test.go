package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A chart tenant restored without its status (no inventory) whose product
// is gone is frozen from its record with no product to say it is a chart
// tenant (chartTenant): the freeze scaled only the single app's Deployment,
// which a chart tenant lacks, and wrote Frozen=True while the chart's
// Deployments and StatefulSet served a buyer who had stopped paying.
// Stopping service never depends on configuration (DESIGN.md rule 10): the
// inventory is rebuilt from the tenant's labelled objects first, as
// release does, and the chart's workloads are stopped.
func TestAChartTenantRestoredWithoutItsProductOrInventoryIsStillFrozen(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	g.Expect(runningWorkloads(t, ns)()).To(ConsistOf("Deployment/"+id+"-web", "Deployment/"+id+"-worker", "StatefulSet/"+id+"-redis"))

	deleteProductByHand(t, product.Name)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
	loseStatus(t, tenant.Name)
	poke(t, tenant) // a status write queues no pass
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason)(g, tn)
		g.Expect(tn.Status.Inventory).To(BeEmpty(), "no provisioning pass recorded it again")
	})

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(runningWorkloads(t, ns)).Should(BeEmpty(), "Frozen=True, so nothing of the chart may run")
}
