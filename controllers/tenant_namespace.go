package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// labelledNamespace names the namespace kooper made for instance
// instanceID, found by the labels it put on it (tenantobjects.Labels), ""
// when there is none. It stands in for a status.namespace that a restore
// from a backup lost (status is not restored, and provisioning records it
// again only once it runs to its end): a release or a freeze must reach
// the workload made before, and a released tenant's directory stay while
// its namespace does. Only for those rare passes: it scans the cached
// namespaces.
func labelledNamespace(ctx context.Context, reader client.Reader, instanceID string) (string, error) {
	list := &corev1.NamespaceList{}
	err := reader.List(ctx, list, client.MatchingLabels{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: instanceID,
	}, client.UnsafeDisableDeepCopy)
	if err != nil {
		return "", fmt.Errorf("failed to find the namespace of instance %s: %w", instanceID, err)
	}
	if len(list.Items) == 0 {
		return "", nil
	}
	return list.Items[0].Name, nil
}

// recoverNamespace fills the tenant's status.namespace, when empty, from
// the namespace labelled as its own (labelledNamespace).
func (r *SaaSTenantReconciler) recoverNamespace(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if t.Status.Namespace != "" {
		return nil
	}
	name, err := labelledNamespace(ctx, r.Client, t.Spec.InstanceID)
	t.Status.Namespace = name
	return err
}
