package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Tests of a chart tenant's freeze whose pass ends without its status
// write: the counts it stops must not be known only in that pass's memory.

// refuseFrozenStatus installs a ValidatingAdmissionPolicy that refuses
// every status write that would store SaaSTenant tenant as Frozen, as a
// write that loses a Conflict (the metering controller writes the same
// tenant's status on a FREEZE) or a process killed before its last write
// would leave it. It returns once the API server enforces it, and a
// function that lifts it.
func refuseFrozenStatus(t *testing.T, tenant string) (lift func()) {
	t.Helper()
	lift = installDenyingPolicy(t, "refuse-frozen-status-"+tenant,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
				Resources: []string{"saastenants/status"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`object.metadata.name != %q || !has(object.status) || !has(object.status.conditions) ||
				!object.status.conditions.exists(c, c.type == %q && c.status == "True")`, tenant, saasv1alpha1.FrozenCondition),
			Message: "injected: the status write of the freezing pass is lost",
		})
	probe := []byte(fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":"True","reason":"Probe","message":"probe",`+
		`"lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`, saasv1alpha1.FrozenCondition))
	NewWithT(t).Eventually(func() bool {
		err := k8sClient.Status().Patch(testContext(t), &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}},
			client.RawPatch("application/merge-patch+json", probe), client.DryRunAll)
		return admissionRefusal(err)
	}).Should(BeTrue(), "the policy is enforced")
	return lift
}

// The pass that freezes a chart tenant scales its workloads to zero; the
// counts they ran at went to the API server only with that pass's last
// status write. When that write was lost, the next pass found every count
// at zero and recorded the render's (1, for a count left to an HPA), so
// the unfreeze brought an HPA's workload back at one pod instead of the
// eight it ran. The counts are written before anything is scaled down.
func TestAChartFreezeWhoseStatusWriteIsLostStillRestoresTheHPAsCount(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newHPAChartTenant(t, `{"web":{"replicas":null},"autoscaling":{"enabled":true}}`)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	web := id + "-web"
	writeStatus(t, &appsv1.Deployment{}, ns, web, rolledOut)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	scaleAsAnHPA(t, ns, web, 8)
	// Once a pass finds the new generation not rolled out, the cache the
	// freeze reads the count from holds 8.
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason))

	lift := refuseFrozenStatus(t, tenant.Name)
	refusedBefore := controllerCount(t, "controller_runtime_reconcile_errors_total", "saastenant")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, web)).Should(Equal(int32(0)), "the freeze stopped the pods")
	// The freezing pass writes its status only after it scaled down: the
	// policy stays until that write was refused (the pass then fails), or a
	// write that lands once it is lifted would store the counts, as a
	// freeze whose write was not lost does.
	g.Eventually(func() float64 {
		return controllerCount(t, "controller_runtime_reconcile_errors_total", "saastenant")
	}).WithTimeout(30*time.Second).Should(BeNumerically(">", refusedBefore), "the freezing pass's status write refused")
	lift()

	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: web, Replicas: 8}),
		"the count the HPA had set, not the render's")

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, web)).Should(Equal(int32(8)))
	g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, web)).WithTimeout(2 * time.Second).Should(Equal(int32(8)))
}

// A chart tenant frozen while its chart cannot be rendered is frozen from
// its inventory; a workload found at zero then records no count (an
// earlier kooper, whose freeze lost its status write, left it so), and
// the unfreeze had nothing to restore: the unfrozen tenant ran no pod of
// it. A workload whose render leaves the count open, found at zero on an
// unfrozen tenant without a recorded count, runs again at the render's
// count, here the default of one.
func TestAnUnfrozenChartWorkloadLeftAtZeroWithoutARecordedCountRunsAgain(t *testing.T) {
	g := NewWithT(t)
	plan := `{"worker":{"replicas":null}}`
	product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Values = jsonValues(plan) })
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	worker := id + "-worker"
	good := string(product.Spec.Chart.Values.Raw)
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
			{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"sneaky"}}]}`)
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, worker)).Should(Equal(int32(0)))
	forgetFrozenCount(t, tenant.Name, "Deployment", worker)

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(good) })
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, worker)).Should(Equal(int32(1)), "the render's count, which is the default")
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))
}

// forgetFrozenCount removes kind/name's count from the tenant's stored
// status.frozenReplicas, as a freeze whose status write was lost left it.
func forgetFrozenCount(t *testing.T, tenant, kind, name string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant}, tn)).To(Succeed())
		patch := client.MergeFromWithOptions(tn.DeepCopy(), client.MergeFromWithOptimisticLock{})
		tn.Status.FrozenReplicas = slices.DeleteFunc(tn.Status.FrozenReplicas, func(w saasv1alpha1.WorkloadReplicas) bool {
			return w.Kind == kind && w.Name == name
		})
		g.Expect(k8sClient.Status().Patch(testContext(t), tn, patch)).To(Succeed())
	}).Should(Succeed())
}
