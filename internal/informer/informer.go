// Package informer builds the shared informers of kooper's caches, for
// controller-runtime's cache.Options.NewInformer.
//
// controller-runtime gives every informer an index by namespace, so that a
// List in one namespace reads only that namespace's objects. kooper lists
// by namespace only kinds it caches in its own namespace alone, where the
// index costs little. The objects it caches in number (the tenants'
// namespaces and what is in them, cluster wide) it reads by name, or lists
// across every namespace. For those the index is memory and nothing else:
// each object kept an entry in it, a set of one key for the only object of
// its kind in its tenant's namespace (about 300 bytes), and a
// cluster-scoped kind kept every name in one set.
package informer

import (
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// IndexedWhereNamespaced is IndexedByNamespace of the kinds byObject (a
// cache.Options.ByObject) caches in named namespaces alone: those whose
// Namespaces are set and do not include cache.AllNamespaces. There the
// index costs little, and a List by namespace of them works; every kind
// cached across all namespaces, or cluster-scoped, goes without.
func IndexedWhereNamespaced(byObject map[client.Object]cache.ByObject) func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer {
	var kinds []runtime.Object
	for kind, config := range byObject {
		if _, everywhere := config.Namespaces[cache.AllNamespaces]; len(config.Namespaces) > 0 && !everywhere {
			kinds = append(kinds, kind)
		}
	}
	return IndexedByNamespace(kinds...)
}

// IndexedByNamespace returns a cache.Options.NewInformer that builds the
// informers of the kinds given (Go types, e.g. &corev1.ConfigMap{}) as
// controller-runtime would, and the informer of every other kind without
// the namespace index (toolscache.NamespaceIndex). Other indexes, such as
// the field indexes a controller adds, are kept.
//
// A List by namespace of a kind left out fails with the cache's error
// "Index with name namespace does not exist"; a List across namespaces,
// with or without a field or label selector, and every Get work as before.
// Kinds cached as unstructured or metadata-only objects are left out.
func IndexedByNamespace(kinds ...runtime.Object) func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer {
	listed := make(map[reflect.Type]bool, len(kinds))
	for _, kind := range kinds {
		listed[reflect.TypeOf(kind)] = true
	}
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
		if !listed[reflect.TypeOf(obj)] {
			indexers = withoutNamespaceIndex(indexers)
		}
		return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
	}
}

// withoutNamespaceIndex is indexers less the namespace index, leaving
// indexers itself unchanged.
func withoutNamespaceIndex(indexers toolscache.Indexers) toolscache.Indexers {
	kept := make(toolscache.Indexers, len(indexers))
	for name, index := range indexers {
		if name != toolscache.NamespaceIndex {
			kept[name] = index
		}
	}
	return kept
}
