package chartrender

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// allowedKinds is the allow-list, in the order Render sorts by: what others
// refer to comes before what refers to it (accounts, configuration and
// storage, then Services, workloads, and what points at workloads).
var allowedKinds = []schema.GroupKind{
	{Group: "", Kind: "ServiceAccount"},
	{Group: "", Kind: "Secret"},
	{Group: "", Kind: "ConfigMap"},
	{Group: "", Kind: "PersistentVolumeClaim"},
	{Group: "", Kind: "Service"},
	{Group: "apps", Kind: "Deployment"},
	{Group: "apps", Kind: "StatefulSet"},
	{Group: "batch", Kind: "Job"},
	{Group: "batch", Kind: "CronJob"},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"},
	{Group: "policy", Kind: "PodDisruptionBudget"},
	{Group: "networking.k8s.io", Kind: "Ingress"},
}

// kindRank is the position of each allowed kind in allowedKinds.
var kindRank = func() map[schema.GroupKind]int {
	m := make(map[schema.GroupKind]int, len(allowedKinds))
	for i, gk := range allowedKinds {
		m[gk] = i
	}
	return m
}()

// AllowedKinds returns the kinds a tenant's chart may hold, every one
// namespaced, in the order Render sorts its objects by; any version of these
// groups is allowed. The caller derives its RBAC and its watches from it.
// The slice is a copy.
func AllowedKinds() []schema.GroupKind {
	return append([]schema.GroupKind(nil), allowedKinds...)
}

// Reasons of a RefusedObject.
const (
	// ReasonKindNotAllowed: the kind is not in AllowedKinds (RBAC, webhooks,
	// CRDs, every cluster-scoped kind, NetworkPolicy, ResourceQuota,
	// LimitRange, Namespace, custom resources…).
	ReasonKindNotAllowed = "kind not allowed in a tenant namespace"
	// ReasonOtherNamespace: metadata.namespace names a namespace other than
	// the tenant's.
	ReasonOtherNamespace = "namespace is not the tenant's"
	// ReasonNoName: the object has no metadata.name.
	ReasonNoName = "no metadata.name"
	// ReasonDuplicate: the chart renders the same kind and name twice.
	ReasonDuplicate = "rendered twice"
	// ReasonInvalidName: metadata.name is not a name the API server takes
	// for the object's kind (validName), followed by why in parentheses.
	ReasonInvalidName = "metadata.name is not valid for its kind"
	// ReasonExternalName: a Service of spec.type ExternalName. An Ingress
	// whose backend it is makes the ingress controller, whose namespace
	// every tenant's NetworkPolicy admits, proxy to whatever name it gives,
	// another tenant's Service among them: a chart cannot widen its own
	// tenant's isolation (docs/chart-tenants.md).
	ReasonExternalName = "Service of type ExternalName not allowed (it would route the ingress controller out of the tenant's namespace)"
	// ReasonExternalIPs: a Service with spec.externalIPs. kube-proxy sends
	// every pod's traffic to those addresses, in any namespace, to the
	// Service's pods (CVE-2020-8554), unless the cluster runs the
	// DenyServiceExternalIPs admission plugin: a tenant could take another
	// tenant's, or any outside service's, traffic.
	ReasonExternalIPs = "Service with spec.externalIPs not allowed (it would take the cluster's traffic to those addresses, CVE-2020-8554)"
	// ReasonReservedName: a Secret or ConfigMap named as one kooper writes
	// into the tenant's namespace (reservedNames), followed by what kooper
	// keeps in it in parentheses. Applied with kooper's field owner and
	// forced, the chart's would replace kooper's (the buyer's admin
	// password, the SSO client), and the two writers would take turns.
	ReasonReservedName = "name reserved: kooper writes this object in the tenant's namespace"
)

// RefusedObject is one object of a chart that a tenant may not hold.
type RefusedObject struct {
	// GroupKind is the object's group and kind (Group "" is the core group).
	GroupKind schema.GroupKind
	// Namespace is the object's metadata.namespace as rendered, "" if none.
	Namespace string
	// Name is the object's metadata.name.
	Name string
	// Reason is one of the Reason* constants, with detail where it helps.
	Reason string
}

// String gives "group/Kind name: reason", the core group written "core".
func (o RefusedObject) String() string {
	group := o.GroupKind.Group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s/%s %s: %s", group, o.GroupKind.Kind, o.Name, o.Reason)
}

// RefusedError is Render's error when the chart holds objects a tenant may
// not hold; Objects lists every one of them, in the chart's sorted order.
// Nothing of such a chart should be applied. Match it with errors.As.
type RefusedError struct {
	// Objects are the refused objects, never empty.
	Objects []RefusedObject
}

// Error lists every refused object, "; "-separated, fit for a condition
// message.
func (e *RefusedError) Error() string {
	parts := make([]string, len(e.Objects))
	for i, o := range e.Objects {
		parts[i] = o.String()
	}
	noun := "objects"
	if len(e.Objects) == 1 {
		noun = "object"
	}
	return fmt.Sprintf("chart holds %d %s a tenant may not hold: %s", len(e.Objects), noun, strings.Join(parts, "; "))
}

// admit checks one rendered object against the allow-list, the names the
// API server takes for its kind (validName) and the tenant's namespace,
// setting the namespace of an object that has none. It returns the reason
// of a refusal, "" when the object is admitted.
func admit(obj *unstructured.Unstructured, namespace string) string {
	gk := obj.GroupVersionKind().GroupKind()
	if _, ok := kindRank[gk]; !ok {
		return ReasonKindNotAllowed
	}
	if obj.GetName() == "" {
		return ReasonNoName
	}
	if errs := validName(gk, obj.GetName()); len(errs) > 0 {
		return fmt.Sprintf("%s (%s)", ReasonInvalidName, strings.Join(errs, "; "))
	}
	switch ns := obj.GetNamespace(); ns {
	case "":
		obj.SetNamespace(namespace)
	case namespace:
	default:
		return fmt.Sprintf("%s (%q)", ReasonOtherNamespace, ns)
	}
	if what := reservedFor(gk, obj.GetName()); what != "" {
		return fmt.Sprintf("%s (%s)", ReasonReservedName, what)
	}
	return refusedSpec(gk, obj)
}

// reservedName is an object kooper writes into a chart tenant's namespace
// itself, by kind and name.
type reservedName struct {
	gk   schema.GroupKind
	name string
	// prefixed: every name that begins with name and "-" is kooper's too.
	prefixed bool
	// what is what kooper keeps in it, for the refusal's message.
	what string
}

// reservedNames are the objects of the allowed kinds that kooper writes
// into a chart tenant's namespace: the admin credentials (the tenant
// controller), the SSO client settings and the directory with its shards
// (the directory controller), and the expiry notice (the tenant
// controller). The charts' values name the first three, to read them with.
// kooper's other objects there are of kinds a chart may not hold
// (NetworkPolicy, ResourceQuota, LimitRange), and those of a product's
// spec.workload (Deployment, Service, Ingress and ServiceAccount app, the
// kooper-tls and kooper-image-pull copies, the kooper-config ConfigMap,
// the data claim) are a chart's to take over when the product switches to
// it (docs/chart-tenants.md).
var reservedNames = []reservedName{
	{gk: secretKind, name: tenantobjects.CredentialsSecretName,
		what: "the tenant's admin credentials, which the buyer got; read them from the Secret .Values.kooper.credentialsSecretName names"},
	{gk: secretKind, name: saasv1alpha1.SSOSecretName, what: "the tenant's SSO client settings"},
	{gk: secretKind, name: saasv1alpha1.DirectorySecretName, prefixed: true, what: "the tenant's directory and its shards"},
	{gk: configMapKind, name: saasv1alpha1.NoticeConfigMapName, what: "the tenant's expiry notice"},
}

// The kinds of reservedNames.
var (
	secretKind    = schema.GroupKind{Group: "", Kind: "Secret"}
	configMapKind = schema.GroupKind{Group: "", Kind: "ConfigMap"}
)

// reservedFor returns what kooper keeps in its object of kind gk called
// name (reservedNames), "" when kooper writes no such object.
func reservedFor(gk schema.GroupKind, name string) string {
	for _, r := range reservedNames {
		if gk == r.gk && (name == r.name || (r.prefixed && strings.HasPrefix(name, r.name+"-"))) {
			return r.what
		}
	}
	return ""
}

// serviceKind is the core Service, whose spec.type refusedSpec reads.
var serviceKind = schema.GroupKind{Group: "", Kind: "Service"}

// refusedSpec returns why obj's spec is one a tenant may not hold, "" when
// it may: a Service of type ExternalName (ReasonExternalName) or with
// externalIPs (ReasonExternalIPs). Every other Service selects pods of the
// tenant's own namespace for traffic sent to it. A type that is not a
// string is left to the API server, which refuses it.
func refusedSpec(gk schema.GroupKind, obj *unstructured.Unstructured) string {
	if gk != serviceKind {
		return ""
	}
	if typ, _, _ := unstructured.NestedString(obj.Object, "spec", "type"); typ == "ExternalName" {
		return ReasonExternalName
	}
	if ips, found, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "externalIPs"); found {
		if list, ok := ips.([]any); !ok || len(list) > 0 {
			return ReasonExternalIPs
		}
	}
	return ""
}

// maxCronJobName is the longest name the API server takes for a new
// CronJob: its Jobs are named after it with 11 characters more, within a
// DNS label's 63.
const maxCronJobName = 52

// validName returns why the API server would refuse name for an object of
// kind gk (one of allowedKinds), nil when it would take it, as its
// validation of each kind has it (Kubernetes 1.37): a Service (whose name
// is a DNS name in the cluster) and a StatefulSet (whose pods' hostnames
// it makes) need an RFC 1123 label of at most 63 characters, a CronJob an
// RFC 1123 subdomain of at most 52, a PodDisruptionBudget only a path
// segment of at most 253 characters, and every other kind an RFC 1123
// subdomain (at most 253 characters). A tenant records each name in
// status.inventory, whose names are at most 253 characters, before the API
// server sees the object: a name it refuses must be refused here. Older
// API servers refuse a Service name that starts with a digit too; such an
// object is refused when applied.
func validName(gk schema.GroupKind, name string) []string {
	switch gk {
	case schema.GroupKind{Group: "", Kind: "Service"}, schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return apivalidation.NameIsDNSLabel(name, false)
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		if errs := apivalidation.NameIsDNSSubdomain(name, false); len(errs) > 0 {
			return errs
		}
		if len(name) > maxCronJobName {
			return []string{fmt.Sprintf("must be no more than %d characters, so that its Jobs' names fit in 63", maxCronJobName)}
		}
		return nil
	case schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}:
		// The bound is status.inventory's, in characters as it counts them.
		if utf8.RuneCountInString(name) > content.DNS1123SubdomainMaxLength {
			return []string{fmt.Sprintf("must be no more than %d characters", content.DNS1123SubdomainMaxLength)}
		}
		return content.IsPathSegmentName(name)
	}
	return apivalidation.NameIsDNSSubdomain(name, false)
}
