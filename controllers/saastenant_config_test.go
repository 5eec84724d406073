package controllers

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// configProduct is the test product with probes and the given
// configuration files, mounted at /etc/crm.
func configProduct(t *testing.T, config *saasv1alpha1.WorkloadConfig) *saasv1alpha1.SaaSProduct {
	t.Helper()
	return newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		w := p.Spec.Workload
		w.ReadinessProbe = &saasv1alpha1.WorkloadProbe{Path: "/ready", Port: "http", PeriodSeconds: 5, TimeoutSeconds: 2, SuccessThreshold: 2, FailureThreshold: 4}
		w.LivenessProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", InitialDelaySeconds: 15}
		w.StartupProbe = &saasv1alpha1.WorkloadProbe{Path: "/healthz", Port: "http", PeriodSeconds: 10, FailureThreshold: 30}
		w.Config = config
	})
}

func inlineConfig(files ...saasv1alpha1.ConfigFile) *saasv1alpha1.WorkloadConfig {
	return &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", Files: files}
}

// sourceConfigMap creates a ConfigMap in kooper's namespace that a
// product's configuration files come from.
func sourceConfigMap(t *testing.T, data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("crm-config-%d", tenantSeq.Add(1))},
		Data: data, BinaryData: binary}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), cm)).To(Succeed())
	return cm
}

func tenantConfigMap(t *testing.T, ns string) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		cm := &corev1.ConfigMap{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.ConfigMapName}, cm)
		return cm.Data, err
	}
}

func podTemplate(t *testing.T, ns string) func() (corev1.PodTemplateSpec, error) {
	return func() (corev1.PodTemplateSpec, error) {
		d := &appsv1.Deployment{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, d)
		return d.Spec.Template, err
	}
}

func checksumOf(data map[string]string) string {
	return tenantobjects.ConfigChecksum(data, nil)
}

func TestProbesAndConfigurationFilesAreRenderedIntoTheTenant(t *testing.T) {
	g := NewWithT(t)
	product := configProduct(t, inlineConfig(saasv1alpha1.ConfigFile{Name: "app.yaml",
		Content: "tenant: {{.InstanceID}}\nnamespace: {{.Namespace}}\nproduct: {{.Product}}\nplan: {{.SKUCode}}\n"}))
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	want := map[string]string{"app.yaml": fmt.Sprintf("tenant: %s\nnamespace: %s\nproduct: %s\nplan: basic\n", tenant.Name, ns, product.Name)}
	g.Eventually(tenantConfigMap(t, ns)).Should(Equal(want))
	cm := getObject(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)
	g.Expect(cm.Labels).To(HaveKeyWithValue(saasv1alpha1.InstanceIDLabel, tenant.Name))

	template, err := podTemplate(t, ns)()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(template.Annotations).To(Equal(map[string]string{saasv1alpha1.ConfigChecksumAnnotation: checksumOf(want)}))
	g.Expect(template.Spec.Volumes).To(ContainElement(corev1.Volume{Name: tenantobjects.ConfigVolumeName, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: tenantobjects.ConfigMapName}, DefaultMode: ptr.To[int32](0o644)}}}))
	c := template.Spec.Containers[0]
	g.Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: tenantobjects.ConfigVolumeName, MountPath: "/etc/crm", ReadOnly: true}))
	httpGet := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}}
	}
	g.Expect(c.ReadinessProbe).To(Equal(&corev1.Probe{ProbeHandler: httpGet("/ready"),
		PeriodSeconds: 5, TimeoutSeconds: 2, SuccessThreshold: 2, FailureThreshold: 4}))
	g.Expect(c.LivenessProbe).To(Equal(&corev1.Probe{ProbeHandler: httpGet("/healthz"),
		InitialDelaySeconds: 15, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}))
	g.Expect(c.StartupProbe).To(Equal(&corev1.Probe{ProbeHandler: httpGet("/healthz"),
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30}))

	// An upgrade changes {{.SKUCode}}, so the files, so the pods roll.
	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", "20991231235959")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	want["app.yaml"] = strings.Replace(want["app.yaml"], "plan: basic", "plan: pro", 1)
	g.Eventually(tenantConfigMap(t, ns)).Should(Equal(want))
	g.Eventually(func() (map[string]string, error) {
		template, err := podTemplate(t, ns)()
		return template.Annotations, err
	}).Should(HaveKeyWithValue(saasv1alpha1.ConfigChecksumAnnotation, checksumOf(want)))
}

// A product's files that come from a ConfigMap follow it: a missing one
// stalls the tenant until it is created, a change of its content rolls the
// pods, and a change of anything else rolls nothing.
func TestConfigurationFilesFollowTheirConfigMap(t *testing.T) {
	g := NewWithT(t)
	name := fmt.Sprintf("crm-config-%d", tenantSeq.Add(1))
	product := configProduct(t, &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: name})
	tenant := newTenant(t, product, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ConfigMapNotFoundReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring(
		fmt.Sprintf("ConfigMap %s/%s, named by spec.workload.config.configMapName, does not exist", operatorNamespace, name)))
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ConfigMapNotFoundReason)

	source := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name},
		Data: map[string]string{"app.conf": "id={{.InstanceID}}"}, BinaryData: map[string][]byte{"logo.bin": {0, 1, 2}}}
	g.Expect(k8sClient.Create(testContext(t), source)).To(Succeed())
	recovered := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(apimeta.FindStatusCondition(recovered.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
	// The Event names what was resolved, not always the product and plan.
	expectEventSaying(t, tenant.Name, "Recovered", saasv1alpha1.ConfigMapNotFoundReason)
	ns := "tenant-" + tenant.Name
	cm := getObject(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)
	g.Expect(cm.Data).To(Equal(map[string]string{"app.conf": "id=" + tenant.Name}))
	g.Expect(cm.BinaryData).To(Equal(source.BinaryData))
	before := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)

	// Not the content: nothing rolls.
	patch := client.MergeFrom(source.DeepCopy())
	source.Labels = map[string]string{"team": "crm"}
	g.Expect(k8sClient.Patch(testContext(t), source, patch)).To(Succeed())
	g.Consistently(func() (int64, error) {
		d := &appsv1.Deployment{}
		err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(before), d)
		return d.Generation, err
	}).Should(Equal(before.Generation))

	// The content: the files change and the pods roll.
	patch = client.MergeFrom(source.DeepCopy())
	source.Data["app.conf"] = "id={{.InstanceID}} plan={{.SKUCode}}"
	g.Expect(k8sClient.Patch(testContext(t), source, patch)).To(Succeed())
	want := map[string]string{"app.conf": "id=" + tenant.Name + " plan=basic"}
	g.Eventually(tenantConfigMap(t, ns)).Should(Equal(want))
	g.Eventually(func() (string, error) {
		template, err := podTemplate(t, ns)()
		return template.Annotations[saasv1alpha1.ConfigChecksumAnnotation], err
	}).Should(Equal(tenantobjects.ConfigChecksum(want, source.BinaryData)))

	// A file dropped from the ConfigMap goes from the tenant's too.
	patch = client.MergeFrom(source.DeepCopy())
	source.BinaryData = nil
	g.Expect(k8sClient.Patch(testContext(t), source, patch)).To(Succeed())
	g.Eventually(func() (*corev1.ConfigMap, error) {
		cm := &corev1.ConfigMap{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.ConfigMapName}, cm)
		return cm, err
	}).Should(And(HaveField("BinaryData", BeEmpty()), HaveField("Data", Equal(want)),
		HaveField("ObjectMeta.Annotations", HaveKeyWithValue(saasv1alpha1.ConfigChecksumAnnotation, checksumOf(want)))))
	g.Eventually(func() (string, error) {
		template, err := podTemplate(t, ns)()
		return template.Annotations[saasv1alpha1.ConfigChecksumAnnotation], err
	}).Should(Equal(checksumOf(want)))
}

func TestConfigurationFilesThatCannotBeRenderedStallTheTenant(t *testing.T) {
	cases := []struct {
		name      string
		config    func(t *testing.T) *saasv1alpha1.WorkloadConfig
		reason    string
		wantInMsg string
	}{
		{
			name: "a field templates do not have",
			config: func(*testing.T) *saasv1alpha1.WorkloadConfig {
				return inlineConfig(saasv1alpha1.ConfigFile{Name: "app.conf", Content: "{{.Customer}}"})
			},
			reason:    saasv1alpha1.ConfigTemplateInvalidReason,
			wantInMsg: `configuration file "app.conf" of spec.workload.config.files does not render`,
		},
		{
			name: "a ConfigMap under 1 MiB that renders past it",
			config: func(t *testing.T) *saasv1alpha1.WorkloadConfig {
				cm := sourceConfigMap(t, map[string]string{"big.conf": `{{define "x"}}` + strings.Repeat("x", 600<<10) + `{{end}}{{template "x"}}{{template "x"}}`}, nil)
				return &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: cm.Name}
			},
			reason:    saasv1alpha1.ConfigTooLargeReason,
			wantInMsg: `pass 1 MiB (names included) at file "big.conf"; a ConfigMap holds at most 1 MiB`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := configProduct(t, tc.config(t))
			tenant := newTenant(t, product, "basic", nil)
			stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, tc.reason))
			g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(
				And(ContainSubstring(product.Name), ContainSubstring(tc.wantInMsg)))
			hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason)(g, stalled)
			g.Expect(stalled.Status.Namespace).To(BeEmpty(), "nothing is created for a tenant whose files cannot be rendered")
		})
	}
}

// docs/lifecycle.md rule S: a tenant whose files can no longer be rendered
// is still frozen and released from what it recorded.
func TestFreezeAndReleaseWorkWhenTheConfigMapIsGone(t *testing.T) {
	g := NewWithT(t)
	source := sourceConfigMap(t, map[string]string{"app.conf": "id={{.InstanceID}}"}, nil)
	product := configProduct(t, &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: source.Name})
	tenant := readyTenant(t, product, "pro")
	ns := "tenant-" + tenant.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(3)))

	g.Expect(k8sClient.Delete(testContext(t), source)).To(Succeed())
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ConfigMapNotFoundReason))
	setState(t, tenant.Name, saasv1alpha1.StateFrozen)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	workloadRemoved(t, ns)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
}

func TestRemovingConfigurationFilesUnmountsAndDeletesThem(t *testing.T) {
	g := NewWithT(t)
	product := configProduct(t, inlineConfig(saasv1alpha1.ConfigFile{Name: "app.conf", Content: "id={{.InstanceID}}"}))
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	getObject(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Config = nil })
	g.Eventually(func() (corev1.PodTemplateSpec, error) { return podTemplate(t, ns)() }).Should(And(
		HaveField("Annotations", BeEmpty()),
		HaveField("Spec.Volumes", Not(ContainElement(HaveField("Name", tenantobjects.ConfigVolumeName)))),
		HaveField("Spec.Containers", ContainElement(HaveField("VolumeMounts", Not(ContainElement(HaveField("Name", tenantobjects.ConfigVolumeName)))))),
	))
	g.Eventually(func() bool {
		_, err := tenantConfigMap(t, ns)()
		return apierrors.IsNotFound(err)
	}).Should(BeTrue())
}

// A tenant of a product that uses neither probes nor configuration files,
// as the API server stores its Deployment: no annotation on the pod
// template, no configuration volume, no probe, no ConfigMap (the rendering
// itself is pinned by TestRenderingWithoutProbesOrConfigIsUnchanged).
func TestAProductWithoutProbesOrConfigGetsNoneOfThem(t *testing.T) {
	g := NewWithT(t)
	tenant := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	template, err := podTemplate(t, ns)()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(template.Annotations).To(BeEmpty())
	g.Expect(template.Spec.Volumes).To(ConsistOf(HaveField("Name", tenantobjects.DataVolumeName)))
	c := template.Spec.Containers[0]
	g.Expect([]*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe}).To(HaveEach(BeNil()))
	_, err = tenantConfigMap(t, ns)()
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "want no %s, got %v", tenantobjects.ConfigMapName, err)
}

// TestATenantConfigMapDeletedByHandIsMadeAgain: kooper-config deleted by
// hand stayed gone (a pod that restarted could not mount it) until another
// of the tenant's objects changed, or the informers' resync hours later:
// tenant ConfigMaps are not in the manager's cache, so nothing watched
// them, and the apply memo vouched for the one kooper had just written.
func TestATenantConfigMapDeletedByHandIsMadeAgain(t *testing.T) {
	g := NewWithT(t)
	product := configProduct(t, inlineConfig(saasv1alpha1.ConfigFile{Name: "app.yaml", Content: "tenant: {{.InstanceID}}\n"}))
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	g.Eventually(tenantConfigMap(t, ns)).ShouldNot(BeEmpty())
	before := getObject(t, &corev1.ConfigMap{}, ns, tenantobjects.ConfigMapName)

	g.Expect(k8sClient.Delete(testContext(t), before)).To(Succeed())
	g.Eventually(func() (types.UID, error) {
		now := &corev1.ConfigMap{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.ConfigMapName}, now)
		return now.UID, client.IgnoreNotFound(err)
	}).ShouldNot(Or(BeEmpty(), Equal(before.UID)), "kooper-config is made again")
	g.Expect(tenantConfigMap(t, ns)()).To(Equal(before.Data))
}
