package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/informer"
	"github.com/kooper-io/kooper/internal/intern"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// CacheOptions limits a receiver-only manager's informers to what the
// receiver's Role lets it watch: its own kinds and the products, cluster
// wide; in kooper's namespace, of the Secrets only those labelled as keys
// (the products' keys, labelled by the keys controller, and the
// credentials key) and of the ConfigMaps only the tombstones. Everything
// else it reads is a direct GET: the credentials copy of a tenant an
// earlier kooper made and a licence key when appInfo is due, directory
// shards when a sync arrives. Only the Secrets and ConfigMaps, cached in
// kooper's namespace alone, are indexed by namespace
// (informer.IndexedWhereNamespaced): the receiver's own kinds and the products
// are cluster-scoped, and their index held every name in one set.
func CacheOptions(namespace string) cache.Options {
	keys := labels.SelectorFromSet(labels.Set{saasv1alpha1.KeysLabel: "true"})
	tombstones := labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": tombstone.ComponentValue})
	inNamespace := map[string]cache.Config{namespace: {}}
	byObject := map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Namespaces: inNamespace, Label: keys},
		&corev1.ConfigMap{}: {Namespaces: inNamespace, Label: tombstones},
	}
	return cache.Options{
		ByObject:         byObject,
		DefaultTransform: intern.CachedForm,
		NewInformer:      informer.IndexedWhereNamespaced(byObject),
	}
}
