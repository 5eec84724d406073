package controllers

import (
	"context"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// crdTerminating reports whether the CRD of kooper's resource (its plural,
// such as "licenses") is being deleted or is gone, reading through reader
// (pass an uncached reader). The API server then deletes every record of
// the kind at once: that is an accident to recover from (reinstall the
// CRD, restore the records from a backup), never a merchant's decision
// about each instance, so a record deleted with its CRD leaves everything
// of its instance as it was (docs/concepts.md, "the CRD itself is
// deleted").
func crdTerminating(ctx context.Context, reader client.Reader, resource string) (bool, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	name := resource + "." + saasv1alpha1.GroupVersion.Group
	err := reader.Get(ctx, client.ObjectKey{Name: name}, crd)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read the CRD %s: %w", name, err)
	}
	return !crd.DeletionTimestamp.IsZero(), nil
}
