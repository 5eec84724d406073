package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// The least-privilege matrix (DESIGN.md rule 13, issue 18): the chart's ServiceAccounts,
// RBAC and admission policy, applied to a real kube-apiserver, and for each account what
// it must be allowed and what it must be refused. The "Least privilege" table of
// docs/operations.md mirrors matrixRows; TestLeastPrivilegeDocs checks that it does.

// The release the matrix renders, and the fixtures it creates.
const (
	releaseNamespace = "kooper-system"
	directoryNS      = "kooper-system-directory" // the chart's default: <release namespace>-directory
	keysSecret       = "crm-marketplace-keys"
	productsConfig   = "kooper-products" // <fullname>-products
	tenantNS         = "tenant-matrix"   // a tenant namespace, as the tenant controller labels one
	releasedNS       = "tenant-released" // a tenant namespace marked for deletion
	plainNS          = "matrix-plain"    // a namespace that is not kooper's
	tenantAccount    = "app"             // the tenant workload's ServiceAccount (internal/tenantobjects, AppName)
)

// shardSecret is a directory shard in the directory namespace; legacyShard is one an earlier
// version stored as a ConfigMap, which the directory controller moves into a Secret and deletes.
const (
	shardSecret = "d-matrix-users-000"
	legacyShard = "d-matrix-users-legacy"
)

// Fixtures in kooper's namespace and in a tenant namespace.
const (
	receiverPolicy = "kooper-receiver" // the receiver's NetworkPolicy (<fullname>-receiver)
	fixtureProduct = "crm"             // a SaaSProduct
	tenantApp      = "app"             // the tenant's workload (internal/tenantobjects, AppName)
)

// tombstoneShard is a tombstone shard, a ConfigMap in kooper's namespace.
var tombstoneShard = tombstone.ShardName("i-0123456789abcdef0123")

// A verdict is what a row expects of its request.
type verdict string

const (
	allowed verdict = "allowed"
	denied  verdict = "denied"
)

// A decider is the layer a row holds responsible. A denied RBAC row: the authorizer
// refuses (a SubjectAccessReview says no, the request is Forbidden). A denied ADMISSION
// row: RBAC allows (a SubjectAccessReview says yes) and the admission policy refuses the
// real request. An allowed row: RBAC allows and the real request, a server-side dry run
// for writes, succeeds (RBAC + ADMISSION: the policy checks it and admits it).
type decider string

const (
	byRBAC      decider = "RBAC"
	byAdmission decider = "ADMISSION"
	byBoth      decider = "RBAC + ADMISSION"
)

// The accounts of the matrix.
const (
	controllers = "controllers"
	receiver    = "receiver"
	tenant      = "tenant workload"
)

type matrixRow struct {
	account string
	request string // as docs/operations.md says it
	want    verdict
	by      decider
	attrs   authorizationv1.ResourceAttributes
	do      func(ctx context.Context, c client.Client) error
}

// docLine is the row as the table in docs/operations.md shows it.
func (r matrixRow) docLine() string {
	return fmt.Sprintf("| %s | %s | %s | %s |", r.account, r.request, r.want, r.by)
}

func attrs(verb, group, resource, namespace, name string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: namespace, Name: name}
}

func subresource(a authorizationv1.ResourceAttributes, name string) authorizationv1.ResourceAttributes {
	a.Subresource = name
	return a
}

// create, patch and remove send a write as a server-side dry run: it is authorized and
// admitted like the real one, and leaves nothing behind, so the rows are independent. Each
// request sends a copy of obj, which the client overwrites with the answer.
func create(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error { return c.Create(ctx, fresh(obj), client.DryRunAll) }
}

func patch(obj client.Object, mergePatch string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		return c.Patch(ctx, fresh(obj), client.RawPatch(types.MergePatchType, []byte(mergePatch)), client.DryRunAll)
	}
}

func patchStatus(obj client.Object, mergePatch string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		return c.Status().Patch(ctx, fresh(obj), client.RawPatch(types.MergePatchType, []byte(mergePatch)),
			&client.SubResourcePatchOptions{PatchOptions: client.PatchOptions{DryRun: []string{metav1.DryRunAll}}})
	}
}

// update reads obj and writes it back unchanged, as a server-side dry run.
func update(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		current := fresh(obj)
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
			return err
		}
		return c.Update(ctx, current, client.DryRunAll)
	}
}

// updateListed finds obj by a list of its namespace (l's kind, selected by name) and writes
// what it listed back unchanged, as a server-side dry run: the receiver updates the directory
// shards it lists, and never reads one by name.
func updateListed(obj client.Object, l client.ObjectList) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		found := l.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, found, client.InNamespace(obj.GetNamespace()), client.MatchingFields{"metadata.name": obj.GetName()}); err != nil {
			return err
		}
		items, err := apimeta.ExtractList(found)
		if err != nil {
			return err
		}
		if len(items) != 1 {
			return fmt.Errorf("listed %d objects named %s in %s, want 1", len(items), obj.GetName(), obj.GetNamespace())
		}
		return c.Update(ctx, items[0].(client.Object), client.DryRunAll)
	}
}

// replace sends obj as it is, unread, as a server-side dry run of an update: for rows RBAC
// refuses, which the authorizer decides before the object is looked up.
func replace(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error { return c.Update(ctx, fresh(obj), client.DryRunAll) }
}

// updateSubresource sends obj to its subresource name as an update (PUT), as a server-side dry run.
func updateSubresource(obj client.Object, name string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		return c.SubResource(name).Update(ctx, fresh(obj),
			&client.SubResourceUpdateOptions{UpdateOptions: client.UpdateOptions{DryRun: []string{metav1.DryRunAll}}})
	}
}

// applyLabel server-side applies one label to the existing object of apiVersion and kind named
// name, under fieldOwner, as a server-side dry run: a patch, as kooper's applies are.
func applyLabel(apiVersion, kind, name, fieldOwner string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": name, "labels": map[string]any{"saas.kooper.io/matrix": "applied"}}}}
		return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership, client.DryRunAll)
	}
}

// applyCreate server-side applies obj, which does not exist yet, whole, under fieldOwner, as a
// server-side dry run: an apply that creates, which the API server authorizes as a create
// besides the patch.
func applyCreate(obj client.Object, gvk schema.GroupVersionKind, fieldOwner string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fresh(obj))
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(gvk)
		// What an apply leaves out: the API server sets these.
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership, client.DryRunAll)
	}
}

// createControlledBy reads owner (of kind ownerKind) and creates obj with owner as its
// controller, as a server-side dry run. metav1.NewControllerRef sets blockOwnerDeletion, which
// the OwnerReferencesPermissionEnforcement admission plugin lets only an account that may
// update the owner's finalizers set.
func createControlledBy(obj, owner client.Object, ownerKind schema.GroupVersionKind) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		current := fresh(owner)
		if err := c.Get(ctx, client.ObjectKeyFromObject(owner), current); err != nil {
			return err
		}
		created := fresh(obj)
		created.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(current, ownerKind)})
		return c.Create(ctx, created, client.DryRunAll)
	}
}

// review creates a review (a TokenReview, a SubjectAccessReview): the API server answers it
// and stores nothing, so there is nothing to dry-run.
func review(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error { return c.Create(ctx, fresh(obj)) }
}

// metricsTokenReview and metricsAccessReview are what the metrics endpoint's authentication and
// authorization (controller-runtime's filters.WithAuthenticationAndAuthorization) send for a
// scrape: the scraper's token, and whether its user may GET /metrics.
func metricsTokenReview() *authenticationv1.TokenReview {
	return &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "matrix-scraper-token"}}
}

func metricsAccessReview() *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:monitoring:prometheus",
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/metrics"}}}
}

func remove(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error { return c.Delete(ctx, fresh(obj), client.DryRunAll) }
}

func read(obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		return c.Get(ctx, client.ObjectKeyFromObject(obj), fresh(obj))
	}
}

func list(l client.ObjectList, opts ...client.ListOption) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		return c.List(ctx, l.DeepCopyObject().(client.ObjectList), append(opts, client.Limit(1))...)
	}
}

// watch opens a watch of l's kind and closes it at once: the authorizer decides whether it opens.
func watch(l client.ObjectList, opts ...client.ListOption) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		w, err := c.(client.WithWatch).Watch(ctx, l.DeepCopyObject().(client.ObjectList), opts...)
		if err != nil {
			return err
		}
		w.Stop()
		return nil
	}
}

func fresh(obj client.Object) client.Object { return obj.DeepCopyObject().(client.Object) }

// metadataList lists the metadata only of apiVersion's kind, as a metadata-only informer or a
// metadata list from the API server asks for it.
func metadataList(apiVersion, kind string) *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind+"List"))
	return l
}

// managedByKooper selects the objects kooper made, as its caches and its lists of a tenant's
// objects do.
var managedByKooper = client.MatchingLabels{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}

// saasProductKind is the SaaSProduct's kind, as an apply and an owner reference name it.
var saasProductKind = saasv1alpha1.GroupVersion.WithKind("SaaSProduct")

// newProductNamed is the fixture SaaSProduct under another name: one that does not exist yet.
func newProductNamed(name string) *saasv1alpha1.SaaSProduct {
	p := newSaaSProduct()
	p.Name = name
	return p
}

// tenantIngress is an Ingress of the tenant's app in the tenant namespace.
func tenantIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: meta(tenantNS, tenantApp), Spec: networkingv1.IngressSpec{
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: tenantApp, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
}

// tenantService is the Service of the tenant's app in the tenant namespace.
func tenantService() *corev1.Service {
	return &corev1.Service{ObjectMeta: meta(tenantNS, tenantApp), Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
}

func meta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

func statefulSet(namespace string) *appsv1.StatefulSet {
	d := deployment(namespace)
	return &appsv1.StatefulSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.StatefulSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
}

func controllerRevision(namespace string) *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{ObjectMeta: meta(namespace, "crm-0123456789"), Revision: 1,
		Data: runtime.RawExtension{Raw: []byte(`{"workload":{"image":"crm:1"}}`)}}
}

func daemonSet(namespace string) *appsv1.DaemonSet {
	d := deployment(namespace)
	return &appsv1.DaemonSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
}

func job(namespace string) *batchv1.Job {
	template := deployment(namespace).Spec.Template
	template.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{ObjectMeta: meta(namespace, "matrix"), Spec: batchv1.JobSpec{Template: template}}
}

func cronJob(namespace string) *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: meta(namespace, "matrix"), Spec: batchv1.CronJobSpec{
		Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: job(namespace).Spec}}}
}

func hpa(namespace string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(namespace, "matrix"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "matrix"}, MaxReplicas: 3}}
}

func pdb(namespace string) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{ObjectMeta: meta(namespace, "matrix"), Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "matrix"}}}}
}

func deployment(namespace string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "matrix"}
	return &appsv1.Deployment{
		ObjectMeta: meta(namespace, "matrix"),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}},
			},
		},
	}
}

func networkPolicy(namespace, name string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: meta(namespace, name), Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
}

func lease(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: meta(releaseNamespace, name)}
}

// crd is the metadata of one of kooper's CustomResourceDefinitions.
func crd(name string) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name}}
	m.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	return m
}

// newSaaSProduct is the fixture SaaSProduct, as the products ConfigMap declares one.
func newSaaSProduct() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: fixtureProduct},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI000000001", KeysSecretName: keysSecret,
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.crm.example.com", AdminURL: "https://{{.InstanceID}}.crm.example.com/admin"},
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}},
		},
	}
}

// tenantDeployment is the tenant's workload in the tenant namespace.
func tenantDeployment() *appsv1.Deployment {
	d := deployment(tenantNS)
	d.Name = tenantApp
	return d
}

func secret(namespace string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: meta(namespace, "matrix"), StringData: map[string]string{"k": "v"}}
}

// event is an Event about regarding, in namespace.
func event(namespace string, regarding corev1.ObjectReference) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: meta(namespace, "matrix.1"), EventTime: metav1.NewMicroTime(time.Now()),
		ReportingController: "kooper.io/matrix", ReportingInstance: "matrix", Action: "Test", Reason: "Test",
		Type: corev1.EventTypeNormal, Regarding: regarding, Note: "least-privilege matrix",
	}
}

func namespace(name string, labels, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
}

// tenantLabels are those the tenant controller puts on a tenant namespace.
func tenantLabels(instanceID string) map[string]string {
	return map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: instanceID,
		"pod-security.kubernetes.io/enforce": "restricted",
	}
}

// matrixRows is the matrix, in the order of docs/operations.md.
var matrixRows = []matrixRow{
	// The controllers: confined to tenant namespaces and kooper's own by the policy.
	{controllers, "create a Deployment in `kube-system`", denied, byAdmission,
		attrs("create", "apps", "deployments", "kube-system", ""), create(deployment("kube-system"))},
	{controllers, "create a Secret in `kube-system`", denied, byAdmission,
		attrs("create", "", "secrets", "kube-system", ""), create(secret("kube-system"))},
	{controllers, "create a ServiceAccount in `kube-system`", denied, byAdmission,
		attrs("create", "", "serviceaccounts", "kube-system", ""), create(&corev1.ServiceAccount{ObjectMeta: meta("kube-system", "matrix")})},
	{controllers, "create an Event in `kube-system`", denied, byAdmission,
		attrs("create", "events.k8s.io", "events", "kube-system", ""),
		create(event("kube-system", corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: "kube-system", Name: "matrix"}))},
	{controllers, "create a ConfigMap in `default` (only Events may go there)", denied, byAdmission,
		attrs("create", "", "configmaps", "default", ""), create(&corev1.ConfigMap{ObjectMeta: meta("default", "matrix")})},
	{controllers, "create a namespace without kooper's tenant labels", denied, byAdmission,
		attrs("create", "", "namespaces", "", ""),
		create(namespace("matrix-unlabelled", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}, nil))},
	{controllers, "add kooper's tenant labels to a namespace that lacks them", denied, byAdmission,
		attrs("patch", "", "namespaces", "", plainNS),
		patch(namespace(plainNS, nil, nil), `{"metadata":{"labels":{"app.kubernetes.io/managed-by":"kooper","saas.kooper.io/instance-id":"taken","pod-security.kubernetes.io/enforce":"restricted"}}}`)},
	{controllers, "relax a tenant namespace's Pod Security to `privileged`", denied, byAdmission,
		attrs("patch", "", "namespaces", "", tenantNS),
		patch(namespace(tenantNS, nil, nil), `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)},
	{controllers, "delete a namespace that is not a tenant's", denied, byAdmission,
		attrs("delete", "", "namespaces", "", plainNS), remove(namespace(plainNS, nil, nil))},
	{controllers, "delete a tenant namespace not marked with `delete-after`", denied, byAdmission,
		attrs("delete", "", "namespaces", "", tenantNS), remove(namespace(tenantNS, nil, nil))},
	{controllers, "bind itself a ClusterRole", denied, byRBAC,
		attrs("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""),
		create(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "matrix"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: releaseNamespace, Name: "kooper"}}})},
	{controllers, "create a tenant namespace (labelled, Pod Security `restricted`)", allowed, byBoth,
		attrs("create", "", "namespaces", "", ""), create(namespace("tenant-new", tenantLabels("new"), nil))},
	{controllers, "mark a tenant namespace with `delete-after`", allowed, byBoth,
		attrs("patch", "", "namespaces", "", tenantNS),
		patch(namespace(tenantNS, nil, nil), `{"metadata":{"annotations":{"saas.kooper.io/delete-after":"2030-01-01T00:00:00Z"}}}`)},
	{controllers, "delete a tenant namespace marked with `delete-after`", allowed, byBoth,
		attrs("delete", "", "namespaces", "", releasedNS), remove(namespace(releasedNS, nil, nil))},
	{controllers, "record a SaaSTenant's status (a cluster-scoped kind)", allowed, byRBAC,
		subresource(attrs("patch", saasv1alpha1.GroupVersion.Group, "saastenants", "", "i-fixture"), "status"),
		patchStatus(&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-fixture"}}, `{"status":{"namespace":"tenant-matrix"}}`)},
	{controllers, "tell a SaaSTenant which product revision to run (its annotations; docs/rollout.md)", allowed, byRBAC,
		attrs("patch", saasv1alpha1.GroupVersion.Group, "saastenants", "", "i-fixture"),
		patch(&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-fixture"}}, `{"metadata":{"annotations":{"saas.kooper.io/revision":"crm-0123456789"}}}`)},
	{controllers, "store a product revision (a ControllerRevision) in kooper's namespace", allowed, byRBAC,
		attrs("create", "apps", "controllerrevisions", releaseNamespace, ""), create(controllerRevision(releaseNamespace))},
	{controllers, "store a product revision owned by its SaaSProduct (`blockOwnerDeletion`: update of `saasproducts/finalizers`)", allowed, byRBAC,
		subresource(attrs("update", saasv1alpha1.GroupVersion.Group, "saasproducts", "", fixtureProduct), "finalizers"),
		createControlledBy(controllerRevision(releaseNamespace), newSaaSProduct(), saasProductKind)},
	{controllers, "create a ControllerRevision in a tenant namespace", denied, byRBAC,
		attrs("create", "apps", "controllerrevisions", tenantNS, ""), create(controllerRevision(tenantNS))},
	{controllers, "delete a SaaSDirectory (its finalizer deletes the users' data first)", allowed, byRBAC,
		attrs("delete", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), remove(newSaaSDirectory())},
	{controllers, "read a SaaSDirectory", allowed, byRBAC,
		attrs("get", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), read(newSaaSDirectory())},
	{controllers, "list SaaSDirectories (its cache)", allowed, byRBAC,
		attrs("list", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", ""), list(&saasv1alpha1.SaaSDirectoryList{})},
	{controllers, "watch SaaSDirectories (its cache)", allowed, byRBAC,
		attrs("watch", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", ""), watch(&saasv1alpha1.SaaSDirectoryList{})},
	{controllers, "record an OrderNotification's status (what Query Order said)", allowed, byRBAC,
		subresource(attrs("patch", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", fixtureNotification), "status"),
		patchStatus(newOrderNotification(), `{"status":{"resolvedTime":"2026-12-01T00:00:00Z"}}`)},
	{controllers, "delete an OrderNotification (after its retention)", allowed, byRBAC,
		attrs("delete", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", fixtureNotification), remove(newOrderNotification())},
	{controllers, "create an OrderNotification (only the receiver records them)", denied, byRBAC,
		attrs("create", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", ""), create(newOrderNotification("n-matrix-new"))},
	{controllers, "create a Deployment in a tenant namespace", allowed, byBoth,
		attrs("create", "apps", "deployments", tenantNS, ""), create(deployment(tenantNS))},
	// A chart tenant's parts (docs/chart-tenants.md): exactly the kinds a chart may render.
	{controllers, "create a StatefulSet in a tenant namespace (a chart's part)", allowed, byBoth,
		attrs("create", "apps", "statefulsets", tenantNS, ""), create(statefulSet(tenantNS))},
	{controllers, "create a Job in a tenant namespace (a chart's part)", allowed, byBoth,
		attrs("create", "batch", "jobs", tenantNS, ""), create(job(tenantNS))},
	{controllers, "create a CronJob in a tenant namespace (a chart's part)", allowed, byBoth,
		attrs("create", "batch", "cronjobs", tenantNS, ""), create(cronJob(tenantNS))},
	{controllers, "create a HorizontalPodAutoscaler in a tenant namespace (a chart's part)", allowed, byBoth,
		attrs("create", "autoscaling", "horizontalpodautoscalers", tenantNS, ""), create(hpa(tenantNS))},
	{controllers, "create a PodDisruptionBudget in a tenant namespace (a chart's part)", allowed, byBoth,
		attrs("create", "policy", "poddisruptionbudgets", tenantNS, ""), create(pdb(tenantNS))},
	{controllers, "create a StatefulSet in `kube-system`", denied, byAdmission,
		attrs("create", "apps", "statefulsets", "kube-system", ""), create(statefulSet("kube-system"))},
	{controllers, "create a Role in a tenant namespace (a chart may not bring RBAC)", denied, byRBAC,
		attrs("create", "rbac.authorization.k8s.io", "roles", tenantNS, ""),
		create(&rbacv1.Role{ObjectMeta: meta(tenantNS, "matrix")})},
	{controllers, "create a DaemonSet in a tenant namespace (not a kind a chart may render)", denied, byRBAC,
		attrs("create", "apps", "daemonsets", tenantNS, ""), create(daemonSet(tenantNS))},
	{controllers, "create a Secret in a tenant namespace", allowed, byBoth,
		attrs("create", "", "secrets", tenantNS, ""), create(secret(tenantNS))},
	{controllers, "create a Secret in kooper's namespace", allowed, byBoth,
		attrs("create", "", "secrets", releaseNamespace, ""), create(secret(releaseNamespace))},
	{controllers, "update the products ConfigMap in kooper's namespace", allowed, byBoth,
		attrs("patch", "", "configmaps", releaseNamespace, productsConfig),
		patch(&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, productsConfig)}, `{"data":{"matrix":"x"}}`)},
	{controllers, "create a ConfigMap in the directory namespace (kooper's own)", allowed, byBoth,
		attrs("create", "", "configmaps", directoryNS, ""), create(&corev1.ConfigMap{ObjectMeta: meta(directoryNS, "matrix")})},
	{controllers, "create a Secret in the directory namespace (a shard moved out of a ConfigMap)", allowed, byBoth,
		attrs("create", "", "secrets", directoryNS, ""), create(secret(directoryNS))},
	{controllers, "create its leader-election Lease in kooper's namespace", allowed, byRBAC,
		attrs("create", "coordination.k8s.io", "leases", releaseNamespace, ""),
		create(&coordinationv1.Lease{ObjectMeta: meta(releaseNamespace, "matrix")})},
	{controllers, "create an Event in `default` about a cluster-scoped object", allowed, byBoth,
		attrs("create", "events.k8s.io", "events", "default", ""),
		create(event("default", corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: tenantNS}))},
	{controllers, "create an Event in a tenant namespace", allowed, byBoth,
		attrs("create", "events.k8s.io", "events", tenantNS, ""),
		create(event(tenantNS, corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: tenantNS, Name: "app"}))},

	// In kooper's own namespaces the controllers write Secrets, ConfigMaps and Events alone
	// (the policy; their Lease and product revisions are under Roles of their own): a leaked
	// token must not start a Pod beside the keys or open the receiver's NetworkPolicy.
	{controllers, "create a Deployment in kooper's namespace", denied, byAdmission,
		attrs("create", "apps", "deployments", releaseNamespace, ""), create(deployment(releaseNamespace))},
	{controllers, "create a Job in kooper's namespace", denied, byAdmission,
		attrs("create", "batch", "jobs", releaseNamespace, ""), create(job(releaseNamespace))},
	{controllers, "create a ServiceAccount in kooper's namespace", denied, byAdmission,
		attrs("create", "", "serviceaccounts", releaseNamespace, ""), create(&corev1.ServiceAccount{ObjectMeta: meta(releaseNamespace, "matrix")})},
	{controllers, "create a NetworkPolicy in kooper's namespace", denied, byAdmission,
		attrs("create", "networking.k8s.io", "networkpolicies", releaseNamespace, ""), create(networkPolicy(releaseNamespace, "matrix"))},
	{controllers, "change the receiver's NetworkPolicy in kooper's namespace", denied, byAdmission,
		attrs("patch", "networking.k8s.io", "networkpolicies", releaseNamespace, receiverPolicy),
		patch(networkPolicy(releaseNamespace, receiverPolicy), `{"spec":{"ingress":[{}]}}`)},
	{controllers, "create a Deployment in the directory namespace", denied, byAdmission,
		attrs("create", "apps", "deployments", directoryNS, ""), create(deployment(directoryNS))},
	{controllers, "create a ServiceAccount in the directory namespace", denied, byAdmission,
		attrs("create", "", "serviceaccounts", directoryNS, ""), create(&corev1.ServiceAccount{ObjectMeta: meta(directoryNS, "matrix")})},
	{controllers, "create a NetworkPolicy in the directory namespace", denied, byAdmission,
		attrs("create", "networking.k8s.io", "networkpolicies", directoryNS, ""), create(networkPolicy(directoryNS, "matrix"))},
	{controllers, "create an Event in kooper's namespace (about a keys Secret)", allowed, byBoth,
		attrs("create", "events.k8s.io", "events", releaseNamespace, ""),
		create(event(releaseNamespace, corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: releaseNamespace, Name: keysSecret}))},
	{controllers, "label a product's keys Secret in kooper's namespace", allowed, byBoth,
		attrs("patch", "", "secrets", releaseNamespace, keysSecret),
		patch(&corev1.Secret{ObjectMeta: meta(releaseNamespace, keysSecret)}, `{"metadata":{"labels":{"saas.kooper.io/keys":"true"}}}`)},
	{controllers, "update a Secret in kooper's namespace (a licence key)", allowed, byBoth,
		attrs("update", "", "secrets", releaseNamespace, keysSecret), update(&corev1.Secret{ObjectMeta: meta(releaseNamespace, keysSecret)})},
	{controllers, "update a tombstone (a ConfigMap) in kooper's namespace", allowed, byBoth,
		attrs("update", "", "configmaps", releaseNamespace, tombstoneShard), update(&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, tombstoneShard)})},
	{controllers, "delete a ConfigMap shard in the directory namespace (moved into a Secret)", allowed, byBoth,
		attrs("delete", "", "configmaps", directoryNS, legacyShard), remove(&corev1.ConfigMap{ObjectMeta: meta(directoryNS, legacyShard)})},
	{controllers, "delete a directory shard (a Secret) in the directory namespace", allowed, byBoth,
		attrs("delete", "", "secrets", directoryNS, shardSecret), remove(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)})},

	// What the controllers do to tenants' objects and their own kinds: applies (patches),
	// creates and deletes; never an update of a tenant's object.
	{controllers, "scale a tenant's Deployment to zero (freeze)", allowed, byBoth,
		attrs("patch", "apps", "deployments", tenantNS, tenantApp),
		patch(&appsv1.Deployment{ObjectMeta: meta(tenantNS, tenantApp)}, `{"spec":{"replicas":0}}`)},
	{controllers, "delete a Deployment in a tenant namespace (a part no longer desired)", allowed, byBoth,
		attrs("delete", "apps", "deployments", tenantNS, tenantApp), remove(&appsv1.Deployment{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "delete a Service in a tenant namespace (the app's, replaced by a chart's)", allowed, byBoth,
		attrs("delete", "", "services", tenantNS, tenantApp), remove(tenantService())},
	{controllers, "delete an Ingress in a tenant namespace (the app's, replaced by a chart's)", allowed, byBoth,
		attrs("delete", "networking.k8s.io", "ingresses", tenantNS, tenantApp), remove(tenantIngress())},
	{controllers, "delete a ConfigMap in a tenant namespace (the app's, replaced by a chart's)", allowed, byBoth,
		attrs("delete", "", "configmaps", tenantNS, tenantobjects.ConfigMapName),
		remove(&corev1.ConfigMap{ObjectMeta: meta(tenantNS, tenantobjects.ConfigMapName)})},
	{controllers, "delete a ServiceAccount in a tenant namespace (the app's, replaced by a chart's)", allowed, byBoth,
		attrs("delete", "", "serviceaccounts", tenantNS, tenantApp), remove(&corev1.ServiceAccount{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "delete a Secret in a tenant namespace (a copy the app had, or a part of a chart no longer desired)", allowed, byBoth,
		attrs("delete", "", "secrets", tenantNS, tenantobjects.TLSSecretName),
		remove(&corev1.Secret{ObjectMeta: meta(tenantNS, tenantobjects.TLSSecretName)})},
	{controllers, "list kooper's Deployments in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "apps", "deployments", tenantNS, ""), list(metadataList("apps/v1", "Deployment"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's StatefulSets in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "apps", "statefulsets", tenantNS, ""), list(metadataList("apps/v1", "StatefulSet"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's Jobs in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "batch", "jobs", tenantNS, ""), list(metadataList("batch/v1", "Job"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's CronJobs in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "batch", "cronjobs", tenantNS, ""), list(metadataList("batch/v1", "CronJob"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's HorizontalPodAutoscalers in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "autoscaling", "horizontalpodautoscalers", tenantNS, ""), list(metadataList("autoscaling/v2", "HorizontalPodAutoscaler"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's PodDisruptionBudgets in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "policy", "poddisruptionbudgets", tenantNS, ""), list(metadataList("policy/v1", "PodDisruptionBudget"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's Services in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "", "services", tenantNS, ""), list(metadataList("v1", "Service"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "list kooper's Ingresses in a tenant namespace by metadata (a lost inventory rebuilt)", allowed, byRBAC,
		attrs("list", "networking.k8s.io", "ingresses", tenantNS, ""), list(metadataList("networking.k8s.io/v1", "Ingress"), client.InNamespace(tenantNS), managedByKooper)},
	{controllers, "update a tenant namespace (it applies them)", denied, byRBAC,
		attrs("update", "", "namespaces", "", tenantNS), update(namespace(tenantNS, nil, nil))},
	{controllers, "update a ServiceAccount in a tenant namespace", denied, byRBAC,
		attrs("update", "", "serviceaccounts", tenantNS, tenantApp), replace(&corev1.ServiceAccount{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a Service in a tenant namespace", denied, byRBAC,
		attrs("update", "", "services", tenantNS, tenantApp), replace(&corev1.Service{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a PersistentVolumeClaim in a tenant namespace", denied, byRBAC,
		attrs("update", "", "persistentvolumeclaims", tenantNS, tenantApp), replace(&corev1.PersistentVolumeClaim{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a ResourceQuota in a tenant namespace", denied, byRBAC,
		attrs("update", "", "resourcequotas", tenantNS, tenantApp), replace(&corev1.ResourceQuota{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a LimitRange in a tenant namespace", denied, byRBAC,
		attrs("update", "", "limitranges", tenantNS, tenantApp), replace(&corev1.LimitRange{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a Deployment in a tenant namespace", denied, byRBAC,
		attrs("update", "apps", "deployments", tenantNS, tenantApp), replace(&appsv1.Deployment{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update an Ingress in a tenant namespace", denied, byRBAC,
		attrs("update", "networking.k8s.io", "ingresses", tenantNS, tenantApp), replace(&networkingv1.Ingress{ObjectMeta: meta(tenantNS, tenantApp)})},
	{controllers, "update a NetworkPolicy in a tenant namespace", denied, byRBAC,
		attrs("update", "networking.k8s.io", "networkpolicies", tenantNS, tenantApp), replace(networkPolicy(tenantNS, tenantApp))},
	{controllers, "update a SaaSTenant's finalizers (no owner reference names a SaaSTenant)", denied, byRBAC,
		subresource(attrs("update", saasv1alpha1.GroupVersion.Group, "saastenants", "", "i-fixture"), "finalizers"),
		updateSubresource(newSaaSTenant("i-fixture"), "finalizers")},
	{controllers, "read kooper's CustomResourceDefinitions", allowed, byRBAC,
		attrs("get", "apiextensions.k8s.io", "customresourcedefinitions", "", "saastenants.saas.kooper.io"),
		read(crd("saastenants.saas.kooper.io"))},
	{controllers, "apply a SaaSProduct from the products ConfigMap (server-side apply)", allowed, byRBAC,
		attrs("patch", saasv1alpha1.GroupVersion.Group, "saasproducts", "", fixtureProduct),
		applyLabel(saasv1alpha1.GroupVersion.String(), "SaaSProduct", fixtureProduct, "kooper-products-configmap")},
	{controllers, "apply a SaaSProduct the products ConfigMap adds (a server-side apply that creates it)", allowed, byRBAC,
		attrs("create", saasv1alpha1.GroupVersion.Group, "saasproducts", "", ""),
		applyCreate(newProductNamed("crm-added"), saasProductKind, "kooper-products-configmap")},
	{controllers, "record a SaaSProduct's status", allowed, byRBAC,
		subresource(attrs("patch", saasv1alpha1.GroupVersion.Group, "saasproducts", "", fixtureProduct), "status"),
		patchStatus(newSaaSProduct(), `{"status":{"observedGeneration":1}}`)},
	{controllers, "list Secrets in all namespaces (its cache)", allowed, byRBAC,
		attrs("list", "", "secrets", "", ""), list(&corev1.SecretList{})},
	{controllers, "watch Secrets in all namespaces (its cache)", allowed, byRBAC,
		attrs("watch", "", "secrets", "", ""), watch(&corev1.SecretList{})},
	{controllers, "list kooper's ConfigMaps in all namespaces by metadata (its cache of tenants' ConfigMaps)", allowed, byRBAC,
		attrs("list", "", "configmaps", "", ""), list(metadataList("v1", "ConfigMap"), managedByKooper)},
	{controllers, "watch kooper's ConfigMaps in all namespaces by metadata (its cache of tenants' ConfigMaps)", allowed, byRBAC,
		attrs("watch", "", "configmaps", "", ""), watch(metadataList("v1", "ConfigMap"), managedByKooper)},
	{controllers, "read its leader-election Lease", allowed, byRBAC,
		attrs("get", "coordination.k8s.io", "leases", releaseNamespace, saasv1alpha1.LeaderElectionLeaseName),
		read(lease(saasv1alpha1.LeaderElectionLeaseName))},
	{controllers, "renew its leader-election Lease (an update)", allowed, byRBAC,
		attrs("update", "coordination.k8s.io", "leases", releaseNamespace, saasv1alpha1.LeaderElectionLeaseName),
		update(lease(saasv1alpha1.LeaderElectionLeaseName))},
	{controllers, "record a leader-election Event (core/v1) in kooper's namespace", allowed, byRBAC,
		attrs("create", "", "events", releaseNamespace, ""),
		create(&corev1.Event{ObjectMeta: meta(releaseNamespace, "matrix.1"), Type: corev1.EventTypeNormal, Reason: "LeaderElection",
			InvolvedObject: corev1.ObjectReference{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Namespace: releaseNamespace, Name: saasv1alpha1.LeaderElectionLeaseName}})},
	{controllers, "list Leases in kooper's namespace", denied, byRBAC,
		attrs("list", "coordination.k8s.io", "leases", releaseNamespace, ""), list(&coordinationv1.LeaseList{}, client.InNamespace(releaseNamespace))},
	{controllers, "watch Leases in kooper's namespace", denied, byRBAC,
		attrs("watch", "coordination.k8s.io", "leases", releaseNamespace, ""), watch(&coordinationv1.LeaseList{}, client.InNamespace(releaseNamespace))},
	{controllers, "patch its leader-election Lease", denied, byRBAC,
		attrs("patch", "coordination.k8s.io", "leases", releaseNamespace, saasv1alpha1.LeaderElectionLeaseName),
		patch(lease(saasv1alpha1.LeaderElectionLeaseName), `{"spec":{"holderIdentity":"matrix"}}`)},
	{controllers, "delete its leader-election Lease", denied, byRBAC,
		attrs("delete", "coordination.k8s.io", "leases", releaseNamespace, saasv1alpha1.LeaderElectionLeaseName),
		remove(lease(saasv1alpha1.LeaderElectionLeaseName))},
	{controllers, "create a TokenReview (its metrics' authentication)", allowed, byRBAC,
		attrs("create", "authentication.k8s.io", "tokenreviews", "", ""), review(metricsTokenReview())},
	{controllers, "create a SubjectAccessReview (its metrics' authorization)", allowed, byRBAC,
		attrs("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), review(metricsAccessReview())},

	// The receiver, which faces the internet: it records intent and reads products and keys.
	{receiver, "list Secrets in all namespaces", denied, byRBAC,
		attrs("list", "", "secrets", "", ""), list(&corev1.SecretList{})},
	{receiver, "create a Deployment in `kube-system`", denied, byRBAC,
		attrs("create", "apps", "deployments", "kube-system", ""), create(deployment("kube-system"))},
	{receiver, "create a Secret in `kube-system`", denied, byRBAC,
		attrs("create", "", "secrets", "kube-system", ""), create(secret("kube-system"))},
	{receiver, "create a Secret in kooper's namespace", denied, byRBAC,
		attrs("create", "", "secrets", releaseNamespace, ""), create(secret(releaseNamespace))},
	{receiver, "update the products ConfigMap in kooper's namespace", denied, byRBAC,
		attrs("patch", "", "configmaps", releaseNamespace, productsConfig),
		patch(&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, productsConfig)}, `{"data":{"matrix":"x"}}`)},
	{receiver, "delete a tenant namespace marked with `delete-after`", denied, byRBAC,
		attrs("delete", "", "namespaces", "", releasedNS), remove(namespace(releasedNS, nil, nil))},
	{receiver, "create a ConfigMap in kooper's namespace", denied, byRBAC,
		attrs("create", "", "configmaps", releaseNamespace, ""), create(&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, "matrix")})},
	{receiver, "read a Secret in a tenant namespace", denied, byRBAC,
		attrs("get", "", "secrets", tenantNS, "kooper-directory"), read(&corev1.Secret{ObjectMeta: meta(tenantNS, "kooper-directory")})},
	{receiver, "create a ConfigMap in the directory namespace (shards are Secrets)", denied, byRBAC,
		attrs("create", "", "configmaps", directoryNS, ""), create(&corev1.ConfigMap{ObjectMeta: meta(directoryNS, "d-matrix-users-001")})},
	{receiver, "read a product's keys Secret in kooper's namespace", allowed, byRBAC,
		attrs("get", "", "secrets", releaseNamespace, keysSecret), read(&corev1.Secret{ObjectMeta: meta(releaseNamespace, keysSecret)})},
	{receiver, "list SaaSProducts", allowed, byRBAC,
		attrs("list", saasv1alpha1.GroupVersion.Group, "saasproducts", "", ""), list(&saasv1alpha1.SaaSProductList{})},
	{receiver, "create a SaaSTenant", allowed, byRBAC,
		attrs("create", saasv1alpha1.GroupVersion.Group, "saastenants", "", ""), create(newSaaSTenant("i-matrix"))},
	{receiver, "list SaaSTenants (its cache)", allowed, byRBAC,
		attrs("list", saasv1alpha1.GroupVersion.Group, "saastenants", "", ""), list(&saasv1alpha1.SaaSTenantList{})},
	{receiver, "watch SaaSTenants (its cache)", allowed, byRBAC,
		attrs("watch", saasv1alpha1.GroupVersion.Group, "saastenants", "", ""), watch(&saasv1alpha1.SaaSTenantList{})},
	{receiver, "list Licenses (its cache)", allowed, byRBAC,
		attrs("list", saasv1alpha1.GroupVersion.Group, "licenses", "", ""), list(&saasv1alpha1.LicenseList{})},
	{receiver, "watch Licenses (its cache)", allowed, byRBAC,
		attrs("watch", saasv1alpha1.GroupVersion.Group, "licenses", "", ""), watch(&saasv1alpha1.LicenseList{})},
	{receiver, "create a TokenReview (its metrics' authentication)", allowed, byRBAC,
		attrs("create", "authentication.k8s.io", "tokenreviews", "", ""), review(metricsTokenReview())},
	{receiver, "create a SubjectAccessReview (its metrics' authorization)", allowed, byRBAC,
		attrs("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), review(metricsAccessReview())},
	{receiver, "delete a SaaSDirectory", denied, byRBAC,
		attrs("delete", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), remove(newSaaSDirectory())},
	{receiver, "record an orderNotify callback (create an OrderNotification)", allowed, byRBAC,
		attrs("create", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", ""), create(newOrderNotification("n-matrix-new"))},
	{receiver, "read an OrderNotification (it only creates them)", denied, byRBAC,
		attrs("get", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", fixtureNotification), read(newOrderNotification())},
	{receiver, "delete an OrderNotification", denied, byRBAC,
		attrs("delete", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", fixtureNotification), remove(newOrderNotification())},
	{receiver, "list ConfigMaps in the directory namespace (shards not yet moved to Secrets)", allowed, byRBAC,
		attrs("list", "", "configmaps", directoryNS, ""), list(&corev1.ConfigMapList{}, client.InNamespace(directoryNS))},
	{receiver, "write a directory shard (a Secret) in the directory namespace", allowed, byRBAC,
		attrs("create", "", "secrets", directoryNS, ""),
		create(&corev1.Secret{ObjectMeta: meta(directoryNS, "d-matrix-users-001"), Type: corev1.SecretTypeOpaque})},
	{receiver, "update a directory shard (a Secret) in the directory namespace", allowed, byRBAC,
		attrs("update", "", "secrets", directoryNS, shardSecret), updateListed(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)}, &corev1.SecretList{})},
	{receiver, "delete a directory shard (a Secret) in the directory namespace", allowed, byRBAC,
		attrs("delete", "", "secrets", directoryNS, shardSecret), remove(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)})},

	{receiver, "list the tombstones (ConfigMaps) in kooper's namespace (its cache)", allowed, byRBAC,
		attrs("list", "", "configmaps", releaseNamespace, ""), list(&corev1.ConfigMapList{}, client.InNamespace(releaseNamespace))},
	{receiver, "watch the tombstones (ConfigMaps) in kooper's namespace (its cache)", allowed, byRBAC,
		attrs("watch", "", "configmaps", releaseNamespace, ""), watch(&corev1.ConfigMapList{}, client.InNamespace(releaseNamespace))},
	{receiver, "read a SaaSDirectory (from the API server, by name)", allowed, byRBAC,
		attrs("get", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), read(newSaaSDirectory())},
	{receiver, "update a SaaSDirectory (a kit sync)", allowed, byRBAC,
		attrs("update", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), update(newSaaSDirectory())},
	{receiver, "list SaaSDirectories (it reads each by name, never caches them)", denied, byRBAC,
		attrs("list", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", ""), list(&saasv1alpha1.SaaSDirectoryList{})},
	{receiver, "watch SaaSDirectories", denied, byRBAC,
		attrs("watch", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", ""), watch(&saasv1alpha1.SaaSDirectoryList{})},
	{receiver, "list directory shards (Secrets) in the directory namespace", allowed, byRBAC,
		attrs("list", "", "secrets", directoryNS, ""), list(&corev1.SecretList{}, client.InNamespace(directoryNS))},
	{receiver, "read a directory shard by name (it lists them)", denied, byRBAC,
		attrs("get", "", "secrets", directoryNS, shardSecret), read(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)})},

	// A tenant's workload, which runs the merchant's code for one buyer.
	{tenant, "read a product's keys Secret in kooper's namespace", denied, byRBAC,
		attrs("get", "", "secrets", releaseNamespace, keysSecret), read(&corev1.Secret{ObjectMeta: meta(releaseNamespace, keysSecret)})},
	{tenant, "list Secrets in kooper's namespace", denied, byRBAC,
		attrs("list", "", "secrets", releaseNamespace, ""), list(&corev1.SecretList{}, client.InNamespace(releaseNamespace))},
}

// fixtureNotification is the OrderNotification the matrix reads, patches
// and deletes (by dry run).
const fixtureNotification = "n-matrix"

// newOrderNotification is an OrderNotification as the receiver records an
// orderNotify, named fixtureNotification unless a name is given.
func newOrderNotification(name ...string) *saasv1alpha1.OrderNotification {
	n := &saasv1alpha1.OrderNotification{
		ObjectMeta: metav1.ObjectMeta{Name: fixtureNotification},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: "crm", OrderID: "CS2211181819B4LVS",
			OrderLineID: "CS2211181819B4LVS-000001", Mode: saasv1alpha1.ModeProduction,
			ReceivedTime: metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
	}
	if len(name) > 0 {
		n.Name = name[0]
	}
	return n
}

// fixtureDirectory is the SaaSDirectory the matrix deletes (by dry run).
const fixtureDirectory = "d-matrix"

// newSaaSDirectory is a SaaSDirectory as the receiver records a first kit sync.
func newSaaSDirectory() *saasv1alpha1.SaaSDirectory {
	return &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: fixtureDirectory},
		Spec: saasv1alpha1.SaaSDirectorySpec{InstanceID: "i-fixture", TenantID: "t-matrix", ProductName: "crm",
			State: saasv1alpha1.DirectoryActive, Mode: saasv1alpha1.ModeProduction},
	}
}

// newSaaSTenant is a SaaSTenant as the receiver records a purchase.
func newSaaSTenant(id string) *saasv1alpha1.SaaSTenant {
	order := "CS" + id
	return &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{
			InstanceID: id, ProductName: "crm", OrderID: order, OrderLineID: order + "-000001",
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: order, OrderLineID: order + "-000001",
				Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}},
		},
	}
}

// serviceAccount is an account the rows run as.
type serviceAccount struct{ namespace, name string }

func (a serviceAccount) String() string { return "system:serviceaccount:" + a.namespace + ":" + a.name }

func (a serviceAccount) groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + a.namespace, "system:authenticated"}
}

// policyUser finds the user the rendered admission policy applies to, in its match condition.
var policyUser = regexp.MustCompile(`request\.userInfo\.username == 'system:serviceaccount:([^:']+):([^:']+)'`)

// matrixAccounts names the accounts of the rendered chart. The controllers' is the one the
// admission policy applies to. The receiver's is the other rendered ServiceAccount, which
// must exist: the receiver faces the internet and never shares the controllers' account.
func matrixAccounts(t *testing.T, docs []object) (policyName string, accounts map[string]serviceAccount) {
	t.Helper()
	policy := only(t, docs, "ValidatingAdmissionPolicy")
	policyName = get(t, policy, "metadata", "name").(string)
	m := policyUser.FindStringSubmatch(fmt.Sprint(get(t, policy, "spec", "matchConditions", 0, "expression")))
	if m == nil {
		t.Fatalf("the admission policy's first match condition names no ServiceAccount: %v", get(t, policy, "spec", "matchConditions"))
	}
	accounts = map[string]serviceAccount{
		controllers: {namespace: m[1], name: m[2]},
		tenant:      {namespace: tenantNS, name: tenantAccount},
	}
	var others []serviceAccount
	for _, sa := range ofKind(docs, "ServiceAccount") {
		a := serviceAccount{namespace: get(t, sa, "metadata", "namespace").(string), name: get(t, sa, "metadata", "name").(string)}
		if a != accounts[controllers] {
			others = append(others, a)
		}
	}
	switch len(others) {
	case 0:
		t.Fatalf("the chart renders no ServiceAccount for the receiver apart from the controllers' %v", accounts[controllers])
	case 1:
		accounts[receiver] = others[0]
	default:
		t.Fatalf("the chart renders ServiceAccounts %v beside the controllers' %v: which is the receiver's?", others, accounts[controllers])
	}
	return policyName, accounts
}

// impersonating returns a client that acts as account, and can watch.
func impersonating(t *testing.T, env *testenv.Env, admin client.Client, account serviceAccount) client.WithWatch {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: account.String(), Groups: account.groups()}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme, Mapper: admin.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rbacAllows asks the authorizer, as an administrator, whether RBAC lets account do what attrs say.
func rbacAllows(ctx context.Context, t *testing.T, admin client.Client, account serviceAccount, a authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: account.String(), Groups: account.groups(), ResourceAttributes: &a,
	}}
	if err := admin.Create(ctx, review); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return review.Status.Allowed
}

// renderedAccess is what the matrix applies of the rendered chart: who the accounts are and
// what they may do. The Deployments are left out: nothing runs.
var renderedAccess = map[string]bool{
	"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "FlowSchema": true,
}

// A bindingProbe is a request that a rendered binding allows its first subject: once the
// authorizer allows it, the binding has taken effect.
type bindingProbe struct {
	binding string
	account serviceAccount
	attrs   authorizationv1.ResourceAttributes
}

// bindingProbes returns a probe for every rendered RoleBinding and ClusterRoleBinding: the
// first verb on the first resource of its role's first rule.
func bindingProbes(t *testing.T, docs []object) []bindingProbe {
	t.Helper()
	var probes []bindingProbe
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, b := range ofKind(docs, kind) {
			roleKind, roleName := get(t, b, "roleRef", "kind"), get(t, b, "roleRef", "name")
			ns, _ := get(t, b, "metadata", "namespace").(string)
			var rule object
			for _, role := range ofKind(docs, roleKind.(string)) {
				// A RoleBinding binds the Role of its own namespace; Roles of one name
				// in two namespaces may grant different things.
				roleNS, _ := get(t, role, "metadata", "namespace").(string)
				if get(t, role, "metadata", "name") == roleName && (roleKind != "Role" || roleNS == ns) {
					rule = get(t, role, "rules", 0).(object)
				}
			}
			if rule == nil {
				t.Fatalf("%s %v binds %s %v, which the chart does not render", kind, get(t, b, "metadata", "name"), roleKind, roleName)
			}
			resource, sub, _ := strings.Cut(get(t, rule, "resources", 0).(string), "/")
			probes = append(probes, bindingProbe{
				binding: fmt.Sprintf("%s %v", kind, get(t, b, "metadata", "name")),
				account: serviceAccount{namespace: get(t, b, "subjects", 0, "namespace").(string), name: get(t, b, "subjects", 0, "name").(string)},
				attrs: authorizationv1.ResourceAttributes{Verb: get(t, rule, "verbs", 0).(string), Group: get(t, rule, "apiGroups", 0).(string),
					Resource: resource, Subresource: sub, Namespace: ns},
			})
		}
	}
	return probes
}

// TestLeastPrivilege renders the chart with its defaults, applies its ServiceAccounts, RBAC
// and admission policy to envtest's kube-apiserver, and runs the matrix: each account, by
// impersonation, tries each request of its rows.
func TestLeastPrivilege(t *testing.T) {
	out, err := runHelm(t, "template", "kooper", "charts/kooper", "--namespace", releaseNamespace)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	docs := parseDocs(t, out)
	policyName, accounts := matrixAccounts(t, docs)

	// OwnerReferencesPermissionEnforcement is off by default (OpenShift, and clusters that
	// harden their API server, turn it on): with it, a blockOwnerDeletion owner reference
	// needs update on the owner's finalizers, which the matrix must see.
	env, err := testenv.StartWith(func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("failed to stop envtest: %v", err)
		}
	})
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(testenv.EventuallyTimeout)
	g.SetDefaultEventuallyPollingInterval(testenv.EventuallyPolling)
	ctx := context.Background()
	admin, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	// Fixtures: kooper's namespace with a keys Secret and the products ConfigMap, the
	// directory namespace with a shard, a tenant namespace, one marked for deletion, a
	// namespace that is not kooper's, and a tenant.
	for _, obj := range []client.Object{
		namespace(releaseNamespace, nil, nil),
		namespace(directoryNS, nil, nil),
		&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret), Type: corev1.SecretTypeOpaque,
			StringData: map[string]string{"users-000.json": "[]"}},
		namespace(tenantNS, tenantLabels("matrix"), nil),
		namespace(releasedNS, tenantLabels("released"), map[string]string{saasv1alpha1.DeleteAfterAnnotation: "2020-01-01T00:00:00Z"}),
		namespace(plainNS, nil, nil),
		&corev1.Secret{ObjectMeta: meta(releaseNamespace, keysSecret), StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: "k"}},
		&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, productsConfig)},
		&corev1.ConfigMap{ObjectMeta: meta(directoryNS, legacyShard)},
		&corev1.ConfigMap{ObjectMeta: meta(releaseNamespace, tombstoneShard)},
		networkPolicy(releaseNamespace, receiverPolicy),
		lease(saasv1alpha1.LeaderElectionLeaseName),
		tenantDeployment(),
		tenantService(),
		tenantIngress(),
		&corev1.ConfigMap{ObjectMeta: meta(tenantNS, tenantobjects.ConfigMapName)},
		&corev1.ServiceAccount{ObjectMeta: meta(tenantNS, tenantApp)},
		&corev1.Secret{ObjectMeta: meta(tenantNS, tenantobjects.TLSSecretName), StringData: map[string]string{"tls.crt": "", "tls.key": ""}},
		newSaaSTenant("i-fixture"),
		newSaaSDirectory(),
		newOrderNotification(),
		newSaaSProduct(),
	} {
		g.Expect(admin.Create(ctx, obj)).To(Succeed())
	}
	for _, doc := range docs {
		if !renderedAccess[fmt.Sprint(doc["kind"])] {
			continue
		}
		// A Role may live in a namespace of kooper's other than the release's.
		if ns, _ := get(t, doc, "metadata", "namespace").(string); ns != "" {
			err := admin.Create(ctx, namespace(ns, nil, nil))
			g.Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
		g.Expect(admin.Create(ctx, &unstructured.Unstructured{Object: doc})).To(Succeed(), "%s %v", doc["kind"], get(t, doc, "metadata", "name"))
	}

	clients := map[string]client.Client{}
	for name, account := range accounts {
		clients[name] = impersonating(t, env, admin, account)
	}
	// RBAC and admission policies take effect when the API server's informers see them:
	// wait until a request RBAC allows and only the policy refuses is refused by the policy.
	isPolicyDenial := func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+policyName+"'")
	}
	g.Eventually(func() error {
		return clients[controllers].Create(ctx, &corev1.ConfigMap{ObjectMeta: meta("kube-system", "probe")}, client.DryRunAll)
	}).Should(Satisfy(isPolicyDenial), "the admission policy never took effect")
	for _, probe := range bindingProbes(t, docs) {
		g.Eventually(func() bool { return rbacAllows(ctx, t, admin, probe.account, probe.attrs) }).
			Should(BeTrue(), "%s never took effect", probe.binding)
	}

	t.Run("the admission policy matches exactly the kinds RBAC lets the controllers write", func(t *testing.T) {
		checkPolicyMatchesControllersWrites(ctx, t, env.Config, admin, only(t, docs, "ValidatingAdmissionPolicy"), accounts[controllers])
	})

	t.Run("the receiver's requests, not the controllers', go to the receiver's FlowSchema", func(t *testing.T) {
		checkReceiverFlowSchema(ctx, t, env, admin, only(t, docs, "FlowSchema"), accounts[receiver], accounts[controllers])
	})

	// A mutating webhook or policy engine that sets another Pod Security level on a
	// tenant namespace runs before the policy, which then sees that level in a write
	// of kooper's that sent restricted: the refusal must say what it saw and what to
	// change, not seem to blame kooper's own request.
	t.Run("a Pod Security level someone else set on a tenant namespace is named in the refusal", func(t *testing.T) {
		g := NewWithT(t)
		err := patch(namespace(tenantNS, nil, nil), `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}`)(ctx, clients[controllers])
		g.Expect(isPolicyDenial(err)).To(BeTrue(), "the admission policy must refuse it, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("Namespace " + tenantNS + " with pod-security.kubernetes.io/enforce=baseline"))
		g.Expect(err.Error()).To(ContainSubstring("a mutating admission webhook or policy engine (or a person) changed it"))
	})

	t.Run("the controllers may not hand a tenant namespace to another tenant", func(t *testing.T) {
		checkNamespaceOwnerKept(ctx, t, admin, clients[controllers], isPolicyDenial)
	})

	policyRules := policyResourceRules(t, only(t, docs, "ValidatingAdmissionPolicy"))
	for _, row := range matrixRows {
		t.Run(row.account+": "+row.request, func(t *testing.T) {
			account := accounts[row.account]
			g := NewWithT(t)
			rbac := rbacAllows(ctx, t, admin, account, row.attrs)
			err := row.do(ctx, clients[row.account])
			switch {
			case row.want == allowed:
				g.Expect(rbac).To(BeTrue(), "RBAC must allow it")
				g.Expect(err).NotTo(HaveOccurred(), "the request must succeed")
				g.Expect(row.by).To(Equal(allowedBy(policyRules, row)), "the layers that check it, as the rendered policy matches it")
			case row.by == byRBAC:
				g.Expect(rbac).To(BeFalse(), "RBAC must refuse it")
				g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the request must be Forbidden, got %v", err)
				g.Expect(isPolicyDenial(err)).To(BeFalse(), "the authorizer must refuse it, not the policy: %v", err)
			case row.by == byAdmission:
				g.Expect(rbac).To(BeTrue(), "RBAC allows it: only the admission policy stands in the way")
				g.Expect(isPolicyDenial(err)).To(BeTrue(), "the admission policy must refuse it, got %v", err)
				g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the policy refuses with Forbidden, got %v", err)
			default:
				t.Fatalf("a denied row is decided by %s or %s, not %q", byRBAC, byAdmission, row.by)
			}
			t.Logf("RBAC alone: allowed=%t; request: %v", rbac, err)
		})
	}
}

// allowedBy is who checks an allowed row: RBAC and the admission policy when the policy
// matches the write (the controllers' writes of the kinds it lists), RBAC alone for a read or
// a write it does not match (kooper's cluster-scoped kinds, Leases, ControllerRevisions, core
// Events, every write of another account).
func allowedBy(rules resourceRules, row matrixRow) decider {
	operation, isWrite := writeOperations[row.attrs.Verb]
	resource := row.attrs.Resource
	if row.attrs.Subresource != "" {
		resource += "/" + row.attrs.Subresource
	}
	if row.account == controllers && isWrite && rules.matches(writable{group: row.attrs.Group, resource: resource, operation: operation}) {
		return byBoth
	}
	return byRBAC
}

// TestLeastPrivilegeDocs checks that the "Least privilege" table of docs/operations.md has
// every row of the matrix, as the test runs it.
func TestLeastPrivilegeDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, row := range matrixRows {
		if !strings.Contains(doc, row.docLine()+"\n") {
			t.Errorf("docs/operations.md lacks the matrix row\n%s", row.docLine())
		}
	}
}
