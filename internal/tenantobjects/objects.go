package tenantobjects

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/templatebound"
)

// Names of the objects in a tenant namespace, and of what the workload's
// pod template refers to. Each is at most 253 characters, as every object
// name (docs/naming.md).
const (
	// AppName names the workload's Deployment, Service, Ingress and
	// container, and the ServiceAccount of tenants that earlier builds of
	// kooper made (Desired.LegacyServiceAccount).
	AppName = "app"
	// CredentialsSecretName names the Secret of the tenant's admin
	// credentials (status.CredentialsSecretName, appInfo's spec §3.2).
	CredentialsSecretName = "kooper-credentials"
	// NetworkPolicyName names the tenant's isolating NetworkPolicy.
	NetworkPolicyName = "kooper-isolation"
	// ResourceQuotaName names the ResourceQuota of the plan's quota.
	ResourceQuotaName = "kooper-quota"
	// LimitRangeName names the LimitRange of the plan's resources.
	LimitRangeName = "kooper-limits"
	// DataVolumeName names the data PersistentVolumeClaim and its volume.
	DataVolumeName = "data"
	// TLSSecretName names the copy of the product's Ingress certificate.
	TLSSecretName = "kooper-tls"
	// ImagePullSecretName names the copy of the product's image-pull Secret.
	ImagePullSecretName = "kooper-image-pull"
	// InstanceIDEnv is the variable that holds the tenant's instanceId.
	InstanceIDEnv = "KOOPER_INSTANCE_ID"

	skuCodeEnv         = "KOOPER_SKU_CODE"
	adminUsernameEnv   = "KOOPER_ADMIN_USERNAME"
	adminPasswordEnv   = "KOOPER_ADMIN_PASSWORD"
	podSecurityEnforce = "pod-security.kubernetes.io/enforce"
)

// Desired is everything a tenant's objects are built from. Building is
// pure: the same Desired always gives the same objects. Tenant, Product
// (with a workload) and Plan are required; the rest may be zero.
type Desired struct {
	// Tenant is the SaaSTenant whose objects these are.
	Tenant *saasv1alpha1.SaaSTenant
	// Product is the tenant's SaaSProduct, with spec.workload or spec.chart.
	Product *saasv1alpha1.SaaSProduct
	// Plan is the product's plan the tenant is on.
	Plan *saasv1alpha1.Plan
	// Namespace is the tenant namespace (NamespaceName).
	Namespace string
	// URLs are the tenant's rendered URLs (RenderURLs); URLs.Host is the
	// Ingress host.
	URLs URLs
	// Frozen stops service: ScaleToZero scales to zero, DisableIngress drops
	// the Ingress and a Service reachable from outside (ReachableFromOutside).
	Frozen bool
	// Simulated runs no workload: a debug tenant under the Simulate policy.
	Simulated bool
	// IngressNamespace is where the ingress controller runs, and
	// MonitoringNamespace where the monitoring runs (empty: none); the
	// NetworkPolicy lets them in.
	IngressNamespace, MonitoringNamespace string
	// ClusterCIDRs are the cluster's pod and service ranges (ParseCIDRs):
	// the NetworkPolicy of a joint-operation tenant allows HTTPS to every
	// address but these (see network.go).
	ClusterCIDRs []netip.Prefix
	// CopiedSecrets are the TLS and image-pull Secrets from kooper's
	// namespace, keyed by their name in the tenant namespace (TLSSecretName,
	// ImagePullSecretName); only their type and data are copied.
	CopiedSecrets map[string]*corev1.Secret
	// Config is the tenant's rendered configuration files (RenderConfig);
	// nil when the product has none (or the tenant runs no workload).
	Config *Config
	// StaleConfig says the Deployment still mounts configuration files the
	// product no longer has: their ConfigMap goes.
	StaleConfig bool
	// GatewayImage is the SSO gateway's image when the product names none
	// (the controllers' --gateway-image); empty: DefaultGatewayImage.
	GatewayImage string
	// Volume is the tenant's data PersistentVolumeClaim as it exists, nil
	// before it is made: a claim's class and access modes cannot change,
	// nor its size shrink, so the claim applied keeps what it has.
	Volume *corev1.PersistentVolumeClaim
	// LegacyServiceAccount keeps the ServiceAccount app, which earlier
	// builds of kooper made for every workload tenant, while its Deployment
	// runs its pods as it: taking it out of the pod template would restart
	// every existing tenant's pods on an upgrade of kooper. Without it the
	// pods run as the namespace's default ServiceAccount, which has no
	// permissions either, with no token mounted (the pod says so): one
	// object fewer per tenant to create and cache (issue 26), and a
	// leftover app ServiceAccount is removed.
	LegacyServiceAccount bool
	// QuotaInForce is the tenant's ResourceQuota as the namespace holds
	// it, while pods admitted under it may still run beside those of what
	// is applied now: the workload is not yet Available on the plan, its
	// replicas and resources. The quota applied then holds each entry at
	// the larger of its value and the plan's (QuotaDuringChange), so that a
	// plan change that lowers it leaves room for the new pods beside the
	// old ones. Nil otherwise, and when the namespace holds none: the
	// plan's quota.
	QuotaInForce *corev1.ResourceQuota
}

// URLs are a tenant's rendered URL templates (spec.urls): appInfo's
// frontEndUrl and adminUrl (spec §3.2), and the host of frontEndUrl.
// Empty when the product has no URL templates.
type URLs struct {
	FrontEnd, Admin, Host string
}

// urlData is what URL templates may use.
type urlData struct {
	InstanceID, Namespace, Product string
}

// NamespaceName names a tenant's namespace: <spec.namespacePrefix>-<instanceID>,
// at most 63 characters by the schema's bounds on both (docs/naming.md).
func NamespaceName(product *saasv1alpha1.SaaSProduct, instanceID string) string {
	return product.Spec.NamespacePrefix + "-" + instanceID
}

// RenderURLs renders the product's URL templates (spec.urls) for one
// tenant, with {{.InstanceID}}, {{.Namespace}} (empty for a licence) and
// {{.Product}}; a missing key is an error. It fails when a template does
// not parse or execute, or when frontEndUrl renders to a URL without a
// host; the caller stalls the tenant with URLTemplateInvalid. No templates
// give empty URLs.
func RenderURLs(product *saasv1alpha1.SaaSProduct, instanceID, namespace string) (URLs, error) {
	if product.Spec.URLs == nil {
		return URLs{}, nil
	}
	frontEnd, err := RenderFrontEndURL(product, instanceID, namespace)
	if err != nil {
		return URLs{}, err
	}
	data := urlData{InstanceID: instanceID, Namespace: namespace, Product: product.Name}
	admin, err := renderURL("adminUrl", product.Spec.URLs.AdminURL, data)
	if err != nil {
		return URLs{}, err
	}
	parsed, err := url.Parse(frontEnd)
	if err != nil || parsed.Hostname() == "" {
		return URLs{}, fmt.Errorf("frontEndUrl %q has no host", frontEnd)
	}
	return URLs{FrontEnd: frontEnd, Admin: admin, Host: parsed.Hostname()}, nil
}

// RenderFrontEndURL renders product's frontEndUrl template alone for
// instanceID in namespace (empty for a licence, which has none), with the
// bounds of every URL template (templatebound): "" when the product names
// none. It fails as RenderURLs does on the template.
func RenderFrontEndURL(product *saasv1alpha1.SaaSProduct, instanceID, namespace string) (string, error) {
	if product.Spec.URLs == nil {
		return "", nil
	}
	return renderURL("frontEndUrl", product.Spec.URLs.FrontEndURL, urlData{InstanceID: instanceID, Namespace: namespace, Product: product.Name})
}

// maxRenderedURLBytes caps what a URL template may write: no URL kooper
// uses is longer than 512 characters (appInfo's bound), at most 4 bytes
// each, so a longer one is refused (under the cap, the product's check
// says how long it is) without holding whatever a template may write.
const maxRenderedURLBytes = 4096

func renderURL(name, text string, data urlData) (string, error) {
	if text == "" {
		return "", nil
	}
	// Parsed with its bounds (templatebound): no deadline reaches a
	// template's run, and the product's check and every reconcile of its
	// tenants run it.
	tmpl, err := templatebound.Parse(name, "a URL template", text)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	out, err := templatebound.Execute(tmpl, data, maxRenderedURLBytes)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", name, err)
	}
	return out, nil
}

// Labels mark an object as kooper's and as tenant t's: managed-by,
// instance-id and product (docs/naming.md). The cache and the watches
// select on them. Each call returns a new map, which the caller may extend.
func Labels(t *saasv1alpha1.SaaSTenant) map[string]string {
	return map[string]string{
		saasv1alpha1.ManagedByLabel:  saasv1alpha1.ManagedByValue,
		saasv1alpha1.InstanceIDLabel: t.Spec.InstanceID,
		saasv1alpha1.ProductLabel:    t.Spec.ProductName,
	}
}

// Meta is the metadata of the tenant's object called name: in the tenant
// namespace, with the tenant's Labels.
func (d *Desired) Meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: Labels(d.Tenant)}
}

// Objects returns what must exist in the tenant namespace, in the order to
// apply it, and what must not (removed on freeze, or no longer configured;
// release removes the workload from what the tenant recorded). For a
// product with a chart they are kooper's isolation objects only (quota,
// limits, NetworkPolicy): the chart's render is applied beside them, and
// what the tenant kept from the product's spec.workload is removed after
// it (ReplacedByChart). Every
// object has its TypeMeta set, for server-side apply. The Namespace itself
// (NamespaceObject) and the credentials Secret, which is created once and
// never applied, are in neither.
func (d *Desired) Objects() (present, absent []client.Object) {
	add := func(keep bool, obj client.Object) {
		if keep {
			present = append(present, obj)
		} else {
			absent = append(absent, obj)
		}
	}
	workload := d.Product.Spec.Workload
	serving := !d.Simulated
	var deployment *appsv1.Deployment
	if workload != nil {
		// Built before its turn: whether the LimitRange is needed is read
		// from its pods.
		deployment = d.deployment()
	}
	add(len(d.Plan.Quota) > 0, d.ResourceQuota())
	limits := d.limitRange()
	add(d.ContainerResources() != nil && d.limitRangeFillsAContainer(limits, deployment), limits)
	add(true, d.networkPolicy())
	if workload == nil {
		// A chart product: kooper's isolation objects only; the chart's
		// render brings the rest (docs/chart-tenants.md).
		return present, absent
	}
	add(d.LegacyServiceAccount, d.serviceAccount())
	if workload.Storage != nil {
		// Never in absent: removing storage from the template must not
		// delete a buyer's data.
		present = append(present, d.persistentVolumeClaim())
	}
	// A copy holds a private key (the TLS certificate's) or registry
	// credentials: only a tenant whose pods and Ingress run uses one, not a
	// simulated debug tenant, and none the product no longer asks for.
	for _, name := range []string{ImagePullSecretName, TLSSecretName} {
		source, wanted := d.CopiedSecrets[name]
		add(serving && wanted, d.secretCopy(name, source))
	}
	if d.Config != nil || d.StaleConfig {
		// Before the Deployment, whose pods need it.
		add(serving && d.Config != nil, d.configMap())
	}
	add(serving, deployment)
	disableIngress := d.Frozen && d.Product.Spec.Lifecycle.Freeze.Behavior == saasv1alpha1.FreezeDisableIngress
	service := d.service()
	// A NodePort Service (the Ingress's backend on CCE) is a way in from
	// outside the cluster as the Ingress is: DisableIngress withdraws both.
	withdrawn := disableIngress && ReachableFromOutside(service.Spec.Type)
	add(serving && !withdrawn, service)
	add(serving && workload.Ingress != nil && !disableIngress, d.ingress())
	return present, absent
}

// ReachableFromOutside reports whether a Service of type serviceType takes
// traffic from outside the cluster by itself: a LoadBalancer through its
// load balancer, a NodePort (and a LoadBalancer) on a port of every node.
// A DisableIngress freeze withdraws such a Service with the Ingresses, a
// chart's as the single app's: each is a way in for a buyer who stopped
// paying. A ClusterIP or ExternalName Service serves only the cluster, and
// stays.
func ReachableFromOutside(serviceType corev1.ServiceType) bool {
	return serviceType == corev1.ServiceTypeLoadBalancer || serviceType == corev1.ServiceTypeNodePort
}

// ReplacedByChart returns, for a product with a chart, the objects its
// tenant kept from when the product had spec.workload (a product may
// switch, docs/chart-tenants.md): the Ingress, Service and ServiceAccount
// app, the TLS and image-pull copies, the configuration ConfigMap and the
// Deployment app, each by name only (TypeMeta and ObjectMeta), in the
// order to remove them: the Ingress first, which claims the tenant's host,
// and the Deployment last, so that while it is there the rest may still
// be. The caller removes them once the chart's objects are applied, so
// the tenant is never left with nothing, and keeps any the chart renders
// itself (same kind and name). The data claim is not among them: removing
// a template must not delete a buyer's data. Nil for a product without a
// chart.
func (d *Desired) ReplacedByChart() []client.Object {
	if d.Product.Spec.Chart == nil {
		return nil
	}
	return []client.Object{
		&networkingv1.Ingress{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}, ObjectMeta: d.Meta(AppName)},
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: d.Meta(AppName)},
		d.secretCopy(TLSSecretName, nil),
		d.secretCopy(ImagePullSecretName, nil),
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: d.Meta(ConfigMapName)},
		d.serviceAccount(),
		&appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: d.Meta(AppName)},
	}
}

// NamespaceObject is tenant t's namespace called name, as kooper applies
// it: with the tenant's Labels, and restricted by Pod Security (enforce
// restricted). Every apply of it, the release's included, carries all
// these fields: a field left out of an apply is removed. No
// enforce-version: without one Pod Security enforces the latest, and a
// cluster that pins the version (a policy engine's mutation, as Kubernetes
// advises) would otherwise see kooper put latest back, or write the
// namespace again on every pass.
func NamespaceObject(t *saasv1alpha1.SaaSTenant, name string) *corev1.Namespace {
	labels := Labels(t)
	labels[podSecurityEnforce] = "restricted"
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}
}

// ResourceQuota is the tenant's ResourceQuota: the plan's quota, or,
// while QuotaInForce is set, each entry at the larger of the two.
func (d *Desired) ResourceQuota() *corev1.ResourceQuota {
	hard := d.Plan.Quota
	if d.QuotaInForce != nil {
		hard = QuotaDuringChange(d.QuotaInForce.Spec.Hard, hard)
	}
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: d.Meta(ResourceQuotaName),
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
}

// ContainerResources are the plan's resources, or else the workload's (a
// chart product has only the plan's); nil when neither sets any. Status
// records them as applied.
func (d *Desired) ContainerResources() *saasv1alpha1.ContainerResources {
	if d.Plan.Resources != nil || d.Product.Spec.Workload == nil {
		return d.Plan.Resources
	}
	return d.Product.Spec.Workload.Resources
}

// limitRange gives a container in the namespace each of the plan's
// resources it leaves out, by default, so that the quota admits its pod: a
// chart's, or an SSO gateway that sets fewer resources than the app.
func (d *Desired) limitRange() *corev1.LimitRange {
	item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer}
	if r := d.ContainerResources(); r != nil {
		item.DefaultRequest, item.Default = r.Requests, r.Limits
	}
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: d.Meta(LimitRangeName),
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

// limitRangeFillsAContainer reports whether limits would give some
// container of the tenant's pods (deployment's, for a workload product) a
// resource it does not set itself.
// For a chart product it may: a chart's pods may mount a token and start
// pods of their own. Every pod of a workload tenant is its Deployment's:
// the app runs without a token, so it starts none of its own, and a
// simulated debug tenant runs none. The app container sets exactly the
// LimitRange's resources; only the SSO gateway, which has resources of its
// own, may lack one of them. When no container does, the LimitRange would
// change no pod: making it anyway cost a create per new tenant and an
// object in every cache (issue 26).
func (d *Desired) limitRangeFillsAContainer(limits *corev1.LimitRange, deployment *appsv1.Deployment) bool {
	switch {
	case d.Product.Spec.Workload == nil:
		return true
	case d.Simulated:
		return false
	}
	defaults := limits.Spec.Limits[0]
	pod := deployment.Spec.Template.Spec
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if limitRangeFills(defaults, c.Resources) {
			return true
		}
	}
	return false
}

// limitRangeFills reports whether the LimitRanger admission would set one
// of item's defaults on a container of resources r: a default limit it sets
// no limit of, or a default request it sets neither a request nor a limit
// of (the API server takes an unset request from the limit before any
// admission runs).
func limitRangeFills(item corev1.LimitRangeItem, r corev1.ResourceRequirements) bool {
	for name := range item.Default {
		if _, limited := r.Limits[name]; !limited {
			return true
		}
	}
	for name := range item.DefaultRequest {
		_, requested := r.Requests[name]
		_, limited := r.Limits[name]
		if !requested && !limited {
			return true
		}
	}
	return false
}

func (d *Desired) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   d.Meta(AppName),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// persistentVolumeClaim is the data volume the product's storage asks for.
// Once the claim exists (d.Volume), its class and access modes stay what
// they are and its size never shrinks: the API server refuses a change of
// either, and the tenant would stall over a product change meant for new
// tenants. Growing it is asked for; the storage class must allow expansion.
func (d *Desired) persistentVolumeClaim() *corev1.PersistentVolumeClaim {
	storage := d.Product.Spec.Workload.Storage
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: d.Meta(DataVolumeName),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{AccessMode(storage)},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: storage.Size}},
		},
	}
	if storage.StorageClassName != "" {
		pvc.Spec.StorageClassName = ptr.To(storage.StorageClassName)
	}
	if live := d.Volume; live != nil {
		if !slices.Equal(pvc.Spec.AccessModes, live.Spec.AccessModes) {
			pvc.Spec.AccessModes = live.Spec.AccessModes
		}
		if pvc.Spec.StorageClassName != nil && ptr.Deref(live.Spec.StorageClassName, "") != *pvc.Spec.StorageClassName {
			// Left out when the claim has none: the API server gave it the
			// default class, or a later default fills it in.
			pvc.Spec.StorageClassName = live.Spec.StorageClassName
		}
		if size, ok := live.Spec.Resources.Requests[corev1.ResourceStorage]; ok && size.Cmp(storage.Size) > 0 {
			pvc.Spec.Resources.Requests[corev1.ResourceStorage] = size
		}
	}
	return pvc
}

// VolumeWarning says why the tenant's replicas may not all start: the plan
// runs more than one, but the tenant's existing claim is not
// ReadWriteMany (made before the product's storage became so, and a
// claim's access modes cannot change), so pods on other nodes cannot mount
// it. Empty when there is nothing to say. kooper runs the plan's replicas
// all the same: pods on the claim's node do start.
func (d *Desired) VolumeWarning() string {
	live := d.Volume
	if live == nil || d.Plan.Replicas <= 1 || slices.Contains(live.Spec.AccessModes, corev1.ReadWriteMany) {
		return ""
	}
	return fmt.Sprintf("plan %s runs %d replicas, but the tenant's volume %s is %v, made before the product's storage became ReadWriteMany: "+
		"replicas on other nodes cannot mount it (Multi-Attach); move the tenant's data to a ReadWriteMany claim, or sell it a plan of 1 replica",
		d.Plan.SKUCode, d.Plan.Replicas, DataVolumeName, live.Spec.AccessModes)
}

// AccessMode is the storage's access mode: ReadWriteOnce when unset (the
// API server's default of the field, for a product built in Go).
func AccessMode(storage *saasv1alpha1.StorageTemplate) corev1.PersistentVolumeAccessMode {
	if storage.AccessMode == "" {
		return corev1.ReadWriteOnce
	}
	return storage.AccessMode
}

// secretCopy is the copy called name of source, a Secret of kooper's
// namespace (Secrets cannot be referenced across namespaces): its type and
// data. Without a source, only its name, to remove it by.
func (d *Desired) secretCopy(name string, source *corev1.Secret) *corev1.Secret {
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: d.Meta(name),
	}
	if source != nil {
		secret.Type, secret.Data = source.Type, source.Data
	}
	return secret
}

func (d *Desired) replicas() int32 {
	if d.Frozen && d.Product.Spec.Lifecycle.Freeze.Behavior != saasv1alpha1.FreezeDisableIngress {
		return 0
	}
	return d.Plan.Replicas
}

func (d *Desired) deployment() *appsv1.Deployment {
	selector := map[string]string{saasv1alpha1.InstanceIDLabel: d.Tenant.Spec.InstanceID, "app.kubernetes.io/name": AppName}
	podLabels := Labels(d.Tenant)
	podLabels["app.kubernetes.io/name"] = AppName
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: d.Meta(AppName),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(d.replicas()),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: DeploymentStrategy(d.Product.Spec.Workload),
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
func (d *Desired) podAnnotations() map[string]string {
	if d.Config == nil {
		return nil
	}
	return map[string]string{saasv1alpha1.ConfigChecksumAnnotation: d.Config.checksum}
}

// DeploymentStrategy is the strategy of the tenant's Deployment: a rolling
// update, with the API server's default surge and unavailability (25%
// each), unless the workload has storage, which is Recreate.
func DeploymentStrategy(w *saasv1alpha1.WorkloadTemplate) appsv1.DeploymentStrategy {
	if w.Storage != nil {
		// A ReadWriteOnce volume cannot be mounted by the old and the new pod at once.
		return appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
}

// RolloutSurge is how many pods a rollout of strategy runs beyond replicas:
// maxSurge, the API server's 25% (rounded up) when unset; none for Recreate,
// which stops the old pods first, nor for a maxSurge that does not parse.
// The product's PlansValid check adds it to a plan's replicas.
func RolloutSurge(strategy appsv1.DeploymentStrategy, replicas int32) int32 {
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
func (d *Desired) podSpec() corev1.PodSpec {
	w := d.Product.Spec.Workload
	spec := corev1.PodSpec{
		// No token: the app does not talk to the API server, and a
		// tenant's code must not be able to.
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{d.container()},
	}
	if d.LegacyServiceAccount {
		spec.ServiceAccountName = AppName
	}
	if w.Gateway() != nil {
		spec.Containers = append(spec.Containers, d.gatewayContainer())
	}
	if w.ImagePullSecretName != "" {
		spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: ImagePullSecretName}}
	}
	namespaceSecret := corev1.LocalObjectReference{Name: w.NamespaceImagePullSecretName}
	if namespaceSecret.Name != "" && !slices.Contains(spec.ImagePullSecrets, namespaceSecret) {
		// Not a second entry of kooper's copy, which a product stored
		// before the schema refused the name may name: imagePullSecrets is
		// a list map, and a server-side apply refuses a name twice.
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, namespaceSecret)
	}
	if w.Storage != nil {
		spec.Volumes = []corev1.Volume{{Name: DataVolumeName, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: DataVolumeName}}}}
	}
	if w.Directory != nil {
		spec.Volumes = append(spec.Volumes, directoryVolumes()...)
		if w.Directory.ExpiryNotice == saasv1alpha1.NoticeMounted {
			spec.Volumes = append(spec.Volumes, noticeVolume())
		}
	}
	if d.Config != nil {
		spec.Volumes = append(spec.Volumes, configVolume())
	}
	return spec
}

func (d *Desired) container() corev1.Container {
	w := d.Product.Spec.Workload
	c := corev1.Container{
		Name:            AppName,
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
	if r := d.ContainerResources(); r != nil {
		c.Resources = corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits}
	}
	if w.Storage != nil {
		c.VolumeMounts = []corev1.VolumeMount{{Name: DataVolumeName, MountPath: w.Storage.MountPath}}
	}
	if w.Directory != nil {
		c.VolumeMounts = append(c.VolumeMounts, directoryMounts(w.Directory.MountPath)...)
		if w.Directory.ExpiryNotice == saasv1alpha1.NoticeMounted {
			c.VolumeMounts = append(c.VolumeMounts, noticeMount(w.Directory.MountPath))
		}
	}
	if d.Config != nil {
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

// kooperEnv are the names of the variables kooper sets in the app's
// container (env).
var kooperEnv = []string{InstanceIDEnv, skuCodeEnv, adminUsernameEnv, adminPasswordEnv}

// env is the variables kooper sets, then the product's others, in their
// order. A product variable of a name kooper sets is left out: the schema
// refuses these names, but a product stored before it did
// may have one. Kept, it would be a second entry of that name: the kubelet
// takes the last, so every tenant would get the product's instance id, or
// a password other than the one appInfo hands the buyer, and a server-side
// apply refuses a name twice (env is a list map), so no plan change or
// unfreeze of the tenant would ever apply.
func (d *Desired) env() []corev1.EnvVar {
	fromCredentials := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: CredentialsSecretName}, Key: key}}}
	}
	env := []corev1.EnvVar{
		{Name: InstanceIDEnv, Value: d.Tenant.Spec.InstanceID},
		{Name: skuCodeEnv, Value: d.Plan.SKUCode},
		fromCredentials(adminUsernameEnv, saasv1alpha1.CredentialsUsernameKey),
		fromCredentials(adminPasswordEnv, saasv1alpha1.CredentialsPasswordKey),
	}
	for _, e := range d.Product.Spec.Workload.Env {
		if !slices.Contains(kooperEnv, e.Name) {
			env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
		}
	}
	return env
}

func (d *Desired) service() *corev1.Service {
	var ports []corev1.ServicePort
	for _, p := range d.Product.Spec.Workload.Ports {
		ports = append(ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, Protocol: p.Protocol,
			TargetPort: intstr.FromString(p.Name)})
	}
	if d.Product.Spec.Workload.Gateway() != nil {
		// The first port, the Ingress's, reaches the app through the SSO
		// gateway only; callers of the Service inside the namespace too
		// (which is why the schema refuses a headless Service here).
		ports[0].TargetPort = intstr.FromString(GatewayPortName)
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: d.Meta(AppName),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{saasv1alpha1.InstanceIDLabel: d.Tenant.Spec.InstanceID, "app.kubernetes.io/name": AppName},
			Ports:    ports,
		},
	}
	// The type is set only when not the default, so a product without it
	// applies the same Service as before the field existed.
	if ing := d.Product.Spec.Workload.Ingress; ing != nil && ing.ServiceType != "" && ing.ServiceType != corev1.ServiceTypeClusterIP {
		svc.Spec.Type = ing.ServiceType
	}
	if ing := d.Product.Spec.Workload.Ingress; ing != nil && ing.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

// ingress routes the frontEndUrl's host to the Service's first port.
func (d *Desired) ingress() *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: d.Meta(AppName),
	}
	template := d.Product.Spec.Workload.Ingress
	if template == nil {
		return ing
	}
	if template.ClassName != "" {
		ing.Spec.IngressClassName = ptr.To(template.ClassName)
	}
	if len(template.Annotations) > 0 {
		ing.Annotations = maps.Clone(template.Annotations)
	}
	path := template.Path
	if path == "" {
		path = "/"
	}
	port := d.Product.Spec.Workload.Ports[0].Name
	ing.Spec.Rules = []networkingv1.IngressRule{{
		Host: d.URLs.Host,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{
				Path: path, PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: AppName, Port: networkingv1.ServiceBackendPort{Name: port}}},
			}},
		}},
	}}
	switch {
	case template.TLSCertificate == saasv1alpha1.TLSCertificateIngressController:
		// No secretName: the ingress controller's default certificate.
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{d.URLs.Host}}}
	case template.TLSSecretName != "":
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{d.URLs.Host}, SecretName: TLSSecretName}}
	}
	return ing
}
