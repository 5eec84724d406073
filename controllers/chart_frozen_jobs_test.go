package controllers

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Tests of what a ScaleToZero freeze stops of a chart tenant beyond its
// Deployments and StatefulSets: its Jobs, and the pods of a workload that
// kooper creates anew (a replacement) while frozen or as it unfreezes.

// jobValues are the test chart's values with image, and one more Job
// of each name in jobs, which runs a fixed image.
func jobValues(image string, jobs ...string) *apiextensionsv1.JSON {
	extra := make([]string, 0, len(jobs))
	for _, name := range jobs {
		extra = append(extra, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"`+name+`"},"spec":{"template":{"spec":`+
			`{"restartPolicy":"Never","containers":[{"name":"`+name+`","image":"registry.example.com/crm-tools:1"}]}}}}`)
	}
	return jsonValues(fmt.Sprintf(`{"image":%q,"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[%s]}`,
		image, strings.Join(extra, ",")))
}

// jobSuspended reads whether Job namespace/name is suspended.
func jobSuspended(t *testing.T, namespace, name string) func() bool {
	return func() bool { return ptr.Deref(getObject(t, &batchv1.Job{}, namespace, name).Spec.Suspend, false) }
}

// freezeTenant has the marketplace freeze tenant name, and waits until the
// tenant says so.
func freezeTenant(t *testing.T, name string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	updateTenant(t, name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	return eventuallyTenant(t, name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
}

// stoppedAsFrozen plays the controllers envtest lacks for the test chart's
// workloads, scaled to zero: rolled out with no pods.
func stoppedAsFrozen(t *testing.T, ns, id string) {
	t.Helper()
	for _, name := range []string{id + "-web", id + "-worker"} {
		NewWithT(t).Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, name)).Should(BeZero())
		writeStatus(t, &appsv1.Deployment{}, ns, name, rolledOut)
	}
	NewWithT(t).Eventually(replicasOfWorkload(t, &appsv1.StatefulSet{}, ns, id+"-redis")).Should(BeZero())
	writeStatus(t, &appsv1.StatefulSet{}, ns, id+"-redis", func(s *appsv1.StatefulSet) {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, CurrentRevision: "r1", UpdateRevision: "r1"}
	})
}

// A frozen tenant runs none of its chart's Jobs: a Job running at the
// freeze is suspended, and a Job a new chart's values change (the
// migration Job, whose template is immutable, created anew) or add while
// frozen is created suspended. Each ran at once inside the tenant nobody
// pays for, and, with its database at zero, failed: the tenant was not
// healthy, so the rollout that brought the values paused; after the
// unfreeze the failed Job was in step and never ran again. The tenant stays
// healthy while frozen, and the Jobs run once it is unfrozen.
func TestAFrozenChartTenantRunsNoJob(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Chart.Values = jobValues("registry.example.com/crm:1.2.0", "seed")
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	makeChartCurrent(t, ns, id) // the migration Job runs
	writeStatus(t, &batchv1.Job{}, ns, "seed", completeJob)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	freezeTenant(t, tenant.Name)
	g.Eventually(jobSuspended(t, ns, id+"-migrate")).Should(BeTrue(), "the Job running at the freeze is suspended: its pods go")
	stoppedAsFrozen(t, ns, id)
	migrate := getObject(t, &batchv1.Job{}, ns, id+"-migrate")

	// A new chart's values reach the frozen tenant (a rollout includes it):
	// the migration Job's image changes, and a Job is added.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jobValues("registry.example.com/crm:1.3.0", "seed", "backfill")
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		job := getObject(t, &batchv1.Job{}, ns, id+"-migrate")
		g.Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/crm:1.3.0"))
		g.Expect(job.UID).NotTo(Equal(migrate.UID), "the Job of the new template, created anew")
		g.Expect(job.Spec.Suspend).To(Equal(ptr.To(true)), "the Job of the new template runs while the tenant is frozen")
		g.Expect(getObject(t, &batchv1.Job{}, ns, "backfill").Spec.Suspend).To(Equal(ptr.To(true)), "the added Job runs while the tenant is frozen")
		g.Expect(getObject(t, &appsv1.Deployment{}, ns, id+"-web").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/crm:1.3.0"))
	})
	// The new templates of the Deployments roll out with no pods; the
	// Jobs wait for the unfreeze: the tenant is healthy, as the rollout
	// judges it.
	stoppedAsFrozen(t, ns, id)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(getObject(t, &batchv1.Job{}, ns, "seed").Status.Conditions).To(ContainElement(HaveField("Type", batchv1.JobComplete)),
		"a finished Job stays finished")

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	g.Eventually(jobSuspended(t, ns, id+"-migrate")).Should(BeFalse(), "the Job of the new template runs at the unfreeze")
	g.Eventually(jobSuspended(t, ns, "backfill")).Should(BeFalse(), "the added Job runs at the unfreeze")
	g.Expect(getObject(t, &batchv1.Job{}, ns, id+"-migrate").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/crm:1.3.0"))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))
	makeChartCurrent(t, ns, id)
	writeStatus(t, &batchv1.Job{}, ns, id+"-migrate", completeJob)
	writeStatus(t, &batchv1.Job{}, ns, "backfill", completeJob)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
}

// apiDeployment is a Deployment api that leaves its count open (to an HPA,
// say) and selects the pods of component.
func apiDeployment(component string) string {
	return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"},"spec":{` +
		`"selector":{"matchLabels":{"app.kubernetes.io/component":"` + component + `"}},` +
		`"template":{"metadata":{"labels":{"app.kubernetes.io/component":"` + component + `"}},` +
		`"spec":{"containers":[{"name":"api","image":"registry.example.com/crm:1.2.0"}]}}}}`
}

// apiOfEachPlan renders the Deployment api in each plan, selecting other
// pods in plan pro: an upgrade replaces it (a selector never changes).
func apiOfEachPlan(p *saasv1alpha1.SaaSProduct) {
	p.Spec.Plans[0].Values = jsonValues(`{"extraObjects":[` + apiDeployment("api") + `]}`)
	p.Spec.Plans[1].Values = jsonValues(`{"extraObjects":[` + apiDeployment("api-v2") + `]}`)
}

// upgradeOrder is an upgrade of product's tenant to sku, as the
// marketplace sends it; the caller appends it to the tenant's orders.
func upgradeOrder(product *saasv1alpha1.SaaSProduct, sku string) saasv1alpha1.AppliedOrder {
	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, sku, "20991231235959")
	return saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
		Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()}
}

// deploymentCounts records, from a watch of the API server, the
// spec.replicas of every version of one Deployment, by UID in order: the
// first is the count it was created at, which a read after the fact may
// no longer show.
type deploymentCounts struct {
	mu    sync.Mutex
	byUID map[types.UID][]int32
}

// watchCounts starts recording the versions of the Deployments called
// name in namespace ("": in every namespace).
func watchCounts(t *testing.T, namespace, name string) *deploymentCounts {
	t.Helper()
	g := NewWithT(t)
	direct, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: k8sClient.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := direct.Watch(testContext(t), &appsv1.DeploymentList{}, client.InNamespace(namespace),
		client.MatchingFields{"metadata.name": name})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(w.Stop)
	counts := &deploymentCounts{byUID: map[types.UID][]int32{}}
	go func() {
		for event := range w.ResultChan() {
			if d, ok := event.Object.(*appsv1.Deployment); ok {
				counts.mu.Lock()
				counts.byUID[d.UID] = append(counts.byUID[d.UID], ptr.Deref(d.Spec.Replicas, 1))
				counts.mu.Unlock()
			}
		}
	}()
	return counts
}

// of is the counts of every version of the Deployment uid seen so far.
func (c *deploymentCounts) of(uid types.UID) func() []int32 {
	return func() []int32 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]int32(nil), c.byUID[uid]...)
	}
}

// A Deployment whose count is left open and that kooper replaces (its
// selector changes) while the tenant is frozen is created at zero: it was
// created at the API server's default of 1, and the scale to zero after
// it skipped, since the cache still showed the old Deployment at zero, so
// its pods ran in a frozen tenant until a later pass.
func TestADeploymentReplacedWhileFrozenIsCreatedAtZero(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", apiOfEachPlan)
	ns := "tenant-" + tenant.Name
	before := getObject(t, &appsv1.Deployment{}, ns, "api")
	freezeTenant(t, tenant.Name)
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, "api")).Should(BeZero())
	counts := watchCounts(t, ns, "api")

	order := upgradeOrder(product, "pro")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Orders = append(tn.Spec.Orders, order) })
	frozen := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		g.Expect(tn.Status.SKUCode).To(Equal("pro"))
	})
	expectEventSaying(t, tenant.Name, objectReplacedReason, "Deployment api")
	replaced := getObject(t, &appsv1.Deployment{}, ns, "api")
	g.Expect(replaced.UID).NotTo(Equal(before.UID), "created anew")
	g.Eventually(counts.of(replaced.UID)).ShouldNot(BeEmpty())
	g.Consistently(counts.of(replaced.UID), 2*time.Second).Should(HaveEach(int32(0)),
		"every version of the Deployment created anew while frozen has no pods")
	g.Expect(frozen.Status.FrozenReplicas).To(ContainElement(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: "api", Replicas: 1}),
		"the count to restore is kept")
}

// A Deployment whose count is left open and that kooper replaces in the
// pass that unfreezes the tenant is created at the count remembered at
// the freeze: it was created at the API server's default of 1, the
// restore of the count skipped whenever the cache showed no Deployment
// (between the delete and the create), and the count remembered was
// forgotten in the same pass: it stayed at 1 for good.
func TestADeploymentReplacedAtUnfreezeKeepsItsCount(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", apiOfEachPlan)
	ns := "tenant-" + tenant.Name
	before := getObject(t, &appsv1.Deployment{}, ns, "api")
	// An HPA runs two.
	g.Expect(k8sClient.Patch(testContext(t), before, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":2}}`)))).To(Succeed())
	g.Eventually(func() (int32, error) {
		d := &appsv1.Deployment{}
		err := cachedClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: "api"}, d)
		return ptr.Deref(d.Spec.Replicas, 1), err
	}).Should(Equal(int32(2)))
	frozen := freezeTenant(t, tenant.Name)
	g.Expect(frozen.Status.FrozenReplicas).To(ContainElement(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: "api", Replicas: 2}))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, "api")).Should(BeZero())
	counts := watchCounts(t, ns, "api")

	// One change unfreezes the tenant and upgrades it to the plan whose
	// api selects other pods: the pass that unfreezes replaces it.
	order := upgradeOrder(product, "pro")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.State = saasv1alpha1.StateActive
		tn.Spec.Orders = append(tn.Spec.Orders, order)
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		g.Expect(tn.Status.SKUCode).To(Equal("pro"))
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil())
		g.Expect(tn.Status.FrozenReplicas).To(BeEmpty())
	})
	expectEventSaying(t, tenant.Name, objectReplacedReason, "Deployment api")
	replaced := getObject(t, &appsv1.Deployment{}, ns, "api")
	g.Expect(replaced.UID).NotTo(Equal(before.UID), "created anew")
	g.Eventually(counts.of(replaced.UID)).ShouldNot(BeEmpty())
	g.Consistently(counts.of(replaced.UID), 2*time.Second).Should(HaveEach(int32(2)),
		"the Deployment created anew at the unfreeze runs the count remembered, from its creation on")
}

// A tenant frozen before its first pass creates its chart's workloads in
// a namespace made for it; one whose count is left open is created at
// zero, not at the API server's default of 1 (the scale to zero after it
// found nothing in the cache yet, and skipped).
func TestAWorkloadCreatedInAFrozenTenantsNewNamespaceStartsAtZero(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, apiOfEachPlan)
	resolveChart(t, product.Name, digest)
	counts := watchCounts(t, "", "api") // every namespace's: the tenant's has no name yet
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason)(g, tn)
	})
	api := getObject(t, &appsv1.Deployment{}, "tenant-"+tenant.Name, "api")
	g.Eventually(counts.of(api.UID)).ShouldNot(BeEmpty())
	g.Consistently(counts.of(api.UID), 2*time.Second).Should(HaveEach(int32(0)), "every version of the Deployment has no pods")
}
