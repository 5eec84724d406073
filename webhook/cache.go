package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// CacheOptions limits a receiver-only manager's informers to what the
// receiver's Role lets it watch: its own kinds and the products, cluster
// wide, and of the Secrets only the products' keys in kooper's namespace
// (labelled by the keys controller). Everything else it reads is a direct
// GET: a tenant's credentials copy and a licence key when appInfo is due,
// tombstones and directory shards when a callback needs them.
func CacheOptions(namespace string) cache.Options {
	keys := labels.SelectorFromSet(labels.Set{saasv1alpha1.KeysLabel: "true"})
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{namespace: {}}, Label: keys},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
