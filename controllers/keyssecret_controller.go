package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// KeysSecretReconciler keeps a product's keys Secret while a product names
// it: the Secret carries the in-use finalizer until the last such product
// is gone, so callbacks for the product's live tenants are still verified
// after someone deletes it.
type KeysSecretReconciler struct {
	client.Client
	// Reader reads around the cache, to confirm no product names a Secret
	// before it may go.
	Reader client.Reader
	// Recorder emits the Event that names what a deletion waits for.
	Recorder events.EventRecorder
	// SecretNamespace is kooper's own namespace, where keys Secrets live.
	SecretNamespace string
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile adds or removes the Secret's in-use finalizer.
func (r *KeysSecretReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	secret := &corev1.Secret{}
	if err := r.Get(ctx, req.NamespacedName, secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &keysSecretState{secret: secret}
	return runSteps(ctx, s, r.findUsers, r.holdWhileUsed, r.markAsKeys, r.warnOfDeletionInUse).result(ctrl.Result{})
}

// keysSecretState carries one reconcile's findings from step to step.
type keysSecretState struct {
	secret *corev1.Secret
	// users are the products naming the Secret as their keys Secret.
	users []string
}

// findUsers lists the products naming the Secret. The finalizer goes only
// once the API server itself lists none: a cache a moment behind may not
// show one just created.
func (r *KeysSecretReconciler) findUsers(ctx context.Context, s *keysSecretState) outcome {
	users, err := r.productsNaming(ctx, r.Client, s.secret.Name, client.MatchingFields{keysSecretNameIndex: s.secret.Name})
	if err == nil && len(users) == 0 && controllerutil.ContainsFinalizer(s.secret, saasv1alpha1.InUseFinalizer) {
		users, err = r.productsNaming(ctx, apiReader(r.Reader, r.Client), s.secret.Name)
	}
	s.users = users
	return failed(err)
}

// holdWhileUsed keeps the in-use finalizer while a product names the Secret.
func (r *KeysSecretReconciler) holdWhileUsed(ctx context.Context, s *keysSecretState) outcome {
	return failed(holdInUse(ctx, r.Client, s.secret, len(s.users) > 0))
}

// markAsKeys sets the keys label while a product names the Secret (the
// receiver caches the Secrets so labelled), and removes it otherwise. The
// credentials key's Secret always keeps it: the receiver derives tenants'
// passwords from it.
func (r *KeysSecretReconciler) markAsKeys(ctx context.Context, s *keysSecretState) outcome {
	keys := len(s.users) > 0 || s.secret.Name == saasv1alpha1.CredentialsKeySecretName
	return failed(markKeys(ctx, r.Client, s.secret, keys))
}

// warnOfDeletionInUse says why a Secret being deleted stays.
func (r *KeysSecretReconciler) warnOfDeletionInUse(_ context.Context, s *keysSecretState) outcome {
	if !s.secret.DeletionTimestamp.IsZero() && len(s.users) > 0 {
		r.Recorder.Eventf(s.secret, nil, corev1.EventTypeWarning, saasv1alpha1.InUseReason, "Delete", "%s",
			holdersNote("it holds the keys of these products", s.users))
	}
	return proceed()
}

// markKeys sets or removes the keys label, by which the receiver caches
// the keys Secrets and no other Secret of kooper's namespace.
func markKeys(ctx context.Context, c client.Client, secret *corev1.Secret, keys bool) error {
	_, marked := secret.Labels[saasv1alpha1.KeysLabel]
	if marked == keys {
		return nil
	}
	patch := client.MergeFrom(secret.DeepCopy())
	if keys {
		metav1.SetMetaDataLabel(&secret.ObjectMeta, saasv1alpha1.KeysLabel, "true")
	} else {
		delete(secret.Labels, saasv1alpha1.KeysLabel)
	}
	if err := c.Patch(ctx, secret, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to label the keys Secret %s: %w", secret.Name, err)
	}
	return nil
}

// productsNaming names the products, read from reader with opts, that name
// the Secret as their keys: any product may be sent a callback, which its
// keys verify.
func (r *KeysSecretReconciler) productsNaming(ctx context.Context, reader client.Reader, secret string, opts ...client.ListOption) ([]string, error) {
	products := &saasv1alpha1.SaaSProductList{}
	if err := reader.List(ctx, products, opts...); err != nil {
		return nil, fmt.Errorf("failed to list the SaaSProducts of Secret %s: %w", secret, err)
	}
	var users []string
	for i := range products.Items {
		if p := &products.Items[i]; p.Spec.KeysSecretName == secret {
			users = append(users, "SaaSProduct "+p.Name)
		}
	}
	return users, nil
}

// SetupWithManager watches the Secrets of kooper's namespace, and products,
// whose finalizer or keysSecretName decides their Secret's (both the old
// and the new Secret of a change are reconciled).
func (r *KeysSecretReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexByKeysSecret(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			return obj.GetNamespace() == r.SecretNamespace
		}))).
		Watches(&saasv1alpha1.SaaSProduct{}, handler.EnqueueRequestsFromMapFunc(r.keysOf)).
		Named("keyssecret").
		Complete(r)
}

// keysOf maps a product to its keys Secret.
func (r *KeysSecretReconciler) keysOf(_ context.Context, obj client.Object) []reconcile.Request {
	product, ok := obj.(*saasv1alpha1.SaaSProduct)
	if !ok || product.Spec.KeysSecretName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: r.SecretNamespace, Name: product.Spec.KeysSecretName}}}
}
