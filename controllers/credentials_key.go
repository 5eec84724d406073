package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/credentials"
)

// credentialsKeyComponent is the app.kubernetes.io/component of the
// credentials key's Secret.
const credentialsKeyComponent = "credentials-key"

// credentialsKey returns the key tenants' passwords are derived from,
// read from Secret kooper-credentials-key in kooper's namespace through
// the cache. A Secret the API server confirms absent is made, with a new
// random key, only while no tenant's status names a key: a key deleted
// with tenants still derived from it is never replaced by another, which
// would give their buyers passwords that do not open their tenants. The
// error then says to restore the Secret.
func (r *SaaSTenantReconciler) credentialsKey(ctx context.Context) (credentials.Key, error) {
	ref := client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: saasv1alpha1.CredentialsKeySecretName}
	secret := &corev1.Secret{}
	// Read-only, so not copied: it is read on every pass of every tenant.
	switch err := r.Get(ctx, ref, secret, client.UnsafeDisableDeepCopy); {
	case err == nil:
		return keyOf(secret)
	case !apierrors.IsNotFound(err):
		return credentials.Key{}, fmt.Errorf("failed to read the credentials key Secret %s: %w", ref, err)
	}
	// A miss: the first tenants of an installation, or a cache a moment
	// behind the key's create. Every worker that misses at once shares one
	// look at the API server and at most one create: otherwise each of
	// them lists every tenant, and all but one have their create refused
	// and read the key back (docs/benchmarks.md, 2026-12-03). The flight
	// is no one worker's: it runs on a context of its own, so that one
	// worker's cancellation fails no other.
	result := r.keyFlight.DoChan(ref.String(), func() (any, error) {
		flightCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), credentialsKeyFlightTimeout)
		defer cancel()
		return r.credentialsKeyFromAPIServer(flightCtx, ref)
	})
	select {
	case <-ctx.Done():
		return credentials.Key{}, ctx.Err()
	case shared := <-result:
		if shared.Err != nil {
			return credentials.Key{}, shared.Err
		}
		return shared.Val.(credentials.Key), nil
	}
}

// credentialsKeyFlightTimeout bounds a shared look at the API server for
// the key: a read, a list of every tenant page by page, a create and the
// wait for the cache.
const credentialsKeyFlightTimeout = time.Minute

// credentialsKeyFromAPIServer reads the key's Secret from the API server,
// or makes it (see credentialsKey).
func (r *SaaSTenantReconciler) credentialsKeyFromAPIServer(ctx context.Context, ref client.ObjectKey) (credentials.Key, error) {
	secret := &corev1.Secret{}
	switch err := r.Reader.Get(ctx, ref, secret); {
	case err == nil:
		return keyOf(secret)
	case !apierrors.IsNotFound(err):
		return credentials.Key{}, fmt.Errorf("failed to read the credentials key Secret %s: %w", ref, err)
	}
	return r.firstCredentialsKey(ctx, ref)
}

// firstCredentialsKey makes the installation's key, unless some tenant's
// status names one already (its Secret was deleted: the error says to
// restore it). A key made waits, up to credentialsKeyCacheWait, for the
// cache to hold it, so that the passes right after it read it there
// rather than each starting a look at the API server of its own.
func (r *SaaSTenantReconciler) firstCredentialsKey(ctx context.Context, ref client.ObjectKey) (credentials.Key, error) {
	if id, err := r.someCredentialsKeyID(ctx); err != nil || id != "" {
		if err == nil {
			err = fmt.Errorf("the credentials key Secret %s, key %s, is gone while tenants' passwords are derived from it: restore it from a backup", ref, id)
		}
		return credentials.Key{}, err
	}
	key, err := r.createCredentialsKey(ctx, ref)
	if err != nil {
		return credentials.Key{}, err
	}
	// Not waiting is no error: the key is right whatever the cache shows.
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, credentialsKeyCacheWait, true, func(ctx context.Context) (bool, error) {
		return r.Get(ctx, ref, &corev1.Secret{}) == nil, nil
	})
	return key, nil
}

// credentialsKeyCacheWait bounds how long a key just made waits for the
// cache to show it.
const credentialsKeyCacheWait = 2 * time.Second

// keyOf is the credentials key a Secret holds.
func keyOf(secret *corev1.Secret) (credentials.Key, error) {
	key, err := credentials.NewKey(secret.Data[saasv1alpha1.CredentialsKeySecretKey])
	if err != nil {
		return credentials.Key{}, fmt.Errorf("the credentials key Secret %s/%s, key %q: %w", secret.Namespace, secret.Name, saasv1alpha1.CredentialsKeySecretKey, err)
	}
	return key, nil
}

// someCredentialsKeyID returns a key ID some tenant's status names, ""
// when none does, read from the API server page by page: this runs only
// when the key's Secret is absent, once per installation.
func (r *SaaSTenantReconciler) someCredentialsKeyID(ctx context.Context) (string, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	opts := []client.ListOption{client.Limit(500)}
	for {
		if err := r.Reader.List(ctx, list, opts...); err != nil {
			return "", fmt.Errorf("failed to list the tenants whose passwords a credentials key derived: %w", err)
		}
		for i := range list.Items {
			if id := list.Items[i].Status.CredentialsKeyID; id != "" {
				return id, nil
			}
		}
		if list.Continue == "" {
			return "", nil
		}
		opts = []client.ListOption{client.Limit(500), client.Continue(list.Continue)}
	}
}

// createCredentialsKey makes the key's Secret, labelled as keys so the
// receiver caches it; one another process made first is read instead.
func (r *SaaSTenantReconciler) createCredentialsKey(ctx context.Context, ref client.ObjectKey) (credentials.Key, error) {
	secret, err := newCredentialsKeySecret(ref)
	if err != nil {
		return credentials.Key{}, err
	}
	switch err := r.Create(ctx, secret); {
	case err == nil:
		return keyOf(secret)
	case !apierrors.IsAlreadyExists(err):
		return credentials.Key{}, fmt.Errorf("failed to create the credentials key Secret %s: %w", ref, err)
	}
	if err := r.Reader.Get(ctx, ref, secret); err != nil {
		return credentials.Key{}, fmt.Errorf("failed to read the credentials key Secret %s: %w", ref, err)
	}
	return keyOf(secret)
}

// newCredentialsKeySecret is the Secret ref with a new random key.
func newCredentialsKeySecret(ref client.ObjectKey) (*corev1.Secret, error) {
	key, err := credentials.Generate()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel:   saasv1alpha1.ManagedByValue,
			"app.kubernetes.io/component": credentialsKeyComponent,
			saasv1alpha1.KeysLabel:        "true",
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{saasv1alpha1.CredentialsKeySecretKey: key},
	}, nil
}
