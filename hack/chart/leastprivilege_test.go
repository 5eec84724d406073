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
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
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

// shardSecret is a directory shard in the directory namespace.
const shardSecret = "d-matrix-users-000"

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

func fresh(obj client.Object) client.Object { return obj.DeepCopyObject().(client.Object) }

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
	{controllers, "record a SaaSTenant's status (a cluster-scoped kind)", allowed, byBoth,
		subresource(attrs("patch", saasv1alpha1.GroupVersion.Group, "saastenants", "", "i-fixture"), "status"),
		patchStatus(&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-fixture"}}, `{"status":{"namespace":"tenant-matrix"}}`)},
	{controllers, "tell a SaaSTenant which product revision to run (its annotations; docs/rollout.md)", allowed, byBoth,
		attrs("patch", saasv1alpha1.GroupVersion.Group, "saastenants", "", "i-fixture"),
		patch(&saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-fixture"}}, `{"metadata":{"annotations":{"saas.kooper.io/revision":"crm-0123456789"}}}`)},
	{controllers, "store a product revision (a ControllerRevision) in kooper's namespace", allowed, byBoth,
		attrs("create", "apps", "controllerrevisions", releaseNamespace, ""), create(controllerRevision(releaseNamespace))},
	{controllers, "create a ControllerRevision in a tenant namespace", denied, byRBAC,
		attrs("create", "apps", "controllerrevisions", tenantNS, ""), create(controllerRevision(tenantNS))},
	{controllers, "delete a SaaSDirectory (its finalizer deletes the users' data first)", allowed, byBoth,
		attrs("delete", saasv1alpha1.GroupVersion.Group, "saasdirectories", "", fixtureDirectory), remove(newSaaSDirectory())},
	{controllers, "record an OrderNotification's status (what Query Order said)", allowed, byBoth,
		subresource(attrs("patch", saasv1alpha1.GroupVersion.Group, "ordernotifications", "", fixtureNotification), "status"),
		patchStatus(newOrderNotification(), `{"status":{"resolvedTime":"2026-12-01T00:00:00Z"}}`)},
	{controllers, "delete an OrderNotification (after its retention)", allowed, byBoth,
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
	{controllers, "create its leader-election Lease in kooper's namespace", allowed, byBoth,
		attrs("create", "coordination.k8s.io", "leases", releaseNamespace, ""),
		create(&coordinationv1.Lease{ObjectMeta: meta(releaseNamespace, "matrix")})},
	{controllers, "create an Event in `default` about a cluster-scoped object", allowed, byBoth,
		attrs("create", "events.k8s.io", "events", "default", ""),
		create(event("default", corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: tenantNS}))},
	{controllers, "create an Event in a tenant namespace", allowed, byBoth,
		attrs("create", "events.k8s.io", "events", tenantNS, ""),
		create(event(tenantNS, corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: tenantNS, Name: "app"}))},

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
		attrs("update", "", "secrets", directoryNS, shardSecret), update(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)})},
	{receiver, "delete a directory shard (a Secret) in the directory namespace", allowed, byRBAC,
		attrs("delete", "", "secrets", directoryNS, shardSecret), remove(&corev1.Secret{ObjectMeta: meta(directoryNS, shardSecret)})},

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

// impersonating returns a client that acts as account.
func impersonating(t *testing.T, env *testenv.Env, admin client.Client, account serviceAccount) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: account.String(), Groups: account.groups()}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme, Mapper: admin.RESTMapper()})
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

	env, err := testenv.Start()
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
		newSaaSTenant("i-fixture"),
		newSaaSDirectory(),
		newOrderNotification(),
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
