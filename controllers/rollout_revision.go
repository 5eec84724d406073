package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/rollout"
)

// controllerRevision is rev stored for product as a ControllerRevision
// named name in namespace, numbered number.
func controllerRevision(product *saasv1alpha1.SaaSProduct, namespace, name string, number int64, rev rollout.Revision) (*appsv1.ControllerRevision, error) {
	data, err := rev.Encode()
	if err != nil {
		return nil, err
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
			saasv1alpha1.ProductLabel:   product.Name,
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		},
			// The product's revisions go with it (it goes only once no
			// tenant holds it).
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(product, saasv1alpha1.GroupVersion.WithKind("SaaSProduct"))},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}

// decodeRevision reads the revision a ControllerRevision holds.
func decodeRevision(cr *appsv1.ControllerRevision) (rollout.Revision, error) {
	rev, err := rollout.DecodeRevision(cr.Data.Raw)
	if err != nil {
		return rev, fmt.Errorf("ControllerRevision %s: %w", cr.Name, err)
	}
	return rev, nil
}

// readRevision reads the product revision name from kooper's namespace:
// from the cache, and, when the cache does not have it, from the API
// server (the rollout may have stored it a moment ago). found is false
// when neither has it.
func readRevision(ctx context.Context, c client.Reader, reader client.Reader, namespace, name string) (cr *appsv1.ControllerRevision, found bool, err error) {
	cr = &appsv1.ControllerRevision{}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err = c.Get(ctx, key, cr)
	if apierrors.IsNotFound(err) {
		err = reader.Get(ctx, key, cr)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("failed to read product revision %s: %w", key, err)
	}
	return cr, true, nil
}

// rememberChart puts a revision's packaged chart where Charts.Archive
// finds it by digest. Only charts from a Secret are stored in a revision,
// so each weighs at most a Secret's 1 MiB: the cache's budget holds many.
func (c *Charts) rememberChart(rev rollout.Revision) {
	if len(rev.ChartArchive) > 0 {
		c.keep(chartrender.ArchiveFromBytes(rev.ChartArchive))
	}
}
