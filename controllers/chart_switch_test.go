package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Tests of a product switched between spec.workload and spec.chart (the
// schema asks for exactly one, not for the same one for ever): whatever
// the product ran before must not keep serving, frozen or not.

// switchPullSecret is an image-pull Secret in kooper's namespace that the
// merchant lets kooper copy into tenant namespaces.
func switchPullSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("switch-pull-%d", tenantSeq.Add(1)),
			Labels: map[string]string{saasv1alpha1.CopyToTenantsLabel: "true"}},
		Type:       corev1.SecretTypeDockerConfigJson,
		StringData: map[string]string{corev1.DockerConfigJsonKey: `{"auths":{"swr.example.com":{"auth":"dTpw"}}}`},
	}
}

// classicProduct is a workload product whose tenants reach every object a
// workload tenant may have: Deployment, Service and Ingress app, the
// image-pull copy, the configuration ConfigMap and the data claim.
func classicProduct(t *testing.T, pull string) *saasv1alpha1.SaaSProduct {
	t.Helper()
	return newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.ImagePullSecretName = pull
		p.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm",
			Files: []saasv1alpha1.ConfigFile{{Name: "app.yaml", Content: "tenant: {{.InstanceID}}\n"}}}
	})
}

// classicObjects are the workload's objects a chart product's tenant must
// not keep (the data claim stays: it holds the buyer's data).
func classicObjects() []client.Object {
	return []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}}
}

// toChart switches a product to the test chart, stored in Secret secret of
// kooper's namespace.
func toChart(secret string) func(*saasv1alpha1.SaaSProduct) {
	return func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{
			SecretRef: &saasv1alpha1.ChartSecretRef{Name: secret},
			Values:    jsonValues(`{"report":{"enabled":true},"files":{"enabled":true}}`),
		}
	}
}

// toWorkload switches a product to a single container, pulled with the
// copy of Secret pull of kooper's namespace.
func toWorkload(pull string) func(*saasv1alpha1.SaaSProduct) {
	return func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart = nil
		p.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Image:               "registry.example.com/crm:2.0",
			Ports:               []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
			Ingress:             &saasv1alpha1.IngressTemplate{ClassName: "nginx"},
			ImagePullSecretName: pull,
		}
	}
}

// createChartSecret stores the test chart, with chartExtras and a
// template that fails the render when .Values.broken is set, in Secret
// name of kooper's namespace.
func createChartSecret(t *testing.T, name string) {
	t.Helper()
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		withTemplates(chartExtras)(c)
		withTemplates(map[string]string{"templates/broken.yaml": brokenTemplate})(c)
	})
	NewWithT(t).Expect(k8sClient.Create(testContext(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
		Data:       map[string][]byte{"chart.tgz": tgz},
	})).To(Succeed())
}

// runningWorkloads names every Deployment and StatefulSet of namespace ns
// that asks for a pod, as the API server holds them.
func runningWorkloads(t *testing.T, ns string) func() ([]string, error) {
	return func() ([]string, error) {
		var running []string
		deployments := &appsv1.DeploymentList{}
		if err := k8sClient.List(testContext(t), deployments, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, d := range deployments.Items {
			if ptr.Deref(d.Spec.Replicas, 1) > 0 {
				running = append(running, "Deployment/"+d.Name)
			}
		}
		sets := &appsv1.StatefulSetList{}
		if err := k8sClient.List(testContext(t), sets, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, s := range sets.Items {
			if ptr.Deref(s.Spec.Replicas, 1) > 0 {
				running = append(running, "StatefulSet/"+s.Name)
			}
		}
		return running, nil
	}
}

// chartLeftovers are the chart objects of tenant id that a switch to a
// workload prunes: every one but the claim, which holds data.
func chartLeftovers(id string) []saasv1alpha1.InventoryEntry {
	var out []saasv1alpha1.InventoryEntry
	for _, e := range chartInventory(id) {
		if e.Kind != "PersistentVolumeClaim" {
			out = append(out, e)
		}
	}
	return out
}

// A workload product turned into a chart: the chart's objects come, and
// the single app's Deployment, Service, Ingress, image-pull copy and
// ConfigMap go (two Ingresses must not claim the tenant's host, nor the
// old app serve a buyer the freeze stops); its data claim stays. Frozen
// afterwards, nothing of the tenant's runs.
func TestAProductSwitchedFromWorkloadToChartRemovesTheSingleAppsObjects(t *testing.T) {
	g := NewWithT(t)
	pull := switchPullSecret()
	g.Expect(k8sClient.Create(testContext(t), pull)).To(Succeed())
	product := classicProduct(t, pull.Name)
	tenant := newTenant(t, product, "basic", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	eventuallyTenant(t, tenant.Name, provisioned)
	getObject(t, &corev1.Secret{}, ns, tenantobjects.ImagePullSecretName)
	getObject(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)

	chartSecret := product.Name + "-chart"
	createChartSecret(t, chartSecret)
	changeProduct(t, product.Name, toChart(chartSecret))

	getObject(t, &appsv1.Deployment{}, ns, id+"-web")
	for _, obj := range classicObjects() {
		g.Eventually(absent(t, obj, ns, tenantobjects.AppName)).Should(BeTrue(), "%T app must go", obj)
	}
	g.Eventually(absent(t, &corev1.Secret{}, ns, tenantobjects.ImagePullSecretName)).Should(BeTrue())
	g.Eventually(absent(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)).Should(BeTrue())
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.Inventory).To(ConsistOf(chartInventory(id)))
	})

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	g.Eventually(runningWorkloads(t, ns)).Should(BeEmpty())
}

// A tenant frozen while its product's new chart cannot be applied (here
// its plan's render fails; the other plan's renders, so the chart is
// resolved and rolled out) is frozen from its record: that stopped only what
// a chart inventory named, which is nothing yet, and the single app went
// on serving the frozen buyer. Once the chart is put right, it is applied
// frozen and the single app goes; the unfreeze runs the chart.
func TestATenantFrozenWhileItsProductSwitchesToAChartStopsTheSingleApp(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, allAtOnce)
	tenant := newTenant(t, product, "basic", nil)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(deploymentReplicas(t, ns)()).To(Equal(int32(1)))

	chartSecret := product.Name + "-chart"
	createChartSecret(t, chartSecret)
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		toChart(chartSecret)(p)
		p.Spec.Plans[0].Values = jsonValues(`{"broken":true}`)
	})
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ChartRenderFailedReason))

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)), "the single app serves no frozen buyer")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Values = nil })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(0)), "the chart is applied frozen")
	for _, obj := range classicObjects() {
		g.Eventually(absent(t, obj, ns, tenantobjects.AppName)).Should(BeTrue(), "%T app must go", obj)
	}
	g.Expect(runningWorkloads(t, ns)()).To(BeEmpty())

	setState(t, tenant.Name, saasv1alpha1.StateActive)
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))
}

// A chart product turned into a single container: the app comes, and
// every object the chart inventory names goes, but the chart's claim
// (data); the inventory is then empty. Before, no pass pruned a workload
// product's inventory: the chart's Deployments and its Ingress went on
// serving beside the app, and a freeze stopped only the app.
func TestAProductSwitchedFromChartToWorkloadPrunesTheChartsObjects(t *testing.T) {
	g := NewWithT(t)
	pull := switchPullSecret()
	g.Expect(k8sClient.Create(testContext(t), pull)).To(Succeed())
	product, tenant := newChartTenant(t, "basic", allAtOnce)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name

	changeProduct(t, product.Name, toWorkload(pull.Name))
	getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	for _, e := range chartLeftovers(id) {
		g.Eventually(absent(t, chartObject(e), ns, e.Name)).Should(BeTrue(), "%s %s must go", e.Kind, e.Name)
	}
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files")
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.Inventory).To(BeEmpty())
	})

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	g.Eventually(runningWorkloads(t, ns)).Should(BeEmpty())
}

// A tenant frozen while its product's new single container cannot be
// applied yet (its image-pull Secret is missing) is frozen from its
// record: that scaled only the app, which does not exist yet, and the
// chart's Deployments and StatefulSet went on serving the frozen buyer.
// Once the Secret comes, the app is applied frozen and the chart pruned.
func TestATenantFrozenWhileItsProductSwitchesToAWorkloadStopsTheCharts(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", allAtOnce)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	g.Expect(runningWorkloads(t, ns)()).To(ConsistOf("Deployment/"+id+"-web", "Deployment/"+id+"-worker", "StatefulSet/"+id+"-redis"))

	pull := switchPullSecret()
	changeProduct(t, product.Name, toWorkload(pull.Name))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Message).To(ContainSubstring(pull.Name), "the pass fails on the missing Secret")
	})

	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(runningWorkloads(t, ns)).Should(BeEmpty(), "nothing of the chart serves a frozen buyer")

	g.Expect(k8sClient.Create(testContext(t), pull)).To(Succeed())
	getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	for _, e := range chartLeftovers(id) {
		g.Eventually(absent(t, chartObject(e), ns, e.Name)).Should(BeTrue(), "%s %s must go", e.Kind, e.Name)
	}
	g.Expect(runningWorkloads(t, ns)()).To(BeEmpty())

	setState(t, tenant.Name, saasv1alpha1.StateActive)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))
}
