package apply

import (
	"bytes"
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// asTheCacheReadsIt makes obj what the manager's cache would hold of it:
// controller-runtime lists and watches built-in kinds as protobuf, whose
// messages carry no apiVersion and kind for a nested object, and the cache
// sets only the object's own.
func asTheCacheReadsIt(t *testing.T, obj client.Object) {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, clientgoscheme.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk) // the encoder names the kind
	codec := protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)
	var buf bytes.Buffer
	if err := codec.Encode(obj, &buf); err != nil {
		t.Fatal(err)
	}
	decoded, _, err := codec.Decode(buf.Bytes(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mustToUnstructured(t, decoded), obj); err != nil {
		t.Fatal(err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

func mustToUnstructured(t *testing.T, obj runtime.Object) map[string]any {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// statefulSetWithClaimTypeMeta is a chart's StatefulSet whose claim
// template names its apiVersion and kind, as charts written for Argo CD do.
func statefulSetWithClaimTypeMeta(claimKind string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"namespace": "tenant-a", "name": "db"},
		"spec": map[string]any{"serviceName": "db", "volumeClaimTemplates": []any{map[string]any{
			"apiVersion": "v1", "kind": claimKind, "metadata": map[string]any{"name": "data"},
			"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
		}}}}}
}

// dataWrittenOtherwise is a chart's Secret or ConfigMap (field data or
// binaryData) whose base64 is valid but not as Go writes it: a YAML `|`
// block's trailing newline, text wrapped at 76 characters.
func dataWrittenOtherwise(kind, field string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind,
		"metadata": map[string]any{"namespace": "tenant-a", "name": "creds"},
		field: map[string]any{
			"password": "aHVudGVyMg==\n", // hunter2
			"long": "YSBsb25nIHNlY3JldCB2YWx1ZSwgYSBsb25nIHNlY3JldCB2YWx1ZSwgYSBsb25nIHNlY3JldCB2\n" +
				"YWx1ZSwgYSBsb25nIHNlY3JldCB2YWx1ZSwgYSBsb25nIHNlY3JldCB2YWx1ZSwg\n",
		}}}
}

// An object the API server stores otherwise than kooper writes it, where
// the stored form holds every value (the bytes of the base64, a claim
// template whose apiVersion and kind no stored copy keeps), is in step
// once applied: the second apply of the same desired object, read back as
// the cache reads it, writes nothing. Before, it was applied on every
// pass, restart and resync.
func TestAnObjectStoredOtherwiseThanWrittenIsInStepOnceApplied(t *testing.T) {
	for name, desired := range map[string]func() *unstructured.Unstructured{
		"claim templates with apiVersion and kind": func() *unstructured.Unstructured { return statefulSetWithClaimTypeMeta("PersistentVolumeClaim") },
		"Secret data as a | block":                 func() *unstructured.Unstructured { return dataWrittenOtherwise("Secret", "data") },
		"ConfigMap binaryData as a | block":        func() *unstructured.Unstructured { return dataWrittenOtherwise("ConfigMap", "binaryData") },
	} {
		t.Run(name, func(t *testing.T) {
			a, n := newApplier(t, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := c.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				asTheCacheReadsIt(t, obj)
				return nil
			}})
			a.HashAnnotation = hashAnnotation
			for i, want := range []bool{true, false} {
				wrote, err := a.Apply(context.Background(), desired())
				if err != nil || wrote != want {
					t.Fatalf("apply %d = %v, %v; want %v", i+1, wrote, err, want)
				}
			}
			if n.applies != 1 {
				t.Errorf("%d applies, want 1", n.applies)
			}
		})
	}
}

// The allowances are no wider than what the API server stores: a claim
// template naming another kind or version, base64 of other bytes, and
// text that is no base64 are not held.
func TestAnObjectStoredOtherwiseIsHeldOnlyWhereTheStoredFormAgrees(t *testing.T) {
	typed := func(u *unstructured.Unstructured) client.Object {
		obj := TypedOrUnstructured(clientgoscheme.Scheme, u.Object)
		asTheCacheReadsIt(t, obj)
		return obj
	}
	sts := typed(statefulSetWithClaimTypeMeta("PersistentVolumeClaim"))
	secret := typed(dataWrittenOtherwise("Secret", "data"))
	for _, tc := range []struct {
		name    string
		desired map[string]any
		actual  client.Object
		want    bool
	}{
		{"the claim's own apiVersion and kind", statefulSetWithClaimTypeMeta("PersistentVolumeClaim").Object, sts, true},
		{"another kind in a claim template", statefulSetWithClaimTypeMeta("ConfigMap").Object, sts, false},
		{"another apiVersion in a claim template", map[string]any{"spec": map[string]any{"volumeClaimTemplates": []any{
			map[string]any{"apiVersion": "v2", "metadata": map[string]any{"name": "data"}}}}}, sts, false},
		{"the same bytes, with newlines", dataWrittenOtherwise("Secret", "data").Object, secret, true},
		{"the canonical text", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}}, secret, true},
		{"other bytes", map[string]any{"data": map[string]any{"password": "aHVudGVyMw==\n"}}, secret, false},
		{"no base64", map[string]any{"data": map[string]any{"password": "hunter2!"}}, secret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := holdsFields(tc.desired, tc.actual); got != tc.want {
				t.Errorf("holdsFields = %v, want %v", got, tc.want)
			}
		})
	}
	// An object's own empty kind (a direct protobuf read, before the
	// cache sets it) names its Go type too: only that.
	bare := typed(statefulSetWithClaimTypeMeta("PersistentVolumeClaim"))
	bare.GetObjectKind().SetGroupVersionKind(bare.GetObjectKind().GroupVersionKind().GroupVersion().WithKind(""))
	if !holdsFields(map[string]any{"kind": "StatefulSet"}, bare) || holdsFields(map[string]any{"kind": "Deployment"}, bare) {
		t.Error("an object's own empty kind holds another kind, or not its own")
	}
}
