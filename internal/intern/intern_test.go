package intern

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
)

// product is a workload product with every isolation object: quota,
// limits, storage, an ingress (so the NetworkPolicy admits the ingress
// controller).
func product() *saasv1alpha1.SaaSProduct {
	return &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "crm"},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", KeysSecretName: "crm-keys", NamespacePrefix: "tenant",
			URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.crm.example.com"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/crm:1.0", Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
				Resources: &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"),
						corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
				},
				Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data"},
				Ingress: &saasv1alpha1.IngressTemplate{ClassName: "nginx"},
				// Its defaults set no ephemeral-storage: the tenants keep
				// the LimitRange that gives it, whose sharing is tested.
				SSO:       &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}},
				Directory: &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"},
			},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}}},
		},
	}
}

// protoMarshaler is what every built-in kind implements: the informers
// receive them as protobuf.
type protoMarshaler interface {
	client.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// storedObjects returns, as the API server would send them (protobuf,
// with a UID, resourceVersion and creation time each), the objects kooper
// caches for tenant i: its Namespace and the isolation objects, workload
// and Service.
func storedObjects(t testing.TB, p *saasv1alpha1.SaaSProduct, i int) []protoMarshaler {
	t.Helper()
	id := fmt.Sprintf("i-%020x", i)
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: p.Name}}
	namespace := tenantobjects.NamespaceName(p, id)
	urls, err := tenantobjects.RenderURLs(p, id, namespace)
	if err != nil {
		t.Fatal(err)
	}
	d := &tenantobjects.Desired{Tenant: tenant, Product: p, Plan: &p.Spec.Plans[0], Namespace: namespace, URLs: urls, IngressNamespace: "ingress-nginx"}
	present, _ := d.Objects()
	var out []protoMarshaler
	for n, obj := range append([]client.Object{tenantobjects.NamespaceObject(tenant, namespace)}, present...) {
		o, ok := obj.(protoMarshaler)
		if !ok {
			t.Fatalf("%T is not a built-in kind", obj)
		}
		o.SetUID(types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, n)))
		o.SetResourceVersion(fmt.Sprint(1000000 + i*20 + n))
		o.SetCreationTimestamp(metav1.Date(2026, 12, 2, 4, 0, 0, 0, time0.Location()))
		annotations := o.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[saasv1alpha1.LastAppliedHashAnnotation] = fmt.Sprintf("%032x", i*20+n)
		o.SetAnnotations(annotations)
		out = append(out, o)
	}
	return out
}

var time0 = metav1.Now()

// decoded returns fresh copies of objs decoded from protobuf, as an
// informer gets them: each with its own copy of every string.
func decoded(t testing.TB, objs []protoMarshaler) []client.Object {
	t.Helper()
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		data, err := o.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		fresh := reflect.New(reflect.TypeOf(o).Elem()).Interface().(protoMarshaler)
		if err := fresh.Unmarshal(data); err != nil {
			t.Fatal(err)
		}
		out = append(out, fresh)
	}
	return out
}

// twoTenantsTransformed returns two tenants' cached objects, decoded, each
// passed through transform, which must change no value.
func twoTenantsTransformed(t *testing.T, transform func(any) (any, error)) (a, b []client.Object) {
	t.Helper()
	p := product()
	a, b = decoded(t, storedObjects(t, p, 1)), decoded(t, storedObjects(t, p, 2))
	for _, obj := range append(append([]client.Object{}, a...), b...) {
		before := obj.DeepCopyObject()
		if _, err := transform(obj); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, obj) {
			t.Errorf("%T %s changed", obj, obj.GetName())
		}
	}
	return a, b
}

// Shared changes no value, and two tenants' objects then share their
// label keys, the product's label value and the policy's selectors.
func TestSharedChangesNothingButSharesRepeatedStrings(t *testing.T) {
	a, b := twoTenantsTransformed(t, Shared)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	nsA, nsB := a[0].GetLabels(), b[0].GetLabels()
	for k := range nsA {
		var kb string
		for k2 := range nsB {
			if k2 == k {
				kb = k2
			}
		}
		if !same(k, kb) {
			t.Errorf("label key %q not shared between two namespaces", k)
		}
	}
	if !same(nsA[saasv1alpha1.ProductLabel], nsB[saasv1alpha1.ProductLabel]) {
		t.Error("the product label's value is not shared")
	}
	if !same(a[1].GetNamespace(), a[2].GetNamespace()) {
		t.Error("a tenant's objects do not share their namespace's name")
	}
	policy := func(objs []client.Object) *networkingv1.NetworkPolicy {
		for _, o := range objs {
			if np, ok := o.(*networkingv1.NetworkPolicy); ok {
				return np
			}
		}
		t.Fatal("no NetworkPolicy")
		return nil
	}
	// The peer that admits the ingress controller's namespace is the same
	// in every tenant's policy.
	ingressController := func(np *networkingv1.NetworkPolicy) map[string]string {
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName] == "ingress-nginx" {
					return peer.NamespaceSelector.MatchLabels
				}
			}
		}
		t.Fatalf("the policy does not admit the ingress controller: %+v", np.Spec.Ingress)
		return nil
	}
	selectorA, selectorB := ingressController(policy(a)), ingressController(policy(b))
	for k, v := range selectorA {
		if !same(v, selectorB[k]) {
			t.Errorf("the selector value %q is not shared between two policies", v)
		}
	}
}

func TestSharedLeavesOtherThingsAlone(t *testing.T) {
	for _, obj := range []any{nil, "not an object", &metav1.ObjectMeta{}, &corev1.Secret{}} {
		got, err := Shared(obj)
		if err != nil || !reflect.DeepEqual(got, obj) {
			t.Errorf("Shared(%#v) = %#v, %v", obj, got, err)
		}
	}
}

func TestCachedFormDropsManagedFields(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kooper"}}}}
	got, err := CachedForm(cm)
	if err != nil || len(got.(*corev1.ConfigMap).ManagedFields) != 0 || got.(*corev1.ConfigMap).Labels["a"] != "b" {
		t.Errorf("CachedForm = %+v, %v", got, err)
	}
}

// BenchmarkCachedTenantObjects measures what the informers hold for 2,000
// tenants' cached objects (their Namespace, ResourceQuota, LimitRange,
// NetworkPolicy, ServiceAccount, claim, Deployment, Service, Ingress),
// decoded from protobuf as the informers decode them: with managed fields
// stripped only (before issue 26's change) and in CachedForm. Run with
// `go test -run='^$' -bench=CachedTenantObjects -benchtime=1x ./internal/intern`.
func BenchmarkCachedTenantObjects(b *testing.B) {
	const tenants = 2000
	p := product()
	stored := make([][]protoMarshaler, tenants)
	for i := range stored {
		stored[i] = storedObjects(b, p, i)
	}
	build := func(transform func(any) (any, error)) func() any {
		return func() any {
			var held []client.Object
			for _, objs := range stored {
				for _, o := range decoded(b, objs) {
					if _, err := transform(o); err != nil {
						b.Fatal(err)
					}
					held = append(held, o)
				}
			}
			return held
		}
	}
	// The transforms' own CPU, per object, on objects decoded beforehand.
	perObject := func(transform func(any) (any, error)) float64 {
		var objs []client.Object
		for _, s := range stored {
			objs = append(objs, decoded(b, s)...)
		}
		start := time.Now()
		for _, o := range objs {
			_, _ = transform(o)
		}
		return float64(time.Since(start).Nanoseconds()) / float64(len(objs))
	}
	for b.Loop() {
		b.ReportMetric(perObject(stripManagedFields), "ns/object-stripped")
		b.ReportMetric(perObject(CachedForm), "ns/object-cached-form")
		stripped := testenv.HeapOf(build(stripManagedFields))
		interned := testenv.HeapOf(build(CachedForm))
		b.ReportMetric(float64(stripped)/tenants, "B/tenant-stripped")
		b.ReportMetric(float64(interned)/tenants, "B/tenant-cached-form")
		b.ReportMetric(float64(interned)/float64(stripped), "cached-form/stripped")
	}
}

// BenchmarkCachedFormCPU measures CachedForm's CPU per object on 500
// tenants' decoded objects whose equal content the tables already hold, as
// at a restart or a relist, where every object but a tenant's first shares:
// `go test -run='^$' -bench=CachedFormCPU ./internal/intern`.
func BenchmarkCachedFormCPU(b *testing.B) {
	p := product()
	var objs []client.Object
	for i := range 500 {
		objs = append(objs, decoded(b, storedObjects(b, p, i))...)
	}
	for b.Loop() {
		for _, o := range objs {
			if _, err := CachedForm(o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/object")
}

// BenchmarkCachedSaaSTenants measures what the informers hold for 2,000
// provisioned tenants' records (testdata/saastenant.json, a record of
// make bench's, each with its own instance and order), decoded from JSON
// as the informers decode a custom resource: with managed fields stripped
// only and in CachedForm.
func BenchmarkCachedSaaSTenants(b *testing.B) {
	const tenants = 2000
	template, err := os.ReadFile("testdata/saastenant.json")
	if err != nil {
		b.Fatal(err)
	}
	stored := make([][]byte, tenants)
	for i := range stored {
		id, order := fmt.Sprintf("i-%020x", i), fmt.Sprintf("CS%010d", i)
		stored[i] = []byte(strings.NewReplacer("ID", id, "ORDER", order).Replace(string(template)))
	}
	decode := func(data []byte) *saasv1alpha1.SaaSTenant {
		t := &saasv1alpha1.SaaSTenant{}
		if err := json.Unmarshal(data, t); err != nil {
			b.Fatal(err)
		}
		return t
	}
	build := func(transform func(any) (any, error)) func() any {
		return func() any {
			held := make([]*saasv1alpha1.SaaSTenant, 0, tenants)
			for _, data := range stored {
				t := decode(data)
				if _, err := transform(t); err != nil {
					b.Fatal(err)
				}
				held = append(held, t)
			}
			return held
		}
	}
	for b.Loop() {
		stripped := testenv.HeapOf(build(stripManagedFields))
		cached := testenv.HeapOf(build(CachedForm))
		b.ReportMetric(float64(stripped)/tenants, "B/tenant-stripped")
		b.ReportMetric(float64(cached)/tenants, "B/tenant-cached-form")
		b.ReportMetric(float64(cached)/float64(stripped), "cached-form/stripped")
	}
}
