package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
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

// licenceProductIndex indexes the cached Licenses by the product their spec
// names, so that a product's revocation list reads that product's licences
// alone: read whole, the cache copied every licence of the fleet into each
// list and the build skipped the others' (100 products of 200 licences
// polled once a second were 2,000,000 License structs copied a second). It
// is the field, and the value, that the controllers index Licenses by
// (controllers' productNameIndex), so a manager that runs both keeps one
// index; the name is repeated here, since neither package imports the
// other.
const licenceProductIndex = "spec.productName"

// indexLicencesByProduct registers licenceProductIndex on mgr's cache
// unless the cache has it: the controllers' setup registers the same index
// first when they share the manager (main.go sets them up before the
// receiver), and a manager may serve more than one receiver; an informer
// refuses a second index of one name. Registered by the receiver first, the
// index would be refused by the controllers' setup, loudly, at start.
func indexLicencesByProduct(ctx context.Context, mgr ctrl.Manager) error {
	informer, err := mgr.GetCache().GetInformer(ctx, &saasv1alpha1.License{})
	if err != nil {
		return fmt.Errorf("failed to watch Licenses: %w", err)
	}
	if hasFieldIndex(informer, licenceProductIndex) {
		return nil
	}
	err = mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.License{}, licenceProductIndex, licenceProduct)
	if err != nil {
		return fmt.Errorf("failed to index Licenses by %s: %w", licenceProductIndex, err)
	}
	return nil
}

// licenceProduct is the index value of a License: the product its spec
// names (not its product label, which a person or a script may remove).
func licenceProduct(obj client.Object) []string {
	licence, ok := obj.(*saasv1alpha1.License)
	if !ok {
		return nil
	}
	return []string{licence.Spec.ProductName}
}

// hasFieldIndex reports whether informer has the field index of field, by
// the name controller-runtime gives it in the informer ("field:" and the
// field). An informer that does not show its indexes reports false, and
// registering the index then says whether it had one.
func hasFieldIndex(informer cache.Informer, field string) bool {
	indexed, ok := informer.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return false
	}
	_, has := indexed.GetIndexer().GetIndexers()["field:"+field]
	return has
}
