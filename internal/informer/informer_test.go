package informer

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// controllerRuntimeIndexers are the indexers controller-runtime asks every
// informer for, with a field index a controller might have added.
func controllerRuntimeIndexers() toolscache.Indexers {
	return toolscache.Indexers{
		toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc,
		"field:spec.productName":  func(any) ([]string, error) { return nil, nil },
	}
}

func TestOnlyTheKindsGivenAreIndexedByNamespace(t *testing.T) {
	newInformer := IndexedByNamespace(&corev1.ConfigMap{}, &appsv1.ControllerRevision{})
	for _, tc := range []struct {
		name        string
		obj         k8sruntime.Object
		byNamespace bool
	}{
		{"a kind given", &corev1.ConfigMap{}, true},
		{"the other kind given", &appsv1.ControllerRevision{}, true},
		{"a tenant's kind", &appsv1.Deployment{}, false},
		{"a cluster-scoped kind", &corev1.Namespace{}, false},
		{"a kind given, cached as unstructured", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}, false},
		{"a kind given, cached as metadata", &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := controllerRuntimeIndexers()
			indexers := newInformer(&toolscache.ListWatch{}, tc.obj, 0, asked).GetIndexer().GetIndexers()
			if _, ok := indexers[toolscache.NamespaceIndex]; ok != tc.byNamespace {
				t.Errorf("indexed by namespace: %t, want %t", ok, tc.byNamespace)
			}
			if _, ok := indexers["field:spec.productName"]; !ok {
				t.Error("the field index asked for is missing")
			}
			if len(asked) != 2 {
				t.Errorf("the indexers asked for were changed: %d left", len(asked))
			}
		})
	}
}

// A cache's kinds keep the index when it caches them in named namespaces
// alone, and only then.
func TestKindsCachedInNamedNamespacesAloneAreIndexed(t *testing.T) {
	newInformer := IndexedWhereNamespaced(map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}:          {Namespaces: map[string]cache.Config{"kooper": {}}},
		&appsv1.ControllerRevision{}: {Namespaces: map[string]cache.Config{"kooper": {}, "other": {}}},
		&corev1.Secret{}:             {Namespaces: map[string]cache.Config{"kooper": {}, cache.AllNamespaces: {}}},
		&appsv1.Deployment{}:         {},
	})
	for _, tc := range []struct {
		obj         k8sruntime.Object
		byNamespace bool
	}{
		{&corev1.ConfigMap{}, true},
		{&appsv1.ControllerRevision{}, true},
		{&corev1.Secret{}, false},
		{&appsv1.Deployment{}, false},
		{&corev1.Namespace{}, false},
	} {
		indexers := newInformer(&toolscache.ListWatch{}, tc.obj, 0, controllerRuntimeIndexers()).GetIndexer().GetIndexers()
		if _, ok := indexers[toolscache.NamespaceIndex]; ok != tc.byNamespace {
			t.Errorf("%T indexed by namespace: %t, want %t", tc.obj, ok, tc.byNamespace)
		}
	}
}

// A kind left out is still read by name and listed across namespaces, and
// takes a field index added later; a List by namespace fails rather than
// finding nothing.
func TestAKindLeftOutIsReadAsBefore(t *testing.T) {
	informer := IndexedByNamespace()(&toolscache.ListWatch{}, &appsv1.Deployment{}, 0, controllerRuntimeIndexers())
	indexer := informer.GetIndexer()
	for i := range 3 {
		if err := indexer.Add(deployment(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, exists, err := indexer.GetByKey("tenant-1/web"); err != nil || !exists {
		t.Errorf("GetByKey: exists %t, error %v", exists, err)
	}
	if n := len(indexer.List()); n != 3 {
		t.Errorf("listed %d across namespaces, want 3", n)
	}
	if _, err := indexer.ByIndex(toolscache.NamespaceIndex, "tenant-1"); err == nil {
		t.Error("a List by namespace of a kind left out succeeded; want the cache's missing-index error")
	}
	byName := toolscache.Indexers{"name": func(obj any) ([]string, error) { return []string{obj.(*appsv1.Deployment).Name}, nil }}
	if err := informer.AddIndexers(byName); err != nil {
		t.Fatalf("adding a field index: %v", err)
	}
	if found, err := indexer.ByIndex("name", "web"); err != nil || len(found) != 3 {
		t.Errorf("ByIndex(name): %d found, error %v", len(found), err)
	}
}

// The namespace index of a tenant's kind held about 300 bytes for each
// object, each alone of its kind in its tenant's namespace: with 11,150
// tenants, 24 MB of the controllers' live heap with the cluster-scoped kinds'
// (docs/benchmarks.md, "Issue 26: no index by namespace where none is read").
func BenchmarkIndexHeldPerObject(b *testing.B) {
	for _, tc := range []struct {
		name     string
		informer func(toolscache.ListerWatcher, k8sruntime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer
	}{
		{"controller-runtime", toolscache.NewSharedIndexInformer},
		{"kooper", IndexedByNamespace()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const objects = 10_000
			for range b.N {
				before := liveHeap()
				indexer := tc.informer(&toolscache.ListWatch{}, &appsv1.Deployment{}, 0, controllerRuntimeIndexers()).GetIndexer()
				for i := range objects {
					if err := indexer.Add(deployment(i)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(liveHeap()-before)/objects, "heap-B/object")
				runtime.KeepAlive(indexer)
			}
		})
	}
}

func deployment(i int) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("tenant-%d", i), Name: "web"}}
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
