package controllers

import (
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// refusedChartValues are the test chart's values with an object no tenant
// may hold (a Role): every render is refused, and the tenant stalls.
const refusedChartValues = `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
	{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"sneaky"}}]}`

// loseStatus clears the tenant's stored status, as a restore from a backup
// that does not keep status leaves it (docs/lifecycle.md: recovery after a
// CRD deletion).
func loseStatus(t *testing.T, name string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		tn := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		tn.Status = saasv1alpha1.SaaSTenantStatus{}
		return k8sClient.Status().Update(testContext(t), tn)
	}).Should(Succeed())
}

// A chart tenant restored without its status has no inventory, and until
// a provisioning pass records one (here none can: the product's chart now
// renders an object no tenant may hold; a failing Query Order does too) a
// freeze or a release found nothing to stop: stopChart and
// removeChartWorkloads work from the inventory alone, so the chart's
// Deployments, StatefulSet and Ingress went on serving a buyer who was
// frozen or had left. The inventory is rebuilt from the tenant's labelled
// objects first.
func TestAChartTenantRestoredWithoutItsInventoryIsStillStopped(t *testing.T) {
	cases := []struct {
		name  string
		state saasv1alpha1.SubscriptionState
		// stopped checks that nothing of the chart serves any more.
		stopped func(g Gomega, t *testing.T, ns, id string)
	}{{
		name:  "frozen",
		state: saasv1alpha1.StateFrozen,
		stopped: func(g Gomega, t *testing.T, ns, _ string) {
			g.Eventually(runningWorkloads(t, ns)).Should(BeEmpty())
		},
	}, {
		name:  "released",
		state: saasv1alpha1.StateReleased,
		stopped: func(g Gomega, t *testing.T, ns, id string) {
			for _, e := range chartInventory(id) {
				if slices.Contains(releasedKinds, schema.GroupKind{Group: e.Group, Kind: e.Kind}) {
					g.Eventually(absent(t, chartObject(e), ns, e.Name)).Should(BeTrue(), "%s %s must go", e.Kind, e.Name)
				}
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product, tenant := newChartTenant(t, "basic", nil)
			id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
			g.Expect(runningWorkloads(t, ns)()).To(ConsistOf("Deployment/"+id+"-web", "Deployment/"+id+"-worker", "StatefulSet/"+id+"-redis"))

			changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(refusedChartValues) })
			refused := hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason)
			eventuallyTenant(t, tenant.Name, refused)
			loseStatus(t, tenant.Name)
			poke(t, tenant) // a status write queues no pass
			eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
				refused(g, tn)
				g.Expect(tn.Status.Inventory).To(BeEmpty(), "no provisioning pass recorded it again")
			})

			setState(t, tenant.Name, tc.state)
			tc.stopped(g, t, ns, id)
		})
	}
}
