package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Tests of tenants of a product with spec.chart (docs/chart-tenants.md),
// rendered from internal/chartrender's test chart.

// chartInventory is what the test chart renders for tenant id with plan
// basic, as status.inventory records it.
func chartInventory(id string) []saasv1alpha1.InventoryEntry {
	return []saasv1alpha1.InventoryEntry{
		{Kind: "ConfigMap", Name: id + "-config"},
		{Kind: "PersistentVolumeClaim", Name: id + "-files"},
		{Kind: "Service", Name: id + "-web"},
		{Group: "apps", Kind: "Deployment", Name: id + "-web"},
		{Group: "apps", Kind: "Deployment", Name: id + "-worker"},
		{Group: "apps", Kind: "StatefulSet", Name: id + "-redis"},
		{Group: "batch", Kind: "Job", Name: id + "-migrate"},
		{Group: "batch", Kind: "CronJob", Name: id + "-report"},
		{Group: "networking.k8s.io", Kind: "Ingress", Name: id + "-web"},
	}
}

// chartObject is an empty object of the inventory entry's kind.
func chartObject(e saasv1alpha1.InventoryEntry) client.Object {
	switch e.Kind {
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "Service":
		return &corev1.Service{}
	case "Deployment":
		return &appsv1.Deployment{}
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "Job":
		return &batchv1.Job{}
	case "CronJob":
		return &batchv1.CronJob{}
	case "Ingress":
		return &networkingv1.Ingress{}
	}
	panic("no test object of kind " + e.Kind)
}

// absent reports whether obj's kind has no object called name in namespace.
func absent(t *testing.T, obj client.Object, namespace, name string) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, obj))
	}
}

// replicasOfWorkload reads the spec.replicas of a Deployment or StatefulSet.
func replicasOfWorkload(t *testing.T, obj client.Object, namespace, name string) func() (int32, error) {
	return func() (int32, error) {
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
			return -1, err
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			return ptr.Deref(o.Spec.Replicas, 1), nil
		case *appsv1.StatefulSet:
			return ptr.Deref(o.Spec.Replicas, 1), nil
		}
		return -1, fmt.Errorf("%T has no replicas", obj)
	}
}

// writeStatus plays a controller envtest lacks: it sets obj's status.
func writeStatus[T client.Object](t *testing.T, obj T, namespace, name string, set func(T)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
			return err
		}
		set(obj)
		return k8sClient.Status().Update(testContext(t), obj)
	}).Should(Succeed())
}

func rolledOut(d *appsv1.Deployment) {
	n := ptr.Deref(d.Spec.Replicas, 1)
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
		}}
}

func TestChartTenantIsRenderedLabelledRecordedAndSummedUp(t *testing.T) {
	g := NewWithT(t)
	// The product names a chart Secret that does not exist yet, so the
	// product controller cannot resolve the chart before the test has seen
	// the tenant wait (it resolves a chart the moment it can).
	var lateSecret string
	product, _ := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		lateSecret = p.Name + "-late-chart"
		p.Spec.Chart.SecretRef.Name = lateSecret
	})
	tenant := newTenant(t, product, "basic", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name

	// No chart resolved yet: the tenant waits, and the product's status
	// write (no new generation) brings it on.
	// It says why, as the product does (the Secret is missing).
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ProvisionedCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(saasv1alpha1.ProgressingReason))
		g.Expect(c.Message).To(HavePrefix("Waiting for SaaSProduct " + product.Name + "'s chart to be resolved: "))
		g.Expect(c.Message).To(ContainSubstring(lateSecret))
	})
	g.Expect(k8sClient.Create(testContext(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: lateSecret},
		Data:       map[string][]byte{"chart.tgz": packageTestChart(t)},
	})).To(Succeed())
	got := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(got.Status.Inventory).To(ConsistOf(chartInventory(id)))

	for _, e := range chartInventory(id) {
		obj := getObject(t, chartObject(e), ns, e.Name)
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(saasv1alpha1.InstanceIDLabel, id), "%s/%s", e.Kind, e.Name)
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue), "%s/%s", e.Kind, e.Name)
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, product.Name), "%s/%s", e.Kind, e.Name)
	}
	config := getObject(t, &corev1.ConfigMap{}, ns, id+"-config")
	g.Expect(config.Data).To(HaveKeyWithValue("instanceId", id), "kooper's values reach the chart")
	g.Expect(config.Data).To(HaveKeyWithValue("namespace", ns))
	// kooper's isolation objects, and none of the single app's.
	getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	getObject(t, &corev1.ResourceQuota{}, ns, tenantobjects.ResourceQuotaName)
	getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	g.Expect(absent(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)()).To(BeTrue())
	g.Expect(absent(t, &corev1.ServiceAccount{}, ns, tenantobjects.AppName)()).To(BeTrue())

	// Every part but the StatefulSet becomes current.
	writeStatus(t, &appsv1.Deployment{}, ns, id+"-web", rolledOut)
	writeStatus(t, &appsv1.Deployment{}, ns, id+"-worker", rolledOut)
	writeStatus(t, &batchv1.Job{}, ns, id+"-migrate", func(j *batchv1.Job) { j.Status.StartTime = ptr.To(metav1.Now()) })
	writeStatus(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files", func(p *corev1.PersistentVolumeClaim) { p.Status.Phase = corev1.ClaimBound })
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.AvailableCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Message).To(HavePrefix("1 of 8 objects of the chart not current: StatefulSet/" + id + "-redis: "))
	})
	writeStatus(t, &appsv1.StatefulSet{}, ns, id+"-redis", func(s *appsv1.StatefulSet) {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1,
			UpdatedReplicas: 1, AvailableReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r1"}
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	// Plan pro: three web replicas, no report CronJob (pruned), no files
	// PVC in the render (kept: data goes only with the retention).
	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", "20991231235959")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(3)))
	g.Eventually(absent(t, &batchv1.CronJob{}, ns, id+"-report")).Should(BeTrue())
	upgraded := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.SKUCode).To(Equal("pro"))
		g.Expect(tn.Status.Inventory).To(HaveLen(7))
	})
	g.Expect(upgraded.Status.Inventory).NotTo(ContainElement(saasv1alpha1.InventoryEntry{Group: "batch", Kind: "CronJob", Name: id + "-report"}))
	g.Expect(upgraded.Status.Inventory).NotTo(ContainElement(saasv1alpha1.InventoryEntry{Kind: "PersistentVolumeClaim", Name: id + "-files"}))
	g.Consistently(absent(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files")).Should(BeFalse())
}

func TestChartWithARefusedObjectStallsAndAppliesNothing(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
			{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"sneaky"}},
			{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"elsewhere","namespace":"kube-system"}}]}`)
	})
	resolveChart(t, product.Name, digest)
	tenant := newTenant(t, product, "basic", nil)
	stalledTenant := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))
	msg := apimeta.FindStatusCondition(stalledTenant.Status.Conditions, saasv1alpha1.StalledCondition).Message
	g.Expect(msg).To(ContainSubstring("rbac.authorization.k8s.io/Role sneaky"))
	g.Expect(msg).To(ContainSubstring("core/ConfigMap elsewhere"))
	g.Expect(stalledTenant.Status.Namespace).To(BeEmpty(), "nothing of a refused render is applied")
	g.Expect(stalledTenant.Status.Inventory).To(BeEmpty())
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ChartObjectRefusedReason)
}

func TestChartTenantFreezeScalesEveryWorkloadToZeroAndUnfreezeRestores(t *testing.T) {
	g := NewWithT(t)
	// The worker's count is left to an HPA: the render sets none.
	_, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[0].Values = jsonValues(`{"worker":{"replicas":null}}`)
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	// The HPA scales the worker to 2.
	worker := getObject(t, &appsv1.Deployment{}, ns, id+"-worker")
	g.Expect(k8sClient.Patch(testContext(t), worker, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":2}}`)))).To(Succeed())
	g.Eventually(func() (int32, error) {
		d := &appsv1.Deployment{}
		err := cachedClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: id + "-worker"}, d)
		return ptr.Deref(d.Spec.Replicas, 1), err
	}).Should(Equal(int32(2)))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(
		saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: id + "-web", Replicas: 1},
		saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: id + "-worker", Replicas: 2},
		saasv1alpha1.WorkloadReplicas{Kind: "StatefulSet", Name: id + "-redis", Replicas: 1}))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(0)))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-worker")).Should(Equal(int32(0)))
	g.Eventually(replicasOfWorkload(t, &appsv1.StatefulSet{}, ns, id+"-redis")).Should(Equal(int32(0)))
	g.Eventually(func() *bool { return getObject(t, &batchv1.CronJob{}, ns, id+"-report").Spec.Suspend }).Should(Equal(ptr.To(true)))
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files")

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-worker")).Should(Equal(int32(2)), "the remembered count")
	g.Eventually(replicasOfWorkload(t, &appsv1.StatefulSet{}, ns, id+"-redis")).Should(Equal(int32(1)))
	g.Eventually(func() bool { return ptr.Deref(getObject(t, &batchv1.CronJob{}, ns, id+"-report").Spec.Suspend, false) }).Should(BeFalse())
	unfrozen := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil())
	})
	g.Expect(unfrozen.Status.FrozenReplicas).To(BeEmpty())
}

func TestChartTenantFreezeCanDropOnlyTheIngress(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeDisableIngress
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	getObject(t, &networkingv1.Ingress{}, ns, id+"-web")

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(absent(t, &networkingv1.Ingress{}, ns, id+"-web")).Should(BeTrue())
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.Inventory).NotTo(ContainElement(saasv1alpha1.InventoryEntry{Group: "networking.k8s.io", Kind: "Ingress", Name: id + "-web"}))
	g.Consistently(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	getObject(t, &networkingv1.Ingress{}, ns, id+"-web")
}

func TestChartTenantThatCannotRenderIsFrozenFromItsInventory(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
			{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"sneaky"}}]}`)
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartObjectRefusedReason))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(0)))
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-worker")).Should(Equal(int32(0)))
	g.Eventually(replicasOfWorkload(t, &appsv1.StatefulSet{}, ns, id+"-redis")).Should(Equal(int32(0)))
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ContainElement(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: id + "-web", Replicas: 1}))
}

func TestChartTenantReleaseDeletesTheWorkloadsAndKeepsTheData(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	_, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10)
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	for _, e := range chartInventory(id) {
		switch e.Kind {
		case "ConfigMap", "PersistentVolumeClaim":
			g.Consistently(absent(t, chartObject(e), ns, e.Name)).Should(BeFalse(), "%s/%s is kept", e.Kind, e.Name)
		default:
			g.Eventually(absent(t, chartObject(e), ns, e.Name)).Should(BeTrue(), "%s/%s must go", e.Kind, e.Name)
		}
	}
	getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	g.Expect(released.Status.Inventory).To(ConsistOf(
		saasv1alpha1.InventoryEntry{Kind: "ConfigMap", Name: id + "-config"},
		saasv1alpha1.InventoryEntry{Kind: "PersistentVolumeClaim", Name: id + "-files"}))
	// Available no longer says what it observed before the release.
	hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadRemovedReason)(g, released)
}

func TestSimulatedDebugTenantOfAChartProductRendersNothing(t *testing.T) {
	g := NewWithT(t)
	// No chart resolved: a simulated tenant does not need one.
	product, _ := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Debug = &saasv1alpha1.DebugPolicy{Handling: saasv1alpha1.DebugSimulate, SKUCode: "basic"}
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Mode = saasv1alpha1.ModeDebug })
	ready := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(apimeta.FindStatusCondition(ready.Status.Conditions, saasv1alpha1.AvailableCondition).Message).To(ContainSubstring("simulated"))
	g.Expect(ready.Status.Inventory).To(BeEmpty())
	ns := "tenant-" + tenant.Name
	getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	g.Consistently(absent(t, &appsv1.Deployment{}, ns, tenant.Spec.InstanceID+"-web")).Should(BeTrue())
}

// A field the product stops setting goes from the tenant's objects: kooper
// applies again when what it would apply changes, even if the live object
// holds every field it still sets, and server-side apply drops the rest.
// Two places of one kind: a chart's object, and the single app's Deployment.
func TestAFieldTheProductStopsSettingGoes(t *testing.T) {
	t.Run("chart", func(t *testing.T) {
		g := NewWithT(t)
		withExtra := func(data string) string {
			return `{"report":{"enabled":false},"files":{"enabled":false},"extraObjects":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"tier"},"data":` + data + `}]}`
		}
		product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
			p.Spec.Chart.Values = jsonValues(withExtra(`{"plan":"basic","premium":"true"}`))
		})
		ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
		g.Expect(getObject(t, &corev1.ConfigMap{}, ns, "tier").Data).To(HaveKey("premium"))
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = jsonValues(withExtra(`{"plan":"basic"}`)) })
		g.Eventually(func() map[string]string { return getObject(t, &corev1.ConfigMap{}, ns, "tier").Data }).
			Should(Equal(map[string]string{"plan": "basic"}))
	})
	t.Run("workload", func(t *testing.T) {
		g := NewWithT(t)
		product := newTenantProduct(t, nil)
		tenant := newTenant(t, product, "basic", nil)
		ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
		limits := func() corev1.ResourceList {
			return getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName).Spec.Template.Spec.Containers[0].Resources.Limits
		}
		g.Expect(limits()).To(HaveKey(corev1.ResourceMemory))
		// A map key dropped: what is left is all still there, so only the
		// recorded last apply tells.
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Resources.Limits = nil })
		g.Eventually(limits).Should(BeEmpty())
	})
}

// A chart's Service that changes whether it has a cluster IP is
// recreated, both ways, as a workload tenant's is
// (TestHeadlessTenantServicesAreRecreatedWhenTheProductChanges): without
// it, None to an address would leave the Service headless without a word,
// and an address to None would stall the tenant on the API server's
// refusal.
func TestAChartServiceIsRecreatedWhenItsClusterIPChangesKind(t *testing.T) {
	g := NewWithT(t)
	withService := func(clusterIP string) *apiextensionsv1.JSON {
		spec := `{"selector":{"app":"lookup"},"ports":[{"name":"http","port":80}]}`
		if clusterIP != "" {
			spec = `{"clusterIP":"` + clusterIP + `","selector":{"app":"lookup"},"ports":[{"name":"http","port":80}]}`
		}
		return jsonValues(`{"report":{"enabled":false},"files":{"enabled":false},"extraObjects":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"lookup"},"spec":` + spec + `}]}`)
	}
	product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = withService("None") })
	ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	headless := getObject(t, &corev1.Service{}, ns, "lookup")
	g.Expect(headless.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = withService("") })
	var allocated *corev1.Service
	g.Eventually(func(g Gomega) {
		allocated = getObject(t, &corev1.Service{}, ns, "lookup")
		g.Expect(allocated.Spec.ClusterIP).NotTo(BeElementOf("", corev1.ClusterIPNone))
	}).Should(Succeed(), "the Service recreated with a cluster IP")
	g.Expect(allocated.UID).NotTo(Equal(headless.UID))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Chart.Values = withService("None") })
	g.Eventually(func(g Gomega) {
		g.Expect(getObject(t, &corev1.Service{}, ns, "lookup").Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
	}).Should(Succeed(), "the Service recreated headless")
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
		g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.ProvisionedCondition)).To(BeTrue())
	})
}

// A plan whose render changes what a StatefulSet cannot change (its volume
// claim templates) stalls the tenant with the API server's reason, once the
// rest of the plan is applied, instead of retrying for ever; a product that
// stops changing it brings the tenant back.
func TestAnObjectTheAPIServerRefusesStallsTheTenantAndTheRestIsApplied(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3},"redis":{"storage":"2Gi"},"report":{"enabled":false},"files":{"enabled":false}}`)
	})
	id := tenant.Spec.InstanceID
	ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", "20991231235959")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})

	stalledTenant := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ObjectInvalidReason))
	msg := apimeta.FindStatusCondition(stalledTenant.Status.Conditions, saasv1alpha1.StalledCondition).Message
	g.Expect(msg).To(HaveSuffix("StatefulSet " + id + "-redis: spec.volumeClaimTemplates: field is immutable"))
	g.Expect(apimeta.FindStatusCondition(stalledTenant.Status.Conditions, saasv1alpha1.ProvisionedCondition).Reason).To(Equal(saasv1alpha1.ObjectInvalidReason))
	g.Expect(*getObject(t, &appsv1.Deployment{}, ns, id+"-web").Spec.Replicas).To(BeEquivalentTo(3), "what can be applied is")
	g.Expect(stalledTenant.Status.Inventory).To(ContainElement(saasv1alpha1.InventoryEntry{Group: "batch", Kind: "CronJob", Name: id + "-report"}),
		"nothing is pruned while an object is refused")
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ObjectInvalidReason)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Plans[1].Values = jsonValues(`{"web":{"replicas":3},"report":{"enabled":false},"files":{"enabled":false}}`)
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	recovered := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
	})
	g.Expect(recovered.Status.Inventory).NotTo(ContainElement(saasv1alpha1.InventoryEntry{Group: "batch", Kind: "CronJob", Name: id + "-report"}))
}
