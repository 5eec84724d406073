package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A chart's StatefulSet keeps its claims whatever its
// persistentVolumeClaimRetentionPolicy says: with whenScaled: Delete, the
// StatefulSet controller deleted the buyer's claims as a ScaleToZero
// freeze scaled it to zero; with whenDeleted: Delete, the garbage
// collector deleted them as release or pruning deleted the StatefulSet,
// at once rather than at the end of the retention. A freeze keeps the
// data, and claims go only with the namespace (docs/chart-tenants.md).

// retainBoth is the retention policy kooper applies to every StatefulSet
// of a chart.
var retainBoth = map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"}

// chartStatefulSet is a StatefulSet as a chart renders it, with the
// retention policy policy (none when nil).
func chartStatefulSet(policy map[string]any) *unstructured.Unstructured {
	sts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "db", "namespace": "tenant-t1"},
		"spec":     map[string]any{"replicas": int64(2), "serviceName": "db"},
	}}
	if policy != nil {
		_ = unstructured.SetNestedField(sts.Object, policy, "spec", "persistentVolumeClaimRetentionPolicy")
	}
	return sts
}

func TestShapeChartKeepsAStatefulSetsClaims(t *testing.T) {
	deleteBoth := map[string]any{"whenDeleted": "Delete", "whenScaled": "Delete"}
	tests := []struct {
		name   string
		frozen bool
		policy map[string]any
	}{
		{name: "Delete on both, frozen to zero", frozen: true, policy: deleteBoth},
		{name: "Delete on both, serving", policy: deleteBoth},
		{name: "Delete when scaled only", frozen: true, policy: map[string]any{"whenScaled": "Delete"}},
		{name: "Delete when deleted only", policy: map[string]any{"whenDeleted": "Delete"}},
		{name: "no policy", policy: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := &tenantState{
				tenant:    &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "t1", ProductName: "crm"}},
				lifecycle: &saasv1alpha1.LifecyclePolicy{Freeze: saasv1alpha1.FreezePolicy{Behavior: saasv1alpha1.FreezeScaleToZero}},
				frozen:    tt.frozen,
			}
			shaped, _ := shapeChart(s, []*unstructured.Unstructured{chartStatefulSet(tt.policy)})
			g.Expect(shaped).To(HaveLen(1))
			policy, _, err := unstructured.NestedMap(shaped[0].Object, "spec", "persistentVolumeClaimRetentionPolicy")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(policy).To(Equal(retainBoth))
		})
	}
}

// Only a StatefulSet gets the policy: a Deployment's schema has no such
// field, and server-side apply refuses a field its schema lacks.
func TestShapeChartLeavesADeploymentWithoutARetentionPolicy(t *testing.T) {
	g := NewWithT(t)
	s := &tenantState{
		tenant:    &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "t1", ProductName: "crm"}},
		lifecycle: &saasv1alpha1.LifecyclePolicy{Freeze: saasv1alpha1.FreezePolicy{Behavior: saasv1alpha1.FreezeScaleToZero}},
	}
	deployment := chartStatefulSet(nil)
	deployment.SetKind("Deployment")
	shaped, _ := shapeChart(s, []*unstructured.Unstructured{deployment})
	_, found, _ := unstructured.NestedFieldNoCopy(shaped[0].Object, "spec", "persistentVolumeClaimRetentionPolicy")
	g.Expect(found).To(BeFalse())
}

// retainedStatefulSetValues are the test chart's values with one more
// StatefulSet, db, that asks for its claims to be deleted when it is
// scaled down or deleted.
const retainedStatefulSetValues = `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
	{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"serviceName":"db","replicas":1,
	 "persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete","whenScaled":"Delete"},
	 "selector":{"matchLabels":{"app.kubernetes.io/component":"db"}},
	 "template":{"metadata":{"labels":{"app.kubernetes.io/component":"db"}},
	  "spec":{"containers":[{"name":"db","image":"registry.example.com/db:16"}]}},
	 "volumeClaimTemplates":[{"metadata":{"name":"data"},
	  "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}]}`

// The StatefulSet controller, which envtest lacks, acts on the stored
// policy: the stored StatefulSet says Retain on both counts, before and
// after a ScaleToZero freeze.
func TestAChartStatefulSetIsStoredKeepingItsClaims(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(retainedStatefulSetValues)
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	retained := func(name string, replicas int32) func(g Gomega) {
		return func(g Gomega) {
			sts := &appsv1.StatefulSet{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, sts)).To(Succeed())
			g.Expect(sts.Spec.PersistentVolumeClaimRetentionPolicy).To(Equal(&appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			}))
			g.Expect(sts.Spec.Replicas).To(HaveValue(Equal(replicas)))
		}
	}
	g.Eventually(retained("db", 1)).Should(Succeed())
	g.Eventually(retained(id+"-redis", 1)).Should(Succeed())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Eventually(retained("db", 0)).Should(Succeed())
}

// A chart that renders kooper's credentials Secret under its own name
// (the value kooper.credentialsSecretName) is refused: applied, it
// replaced the buyer's derived password, which appInfo keeps giving, and
// locked the buyer out. The tenant stalls naming it, and the Secret keeps
// kooper's data.
func TestAChartSecretNamedAsKoopersCredentialsIsRefused(t *testing.T) {
	g := NewWithT(t)
	product, tenant := newChartTenant(t, "basic", nil)
	ns := "tenant-" + tenant.Name
	key := client.ObjectKey{Namespace: ns, Name: tenantobjects.CredentialsSecretName}
	credentials := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), key, credentials)).To(Succeed())
	kooperData := credentials.Data
	g.Expect(kooperData).To(HaveKey(saasv1alpha1.CredentialsPasswordKey))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
			{"apiVersion":"v1","kind":"Secret","metadata":{"name":"` + tenantobjects.CredentialsSecretName + `"},
			 "stringData":{"username":"admin","password":"chosen-by-the-chart"}}]}`)
	})
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), key, credentials)).To(Succeed())
		g.Expect(credentials.Data).To(Equal(kooperData), "the credentials Secret keeps kooper's data")
		stored := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant.Name}, stored)).To(Succeed())
		stalled := apimeta.FindStatusCondition(stored.Status.Conditions, saasv1alpha1.StalledCondition)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(saasv1alpha1.ChartObjectRefusedReason))
		g.Expect(stalled.Message).To(ContainSubstring("core/Secret " + tenantobjects.CredentialsSecretName + ": name reserved"))
	}).Should(Succeed())
	g.Consistently(func() (map[string][]byte, error) {
		err := k8sClient.Get(testContext(t), key, credentials)
		return credentials.Data, err
	}).Should(Equal(kooperData))
}

// A freeze of a chart tenant whose chart cannot render (stopChart) patches
// replicas without an apply: a StatefulSet applied before keepsClaims, still
// saying whenScaled: Delete, lost the buyer's claims at that freeze. The
// policy is set to Retain before the replicas.
func TestAFreezeWithoutARenderKeepsAStatefulSetsClaims(t *testing.T) {
	g := NewWithT(t)
	tenant := lostInventoryTenant(t, "i-claims")
	tenant.Status.Inventory = []saasv1alpha1.InventoryEntry{{Group: "apps", Kind: "StatefulSet", Name: "db"}}
	labels := map[string]string{"app.kubernetes.io/component": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Status.Namespace, Name: "db", Labels: tenantLabels(tenant.Spec.InstanceID)},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1), ServiceName: "db",
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			},
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.example.com/db:16"}}}},
		},
	}
	g.Expect(k8sClient.Create(testContext(t), sts)).To(Succeed())

	g.Expect(inventoryReconciler(k8sClient).stopChart(testContext(t), tenant, saasv1alpha1.FreezeScaleToZero)).To(Succeed())
	stored := &appsv1.StatefulSet{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(sts), stored)).To(Succeed())
	g.Expect(stored.Spec.PersistentVolumeClaimRetentionPolicy).To(Equal(&appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}))
	g.Expect(stored.Spec.Replicas).To(HaveValue(BeZero()))
}
