package apply

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const owner = "kooper"

func configMap(data map[string]string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "app", Labels: labels},
		Data:       data,
	}
}

// calls counts the calls that reached the client.
type calls struct{ gets, applies, deletes int }

// newApplier is an Applier over a fake client holding objs, counting its
// calls; funcs replaces the client's reads or writes where set. Its reads
// return apiVersion and kind, as the manager's cache does (controller-runtime
// pkg/cache/internal/cache_reader.go) and the fake client does not.
func newApplier(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) (*Applier, *calls) {
	t.Helper()
	n := &calls{}
	get, apply, del := funcs.Get, funcs.Apply, funcs.Delete
	funcs.Get = func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		n.gets++
		if get != nil {
			return get(ctx, c, key, obj, opts...)
		}
		if err := c.Get(ctx, key, obj, opts...); err != nil {
			return err
		}
		gvk, err := apiutil.GVKForObject(obj, c.Scheme())
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		return err
	}
	funcs.Apply = func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
		n.applies++
		if apply != nil {
			return apply(ctx, c, obj, opts...)
		}
		return c.Apply(ctx, obj, opts...)
	}
	funcs.Delete = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		n.deletes++
		if del != nil {
			return del(ctx, c, obj, opts...)
		}
		return c.Delete(ctx, obj, opts...)
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
	return &Applier{Client: c, Scheme: clientgoscheme.Scheme, Owner: owner}, n
}

var errBoom = errors.New("boom")

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		existing []client.Object
		funcs    interceptor.Funcs
		desired  client.Object
		want     bool
		wantErr  string
		wantData map[string]string
	}{
		{name: "absent: applied", desired: configMap(map[string]string{"a": "1"}, nil), want: true, wantData: map[string]string{"a": "1"}},
		{name: "every desired field cached: skipped",
			existing: []client.Object{configMap(map[string]string{"a": "1", "b": "added by someone"}, map[string]string{"x": "y"})},
			desired:  configMap(map[string]string{"a": "1"}, nil), wantData: map[string]string{"a": "1", "b": "added by someone"}},
		{name: "a field differs: applied",
			existing: []client.Object{configMap(map[string]string{"a": "hand-edited"}, nil)},
			desired:  configMap(map[string]string{"a": "1"}, nil), want: true, wantData: map[string]string{"a": "1"}},
		{name: "read fails",
			funcs: interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return errBoom
			}},
			desired: configMap(map[string]string{"a": "1"}, nil), wantErr: "failed to read ConfigMap tenant-a/app: boom"},
		{name: "apply fails",
			funcs: interceptor.Funcs{Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
				return errBoom
			}},
			desired: configMap(map[string]string{"a": "1"}, nil), wantErr: "failed to apply ConfigMap tenant-a/app: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, n := newApplier(t, tt.funcs, tt.existing...)
			wrote, err := a.Apply(context.Background(), tt.desired)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Apply error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || wrote != tt.want {
				t.Fatalf("Apply = %v, %v; want %v", wrote, err, tt.want)
			}
			if want := map[bool]int{true: 1}[tt.want]; n.applies != want {
				t.Errorf("%d applies reached the client, want %d", n.applies, want)
			}
			got := &corev1.ConfigMap{}
			if err := a.Client.Get(context.Background(), client.ObjectKeyFromObject(tt.desired), got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Data, tt.wantData) {
				t.Errorf("data %v, want %v", got.Data, tt.wantData)
			}
		})
	}
}

func TestApplyWritesUnderTheFieldOwnerWithForce(t *testing.T) {
	var opts client.ApplyOptions
	a, _ := newApplier(t, interceptor.Funcs{Apply: func(_ context.Context, _ client.WithWatch, _ runtime.ApplyConfiguration, o ...client.ApplyOption) error {
		opts.ApplyOptions(o)
		return nil
	}})
	if _, err := a.Apply(context.Background(), configMap(nil, nil)); err != nil {
		t.Fatal(err)
	}
	if opts.FieldManager != owner || opts.Force == nil || !*opts.Force {
		t.Errorf("applied as %q, force %v; want %q, forced", opts.FieldManager, opts.Force, owner)
	}
}

// An object the cache does not hold is read through Reader, never through
// the Client (the cache).
func TestApplyReadsUncachedObjectsThroughReader(t *testing.T) {
	for _, uncached := range []bool{false, true} {
		a, n := newApplier(t, interceptor.Funcs{})
		readerGets := 0
		a.Reader = fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				readerGets++
				return c.Get(ctx, key, obj, opts...)
			},
		}).Build()
		a.Uncached = func(client.Object) bool { return uncached }
		if _, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil)); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1}[uncached]; readerGets != want || n.gets != 1-want {
			t.Errorf("uncached %v: %d reads through Reader, %d through Client; want %d and %d", uncached, readerGets, n.gets, want, 1-want)
		}
	}
}

// A direct read of a typed object comes back without apiVersion and kind
// (client-go's decoder drops them); an uncached object that already holds
// every desired field is still not applied again.
func TestAnUncachedObjectThatIsAsDesiredIsNotAppliedAgain(t *testing.T) {
	a, n := newApplier(t, interceptor.Funcs{})
	stored := configMap(map[string]string{"a": "1"}, nil)
	a.Reader = fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(stored.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, key, obj, opts...)
			obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
			return err
		},
	}).Build()
	a.Uncached = func(client.Object) bool { return true }
	wrote, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if wrote || n.applies != 0 {
		t.Errorf("applied an object already as desired: wrote %v, %d applies", wrote, n.applies)
	}
}

// In a fresh namespace an uncached object is written without a read; a
// cached one is still compared (the read is free); either way the object
// ends up as desired.
func TestAFreshNamespaceSkipsOnlyTheUncachedReads(t *testing.T) {
	for _, tc := range []struct {
		name            string
		fresh, uncached bool
		wantReaderGets  int
		wantClientGets  int
		wantApplies     int
	}{
		{name: "fresh, uncached: written unread", fresh: true, uncached: true, wantApplies: 1},
		{name: "fresh, cached: compared", fresh: true, uncached: false, wantClientGets: 1, wantApplies: 0},
		{name: "not fresh, uncached: read and compared", fresh: false, uncached: true, wantReaderGets: 1, wantApplies: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := configMap(map[string]string{"a": "1"}, nil)
			a, n := newApplier(t, interceptor.Funcs{}, stored.DeepCopy())
			readerGets := 0
			a.Reader = fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(stored.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					readerGets++
					return c.Get(ctx, key, obj, opts...)
				},
			}).Build()
			a.Uncached = func(client.Object) bool { return tc.uncached }
			a.FreshNamespace = tc.fresh
			wrote, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if readerGets != tc.wantReaderGets || n.gets != tc.wantClientGets || n.applies != tc.wantApplies || wrote != (tc.wantApplies == 1) {
				t.Errorf("%d reads through Reader, %d through Client, %d applies (wrote %v); want %d, %d, %d",
					readerGets, n.gets, n.applies, wrote, tc.wantReaderGets, tc.wantClientGets, tc.wantApplies)
			}
		})
	}
}

func TestApplyOfAKindOutsideTheSchemeFails(t *testing.T) {
	a, _ := newApplier(t, interceptor.Funcs{})
	a.Scheme = runtime.NewScheme()
	if _, err := a.Apply(context.Background(), configMap(nil, nil)); err == nil {
		t.Fatal("Apply succeeded for a kind the scheme does not know")
	}
}

func TestRemove(t *testing.T) {
	notFound := func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "app")
	}
	tests := []struct {
		name        string
		existing    []client.Object
		funcs       interceptor.Funcs
		want        bool
		wantDeletes int
		wantErr     string
	}{
		{name: "absent: nothing to do"},
		{name: "present: deleted", existing: []client.Object{configMap(nil, nil)}, want: true, wantDeletes: 1},
		{name: "gone before the delete: no error", existing: []client.Object{configMap(nil, nil)},
			funcs: interceptor.Funcs{Delete: notFound}, want: true, wantDeletes: 1},
		{name: "delete fails", existing: []client.Object{configMap(nil, nil)},
			funcs: interceptor.Funcs{Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
				return errBoom
			}},
			wantDeletes: 1, wantErr: "failed to delete *v1.ConfigMap tenant-a/app: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, n := newApplier(t, tt.funcs, tt.existing...)
			removed, err := a.Remove(context.Background(), configMap(nil, nil))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Remove error %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || removed != tt.want {
				t.Fatalf("Remove = %v, %v; want %v", removed, err, tt.want)
			}
			if n.deletes != tt.wantDeletes {
				t.Errorf("%d deletes reached the client, want %d", n.deletes, tt.wantDeletes)
			}
		})
	}
}

func TestDesiredMapHasNoStatusCreationTimeOrNulls(t *testing.T) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "app"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	m, err := desiredMap(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"namespace": "tenant-a", "name": "app"},
		"spec": map[string]any{
			// A container's resources are an empty struct, not null.
			"containers": []any{map[string]any{"name": "app", "image": "app:1", "resources": map[string]any{}}},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("desiredMap = %#v\nwant %#v", m, want)
	}
}

func TestPruneNulls(t *testing.T) {
	v := map[string]any{
		"a": nil,
		"b": map[string]any{"c": nil, "d": "kept"},
		"e": []any{map[string]any{"f": nil, "g": int64(1)}, nil},
	}
	pruneNulls(v)
	// A null list element stays: dropping it would shift the others.
	want := map[string]any{
		"b": map[string]any{"d": "kept"},
		"e": []any{map[string]any{"g": int64(1)}, nil},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("pruneNulls = %#v\nwant %#v", v, want)
	}
}

func TestIsSubset(t *testing.T) {
	tests := []struct {
		name            string
		desired, actual any
		want            bool
	}{
		{name: "equal scalars", desired: "a", actual: "a", want: true},
		{name: "different scalars", desired: "a", actual: "b"},
		{name: "scalar types differ", desired: int64(1), actual: float64(1)},
		{name: "extra actual fields ignored", desired: map[string]any{"a": "1"}, actual: map[string]any{"a": "1", "b": "2"}, want: true},
		{name: "missing field", desired: map[string]any{"a": "1"}, actual: map[string]any{"b": "2"}},
		{name: "nested difference", desired: map[string]any{"m": map[string]any{"a": "1"}}, actual: map[string]any{"m": map[string]any{"a": "2"}}},
		{name: "empty map against absent", desired: map[string]any{"m": map[string]any{}}, actual: map[string]any{}, want: true},
		{name: "map against a scalar", desired: map[string]any{}, actual: "x"},
		{name: "lists element by element", desired: []any{map[string]any{"a": "1"}}, actual: []any{map[string]any{"a": "1", "b": "2"}}, want: true},
		{name: "list lengths differ", desired: []any{"a"}, actual: []any{"a", "b"}},
		{name: "list order matters", desired: []any{"a", "b"}, actual: []any{"b", "a"}},
		{name: "list against absent", desired: []any{}, actual: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSubset(tt.desired, tt.actual); got != tt.want {
				t.Errorf("isSubset = %v, want %v", got, tt.want)
			}
		})
	}
}

// The errors name the object, never its content.
func TestErrorsNameTheObject(t *testing.T) {
	a, _ := newApplier(t, interceptor.Funcs{Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
		return errBoom
	}})
	_, err := a.Apply(context.Background(), configMap(map[string]string{"password": "s3cret"}, nil))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Apply error %v: want one without the object's data", err)
	}
}

const hashAnnotation = "test.kooper.io/last-applied-hash"

// An object whose last apply differs is applied even when it holds every
// desired field, so server-side apply drops what is no longer desired; the
// same apply again, or an object from before hashes were recorded that is
// in step, is not written.
func TestTheLastApplyIsRecordedSoThatDroppedFieldsGo(t *testing.T) {
	ctx := context.Background()
	stored := func(a *Applier) *corev1.ConfigMap {
		t.Helper()
		got := &corev1.ConfigMap{}
		if err := a.Client.Get(ctx, client.ObjectKeyFromObject(configMap(nil, nil)), got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	apply := func(a *Applier, data map[string]string, want bool) {
		t.Helper()
		wrote, err := a.Apply(ctx, configMap(data, nil))
		if err != nil || wrote != want {
			t.Fatalf("Apply(%v) = %v, %v; want %v", data, wrote, err, want)
		}
	}

	a, _ := newApplier(t, interceptor.Funcs{})
	a.HashAnnotation = hashAnnotation
	apply(a, map[string]string{"a": "1", "b": "2"}, true)
	first := stored(a).Annotations[hashAnnotation]
	if len(first) != 32 {
		t.Fatalf("recorded hash %q, want 32 hex digits", first)
	}
	apply(a, map[string]string{"a": "1", "b": "2"}, false)
	apply(a, map[string]string{"a": "1"}, true)
	got := stored(a)
	if got.Annotations[hashAnnotation] == first {
		t.Error("the hash of the new apply was not recorded")
	}
	if !reflect.DeepEqual(got.Data, map[string]string{"a": "1"}) {
		t.Errorf("data %v after b stopped being applied, want only a", got.Data)
	}
	apply(a, map[string]string{"a": "1"}, false)

	// Applied before hashes were recorded: in step, nothing is written; a
	// change is, with its hash.
	legacy, _ := newApplier(t, interceptor.Funcs{}, configMap(map[string]string{"a": "1", "b": "2"}, nil))
	legacy.HashAnnotation = hashAnnotation
	apply(legacy, map[string]string{"a": "1"}, false)
	apply(legacy, map[string]string{"a": "2"}, true)
	if stored(legacy).Annotations[hashAnnotation] == "" {
		t.Error("no hash recorded by the first write")
	}
}

// Apply leaves the caller's object as it was: a rendered object may be
// applied again, or compared.
func TestApplyLeavesTheDesiredObjectAlone(t *testing.T) {
	a, _ := newApplier(t, interceptor.Funcs{})
	a.HashAnnotation = hashAnnotation
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"namespace": "tenant-a", "name": "app"}, "data": map[string]any{"a": "1"}, "status": map[string]any{"x": "y"}}}
	before := u.DeepCopy()
	if _, err := a.Apply(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u, before) {
		t.Errorf("Apply changed its argument: %v, was %v", u.Object, before.Object)
	}
}

// A Secret written with stringData is stored with data alone: applied
// again, it is found in step, not applied on every reconcile.
func TestASecretWithStringDataIsInStepOnceStored(t *testing.T) {
	a, n := newApplier(t, interceptor.Funcs{})
	a.HashAnnotation = hashAnnotation
	secret := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"namespace": "tenant-a", "name": "db"},
			"data":       map[string]any{"user": "YWRtaW4="}, // admin
			"stringData": map[string]any{"password": "s3cret", "user": "root"}}}
	}
	for i, want := range []bool{true, false} {
		wrote, err := a.Apply(context.Background(), secret())
		if err != nil || wrote != want {
			t.Fatalf("apply %d = %v, %v; want %v", i+1, wrote, err, want)
		}
	}
	got := &corev1.Secret{}
	if err := a.Client.Get(context.Background(), client.ObjectKey{Namespace: "tenant-a", Name: "db"}, got); err != nil {
		t.Fatal(err)
	}
	if string(got.Data["password"]) != "s3cret" || string(got.Data["user"]) != "root" {
		t.Errorf("stored data %q, want stringData over data", got.Data)
	}
	if n.applies != 1 {
		t.Errorf("%d applies, want 1", n.applies)
	}
}

// In a fresh namespace with CreatedAnnotation set, an object is created,
// marked, without a read or an apply; one that exists after all (the
// caller was wrong) is read and applied as anywhere.
func TestAFreshNamespacesObjectsAreCreatedAndMarked(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		exists                bool
		wantGets, wantApplies int
		wantMarked, wantWrote bool
	}{
		{name: "new: created, marked, unread", wantMarked: true, wantWrote: true},
		{name: "there after all: read and applied", exists: true, wantGets: 1, wantApplies: 1, wantWrote: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			if tc.exists {
				objs = append(objs, configMap(map[string]string{"a": "0"}, nil))
			}
			a, n := newApplier(t, interceptor.Funcs{}, objs...)
			a.FreshNamespace, a.CreatedAnnotation, a.HashAnnotation = true, "example.com/fields-owner", "example.com/hash"
			wrote, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if wrote != tc.wantWrote || n.gets != tc.wantGets || n.applies != tc.wantApplies {
				t.Errorf("wrote %v, %d reads, %d applies; want %v, %d, %d", wrote, n.gets, n.applies, tc.wantWrote, tc.wantGets, tc.wantApplies)
			}
			stored := &corev1.ConfigMap{}
			if err := a.Client.Get(context.Background(), client.ObjectKey{Namespace: "tenant-a", Name: "app"}, stored); err != nil {
				t.Fatal(err)
			}
			if _, marked := stored.Annotations["example.com/fields-owner"]; marked != tc.wantMarked || stored.Data["a"] != "1" {
				t.Errorf("stored %v (marked %v), want data a=1, marked %v", stored.Data, marked, tc.wantMarked)
			}
			if stored.Annotations["example.com/hash"] == "" {
				t.Error("no hash of the last write recorded")
			}
		})
	}
}

// A created object goes to the client as its Go type where the Scheme has
// one (the client then sends a built-in kind as protobuf), and as an
// Unstructured where it has none, or where the object sets a field the Go
// type lacks, which a conversion would drop.
func TestACreateIsSentTypedUnlessThatWouldDropAField(t *testing.T) {
	withUnknownField := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata":   map[string]any{"namespace": "tenant-a", "name": "app"},
		"data":       map[string]any{"a": "1"},
		"newerField": "kept",
	}}
	unknownKind := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"namespace": "tenant-a", "name": "app"},
	}}
	for _, tc := range []struct {
		name      string
		obj       client.Object
		wantTyped bool
	}{
		{name: "a typed ConfigMap", obj: configMap(map[string]string{"a": "1"}, nil), wantTyped: true},
		{name: "a ConfigMap rendered as a map", obj: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"namespace": "tenant-a", "name": "app", "labels": map[string]any{"x": "y"}},
			"data":     map[string]any{"a": "1"},
		}}, wantTyped: true},
		{name: "a field the Go type lacks", obj: withUnknownField},
		{name: "a kind the scheme lacks", obj: unknownKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent client.Object
			a, _ := newApplier(t, interceptor.Funcs{Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
				sent = obj
				return nil
			}})
			a.FreshNamespace, a.CreatedAnnotation, a.HashAnnotation = true, "example.com/fields-owner", "example.com/hash"
			if _, err := a.Apply(context.Background(), tc.obj); err != nil {
				t.Fatal(err)
			}
			_, isUnstructured := sent.(*unstructured.Unstructured)
			if isUnstructured == tc.wantTyped {
				t.Fatalf("sent a %T, want typed %v", sent, tc.wantTyped)
			}
			if sent.GetAnnotations()["example.com/fields-owner"] != CreatedValue || sent.GetAnnotations()["example.com/hash"] == "" {
				t.Errorf("sent annotations %v, want the created mark and the hash", sent.GetAnnotations())
			}
			if u, ok := sent.(*unstructured.Unstructured); ok && tc.obj == withUnknownField {
				if u.Object["newerField"] != "kept" {
					t.Errorf("the field the Go type lacks was dropped: %v", u.Object)
				}
			}
			if sent.GetAnnotations()["example.com/fields-owner"] != "" && tc.obj.GetAnnotations()["example.com/fields-owner"] != "" {
				t.Error("the caller's object was marked")
			}
		})
	}
}
