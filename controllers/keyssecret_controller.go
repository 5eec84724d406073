package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
	"github.com/kooper-io/kooper/internal/redact"
)

// KeysSecretReconciler keeps a product's keys Secret while a product names
// it: the Secret carries the in-use finalizer until the last such product
// is gone, so callbacks for the product's live tenants are still verified
// after someone deletes it. On the credentials key's Secret it records the
// fingerprint of the key there, and warns when tenants' passwords were
// derived from another key.
type KeysSecretReconciler struct {
	client.Client
	// Reader reads around the cache, to confirm no product names a Secret
	// before it may go.
	Reader client.Reader
	// Recorder emits the Event that names what a deletion waits for.
	Recorder events.EventRecorder
	// SecretNamespace is kooper's own namespace, where keys Secrets live.
	SecretNamespace string

	// mu guards keyChecked.
	mu sync.Mutex
	// keyChecked is what the credentials key's Secret held when the
	// tenants were last checked against it: a key's ID, noKey, or "" before
	// the first check. The tenants are listed again only when it changes.
	keyChecked string
}

// noKey stands, in keyChecked, for a credentials key Secret that holds no
// key.
const noKey = "-"

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile adds or removes the Secret's in-use finalizer, and checks the
// credentials key.
func (r *KeysSecretReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	secret := &corev1.Secret{}
	if err := r.Get(ctx, req.NamespacedName, secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := &keysSecretState{secret: secret}
	return runSteps(ctx, s, r.findUsers, r.holdWhileUsed, r.markAsKeys, r.warnOfDeletionInUse,
		r.fingerprintKey, r.warnOfAnotherKey).result(ctrl.Result{})
}

// keysSecretState carries one reconcile's findings from step to step.
type keysSecretState struct {
	secret *corev1.Secret
	// users are the products naming the Secret as their keys Secret.
	users []string
	// key is the credentials key the Secret holds, when it is the
	// credentials key's Secret; keyErr says why it holds none.
	key    credentials.Key
	keyErr error
}

// isCredentialsKey reports whether the Secret is the credentials key's.
func (s *keysSecretState) isCredentialsKey() bool {
	return s.secret.Name == saasv1alpha1.CredentialsKeySecretName
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
	keys := len(s.users) > 0 || s.isCredentialsKey()
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

// fingerprintKey records on the credentials key's Secret the ID of the key
// it holds (CredentialsKeyIDAnnotation), or CredentialsKeyIDNone when it
// holds no usable key, which describe compares with a tenant's
// credentialsKeyID without reading the Secret's data. One patch, only when
// it differs.
func (r *KeysSecretReconciler) fingerprintKey(ctx context.Context, s *keysSecretState) outcome {
	if !s.isCredentialsKey() {
		return proceed()
	}
	s.key, s.keyErr = keyOf(s.secret)
	id := s.key.ID()
	if s.keyErr != nil || id == "" {
		id = saasv1alpha1.CredentialsKeyIDNone
	}
	if s.secret.Annotations[saasv1alpha1.CredentialsKeyIDAnnotation] == id {
		return proceed()
	}
	patch := client.MergeFrom(s.secret.DeepCopy())
	metav1.SetMetaDataAnnotation(&s.secret.ObjectMeta, saasv1alpha1.CredentialsKeyIDAnnotation, id)
	if err := r.Patch(ctx, s.secret, patch); err != nil && !apierrors.IsNotFound(err) {
		// Logged: a webhook refusing the patch may quote the master key.
		return failed(fmt.Errorf("failed to record the credentials key's ID on Secret %s: %w", s.secret.Name, redact.APIError(err)))
	}
	return proceed()
}

// warnOfAnotherKey emits a Warning Event on the credentials key's Secret
// when it holds no key, or when some tenants' passwords were derived from
// another key than the one it holds (it was replaced, or restored from
// another installation's backup): the receiver answers those tenants'
// queryInstance 000005. The tenants are listed, from the cache, only at
// the Secret's first reconcile and when its key changed.
func (r *KeysSecretReconciler) warnOfAnotherKey(ctx context.Context, s *keysSecretState) outcome {
	if !s.isCredentialsKey() {
		return proceed()
	}
	held := s.key.ID()
	if s.keyErr != nil {
		held = noKey
	}
	r.mu.Lock()
	checked := r.keyChecked == held
	r.mu.Unlock()
	if checked {
		return proceed()
	}
	if s.keyErr != nil {
		r.Recorder.Eventf(s.secret, nil, corev1.EventTypeWarning, saasv1alpha1.CredentialsKeyInvalidReason, "CheckKey",
			"This Secret holds no credentials key (%v). No tenant's password can be derived: new tenants wait, and the receiver "+
				"answers queryInstance 000005 for every tenant whose password was derived from a key, until the Secret with that key "+
				"is restored from a backup", s.keyErr)
	} else {
		derived, err := r.tenantsOfOtherKeys(ctx, held)
		if err != nil {
			return failed(err)
		}
		if len(derived) > 0 {
			r.Recorder.Eventf(s.secret, nil, corev1.EventTypeWarning, saasv1alpha1.CredentialsKeyMismatchReason, "CheckKey", "%s",
				keyMismatchNote(held, derived))
		}
	}
	r.mu.Lock()
	r.keyChecked = held
	r.mu.Unlock()
	return proceed()
}

// tenantsOfOtherKeys counts, by key ID, the tenants whose status names a
// credentials key other than held.
func (r *KeysSecretReconciler) tenantsOfOtherKeys(ctx context.Context, held string) (map[string]int, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	// Read-only: the tenants' statuses are only counted.
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("failed to list the tenants whose passwords a credentials key derived: %w", err)
	}
	derived := map[string]int{}
	for i := range list.Items {
		if id := list.Items[i].Status.CredentialsKeyID; id != "" && id != held {
			derived[id]++
		}
	}
	return derived, nil
}

// maxKeysNamed bounds the other keys a mismatch Event names.
const maxKeysNamed = 3

// keyMismatchNote says how many tenants' passwords were derived from which
// other key than held: key IDs only, fingerprints that reveal nothing.
func keyMismatchNote(held string, derived map[string]int) string {
	ids := make([]string, 0, len(derived))
	for id := range derived {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(derived[b], derived[a]), strings.Compare(a, b)) })
	var b strings.Builder
	for i, id := range ids[:min(len(ids), maxKeysNamed)] {
		if i == 0 {
			fmt.Fprintf(&b, "The passwords of %s were derived from key %s", tenantCount(derived[id]), id)
		} else {
			fmt.Fprintf(&b, ", of %s from key %s", tenantCount(derived[id]), id)
		}
	}
	if rest := ids[min(len(ids), maxKeysNamed):]; len(rest) > 0 {
		n := 0
		for _, id := range rest {
			n += derived[id]
		}
		fmt.Fprintf(&b, ", of %s more from %d other keys", tenantCount(n), len(rest))
	}
	fmt.Fprintf(&b, ", not from key %s, which this Secret holds: the receiver answers queryInstance 000005 for those tenants "+
		"until the Secret with their key is restored from a backup", held)
	return b.String()
}

// tenantCount is "1 tenant" or "n tenants".
func tenantCount(n int) string {
	if n == 1 {
		return "1 tenant"
	}
	return fmt.Sprintf("%d tenants", n)
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
		// Logged: a webhook refusing the patch may quote the keys.
		return fmt.Errorf("failed to label the keys Secret %s: %w", secret.Name, redact.APIError(err))
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
		WithOptions(controller.Options{RateLimiter: newRetryRateLimiter()}).
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
