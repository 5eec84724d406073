package controllers

import (
	"bytes"
	"fmt"
	"net/netip"
	"net/url"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Names of the objects in a tenant namespace.
const (
	appName                = "app"
	credentialsSecretName  = "kooper-credentials"
	networkPolicyName      = "kooper-isolation"
	resourceQuotaName      = "kooper-quota"
	limitRangeName         = "kooper-limits"
	dataVolumeName         = "data"
	tlsSecretName          = "kooper-tls"
	imagePullSecretName    = "kooper-image-pull"
	instanceIDEnv          = "KOOPER_INSTANCE_ID"
	skuCodeEnv             = "KOOPER_SKU_CODE"
	adminUsernameEnv       = "KOOPER_ADMIN_USERNAME"
	adminPasswordEnv       = "KOOPER_ADMIN_PASSWORD"
	podSecurityEnforce     = "pod-security.kubernetes.io/enforce"
	podSecurityEnforceVers = "pod-security.kubernetes.io/enforce-version"
)

// desiredTenant is everything a tenant's objects are built from. Building
// is pure: the same inputs always give the same objects.
type desiredTenant struct {
	tenant    *saasv1alpha1.SaaSTenant
	product   *saasv1alpha1.SaaSProduct
	plan      *saasv1alpha1.Plan
	namespace string
	urls      tenantURLs
	// frozen stops service: ScaleToZero scales to zero, DisableIngress drops the Ingress.
	frozen bool
	// simulated runs no workload: a debug tenant under the Simulate policy.
	simulated bool
	// ingressNamespace is where the ingress controller runs, and
	// monitoringNamespace where the monitoring runs (empty: none); the
	// NetworkPolicy lets them in.
	ingressNamespace, monitoringNamespace string
	// clusterCIDRs are the cluster's pod and service ranges: the
	// NetworkPolicy of a joint-operation tenant allows HTTPS to every
	// address but these (see tenant_network.go).
	clusterCIDRs []netip.Prefix
	// copiedSecrets are the TLS and image-pull Secrets from kooper's
	// namespace, keyed by their name in the tenant namespace.
	copiedSecrets map[string]*corev1.Secret
	// config is the tenant's rendered configuration files; nil when the
	// product has none (or the tenant runs no workload).
	config *renderedConfig
	// staleConfig says the Deployment still mounts configuration files the
	// product no longer has: their ConfigMap goes.
	staleConfig bool
}

// tenantURLs are the rendered URL templates.
type tenantURLs struct {
	frontEnd, admin, host string
}

// urlData is what URL templates may use.
type urlData struct {
	InstanceID, Namespace, Product string
}

// tenantNamespace names a tenant's namespace.
func tenantNamespace(product *saasv1alpha1.SaaSProduct, instanceID string) string {
	return product.Spec.NamespacePrefix + "-" + instanceID
}

// renderURLs renders the product's URL templates for one tenant.
func renderURLs(product *saasv1alpha1.SaaSProduct, instanceID, namespace string) (tenantURLs, error) {
	if product.Spec.URLs == nil {
		return tenantURLs{}, nil
	}
	data := urlData{InstanceID: instanceID, Namespace: namespace, Product: product.Name}
	frontEnd, err := renderURL("frontEndUrl", product.Spec.URLs.FrontEndURL, data)
	if err != nil {
		return tenantURLs{}, err
	}
	admin, err := renderURL("adminUrl", product.Spec.URLs.AdminURL, data)
	if err != nil {
		return tenantURLs{}, err
	}
	parsed, err := url.Parse(frontEnd)
	if err != nil || parsed.Hostname() == "" {
		return tenantURLs{}, fmt.Errorf("frontEndUrl %q has no host", frontEnd)
	}
	return tenantURLs{frontEnd: frontEnd, admin: admin, host: parsed.Hostname()}, nil
}

func renderURL(name, text string, data urlData) (string, error) {
	if text == "" {
		return "", nil
	}
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	return out.String(), nil
}

// tenantLabels mark an object as kooper's and as this tenant's; the cache
// and the watches select on them.
func tenantLabels(t *saasv1alpha1.SaaSTenant) map[string]string {
	return map[string]string{
		saasv1alpha1.ManagedByLabel:  saasv1alpha1.ManagedByValue,
		saasv1alpha1.InstanceIDLabel: t.Spec.InstanceID,
		saasv1alpha1.ProductLabel:    t.Spec.ProductName,
	}
}

func (d *desiredTenant) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: d.namespace, Labels: tenantLabels(d.tenant)}
}

// objects returns what must exist in the tenant namespace and what must
// not (removed on freeze, or no longer configured; release removes the
// workload from what the tenant recorded).
func (d *desiredTenant) objects() (present, absent []client.Object) {
	add := func(keep bool, obj client.Object) {
		if keep {
			present = append(present, obj)
		} else {
			absent = append(absent, obj)
		}
	}
	workload := d.product.Spec.Workload
	serving := !d.simulated
	add(len(d.plan.Quota) > 0, d.resourceQuota())
	add(d.containerResources() != nil, d.limitRange())
	add(true, d.networkPolicy())
	add(true, d.serviceAccount())
	if workload.Storage != nil {
		// Never in absent: removing storage from the template must not
		// delete a buyer's data.
		present = append(present, d.persistentVolumeClaim())
	}
	for _, s := range d.secretCopies() {
		add(true, s)
	}
	if d.config != nil || d.staleConfig {
		// Before the Deployment, whose pods need it.
		add(serving && d.config != nil, d.configMap())
	}
	add(serving, d.deployment())
	add(serving, d.service())
	disableIngress := d.frozen && d.product.Spec.Lifecycle.Freeze.Behavior == saasv1alpha1.FreezeDisableIngress
	add(serving && workload.Ingress != nil && !disableIngress, d.ingress())
	return present, absent
}

// namespaceObject is the tenant namespace, restricted by Pod Security.
func (d *desiredTenant) namespaceObject() *corev1.Namespace {
	return tenantNamespaceObject(d.tenant, d.namespace)
}

// tenantNamespaceObject is tenant t's namespace called name, as kooper
// applies it. Every apply of it, the release's included, carries all these
// fields: a field left out of an apply is removed.
func tenantNamespaceObject(t *saasv1alpha1.SaaSTenant, name string) *corev1.Namespace {
	labels := tenantLabels(t)
	labels[podSecurityEnforce] = "restricted"
	labels[podSecurityEnforceVers] = "latest"
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
}

func (d *desiredTenant) resourceQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: d.meta(resourceQuotaName),
		Spec:       corev1.ResourceQuotaSpec{Hard: d.plan.Quota},
	}
}

// containerResources are the plan's resources, or else the workload's.
func (d *desiredTenant) containerResources() *saasv1alpha1.ContainerResources {
	if d.plan.Resources != nil {
		return d.plan.Resources
	}
	return d.product.Spec.Workload.Resources
}

// limitRange gives any container in the namespace the plan's resources by
// default, so pods the app starts itself fit the quota too.
func (d *desiredTenant) limitRange() *corev1.LimitRange {
	item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer}
	if r := d.containerResources(); r != nil {
		item.DefaultRequest, item.Default = r.Requests, r.Limits
	}
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: d.meta(limitRangeName),
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

func (d *desiredTenant) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   d.meta(appName),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func (d *desiredTenant) persistentVolumeClaim() *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: d.meta(dataVolumeName),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		},
	}
	if storage := d.product.Spec.Workload.Storage; storage != nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: storage.Size}
		if storage.StorageClassName != "" {
			pvc.Spec.StorageClassName = ptr.To(storage.StorageClassName)
		}
	}
	return pvc
}

// secretCopies are the product's TLS and image-pull Secrets, copied from
// kooper's namespace (Secrets cannot be referenced across namespaces).
func (d *desiredTenant) secretCopies() []client.Object {
	var copies []client.Object
	for name, source := range d.copiedSecrets {
		copies = append(copies, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: d.meta(name),
			Type:       source.Type,
			Data:       source.Data,
		})
	}
	return copies
}

func (d *desiredTenant) replicas() int32 {
	if d.frozen && d.product.Spec.Lifecycle.Freeze.Behavior != saasv1alpha1.FreezeDisableIngress {
		return 0
	}
	return d.plan.Replicas
}

func (d *desiredTenant) deployment() *appsv1.Deployment {
	selector := map[string]string{saasv1alpha1.InstanceIDLabel: d.tenant.Spec.InstanceID, "app.kubernetes.io/name": appName}
	podLabels := tenantLabels(d.tenant)
	podLabels["app.kubernetes.io/name"] = appName
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: d.meta(appName),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(d.replicas()),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: deploymentStrategy(d.product.Spec.Workload),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: d.podAnnotations()},
				Spec:       d.podSpec(),
			},
		},
	}
}

// podAnnotations make a change of the configuration files' content a
// change of the pod template, which rolls the pods: the kubelet updates
// mounted files in place, but an app reads its configuration once, at
// start. None without configuration files, so adding the field rolls no
// tenant of a product that does not use it.
func (d *desiredTenant) podAnnotations() map[string]string {
	if d.config == nil {
		return nil
	}
	return map[string]string{saasv1alpha1.ConfigChecksumAnnotation: d.config.checksum}
}

// deploymentStrategy is a rolling update, with the API server's default
// surge and unavailability (25% each), unless the workload has storage.
func deploymentStrategy(w *saasv1alpha1.WorkloadTemplate) appsv1.DeploymentStrategy {
	if w.Storage != nil {
		// A ReadWriteOnce volume cannot be mounted by the old and the new pod at once.
		return appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
}

// rolloutSurge is how many pods a rollout of strategy runs beyond replicas:
// maxSurge, the API server's 25% (rounded up) when unset; none for Recreate,
// which stops the old pods first.
func rolloutSurge(strategy appsv1.DeploymentStrategy, replicas int32) int32 {
	if strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	surge := intstr.FromString("25%")
	if strategy.RollingUpdate != nil && strategy.RollingUpdate.MaxSurge != nil {
		surge = *strategy.RollingUpdate.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&surge, int(replicas), true)
	if err != nil {
		return 0
	}
	return int32(n)
}

// podSpec runs the workload under the restricted Pod Security profile.
func (d *desiredTenant) podSpec() corev1.PodSpec {
	w := d.product.Spec.Workload
	spec := corev1.PodSpec{
		ServiceAccountName:           appName,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{d.container()},
	}
	if w.ImagePullSecretName != "" {
		spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: imagePullSecretName}}
	}
	if w.Storage != nil {
		spec.Volumes = []corev1.Volume{{Name: dataVolumeName, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dataVolumeName}}}}
	}
	if w.Directory != nil {
		spec.Volumes = append(spec.Volumes, directoryVolumes()...)
	}
	if d.config != nil {
		spec.Volumes = append(spec.Volumes, configVolume())
	}
	return spec
}

func (d *desiredTenant) container() corev1.Container {
	w := d.product.Spec.Workload
	c := corev1.Container{
		Name:            appName,
		Image:           w.Image,
		ImagePullPolicy: w.ImagePullPolicy,
		Args:            w.Args,
		Env:             d.env(),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	for _, p := range w.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	if r := d.containerResources(); r != nil {
		c.Resources = corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits}
	}
	if w.Storage != nil {
		c.VolumeMounts = []corev1.VolumeMount{{Name: dataVolumeName, MountPath: w.Storage.MountPath}}
	}
	if w.Directory != nil {
		c.VolumeMounts = append(c.VolumeMounts, directoryMounts(w.Directory.MountPath)...)
	}
	if d.config != nil {
		c.VolumeMounts = append(c.VolumeMounts, configMount(w.Config.MountPath))
	}
	c.ReadinessProbe, c.LivenessProbe, c.StartupProbe = probe(w.ReadinessProbe), probe(w.LivenessProbe), probe(w.StartupProbe)
	return c
}

// probe is the container probe of p, nil without one. The port goes by
// name, so the kubelet resolves it to the container port.
func probe(p *saasv1alpha1.WorkloadProbe) *corev1.Probe {
	if p == nil {
		return nil
	}
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.Path, Port: intstr.FromString(p.Port)}},
		InitialDelaySeconds: p.InitialDelaySeconds,
		TimeoutSeconds:      p.TimeoutSeconds,
		PeriodSeconds:       p.PeriodSeconds,
		SuccessThreshold:    p.SuccessThreshold,
		FailureThreshold:    p.FailureThreshold,
	}
}

// env is the product's variables plus the ones kooper sets.
func (d *desiredTenant) env() []corev1.EnvVar {
	fromCredentials := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: credentialsSecretName}, Key: key}}}
	}
	env := []corev1.EnvVar{
		{Name: instanceIDEnv, Value: d.tenant.Spec.InstanceID},
		{Name: skuCodeEnv, Value: d.plan.SKUCode},
		fromCredentials(adminUsernameEnv, saasv1alpha1.CredentialsUsernameKey),
		fromCredentials(adminPasswordEnv, saasv1alpha1.CredentialsPasswordKey),
	}
	for _, e := range d.product.Spec.Workload.Env {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	return env
}

func (d *desiredTenant) service() *corev1.Service {
	var ports []corev1.ServicePort
	for _, p := range d.product.Spec.Workload.Ports {
		ports = append(ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, Protocol: p.Protocol,
			TargetPort: intstr.FromString(p.Name)})
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: d.meta(appName),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{saasv1alpha1.InstanceIDLabel: d.tenant.Spec.InstanceID, "app.kubernetes.io/name": appName},
			Ports:    ports,
		},
	}
}

// ingress routes the frontEndUrl's host to the Service's first port.
func (d *desiredTenant) ingress() *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: d.meta(appName),
	}
	template := d.product.Spec.Workload.Ingress
	if template == nil {
		return ing
	}
	if template.ClassName != "" {
		ing.Spec.IngressClassName = ptr.To(template.ClassName)
	}
	path := template.Path
	if path == "" {
		path = "/"
	}
	port := d.product.Spec.Workload.Ports[0].Name
	ing.Spec.Rules = []networkingv1.IngressRule{{
		Host: d.urls.host,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{
				Path: path, PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: appName, Port: networkingv1.ServiceBackendPort{Name: port}}},
			}},
		}},
	}}
	if template.TLSSecretName != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{d.urls.host}, SecretName: tlsSecretName}}
	}
	return ing
}
