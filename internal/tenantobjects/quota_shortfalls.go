package tenantobjects

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// podComputeQuotas are the quota names a pod must set a value for, or the
// API server refuses it (the ResourceQuota admission's required set).
var podComputeQuotas = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true,
}

// QuotaShortfalls lists each quota of plan that cannot hold what a tenant
// needs at the peak of a rollout, in the order of the quota's names: its
// pods, their compute resources and its claim, and each object count
// (secrets, configmaps, services, count/<resource>.<group>, ...) below
// what every tenant namespace holds (namespaceCounts): the API server
// would refuse kooper's own writes beyond it, 403 exceeded quota.
func QuotaShortfalls(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan) []string {
	strategy := DeploymentStrategy(w)
	surge := RolloutSurge(strategy, plan.Replicas)
	pods := plan.Replicas + surge
	if pods == 0 {
		return nil
	}
	peak := fmt.Sprintf("the %d pods of a rolling update (%d replicas and %d surge)", pods, plan.Replicas, surge)
	if surge == 0 {
		peak = fmt.Sprintf("the %d pods of a %s rollout (no surge)", pods, strategy.Type)
	}
	if w.Gateway() != nil {
		peak += ", each with its SSO gateway"
	}
	needs := planNeeds(w, plan, pods)
	var counts map[corev1.ResourceName]*countNeed
	if setsCountQuota(plan.Quota) {
		// Built only for a plan that has such a quota: a tenant reconcile
		// checks its plan on every pass.
		product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Workload: exampleWorkload(w)}}
		present, _ := exampleTenant(product, plan).Objects()
		counts = namespaceCounts(heldObjects(present, product))
	}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(plan.Quota)) {
		hard, need := plan.Quota[name], needs[name]
		missing := containersSettingNone(w, plan, name)
		_, judgedAbove := needs[name]
		switch {
		case counts[name] != nil && !judgedAbove:
			problems = append(problems, counts[name].shortfall(plan.SKUCode, name, hard)...)
		case podComputeQuotas[name] && len(missing) > 0:
			who := "container " + missing[0] + " sets"
			if len(missing) > 1 {
				who = "containers " + strings.Join(missing, " and ") + " set"
			}
			problems = append(problems, fmt.Sprintf("plan %s: quota %s is set but %s none, so the API server refuses every pod", plan.SKUCode, name, who))
		case hard.Cmp(need) >= 0:
		case name == corev1.ResourcePods || name == countPods:
			problems = append(problems, fmt.Sprintf("plan %s: quota %s=%s cannot hold %s", plan.SKUCode, name, hard.String(), peak))
		case name == corev1.ResourcePersistentVolumeClaims || name == corev1.ResourceRequestsStorage:
			problems = append(problems, fmt.Sprintf("plan %s: quota %s=%s cannot hold the data volume's %s", plan.SKUCode, name, hard.String(), need.String()))
		default:
			problems = append(problems, fmt.Sprintf("plan %s: quota %s=%s cannot hold the %s of %s", plan.SKUCode, name, hard.String(), need.String(), peak))
		}
	}
	return problems
}

// countPods counts every pod of the namespace, as pods counts those not
// yet finished: the peak of a rollout is the least either holds.
const countPods corev1.ResourceName = "count/pods"

// planNeeds is what a tenant on plan holds with pods of its Deployment's
// pods running, per quota name: the pod count, their compute resources
// (a request left unset is the limit, as the API server defaults it), and
// its claim.
func planNeeds(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan, pods int32) corev1.ResourceList {
	needs := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}
	needs[countPods] = needs[corev1.ResourcePods]
	addComputeNeeds(needs, withGateway(appResources(w, plan), GatewayResources(w)), pods)
	if w.Storage != nil {
		needs[corev1.ResourcePersistentVolumeClaims] = *resource.NewQuantity(1, resource.DecimalSI)
		needs[corev1.ResourceRequestsStorage] = w.Storage.Size.DeepCopy()
	}
	return needs
}

// addComputeNeeds adds to needs what pods containers of resources hold,
// per quota name (requests.cpu, limits.memory, cpu, ...); nil adds nothing.
func addComputeNeeds(needs corev1.ResourceList, resources *saasv1alpha1.ContainerResources, pods int32) {
	if resources == nil {
		return
	}
	requests := effectiveRequests(resources)
	for name, q := range requests {
		needs[corev1.ResourceName("requests."+string(name))] = times(q, pods)
	}
	for name, q := range resources.Limits {
		needs[corev1.ResourceName("limits."+string(name))] = times(q, pods)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, set := requests[name]; set {
			needs[name] = times(q, pods)
		}
	}
}

// containersSettingNone names the containers of a tenant's pod (the app,
// and the SSO gateway when the product has one) that set nothing for the
// compute quota name: the ResourceQuota admission refuses a pod when any
// one container does, whatever the others set. When the app sets it, so
// does every container: kooper's LimitRange gives one that sets nothing
// the app's resources (tenantobjects' limitRange).
func containersSettingNone(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan, name corev1.ResourceName) []string {
	if setsQuota(appResources(w, plan), name) {
		return nil
	}
	missing := []string{AppName}
	if gw := GatewayResources(w); gw != nil && !setsQuota(gw, name) {
		missing = append(missing, GatewayContainerName)
	}
	return missing
}

// setsQuota reports whether a container of resources holds some of the
// compute quota name.
func setsQuota(resources *saasv1alpha1.ContainerResources, name corev1.ResourceName) bool {
	needs := corev1.ResourceList{}
	addComputeNeeds(needs, resources, 1)
	q := needs[name]
	return !q.IsZero()
}

// appResources are the app container's resources on plan: the plan's,
// else the workload's; nil when neither sets any.
func appResources(w *saasv1alpha1.WorkloadTemplate, plan *saasv1alpha1.Plan) *saasv1alpha1.ContainerResources {
	if plan.Resources != nil {
		return plan.Resources
	}
	return w.Resources
}

// effectiveRequests are r's requests, a request left unset being its
// limit, as the API server defaults a container's; r is not modified.
func effectiveRequests(r *saasv1alpha1.ContainerResources) corev1.ResourceList {
	requests := maps.Clone(r.Requests)
	if requests == nil {
		requests = corev1.ResourceList{}
	}
	for name, limit := range r.Limits {
		if _, set := requests[name]; !set {
			requests[name] = limit
		}
	}
	return requests
}

// withGateway is what one pod of the workload holds: the app's resources
// plus the SSO gateway's, if it has one (a request left unset is the
// limit, as for the app). Neither is modified.
func withGateway(app, gateway *saasv1alpha1.ContainerResources) *saasv1alpha1.ContainerResources {
	if gateway == nil {
		return app
	}
	sum := &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, r := range []*saasv1alpha1.ContainerResources{app, gateway} {
		if r == nil {
			continue
		}
		addTo(sum.Requests, effectiveRequests(r))
		addTo(sum.Limits, r.Limits)
	}
	return sum
}

// addTo adds each quantity of more to sum's.
func addTo(sum, more corev1.ResourceList) {
	for name, q := range more {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}

// times is q added up n times (Quantity has no multiplication).
func times(q resource.Quantity, n int32) resource.Quantity {
	sum := resource.Quantity{Format: q.Format}
	for range n {
		sum.Add(q)
	}
	return sum
}

// ChartQuotaCountShortfalls lists each object-count quota of plan, a plan
// of the chart product product, that cannot hold what the namespace of its
// tenants holds, in the order of the quota's names: rendered, the chart's
// render for an example tenant on plan, beside kooper's own objects and
// what kube-controller-manager makes (namespaceCounts). A chart's pods and
// their compute resources are the chart's to fit in the quota, and are not
// judged here.
func ChartQuotaCountShortfalls(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan, rendered []*unstructured.Unstructured) []string {
	if !setsCountQuota(plan.Quota) {
		return nil
	}
	present, _ := exampleTenant(product, plan).Objects()
	for _, obj := range rendered {
		present = append(present, obj)
	}
	counts := namespaceCounts(heldObjects(present, product))
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(plan.Quota)) {
		if need := counts[name]; need != nil {
			problems = append(problems, need.shortfall(plan.SKUCode, name, plan.Quota[name])...)
		}
	}
	return problems
}

// What a tenant namespace holds besides kooper's applied objects, and the
// example tenant whose objects are counted.
const (
	// rootCAConfigMapName is the ConfigMap of the cluster's CA that
	// kube-controller-manager's root-ca-cert-publisher makes in every
	// namespace, for the pods' projected tokens.
	rootCAConfigMapName = "kube-root-ca.crt"
	// defaultServiceAccountName is the ServiceAccount that
	// kube-controller-manager's serviceaccount controller makes in every
	// namespace; the tenant's pods run as it (Desired.LegacyServiceAccount).
	defaultServiceAccountName = "default"
	// defaultRevisionHistoryLimit is the API server's default of a
	// Deployment's spec.revisionHistoryLimit, which kooper's Deployment
	// leaves unset: the old ReplicaSets kept after a rollout.
	defaultRevisionHistoryLimit = 10
	// rolloutReplicaSets are a Deployment's ReplicaSets beside the old ones
	// kept, during a rollout: the current one, and the new one the rollout
	// creates. The Deployment controller removes the oldest only once the
	// rollout completes, so a quota without room for the new one stalls
	// every rollout (a plan change, a new configuration) for ever.
	rolloutReplicaSets = 2
	// exampleInstanceID and exampleHost name the example tenant whose
	// objects are counted: a name changes no count.
	exampleInstanceID = "example"
	exampleHost       = "example.tenant.kooper.invalid"
)

// Kinds the object counts single out.
var (
	resourceQuotaKind = schema.GroupKind{Kind: "ResourceQuota"}
	serviceKind       = schema.GroupKind{Kind: "Service"}
	endpointsKind     = schema.GroupKind{Kind: "Endpoints"}
	endpointSliceKind = schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}
	deploymentKind    = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	replicaSetKind    = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
)

// legacyCountNames are the core resources the API server also counts under
// their bare plural: a quota of secrets counts what count/secrets does.
// resourcequotas is left out with the ResourceQuota (namespaceCounts).
var legacyCountNames = map[string]bool{
	"secrets": true, "configmaps": true, "services": true, "persistentvolumeclaims": true, "replicationcontrollers": true,
}

// setsCountQuota reports whether quota has an object-count entry:
// count/<resource>[.<group>], a bare legacy name, or the node ports or
// load balancers of Services.
func setsCountQuota(quota corev1.ResourceList) bool {
	for name := range quota {
		if strings.HasPrefix(string(name), "count/") || legacyCountNames[string(name)] ||
			name == corev1.ResourceServicesLoadBalancers || name == corev1.ResourceServicesNodePorts {
			return true
		}
	}
	return false
}

// countNeed is how much of one object-count quota a tenant namespace holds
// at the least, and what: each entry names an object, or several.
type countNeed struct {
	n    int64
	what []string
}

// shortfall says that hard, plan skuCode's quota name, cannot hold c; nil
// when it can.
func (c *countNeed) shortfall(skuCode string, name corev1.ResourceName, hard resource.Quantity) []string {
	if hard.CmpInt64(c.n) >= 0 {
		return nil
	}
	return []string{fmt.Sprintf("plan %s: quota %s=%s cannot hold what every tenant namespace holds, at least %d: %s",
		skuCode, name, hard.String(), c.n, strings.Join(c.what, ", "))}
}

// exampleWorkload is w as the schema admits it, to build a tenant's
// objects from: with a port, which the schema requires (the Service and
// the SSO gateway are built from the first), and with a directory when it
// has an SSO gateway (the schema's "sso needs directory"). A workload built
// in Go, or stored before a rule, may lack them. w is not modified.
func exampleWorkload(w *saasv1alpha1.WorkloadTemplate) *saasv1alpha1.WorkloadTemplate {
	if len(w.Ports) > 0 && (w.Gateway() == nil || w.Directory != nil) {
		return w
	}
	example := w.DeepCopy()
	if len(example.Ports) == 0 {
		example.Ports = []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	}
	if example.Gateway() != nil && example.Directory == nil {
		example.Directory = &saasv1alpha1.DirectoryMount{}
	}
	return example
}

// exampleTenant is an example tenant of product on plan, in the state in
// which its namespace holds the most of kooper's objects: serving (neither
// frozen nor simulated), with the configuration files the product has and
// each Secret copy its objects refer to.
func exampleTenant(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan) *Desired {
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: exampleInstanceID},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: exampleInstanceID, ProductName: product.Name}}
	d := &Desired{Tenant: tenant, Product: product, Plan: plan, Namespace: exampleInstanceID, URLs: URLs{Host: exampleHost}}
	if w := product.Spec.Workload; w != nil {
		if w.Config != nil {
			d.Config = &Config{} // its files change no count
		}
		d.CopiedSecrets = referencedCopies(d)
	}
	return d
}

// referencedCopies are the copies of the product's Secrets that d's
// Deployment and Ingress refer to, TLSSecretName and ImagePullSecretName:
// those the tenant controller copies for the product (its copiedSecrets),
// read from the objects built so that the two cannot drift. (A product
// stored before the schema refused namespaceImagePullSecretName
// kooper-image-pull refers to it without a copy: it is counted all the
// same.) A copy's content changes no count.
func referencedCopies(d *Desired) map[string]*corev1.Secret {
	copies := map[string]*corev1.Secret{}
	for _, ref := range d.deployment().Spec.Template.Spec.ImagePullSecrets {
		if ref.Name == ImagePullSecretName {
			copies[ImagePullSecretName] = &corev1.Secret{}
		}
	}
	for _, tls := range d.ingress().Spec.TLS {
		if tls.SecretName == TLSSecretName {
			copies[TLSSecretName] = &corev1.Secret{}
		}
	}
	return copies
}

// heldObject is an object a tenant namespace holds: obj has its kind and
// name; note says who makes it, or when, when kooper's apply does not.
type heldObject struct {
	obj  client.Object
	note string
}

// heldObjects are what the namespace of a tenant of product holds:
// present, the objects applied to it (Objects, and a chart's render), then
// what kooper writes there otherwise, then what kube-controller-manager
// makes in every namespace. What it makes for these objects (a
// Deployment's ReplicaSets, a Service's endpoints) is namespaceCounts'.
func heldObjects(present []client.Object, product *saasv1alpha1.SaaSProduct) []heldObject {
	secret := func(name, note string) heldObject {
		return heldObject{&corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: name}}, note}
	}
	configMap := func(name, note string) heldObject {
		return heldObject{&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: name}}, note}
	}
	held := make([]heldObject, 0, len(present)+6)
	for _, obj := range present {
		held = append(held, heldObject{obj: obj})
	}
	// The tenant controller creates the credentials Secret once, outside
	// Objects, for every tenant (ensureCredentials).
	held = append(held, secret(CredentialsSecretName, ""))
	// It writes the expiry notice from the first notice threshold on, and
	// through the grace period (deliverNotice), for every tenant that
	// expires.
	held = append(held, configMap(saasv1alpha1.NoticeConfigMapName, "while an expiry notice is due"))
	if product.JointOperation() {
		// The directory controller delivers the enterprise's SSO settings
		// and its directory: an index, and a shard per 256 KiB of users or
		// departments, as many as the enterprise needs: only the index is
		// sure to be there.
		held = append(held, secret(saasv1alpha1.SSOSecretName, ""),
			secret(saasv1alpha1.DirectorySecretName, "and one more per shard of the enterprise's directory"))
	}
	return append(held, configMap(rootCAConfigMapName, "kube-controller-manager's"),
		heldObject{&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccountName}}, "kube-controller-manager's"})
}

// namespaceCounts is, per object-count quota name, what the objects held
// make a tenant namespace hold at the least, counted as the API server's
// quota counts them: each object under count/<resource>[.<group>] and,
// for some core kinds, under the bare plural (legacyCountNames); a
// Service's node ports and load balancer too; and what
// kube-controller-manager makes for them: a Deployment's ReplicaSets
// during a rollout, a Service's Endpoints and EndpointSlice. The
// ResourceQuota is left out: no quota is in force when it is made, and
// kooper makes no other.
func namespaceCounts(held []heldObject) map[corev1.ResourceName]*countNeed {
	counts := map[corev1.ResourceName]*countNeed{}
	add := func(name corev1.ResourceName, n int64, what string) {
		need := counts[name]
		if need == nil {
			need = &countNeed{}
			counts[name] = need
		}
		need.n += n
		need.what = append(need.what, what)
	}
	addObjects := func(gk schema.GroupKind, n int64, what string) {
		plural, _ := apimeta.UnsafeGuessKindToResource(gk.WithVersion(""))
		name := "count/" + plural.Resource
		if gk.Group != "" {
			name += "." + gk.Group
		}
		add(corev1.ResourceName(name), n, what)
		if gk.Group == "" && legacyCountNames[plural.Resource] {
			add(corev1.ResourceName(plural.Resource), n, what)
		}
	}
	for _, h := range held {
		gk, name := h.obj.GetObjectKind().GroupVersionKind().GroupKind(), h.obj.GetName()
		if gk == resourceQuotaKind {
			continue
		}
		what := gk.Kind + " " + name
		if h.note != "" {
			what += " (" + h.note + ")"
		}
		addObjects(gk, 1, what)
		switch gk {
		case serviceKind:
			svc, ok := typedAs[corev1.Service](h.obj)
			if !ok {
				continue // the API server refuses it: it holds nothing
			}
			if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				add(corev1.ResourceServicesLoadBalancers, 1, fmt.Sprintf("Service %s (type LoadBalancer)", name))
			}
			if ports := nodePorts(svc); ports > 0 {
				noun := "node ports"
				if ports == 1 {
					noun = "node port"
				}
				add(corev1.ResourceServicesNodePorts, ports, fmt.Sprintf("Service %s's %d %s (type %s)", name, ports, noun, svc.Spec.Type))
			}
			if len(svc.Spec.Selector) > 0 {
				addObjects(endpointsKind, 1, fmt.Sprintf("Endpoints %s (kube-controller-manager's, for Service %s)", name, name))
				addObjects(endpointSliceKind, 1, fmt.Sprintf("an EndpointSlice of Service %s (kube-controller-manager's)", name))
			}
		case deploymentKind:
			kept := int64(defaultRevisionHistoryLimit)
			if dep, ok := typedAs[appsv1.Deployment](h.obj); ok && dep.Spec.RevisionHistoryLimit != nil {
				kept = int64(*dep.Spec.RevisionHistoryLimit)
			}
			n := kept + rolloutReplicaSets
			addObjects(replicaSetKind, n, fmt.Sprintf("the %d ReplicaSets of Deployment %s during a rollout "+
				"(the %d old ones its revisionHistoryLimit keeps, the current one and the new one)", n, name, kept))
		}
	}
	return counts
}

// nodePorts is how many node ports the API server's quota counts for svc:
// one per port of a NodePort Service, and of a LoadBalancer one unless it
// allocates none (allocateLoadBalancerNodePorts false), when only the
// ports that name one count.
func nodePorts(svc *corev1.Service) int64 {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return int64(len(svc.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		if allocate := svc.Spec.AllocateLoadBalancerNodePorts; allocate == nil || *allocate {
			return int64(len(svc.Spec.Ports))
		}
		var named int64
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				named++
			}
		}
		return named
	}
	return 0
}

// typedAs is obj as a *T: obj itself when it is one, else its content
// converted (a chart's rendered object); false when it does not convert.
func typedAs[T any, PT interface {
	*T
	client.Object
}](obj client.Object) (PT, bool) {
	if typed, ok := obj.(PT); ok {
		return typed, true
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out); err != nil {
		return nil, false
	}
	return &out, true
}
