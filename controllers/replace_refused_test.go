package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Tests of the changes the API server refuses in place (an immutable
// field, or a combination it forbids) that kooper makes by replacing the
// object: without it, each stalled the tenant with ObjectInvalid for good.

// settled checks that the tenant's last pass applied everything: its
// Provisioned condition (whose message, on failure, is the API server's
// refusal) and no Stalled condition.
func settled(g Gomega, tn *saasv1alpha1.SaaSTenant) {
	provisioned(g, tn)
	g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
}

// A tenant's Deployment, applied at least once since it was created, gets
// storage: the strategy turns Recreate, and the rollingUpdate the API
// server filled in at creation (owned by no one since that apply) stays
// unless removed, which the API server refuses with Recreate.
func TestADeploymentTurnedRecreateLosesTheRollingUpdateTheAPIServerFilledIn(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Storage = nil
	})
	tenant := newTenant(t, product, "basic", nil)
	ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	image := func() string {
		return getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName).Spec.Template.Spec.Containers[0].Image
	}
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.0" })
	g.Eventually(image).Should(Equal("registry.example.com/crm:2.0"))
	g.Expect(getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName).Spec.Strategy.RollingUpdate).NotTo(BeNil(),
		"the API server's default, which nobody owns now")
	markAvailable(t, ns)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data", AccessMode: corev1.ReadWriteMany}
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		d := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
		g.Expect(d.Spec.Strategy).To(Equal(appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}))
		g.Expect(d.Spec.Template.Spec.Volumes).NotTo(BeEmpty(), "the storage is mounted")
	})
	markAvailable(t, ns)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	expectEventSaying(t, tenant.Name, objectReplacedReason, "Deployment app")
}

// A merchant who recreates the image-pull Secret with the other type
// kooper accepts (kubernetes.io/dockercfg for kubernetes.io/dockerconfigjson):
// a Secret's type never changes, so each tenant's copy is created anew.
func TestAPullSecretOfAnotherTypeReplacesTheTenantsCopies(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	pull := switchPullSecret()
	g.Expect(k8sClient.Create(ctx, pull)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.ImagePullSecretName = pull.Name
	})
	tenants := []*saasv1alpha1.SaaSTenant{newTenant(t, product, "basic", nil), newTenant(t, product, "basic", nil)}
	for _, tn := range tenants {
		eventuallyTenant(t, tn.Name, provisioned)
		g.Expect(getObject(t, &corev1.Secret{}, "tenant-"+tn.Name, tenantobjects.ImagePullSecretName).Type).To(Equal(corev1.SecretTypeDockerConfigJson))
	}

	g.Expect(k8sClient.Delete(ctx, pull)).To(Succeed())
	legacy := switchPullSecret()
	legacy.Name, legacy.Type = pull.Name, corev1.SecretTypeDockercfg
	legacy.StringData = map[string]string{corev1.DockerConfigKey: `{"swr.example.com":{"auth":"dTpw"}}`}
	g.Eventually(func() error { return k8sClient.Create(ctx, legacy) }).Should(Succeed())

	for _, tn := range tenants {
		ns := "tenant-" + tn.Name
		eventuallyTenant(t, tn.Name, func(g Gomega, got *saasv1alpha1.SaaSTenant) {
			settled(g, got)
			copied := getObject(t, &corev1.Secret{}, ns, tenantobjects.ImagePullSecretName)
			g.Expect(copied.Type).To(Equal(corev1.SecretTypeDockercfg))
			g.Expect(copied.Data).To(HaveKey(corev1.DockerConfigKey))
		})
		expectEventSaying(t, tn.Name, objectReplacedReason, "Secret "+tenantobjects.ImagePullSecretName)
	}
}

// A chart whose new values change a Job's template (the test chart's
// migration Job runs .Values.image): a Job is one run, and a new template
// a new run, so the Job is deleted and created anew.
func TestAChartJobWhoseTemplateChangesIsRunAnew(t *testing.T) {
	product, tenant := newChartTenant(t, "basic", allAtOnce)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	migrate := getObject(t, &batchv1.Job{}, ns, id+"-migrate")

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"image":"registry.example.com/crm:1.3.0","report":{"enabled":true},"files":{"enabled":true}}`)
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		job := getObject(t, &batchv1.Job{}, ns, id+"-migrate")
		g.Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/crm:1.3.0"))
		g.Expect(job.UID).NotTo(Equal(migrate.UID), "a new Job")
	})
	expectEventSaying(t, tenant.Name, objectReplacedReason, "Job "+id+"-migrate")
}

// appOfTheChart renders, beside the test chart, a Deployment named as the
// single app's (app) whose selector is the chart's own.
func appOfTheChart(p *saasv1alpha1.SaaSProduct) {
	p.Spec.Chart.Values = jsonValues(`{"report":{"enabled":false},"files":{"enabled":false},"extraObjects":[{"apiVersion":"apps/v1","kind":"Deployment",` +
		`"metadata":{"name":"app"},"spec":{"replicas":1,"selector":{"matchLabels":{"app.kubernetes.io/component":"app"}},` +
		`"template":{"metadata":{"labels":{"app.kubernetes.io/component":"app"}},"spec":{"containers":[{"name":"app","image":"registry.example.com/crm:1.2.0"}]}}}}]}`)
}

// A product switched between spec.workload and spec.chart whose chart has
// a Deployment app, as the single app's, with another selector: the
// switch keeps an object of the same kind and name, but a selector never
// changes, so the Deployment is created anew, both ways.
func TestASwitchBetweenWorkloadAndChartReplacesADeploymentOfAnotherSelector(t *testing.T) {
	g := NewWithT(t)
	pull := switchPullSecret()
	g.Expect(k8sClient.Create(testContext(t), pull)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Storage = nil
	})
	tenant := newTenant(t, product, "basic", nil)
	ns := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	selector := func() map[string]string {
		return getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName).Spec.Selector.MatchLabels
	}
	g.Expect(selector()).To(HaveKey(saasv1alpha1.InstanceIDLabel))

	chartSecret := product.Name + "-chart"
	createChartSecret(t, chartSecret)
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		toChart(chartSecret)(p)
		appOfTheChart(p)
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		g.Expect(tn.Status.Inventory).To(ContainElement(saasv1alpha1.InventoryEntry{Group: "apps", Kind: "Deployment", Name: tenantobjects.AppName}))
		g.Expect(selector()).To(Equal(map[string]string{"app.kubernetes.io/component": "app"}))
	})
	expectEventSaying(t, tenant.Name, objectReplacedReason, "Deployment app")

	changeProduct(t, product.Name, toWorkload(pull.Name))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		settled(g, tn)
		g.Expect(tn.Status.Inventory).To(BeEmpty())
		g.Expect(selector()).To(HaveKey(saasv1alpha1.InstanceIDLabel))
	})
}

// Which refusals are replaced, by what, and which stand.
func TestReplacementOfARefusal(t *testing.T) {
	deployment := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	immutable := func(path ...string) *field.Error {
		return field.Invalid(field.NewPath(path[0], path[1:]...), "x", "field is immutable")
	}
	recreate := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	rolling := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}}}
	forbiddenRollingUpdate := field.Forbidden(field.NewPath("spec", "strategy", "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
	for _, tc := range []struct {
		name    string
		gk      schema.GroupKind
		desired client.Object
		errs    field.ErrorList
		want    replacement
	}{
		{"a Deployment's selector", deployment, rolling, field.ErrorList{immutable("spec", "selector")}, replaceByRecreating},
		{"a Deployment's selector and leftover rollingUpdate", deployment, recreate,
			field.ErrorList{immutable("spec", "selector"), forbiddenRollingUpdate}, replaceByRecreating},
		{"a Recreate Deployment's leftover rollingUpdate", deployment, recreate, field.ErrorList{forbiddenRollingUpdate}, replaceStrategy},
		{"a Deployment's rollingUpdate the desired one sets", deployment, rolling, field.ErrorList{forbiddenRollingUpdate}, noReplacement},
		{"a Deployment's selector and an invalid image", deployment, rolling,
			field.ErrorList{immutable("spec", "selector"), field.Required(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("image"), "")}, noReplacement},
		{"a Secret's type", secretKind, nil, field.ErrorList{immutable("type")}, replaceByRecreating},
		{"an immutable Secret's data", secretKind, nil,
			field.ErrorList{field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set")}, replaceByRecreating},
		{"an immutable ConfigMap's data", configMapKind, nil,
			field.ErrorList{field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set")}, replaceByRecreating},
		{"a Job's template", schema.GroupKind{Group: "batch", Kind: "Job"}, nil, field.ErrorList{immutable("spec", "template")}, replaceByRecreating},
		{"a StatefulSet's claim templates (data)", statefulSetKind, nil, field.ErrorList{immutable("spec", "volumeClaimTemplates")}, noReplacement},
		{"a Service's type", schema.GroupKind{Kind: "Service"}, nil, field.ErrorList{immutable("spec", "clusterIPs")}, noReplacement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := apierrors.NewInvalid(tc.gk, "x", tc.errs)
			got, why := replacementFor(tc.gk, tc.desired, err)
			NewWithT(t).Expect(got).To(Equal(tc.want), why)
			// What to do is said where kooper replaces nothing and someone can act.
			advice := refusalAdvice(tc.gk, "tenant-i-1", "x", err)
			NewWithT(t).Expect(advice != "").To(Equal(tc.gk == statefulSetKind))
			if advice != "" {
				NewWithT(t).Expect(advice).To(ContainSubstring("kubectl -n tenant-i-1 delete statefulset x --cascade=orphan"), "a command that runs as given")
			}
		})
	}
}
