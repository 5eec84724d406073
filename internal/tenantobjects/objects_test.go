package tenantobjects

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files in testdata/ from the current rendering")

// goldenProduct is a product that uses every workload field that existed
// before probes and configuration files, as the API server defaults it.
func goldenProduct() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", KeysSecretName: "crm-keys", NamespacePrefix: "tenant",
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.crm.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/crm:1.0", ImagePullPolicy: corev1.PullIfNotPresent, ImagePullSecretName: "pull",
				Args:  []string{"--serve"},
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []saasv1alpha1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
				Resources: &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				Storage:   &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"},
				Ingress:   &saasv1alpha1.IngressTemplate{ClassName: "nginx", TLSSecretName: "tls", Path: "/"},
				Directory: &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"},
			},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 2}},
		},
	}
}

func goldenTenant(product *saasv1alpha1.SaaSProduct) *Desired {
	id := "i-0123456789abcdef0123"
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name}}
	namespace := NamespaceName(product, id)
	urls, err := RenderURLs(product, id, namespace)
	if err != nil {
		panic(err)
	}
	d := &Desired{Tenant: tenant, Product: product, Plan: &product.Spec.Plans[0], Namespace: namespace,
		URLs: urls, IngressNamespace: "ingress-nginx"}
	if w := product.Spec.Workload; w.Ingress != nil && w.Ingress.TLSSecretName != "" && w.ImagePullSecretName != "" {
		// As the controller reads them for the golden product.
		d.CopiedSecrets = map[string]*corev1.Secret{TLSSecretName: {Type: corev1.SecretTypeTLS}, ImagePullSecretName: {Type: corev1.SecretTypeDockerConfigJson}}
	}
	return d
}

// TestRenderingWithoutProbesOrConfigIsUnchanged pins the objects rendered
// for a product that uses neither probes nor configuration files to what
// kooper rendered before those fields existed (testdata/, written by the
// code of that time): any difference in the Deployment's pod template would
// restart every running tenant of every such product on upgrade. Only the
// NetworkPolicy was rewritten since, when it gained egress rules (issue 19):
// a NetworkPolicy is no part of a pod template, so that restarts nothing.
// The copies of the product's TLS and image-pull Secrets joined it (their
// data is the controller's to read), nor are they.
// And the joint-operation directory volume projects Secrets where it
// projected ConfigMaps (issue 20: the users' personal data left the
// ConfigMaps): that rolls joint-operation tenants once, on purpose, as the
// upgrade note in docs/operations.md says.
// The LimitRange went to the objects removed (issue 26): every container of
// the golden pod sets the resources it gave, so it changed no pod.
//
// The golden tenant is one of that time, whose pods run as the
// ServiceAccount app (Desired.LegacyServiceAccount); a new tenant's differ
// only by that (TestANewTenantHasNoServiceAccountOfItsOwn).
func TestRenderingWithoutProbesOrConfigIsUnchanged(t *testing.T) {
	g := NewWithT(t)
	d := goldenTenant(goldenProduct())
	d.LegacyServiceAccount = true
	present, absent := d.Objects()
	rendered := map[string][]client.Object{"present": present, "absent": absent}
	got, err := json.MarshalIndent(rendered, "", "  ")
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join("testdata", "tenant-objects-without-probes-or-config.golden.json")
	if *updateGolden {
		g.Expect(os.MkdirAll("testdata", 0o755)).To(Succeed())
		g.Expect(os.WriteFile(path, append(got, '\n'), 0o644)).To(Succeed())
	}
	want, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got) + "\n").To(Equal(string(want)))
}

// TestANewTenantHasNoServiceAccountOfItsOwn: a new tenant's pods run as
// the namespace's default ServiceAccount, with no token, and its objects
// are the golden tenant's without the ServiceAccount app, which goes to
// the objects removed.
func TestANewTenantHasNoServiceAccountOfItsOwn(t *testing.T) {
	g := NewWithT(t)
	legacy := goldenTenant(goldenProduct())
	legacy.LegacyServiceAccount = true
	oldPresent, oldAbsent := legacy.Objects()
	present, absent := goldenTenant(goldenProduct()).Objects()

	g.Expect(kinds(present)).To(Equal(slices.DeleteFunc(kinds(oldPresent), func(k string) bool { return k == "ServiceAccount/app" })))
	g.Expect(kinds(absent)).To(ConsistOf(append(kinds(oldAbsent), "ServiceAccount/app")))
	pod := find[*appsv1.Deployment](present).Spec.Template.Spec
	oldPod := find[*appsv1.Deployment](oldPresent).Spec.Template.Spec
	g.Expect(pod.ServiceAccountName).To(BeEmpty(), "the namespace's default ServiceAccount")
	g.Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()), "no token in the tenant's pods")
	g.Expect(oldPod.ServiceAccountName).To(Equal(AppName))
	oldPod.ServiceAccountName = ""
	g.Expect(pod).To(Equal(oldPod), "nothing else in the pod template differs")
}

// The rules of the exported builders, one table each; the whole rendering
// is pinned by TestRenderingWithoutProbesOrConfigIsUnchanged.

func TestNamespaceName(t *testing.T) {
	product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{NamespacePrefix: "crm"}}
	NewWithT(t).Expect(NamespaceName(product, "i-0123")).To(Equal("crm-i-0123"))
}

func TestRenderURLs(t *testing.T) {
	cases := []struct {
		name            string
		frontEnd, admin string
		noTemplates     bool
		want            URLs
		wantErr         string
	}{
		{name: "no URL templates: no URLs", noTemplates: true},
		{name: "every value", frontEnd: "https://{{.InstanceID}}.{{.Product}}.example.com/{{.Namespace}}", admin: "https://admin.example.com/{{.InstanceID}}",
			want: URLs{FrontEnd: "https://i-1.crm.example.com/crm-i-1", Admin: "https://admin.example.com/i-1", Host: "i-1.crm.example.com"}},
		{name: "no adminUrl", frontEnd: "https://{{.InstanceID}}.example.com:8443/app",
			want: URLs{FrontEnd: "https://i-1.example.com:8443/app", Host: "i-1.example.com"}},
		{name: "a frontEndUrl that does not parse", frontEnd: "https://{{.InstanceID", wantErr: "frontEndUrl template: template: frontEndUrl:1: unclosed action"},
		{name: "an adminUrl that does not parse", frontEnd: "https://a.example.com", admin: "{{end}}", wantErr: "adminUrl template: template: adminUrl:1: unexpected {{end}}"},
		{name: "the plan's skuCode is no URL value", frontEnd: "https://{{.SKUCode}}.example.com", wantErr: "frontEndUrl template: template: frontEndUrl:1:10: executing \"frontEndUrl\" at <.SKUCode>: can't evaluate field SKUCode"},
		{name: "a frontEndUrl without a host", frontEnd: "/{{.InstanceID}}", wantErr: `frontEndUrl "/i-1" has no host`},
		{name: "no frontEndUrl", admin: "https://admin.example.com", wantErr: `frontEndUrl "" has no host`},
		{name: "a frontEndUrl that is no URL", frontEnd: "https://[{{.InstanceID}}", wantErr: `frontEndUrl "https://[i-1" has no host`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "crm"}}
			if !tc.noTemplates {
				product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: tc.frontEnd, AdminURL: tc.admin}
			}
			got, err := RenderURLs(product, "i-1", "crm-i-1")
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(got).To(BeZero())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestLabelsAndNamespaceObject(t *testing.T) {
	g := NewWithT(t)
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-1", ProductName: "crm"}}
	want := map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: "i-1", saasv1alpha1.ProductLabel: "crm"}
	labels := Labels(tenant)
	g.Expect(labels).To(Equal(want))
	labels["extra"] = "x"
	g.Expect(Labels(tenant)).To(Equal(want), "each call returns a new map")

	ns := NamespaceObject(tenant, "crm-i-1")
	g.Expect(ns.TypeMeta).To(Equal(metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}))
	g.Expect(ns.Name).To(Equal("crm-i-1"))
	g.Expect(ns.Labels).To(Equal(map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: "i-1", saasv1alpha1.ProductLabel: "crm",
		"pod-security.kubernetes.io/enforce": "restricted",
	}), "no enforce-version: a cluster may pin it")

	d := &Desired{Tenant: tenant, Namespace: "crm-i-1"}
	g.Expect(d.Meta("app")).To(Equal(metav1.ObjectMeta{Name: "app", Namespace: "crm-i-1", Labels: want}))
}

func TestDeploymentStrategy(t *testing.T) {
	cases := []struct {
		name     string
		workload saasv1alpha1.WorkloadTemplate
		want     appsv1.DeploymentStrategy
	}{
		{"no storage: a rolling update with the API server's defaults", saasv1alpha1.WorkloadTemplate{},
			appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}},
		{"storage: ReadWriteOnce cannot be mounted twice, so Recreate",
			saasv1alpha1.WorkloadTemplate{Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi")}},
			appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(DeploymentStrategy(&tc.workload)).To(Equal(tc.want))
		})
	}
}

func TestRolloutSurge(t *testing.T) {
	rolling := func(maxSurge *intstr.IntOrString) appsv1.DeploymentStrategy {
		s := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
		if maxSurge != nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: maxSurge}
		}
		return s
	}
	cases := []struct {
		name     string
		strategy appsv1.DeploymentStrategy
		replicas int32
		want     int32
	}{
		{"Recreate stops the old pods first", appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, 4, 0},
		{"the default 25% of no replicas", rolling(nil), 0, 0},
		{"the default 25% of 1, rounded up", rolling(nil), 1, 1},
		{"the default 25% of 4", rolling(nil), 4, 1},
		{"the default 25% of 5, rounded up", rolling(nil), 5, 2},
		{"an unset maxSurge is the default", rolling(nil), 8, 2},
		{"a maxSurge count", rolling(ptr.To(intstr.FromInt32(3))), 2, 3},
		{"a maxSurge percentage, rounded up", rolling(ptr.To(intstr.FromString("50%"))), 3, 2},
		{"a maxSurge that does not parse", rolling(ptr.To(intstr.FromString("half"))), 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(RolloutSurge(tc.strategy, tc.replicas)).To(Equal(tc.want))
		})
	}
}

func TestContainerResources(t *testing.T) {
	planned := &saasv1alpha1.ContainerResources{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	templated := &saasv1alpha1.ContainerResources{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	cases := []struct {
		name           string
		plan, workload *saasv1alpha1.ContainerResources
		want           *saasv1alpha1.ContainerResources
	}{
		{"the plan's", planned, templated, planned},
		{"else the workload's", nil, templated, templated},
		{"else none", nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Desired{Plan: &saasv1alpha1.Plan{Resources: tc.plan},
				Product: &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Workload: &saasv1alpha1.WorkloadTemplate{Resources: tc.workload}}}}
			NewWithT(t).Expect(d.ContainerResources()).To(Equal(tc.want))
		})
	}
}

// kinds names objects as Kind/name, in order.
func kinds(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	return out
}

func find[T client.Object](objs []client.Object) T {
	for _, o := range objs {
		if t, ok := o.(T); ok {
			return t
		}
	}
	var zero T
	return zero
}

// TestObjects checks what a tenant's namespace must and must not hold, by
// what the product, the plan and the tenant's state say (docs/lifecycle.md:
// a freeze scales to zero or drops the Ingress; a simulated debug tenant
// runs no workload; storage is never removed).
func TestObjects(t *testing.T) {
	quota := corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}
	cases := []struct {
		name         string
		change       func(d *Desired)
		wantPresent  []string
		wantAbsent   []string
		wantReplicas int32
	}{
		{name: "a plain product", wantReplicas: 2,
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "a quota, resources, storage, an Ingress and copied Secrets", wantReplicas: 2,
			change: func(d *Desired) {
				d.Plan.Quota = quota
				w := d.Product.Spec.Workload
				w.Resources = &saasv1alpha1.ContainerResources{Limits: quota}
				w.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"}
				w.Ingress = &saasv1alpha1.IngressTemplate{}
				d.CopiedSecrets = map[string]*corev1.Secret{TLSSecretName: {Type: corev1.SecretTypeTLS}}
			},
			// The app sets the resources itself: a LimitRange would change no pod.
			wantPresent: []string{"ResourceQuota/kooper-quota", "NetworkPolicy/kooper-isolation",
				"PersistentVolumeClaim/data", "Secret/kooper-tls", "Deployment/app", "Service/app", "Ingress/app"},
			wantAbsent: []string{"LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull"}},
		{name: "an SSO gateway that sets every resource the app does: no LimitRange", wantReplicas: 2,
			change: func(d *Desired) {
				w := d.Product.Spec.Workload
				w.Resources = &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}
				w.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
				w.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "an SSO gateway that sets fewer resources than the app: the LimitRange gives it the rest", wantReplicas: 2,
			change: func(d *Desired) {
				w := d.Product.Spec.Workload
				w.Resources = &saasv1alpha1.ContainerResources{
					Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}
				w.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
				w.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
			},
			wantPresent: []string{"LimitRange/kooper-limits", "NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "the ingress controller's certificate: nothing copied, a copy made before goes", wantReplicas: 2,
			change: func(d *Desired) {
				d.Product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSCertificate: saasv1alpha1.TLSCertificateIngressController}
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app", "Ingress/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls"}},
		{name: "a tenant whose pods run as the ServiceAccount earlier builds made: it stays", wantReplicas: 2,
			change:      func(d *Desired) { d.LegacyServiceAccount = true },
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "ServiceAccount/app", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "frozen, ScaleToZero: no replicas, the Ingress stays", wantReplicas: 0,
			change: func(d *Desired) {
				d.Frozen = true
				d.Product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{}
				d.Product.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeScaleToZero
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app", "Ingress/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls"}},
		{name: "frozen, DisableIngress: the replicas stay, the Ingress goes", wantReplicas: 2,
			change: func(d *Desired) {
				d.Frozen = true
				d.Product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{}
				d.Product.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeDisableIngress
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "simulated: no workload, storage kept, no LimitRange for pods it does not run", wantReplicas: 2,
			change: func(d *Desired) {
				d.Simulated = true
				d.Product.Spec.Workload.Resources = &saasv1alpha1.ContainerResources{}
				d.Product.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
				d.Product.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
				d.Product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{}
				d.Product.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi")}
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "PersistentVolumeClaim/data"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Deployment/app", "Service/app", "Ingress/app"}},
		{name: "simulated with copies to make: none made", wantReplicas: 2,
			change: func(d *Desired) {
				d.Simulated = true
				d.Product.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard"}
				d.CopiedSecrets = map[string]*corev1.Secret{TLSSecretName: {Type: corev1.SecretTypeTLS}}
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation"},
			wantAbsent: []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls",
				"Deployment/app", "Service/app", "Ingress/app"}},
		{name: "configuration files: their ConfigMap before the Deployment", wantReplicas: 2,
			change: func(d *Desired) {
				d.Product.Spec.Workload.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm"}
				d.Config, _ = RenderConfig(ConfigSource{Templates: map[string]string{"a": "{{.SKUCode}}"}}, ConfigData{SKUCode: "basic"})
			},
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "ConfigMap/kooper-config", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "Ingress/app"}},
		{name: "configuration files the product no longer has: their ConfigMap goes", wantReplicas: 2,
			change:      func(d *Desired) { d.StaleConfig = true },
			wantPresent: []string{"NetworkPolicy/kooper-isolation", "Deployment/app", "Service/app"},
			wantAbsent:  []string{"ResourceQuota/kooper-quota", "LimitRange/kooper-limits", "ServiceAccount/app", "Secret/kooper-image-pull", "Secret/kooper-tls", "ConfigMap/kooper-config", "Ingress/app"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "crm"}, Spec: saasv1alpha1.SaaSProductSpec{
				NamespacePrefix: "tenant",
				Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:1.0",
					Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
				Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 2}},
			}}
			d := goldenTenant(product)
			if tc.change != nil {
				tc.change(d)
			}
			present, absent := d.Objects()
			g.Expect(kinds(present)).To(Equal(tc.wantPresent))
			g.Expect(kinds(absent)).To(Equal(tc.wantAbsent))
			for _, o := range append(present, absent...) {
				g.Expect(o.GetNamespace()).To(Equal(d.Namespace))
				g.Expect(o.GetLabels()).To(Equal(Labels(d.Tenant)))
			}
			deployment := find[*appsv1.Deployment](append(present, absent...))
			g.Expect(*deployment.Spec.Replicas).To(Equal(tc.wantReplicas))
			if d.Config != nil {
				g.Expect(deployment.Spec.Template.Annotations).To(Equal(map[string]string{saasv1alpha1.ConfigChecksumAnnotation: d.Config.checksum}))
				cm := find[*corev1.ConfigMap](present)
				g.Expect(cm.Data).To(Equal(map[string]string{"a": "basic"}))
				g.Expect(cm.Annotations).To(Equal(deployment.Spec.Template.Annotations))
			} else {
				g.Expect(deployment.Spec.Template.Annotations).To(BeNil(), "no configuration files, no annotation: nothing rolls")
			}
		})
	}
}

// TestNetworkPolicyIngress: the tenant's pods take connections from their
// own namespace, the ingress controller's and the monitoring's, each named
// once.
func TestNetworkPolicyIngress(t *testing.T) {
	peer := namespacePeer
	cases := []struct {
		name, monitoring string
		want             []networkingv1.NetworkPolicyPeer
	}{
		{"no monitoring", "", []networkingv1.NetworkPolicyPeer{peer("tenant-i-0123456789abcdef0123"), peer("ingress-nginx")}},
		{"monitoring", "monitoring", []networkingv1.NetworkPolicyPeer{peer("tenant-i-0123456789abcdef0123"), peer("ingress-nginx"), peer("monitoring")}},
		{"monitoring in the ingress controller's namespace", "ingress-nginx",
			[]networkingv1.NetworkPolicyPeer{peer("tenant-i-0123456789abcdef0123"), peer("ingress-nginx")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := goldenTenant(goldenProduct())
			d.MonitoringNamespace = tc.monitoring
			NewWithT(t).Expect(d.networkPolicy().Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{{From: tc.want}}))
		})
	}
}

// TestIngressTLS: where a tenant Ingress's certificate comes from
// (spec.workload.ingress.tlsCertificate).
func TestIngressTLS(t *testing.T) {
	cases := []struct {
		name     string
		template saasv1alpha1.IngressTemplate
		want     []networkingv1.IngressTLS
	}{
		{name: "no certificate: plain HTTP"},
		{name: "tlsSecretName alone: its copy", template: saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard"},
			want: []networkingv1.IngressTLS{{Hosts: []string{"i-0123456789abcdef0123.crm.example.com"}, SecretName: TLSSecretName}}},
		{name: "Copied: its copy", template: saasv1alpha1.IngressTemplate{TLSSecretName: "wildcard", TLSCertificate: saasv1alpha1.TLSCertificateCopied},
			want: []networkingv1.IngressTLS{{Hosts: []string{"i-0123456789abcdef0123.crm.example.com"}, SecretName: TLSSecretName}}},
		{name: "IngressController: the host, no Secret", template: saasv1alpha1.IngressTemplate{TLSCertificate: saasv1alpha1.TLSCertificateIngressController},
			want: []networkingv1.IngressTLS{{Hosts: []string{"i-0123456789abcdef0123.crm.example.com"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			product := goldenProduct()
			product.Spec.Workload.Ingress = &tc.template
			present, _ := goldenTenant(product).Objects()
			NewWithT(t).Expect(find[*networkingv1.Ingress](present).Spec.TLS).To(Equal(tc.want))
		})
	}
}

// TestReplacedByChart: a tenant whose product switched from spec.workload
// to spec.chart is rid of every object of the single app, the Ingress
// (which claims the tenant's host) first and the Deployment last, but not
// of its data claim, nor of kooper's own objects; a workload product
// replaces nothing.
func TestReplacedByChart(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	d := goldenTenant(product)
	g.Expect(d.ReplacedByChart()).To(BeNil(), "a workload product keeps its app")

	product.Spec.Workload = nil
	product.Spec.Chart = &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "crm-chart"}}
	replaced := d.ReplacedByChart()
	g.Expect(kinds(replaced)).To(Equal([]string{"Ingress/app", "Service/app", "Secret/kooper-tls", "Secret/kooper-image-pull",
		"ConfigMap/kooper-config", "ServiceAccount/app", "Deployment/app"}))
	for _, o := range replaced {
		g.Expect(o.GetNamespace()).To(Equal(d.Namespace))
		g.Expect(o.GetObjectKind().GroupVersionKind().Version).NotTo(BeEmpty(), "%s: the applier finds it by its kind", o.GetName())
	}
	present, absent := d.Objects()
	for _, o := range append(present, absent...) {
		g.Expect(kinds(replaced)).NotTo(ContainElement(o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()),
			"kooper's isolation objects stay")
	}
}
