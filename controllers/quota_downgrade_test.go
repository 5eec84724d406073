package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// changePlan records a plan change of the tenant to sku, as the receiver
// records an upgradeInstance (a RENEWAL_CHANGE selects the plan alike).
func changePlan(t *testing.T, product *saasv1alpha1.SaaSProduct, tenant, sku string) {
	t.Helper()
	order := fmt.Sprintf("CS%dCHANGE", tenantSeq.Add(1))
	marketplace.addOrder(order, product.Spec.ProductID, sku, "20991231235959")
	updateTenant(t, tenant, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: order, OrderLineID: order + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	eventuallyTenant(t, tenant, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Applied).NotTo(BeNil())
		g.Expect(tn.Status.Applied.SKUCode).To(Equal(sku), "the pass that applies the plan is done")
	})
}

// quotaHard reads one hard limit of the tenant's ResourceQuota.
func quotaHard(t *testing.T, namespace string, name corev1.ResourceName) func() (string, error) {
	return func() (string, error) {
		quota := &corev1.ResourceQuota{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.ResourceQuotaName}, quota); err != nil {
			return "", err
		}
		q, ok := quota.Spec.Hard[name]
		if !ok {
			return "none", nil
		}
		return q.String(), nil
	}
}

// admitsAPod plays the quota controller, which envtest lacks (the
// ResourceQuota admission enforces status.hard, which it copies from the
// spec): the tenant's quota counts used, and the API server's admission
// is asked, in a dry run, whether a pod of the Deployment's template fits
// beside it.
func admitsAPod(t *testing.T, g Gomega, namespace string, used corev1.ResourceList) error {
	quota := &corev1.ResourceQuota{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.ResourceQuotaName}, quota)).To(Succeed())
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: used}
	g.Expect(k8sClient.Status().Update(testContext(t), quota)).To(Succeed())
	deployment := getObject(t, &appsv1.Deployment{}, namespace, tenantobjects.AppName)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "app-"}, Spec: deployment.Spec.Template.Spec}
	return k8sClient.Create(testContext(t), pod, client.DryRunAll)
}

// TestADowngradeKeepsTheLargerQuotaUntilTheNewPlanIsAvailable: plan pro
// runs 2 pods of 1 CPU under limits.cpu 3, plan basic 1 pod of 500m under
// limits.cpu 1, each quota holding its plan's rollout. A change to basic
// keeps limits.cpu at 3 while the 2 pods of pro still run (a rolling
// update removes none before the new one is ready), so that the API
// server admits basic's pod beside them; lowered at once, the quota
// refused it, and the tenant stayed unavailable for ever. The quota in
// force stays when pro is removed from the product meanwhile; once the
// Deployment is rolled out on basic, the quota is basic's.
func TestADowngradeKeepsTheLargerQuotaUntilTheNewPlanIsAvailable(t *testing.T) {
	g := NewWithT(t)
	cpuLimit := func(limit string) *saasv1alpha1.ContainerResources {
		return &saasv1alpha1.ContainerResources{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}}
	}
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Storage = nil // a rolling update: the old pods stay until the new ones are ready
		p.Spec.Plans = []saasv1alpha1.Plan{
			{SKUCode: "basic", Replicas: 1, Resources: cpuLimit("500m"), Quota: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("1")}},
			{SKUCode: "pro", Replicas: 2, Resources: cpuLimit("1"), Quota: corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("3")}},
		}
	})
	tenant := newTenant(t, product, "pro", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	g.Expect(k8sClient.Create(testContext(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}})).To(Succeed(),
		"envtest runs no controller-manager to make it, and the ServiceAccount admission refuses a pod without it")
	markAvailable(t, ns)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(quotaHard(t, ns, corev1.ResourceLimitsCPU)()).To(Equal("3"))

	changePlan(t, product, tenant.Name, "basic")
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Spec.Containers[0].Resources.Limits.Cpu().String()).To(Equal("500m"))
	g.Expect(deployment.Status.ObservedGeneration).To(BeNumerically("<", deployment.Generation), "basic is not rolled out")
	g.Eventually(func(g Gomega) {
		err := admitsAPod(t, g, ns, corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("2")})
		g.Expect(err).NotTo(HaveOccurred(), "basic's first pod beside pro's 2")
	}).Should(Succeed())
	g.Expect(quotaHard(t, ns, corev1.ResourceLimitsCPU)()).To(Equal("3"), "pro's 2 pods still run")

	// pro leaves the product while basic rolls out: the quota in force,
	// not pro's plan, is what is kept.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans = p.Spec.Plans[:1] })
	poke(t, tenant)
	g.Consistently(quotaHard(t, ns, corev1.ResourceLimitsCPU)).WithTimeout(2 * time.Second).Should(Equal("3"))

	markAvailable(t, ns)
	g.Eventually(quotaHard(t, ns, corev1.ResourceLimitsCPU)).Should(Equal("1"), "pro's pods are gone: basic's quota")
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Eventually(func(g Gomega) {
		err := admitsAPod(t, g, ns, corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("2")})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the quota is basic's again: %v", err)
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		err := admitsAPod(t, g, ns, corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("500m")})
		g.Expect(err).NotTo(HaveOccurred(), "basic's surge pod beside its one")
	}).Should(Succeed())
	poke(t, tenant)
	g.Consistently(quotaHard(t, ns, corev1.ResourceLimitsCPU)).WithTimeout(2 * time.Second).Should(Equal("1"))
}

// A chart tenant's quota is kept as a workload tenant's: until every
// object of the new plan's render is current.
func TestAChartDowngradeKeepsTheLargerQuotaUntilTheChartIsCurrent(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, allAtOnce)
	resolveChart(t, product.Name, digest)
	tenant := newTenant(t, product, "pro", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	eventuallyTenant(t, tenant.Name, provisioned)
	current := func(withFiles bool) {
		writeStatus(t, &appsv1.Deployment{}, ns, id+"-web", rolledOut)
		writeStatus(t, &appsv1.Deployment{}, ns, id+"-worker", rolledOut)
		writeStatus(t, &batchv1.Job{}, ns, id+"-migrate", func(j *batchv1.Job) {
			if j.Status.StartTime == nil { // immutable once set
				j.Status.StartTime = ptr.To(metav1.Now())
			}
		})
		writeStatus(t, &appsv1.StatefulSet{}, ns, id+"-redis", func(s *appsv1.StatefulSet) {
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1,
				UpdatedReplicas: 1, AvailableReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r1"}
		})
		if withFiles {
			writeStatus(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files", func(p *corev1.PersistentVolumeClaim) { p.Status.Phase = corev1.ClaimBound })
		}
	}
	current(false)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(quotaHard(t, ns, corev1.ResourcePods)()).To(Equal("30"))

	changePlan(t, product, tenant.Name, "basic")
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))
	poke(t, tenant)
	g.Consistently(quotaHard(t, ns, corev1.ResourcePods)).WithTimeout(2*time.Second).Should(Equal("30"), "pro's 3 web pods still run")

	current(true)
	g.Eventually(quotaHard(t, ns, corev1.ResourcePods)).Should(Equal("10"), "the render of basic is current: basic's quota")
}
