package controllers

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/redact"
)

// LicenseKeySecretKey is the key, in a licence's Secret, holding the
// licence key (the signed token).
const LicenseKeySecretKey = "licenseKey"

// LicenseSecretName names the Secret, in kooper's namespace, holding the key
// of License name.
func LicenseSecretName(name string) string { return "license-" + name }

// defaultKeysRetry is how often a product without a usable signing key is
// looked at again: kooper does not watch Secrets for it.
const defaultKeysRetry = time.Minute

// loadSigner reads the product's signing key (licenseSigningKey). Only that
// key signs; see docs/licence-keys.md for rotation.
func (r *LicenseReconciler) loadSigner(ctx context.Context, s *licenseState) outcome {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: s.product.Spec.KeysSecretName}
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		s.requeueAt(r.keysRetry())
		return r.stall(s, saasv1alpha1.KeysSecretNotFoundReason, "the keys Secret %s does not exist", key)
	}
	if err != nil {
		return failed(fmt.Errorf("failed to read the keys Secret %s: %w", key, err))
	}
	signer, err := SignerFromSecret(secret)
	if err != nil {
		s.requeueAt(r.keysRetry())
		return r.stall(s, saasv1alpha1.KeysSecretIncompleteReason, "the keys Secret %s: %v", key, err)
	}
	s.signer = signer
	return proceed()
}

// SignerFromSecret returns the issuer of a product's keys Secret. The error
// names the key, never its value.
func SignerFromSecret(secret *corev1.Secret) (*licenseissue.Issuer, error) {
	data, ok := secret.Data[saasv1alpha1.LicenseSigningKeySecretKey]
	if !ok {
		return nil, fmt.Errorf("no %s", saasv1alpha1.LicenseSigningKeySecretKey)
	}
	priv, err := licensekey.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a PEM Ed25519 private key", saasv1alpha1.LicenseSigningKeySecretKey)
	}
	return licenseissue.New(priv)
}

// fingerprintRequiredReason stalls an application that names no device
// under a plan whose licences must be bound to one (license.deviceBinding
// Required): the receiver answers such an application 000903 once it knows
// the plan, but one stored before the instance's order was resolved, or by
// hand, would otherwise get a key any device could use. Only one never
// issued a key stalls (mustNameDevice).
const fingerprintRequiredReason = "FingerprintRequired"

func (r *LicenseReconciler) keysRetry() time.Duration {
	if r.Options.KeysRetryInterval > 0 {
		return r.Options.KeysRetryInterval
	}
	return defaultKeysRetry
}

// desiredClaims are what the current key must say, IssuedAt and the format
// aside; s.token is the key stored now (empty when there is none). A window
// that would end after licenseissue.LastInstant (validityDays from a start late in
// the year 9999) ends then, in the key as in the status: such a key is
// perpetual in all but name, and the Issued condition shows the end.
func (r *LicenseReconciler) desiredClaims(s *licenseState) (licensekey.Claims, error) {
	l, terms := s.license, s.plan.License
	notBefore := licenceStart(l, s.token)
	// Days of 24 hours, as in UTC, where the spec's licence times are
	// (§3.10): notBefore is in the process's zone (metav1.Time decodes into
	// time.Local), and a day there may have 23 or 25 hours.
	notAfter := notBefore.UTC().AddDate(0, 0, int(max(terms.ValidityDays, 1)))
	if end := licenseEnd(l, s.instance, s.orderTimes); end != nil {
		notAfter = end.Time
	}
	if notAfter.After(licenseissue.LastInstant) {
		notAfter = licenseissue.LastInstant
	}
	if !notAfter.After(notBefore) {
		return licensekey.Claims{}, fmt.Errorf("the licence window is empty: from %s to %s", notBefore.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	return licensekey.Claims{
		KeyID:     s.signer.KeyID(),
		LicenseID: l.Name, InstanceID: l.Spec.InstanceID, ProductID: s.product.Spec.ProductID, SKU: s.plan.SKUCode,
		Features: licensekey.CanonicalFeatures(terms.Features), NotBefore: notBefore.Unix(), NotAfter: notAfter.Unix(),
		Device: l.Spec.DeviceFingerprint,
	}, nil
}

// licenceStart is where the licence's window begins: the start asked for
// (spec.notBefore); without one, the start of the key kooper issued for this
// licence, so that a record restored from a backup (a new
// creationTimestamp, no status) keeps its window and its key; the record's
// creation for the first key.
func licenceStart(l *saasv1alpha1.License, token string) time.Time {
	if l.Spec.NotBefore != nil {
		return l.Spec.NotBefore.Time
	}
	if claims, ok := issuedClaims(l, token); ok && claims.NotBefore > 0 {
		return time.Unix(claims.NotBefore, 0)
	}
	return l.CreationTimestamp.Time
}

// issuedClaims are the claims of token when it is a key kooper issued for
// l (it names l and its instance).
func issuedClaims(l *saasv1alpha1.License, token string) (licensekey.Claims, bool) {
	t, err := licensekey.Parse(token)
	if err != nil || t.Claims.LicenseID != l.Name || t.Claims.InstanceID != l.Spec.InstanceID {
		return licensekey.Claims{}, false
	}
	return t.Claims, true
}

// mustNameDevice reports whether the application must stall for want of a
// device fingerprint: it names none, its plan binds licences to a device,
// and it was never issued a key. A plan switched to Required later re-queues
// every licence of the product; an application already issued a key bound
// to no device keeps being renewed and upgraded without one: that key is
// out already (uploaded, or being uploaded), so stalling would bind nothing,
// only let it expire at the old date with the paid renewal or upgrade never in
// it. The status pointing at a key marks it issued, and so does the key
// Secret holding one for it (a record restored from a backup has no status).
func mustNameDevice(s *licenseState) bool {
	l := s.license
	if !isApplication(l) || l.Spec.DeviceFingerprint != "" || s.plan.License.DeviceBinding != saasv1alpha1.DeviceBindingRequired {
		return false
	}
	_, keyed := issuedClaims(l, s.token)
	return l.Status.LicenseKeyRef == nil && !keyed
}

// issue keeps the current key when it still says what it must, and signs
// and stores a new one otherwise: after a renewal (new window), an upgrade
// (new plan and features) or a change of signing key. A new key is in the
// product's license.keyFormat; a change of format alone re-issues nothing,
// so a key keeps its format until the licence needs another.
func (r *LicenseReconciler) issue(ctx context.Context, s *licenseState) outcome {
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = r.Options.SecretNamespace, LicenseSecretName(s.license.Name)
	if err := r.readKeySecret(ctx, s.license, secret); err != nil {
		return failed(err)
	}
	s.token = string(secret.Data[LicenseKeySecretKey])
	if mustNameDevice(s) {
		return r.stall(s, fingerprintRequiredReason, "plan %s binds its licences to a device, and this application names no device fingerprint: no key is issued", s.plan.SKUCode)
	}
	want, err := r.desiredClaims(s)
	if err != nil {
		return r.stall(s, saasv1alpha1.ExpiredReason, "%v", err)
	}
	if !sameClaims(s.token, want) {
		want.IssuedAt = r.Clock.Now().Unix()
		if s.token, err = s.signer.Sign(want, r.keyFormat(s.product)); err != nil {
			return failed(issueFailed(s.license, fmt.Errorf("failed to sign the licence key: %w", err)))
		}
	}
	if err := r.storeKey(ctx, s, secret); err != nil {
		return failed(issueFailed(s.license, err))
	}
	r.recordKey(s.license, want)
	return proceed()
}

// readKeySecret reads the licence's key Secret into secret, leaving it
// empty when there is none. The cache's "not found" is confirmed with the
// API server when the status says a key was stored: the cache may not have
// seen a key written a moment ago, and signing another would replace the
// key the buyer may already have fetched.
func (r *LicenseReconciler) readKeySecret(ctx context.Context, l *saasv1alpha1.License, secret *corev1.Secret) error {
	key := client.ObjectKeyFromObject(secret)
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) && l.Status.LicenseKeyRef != nil {
		err = apiReader(r.Reader, r.Client).Get(ctx, key, secret)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to read the licence Secret: %w", err)
	}
	return nil
}

// issueFailed records that the key the licence must have now is not there,
// whatever an earlier key was, and returns err for a retry.
func issueFailed(l *saasv1alpha1.License, err error) error {
	setCondition(l, saasv1alpha1.IssuedCondition, metav1.ConditionFalse, saasv1alpha1.IssueFailedReason, err.Error())
	return err
}

// keyFormat is the format of product's new keys, the operator's default
// when the product names none: the API's enum values are licensekey's
// format names.
func (r *LicenseReconciler) keyFormat(product *saasv1alpha1.SaaSProduct) licensekey.Format {
	return licensekey.Format(product.Spec.GetLicenseKeyFormat(r.Options.DefaultKeyFormat))
}

// sameClaims reports whether token (written by kooper, in either format)
// says what want says.
func sameClaims(token string, want licensekey.Claims) bool {
	t, err := licensekey.Parse(token)
	if err != nil {
		return false
	}
	got := t.Claims
	got.IssuedAt, got.Version, got.Format = want.IssuedAt, want.Version, want.Format
	return reflect.DeepEqual(got, want)
}

// storeKey writes the key Secret only when it differs from secret as
// readKeySecret read it (empty when there is none): a create, or an update
// at the version read. It does not read again, so a cache that has not seen
// the Secret yet cannot turn the update into a create that fails. The
// Secret has no owner reference: the garbage collector would delete every
// key when the License CRD is deleted, and a licence deleted by hand has
// its key deleted by reconcileDelete. One an earlier kooper owned loses
// that reference here. Only kooper's own labels are set: labels others
// put on the Secret (a backup restore's, a policy engine's) are kept, so
// that kooper does not fight their writer through its Secret watch.
func (r *LicenseReconciler) storeKey(ctx context.Context, s *licenseState, secret *corev1.Secret) error {
	before := secret.DeepCopy()
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	maps.Copy(secret.Labels, map[string]string{
		saasv1alpha1.ManagedByLabel:  saasv1alpha1.ManagedByValue,
		saasv1alpha1.ProductLabel:    s.product.Name,
		saasv1alpha1.InstanceIDLabel: s.license.Spec.InstanceID,
	})
	secret.Type = corev1.SecretTypeOpaque
	secret.Data = map[string][]byte{LicenseKeySecretKey: []byte(s.token)}
	secret.OwnerReferences = withoutOwner(secret.OwnerReferences, s.license.UID)
	var err error
	switch {
	case before.ResourceVersion == "":
		err = r.Create(ctx, secret)
	case !apiequality.Semantic.DeepEqual(before, secret):
		err = r.Update(ctx, secret)
	}
	if err != nil {
		// Logged and in Issued, which the view role reads: a policy refusing
		// the write may quote the Secret's data, the signed key.
		return fmt.Errorf("failed to store the licence key: %w", redact.APIError(err))
	}
	return nil
}

// withoutOwner is refs without the reference to uid.
func withoutOwner(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	return slices.DeleteFunc(slices.Clone(refs), func(ref metav1.OwnerReference) bool { return ref.UID == uid })
}

// deleteKeySecret deletes the key Secret of a licence deleted by hand.
func (r *LicenseReconciler) deleteKeySecret(ctx context.Context, l *saasv1alpha1.License) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Options.SecretNamespace, Name: LicenseSecretName(l.Name)}}
	if err := r.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
		// Logged: a policy refusing the deletion may quote the key it holds
		// (oldObject).
		return fmt.Errorf("failed to delete the licence key Secret: %w", redact.APIError(err))
	}
	return nil
}

// recordKey reports the current key in the status.
func (r *LicenseReconciler) recordKey(l *saasv1alpha1.License, c licensekey.Claims) {
	notBefore, notAfter := metav1.NewTime(time.Unix(c.NotBefore, 0).UTC()), metav1.NewTime(time.Unix(c.NotAfter, 0).UTC())
	l.Status.SKUCode, l.Status.Features, l.Status.KeyID = c.SKU, c.Features, c.KeyID
	l.Status.NotBefore, l.Status.NotAfter = &notBefore, &notAfter
	l.Status.LicenseKeyRef = &saasv1alpha1.SecretKeyReference{
		Namespace: r.Options.SecretNamespace, Name: LicenseSecretName(l.Name), Key: LicenseKeySecretKey,
	}
	setCondition(l, saasv1alpha1.IssuedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Key %s issued for plan %s, valid from %s until %s", c.KeyID, c.SKU,
			notBefore.Format(time.RFC3339), notAfter.Format(time.RFC3339)))
}

// licenseEnd is the end of the licence window the marketplace set: an
// instance's expiry in force derived from its orders (docs/lifecycle.md
// rule E); for an application of instance, its own expireTime when earlier,
// since no key outlasts the period paid for, whatever the application asks
// (one stored before the order was resolved, or by hand, was never checked
// against it, and a cut renewal period moves it back); nil when it set none.
func licenseEnd(l, instance *saasv1alpha1.License, times map[string]time.Time) *metav1.Time {
	if isApplication(l) {
		paid := orders.ExpiryInForce(instance.Spec.NotAfter, instance.Status.Order, instance.Spec.Orders, orders.RecordedTimes(instance.Status.OrderTimes))
		if l.Spec.NotAfter != nil && (paid == nil || l.Spec.NotAfter.Before(paid)) {
			return l.Spec.NotAfter
		}
		return paid
	}
	return orders.ExpiryInForce(l.Spec.NotAfter, l.Status.Order, l.Spec.Orders, times)
}
