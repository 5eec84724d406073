package controllers

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// provision applies the tenant's namespace and objects, or, once released,
// takes the workload down and starts the retention period.
func (r *TenantReconciler) provision(ctx context.Context, s *tenantState) error {
	d, err := r.desired(ctx, s)
	if err != nil {
		return err
	}
	t := s.tenant
	t.Status.Namespace, t.Status.FrontEndURL, t.Status.AdminURL = d.namespace, d.urls.frontEnd, d.urls.admin
	if d.released {
		return r.release(ctx, s, d)
	}
	if err := r.recordFreeze(ctx, s); err != nil {
		return err
	}
	if err := r.applyAll(ctx, d); err != nil {
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ProvisioningReason, err.Error())
		return err
	}
	t.Status.CredentialsSecretName = credentialsSecretName
	setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Namespace %s holds the tenant's objects for plan %s", d.namespace, s.plan.SKUCode))
	return nil
}

// desired gathers what the tenant's objects are built from.
func (r *TenantReconciler) desired(ctx context.Context, s *tenantState) (*desiredTenant, error) {
	t := s.tenant
	namespace := tenantNamespace(s.product, t.Spec.InstanceID)
	urls, err := renderURLs(s.product, t.Spec.InstanceID, namespace)
	if err != nil {
		return nil, r.stall(t, saasv1alpha1.ProductNotFoundReason, "SaaSProduct %q: %v", s.product.Name, err)
	}
	d := &desiredTenant{
		tenant: t, product: s.product, plan: s.plan, namespace: namespace, urls: urls,
		frozen: s.frozen, released: t.Spec.State == saasv1alpha1.StateReleased, simulated: simulated(s),
		ingressNamespace: r.Options.IngressNamespace,
	}
	d.copiedSecrets, err = r.secretsToCopy(ctx, s.product)
	return d, err
}

// secretsToCopy reads the product's TLS and image-pull Secrets from
// kooper's namespace.
func (r *TenantReconciler) secretsToCopy(ctx context.Context, product *saasv1alpha1.SaaSProduct) (map[string]*corev1.Secret, error) {
	w := product.Spec.Workload
	sources := map[string]string{}
	if w.Ingress != nil && w.Ingress.TLSSecretName != "" {
		sources[tlsSecretName] = w.Ingress.TLSSecretName
	}
	if w.ImagePullSecretName != "" {
		sources[imagePullSecretName] = w.ImagePullSecretName
	}
	copies := map[string]*corev1.Secret{}
	for target, source := range sources {
		secret := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: source}, secret); err != nil {
			return nil, fmt.Errorf("failed to read Secret %s/%s named by SaaSProduct %s: %w", r.Options.SecretNamespace, source, product.Name, err)
		}
		copies[target] = secret
	}
	return copies, nil
}

// applyAll applies the namespace first, then the credentials, then every
// other object, and removes what must not exist.
func (r *TenantReconciler) applyAll(ctx context.Context, d *desiredTenant) error {
	a := r.applier()
	if _, err := a.apply(ctx, d.namespaceObject()); err != nil {
		return err
	}
	if err := r.ensureCredentials(ctx, d, d.tenant.Status.CredentialsSecretName != ""); err != nil {
		return err
	}
	present, absent := d.objects()
	for _, obj := range present {
		if _, err := a.apply(ctx, obj); err != nil {
			return err
		}
	}
	for _, obj := range absent {
		if _, err := a.remove(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

func (r *TenantReconciler) applier() *applier {
	return &applier{client: r.Client, reader: r.Reader, uncached: r.isTenantSecret, scheme: r.Scheme, owner: r.Options.FieldOwner}
}

// isTenantSecret reports a Secret outside kooper's namespace: not cached.
func (r *TenantReconciler) isTenantSecret(obj client.Object) bool {
	_, isSecret := obj.(*corev1.Secret)
	return isSecret && obj.GetNamespace() != r.Options.SecretNamespace
}

// ensureCredentials creates the tenant's admin credentials once. They are
// never regenerated: the buyer got them in appInfo. Once status records
// them, nothing is read (tenant Secrets are not cached).
func (r *TenantReconciler) ensureCredentials(ctx context.Context, d *desiredTenant, recorded bool) error {
	if recorded {
		return nil
	}
	key := client.ObjectKey{Namespace: d.namespace, Name: credentialsSecretName}
	if err := r.Reader.Get(ctx, key, &corev1.Secret{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	password, err := strongPassword(24)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: d.meta(credentialsSecretName),
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{
			saasv1alpha1.CredentialsUsernameKey: "admin",
			saasv1alpha1.CredentialsPasswordKey: password,
		},
	}
	// AlreadyExists means the cache was behind: the Secret is there, and stays as it is.
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to create the credentials Secret in %s: %w", d.namespace, err)
	}
	return nil
}

// strongPassword has n characters from every class a password policy asks for.
func strongPassword(n int) (string, error) {
	const (
		lower  = "abcdefghijkmnopqrstuvwxyz"
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits = "23456789"
		symbol = "!#%+-=?@^_"
	)
	classes := []string{lower, upper, digits, symbol}
	all := lower + upper + digits + symbol
	out := make([]byte, n)
	for i := range out {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		c, err := randomChar(set)
		if err != nil {
			return "", err
		}
		out[i] = c
	}
	// Shuffle, so the guaranteed classes are not always in front.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func randomChar(set string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("failed to generate a password: %w", err)
	}
	return set[i.Int64()], nil
}

// recordFreeze remembers, before a freeze scales the workload to zero, how
// many replicas ran; unfreezing restores the plan's count, which is what ran
// unless someone scaled by hand, and then forgets the record.
func (r *TenantReconciler) recordFreeze(ctx context.Context, s *tenantState) error {
	t := s.tenant
	scalesDown := s.frozen && s.product.Spec.Lifecycle.Freeze.Behavior == saasv1alpha1.FreezeScaleToZero
	if !scalesDown {
		t.Status.FrozenReplicas = nil
		return nil
	}
	if len(t.Status.FrozenReplicas) > 0 {
		return nil
	}
	running := s.plan.Replicas
	deployment := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: tenantNamespace(s.product, t.Spec.InstanceID), Name: appName}, deployment)
	switch {
	case err == nil && deployment.Spec.Replicas != nil && *deployment.Spec.Replicas > 0:
		// Zero can only be this freeze's own doing, seen by a reconcile
		// whose cached tenant predates the record: keep the plan's count.
		running = *deployment.Spec.Replicas
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("failed to read the Deployment: %w", err)
	}
	t.Status.FrozenReplicas = []saasv1alpha1.WorkloadReplicas{{Name: appName, Replicas: running}}
	return nil
}

// observeWorkload reads the Deployment's rollout from the cache.
func (r *TenantReconciler) observeWorkload(ctx context.Context, s *tenantState) error {
	t := s.tenant
	deployment := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: t.Status.Namespace, Name: appName}, deployment)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to read the Deployment: %w", err)
	}
	available, msg := deploymentAvailable(deployment, err == nil)
	if simulated(s) {
		available, msg = true, "Debug tenant: the workload is simulated"
	}
	status, reason := metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason
	if available {
		status, reason = metav1.ConditionTrue, saasv1alpha1.SucceededReason
	}
	setCondition(t, saasv1alpha1.AvailableCondition, status, reason, msg)
	return nil
}

// simulated reports whether the tenant is a debug tenant its product
// serves without a workload.
func simulated(s *tenantState) bool {
	debug := s.product.Spec.Debug
	return s.tenant.Spec.Mode == saasv1alpha1.ModeDebug && debug != nil && debug.Handling == saasv1alpha1.DebugSimulate
}

// deploymentAvailable reports whether the Deployment's current spec is
// rolled out with every replica available.
func deploymentAvailable(d *appsv1.Deployment, exists bool) (bool, string) {
	if !exists {
		return false, "Deployment not created yet"
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	switch {
	case d.Status.ObservedGeneration < d.Generation:
		return false, "Deployment rollout not observed yet"
	case d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated and available", min(d.Status.UpdatedReplicas, d.Status.AvailableReplicas), want)
	}
	return true, fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, want)
}

// release takes the workload down and starts the retention period: the
// namespace, with every PVC and Secret, is kept until retainUntil (Retain),
// or deleted at once (Delete, and always for debug tenants).
func (r *TenantReconciler) release(ctx context.Context, s *tenantState, d *desiredTenant) error {
	t := s.tenant
	releasedAt := r.Clock.Now()
	if c := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReleasedCondition); c != nil && c.Status == metav1.ConditionTrue {
		releasedAt = c.LastTransitionTime.Time
	}
	deleted, retainUntil, err := r.releaseData(ctx, d, releasePolicy(s.product, t), releasedAt)
	if err != nil {
		return err
	}
	t.Status.RetainUntil = retainUntil
	reason, msg := saasv1alpha1.RetainingDataReason, "Released; the data is kept until it is deleted by hand"
	switch {
	case deleted:
		reason, msg = saasv1alpha1.DataDeletedReason, "Released; the data is deleted"
	case retainUntil != nil:
		msg = "Released; the data is kept until " + retainUntil.UTC().Format(time.RFC3339)
	}
	setCondition(t, saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, reason, msg)
	apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	return errDone
}

// releaseData removes the workload and applies the retention policy. It
// reports whether the namespace is gone (or going) and until when it is kept.
func (r *TenantReconciler) releaseData(ctx context.Context, d *desiredTenant, policy saasv1alpha1.ReleasePolicy, releasedAt time.Time) (bool, *metav1.Time, error) {
	a := r.applier()
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: d.namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil, nil
		}
		return false, nil, fmt.Errorf("failed to read Namespace %s: %w", d.namespace, err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return true, nil, nil
	}
	for _, obj := range []client.Object{d.deployment(), d.service(), d.ingress()} {
		if _, err := a.remove(ctx, obj); err != nil {
			return false, nil, err
		}
	}
	if policy.RetentionPolicy == saasv1alpha1.DeleteData {
		if err := r.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			return false, nil, fmt.Errorf("failed to delete Namespace %s: %w", d.namespace, err)
		}
		return true, nil, nil
	}
	days := int32(15)
	if policy.RetentionDays != nil {
		days = *policy.RetentionDays
	}
	if days == 0 {
		return false, nil, nil
	}
	until := metav1.NewTime(releasedAt.Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second))
	if existing, ok := ns.Annotations[saasv1alpha1.DeleteAfterAnnotation]; ok {
		// Someone may have moved the date by hand: theirs stands.
		if t, err := time.Parse(time.RFC3339, existing); err == nil {
			until = metav1.NewTime(t)
		}
		return false, &until, nil
	}
	marked := d.namespaceObject()
	marked.Annotations = map[string]string{saasv1alpha1.DeleteAfterAnnotation: until.UTC().Format(time.RFC3339)}
	if _, err := a.apply(ctx, marked); err != nil {
		return false, nil, err
	}
	return false, &until, nil
}

// releasePolicy is the product's, except that debug data is never kept.
func releasePolicy(product *saasv1alpha1.SaaSProduct, t *saasv1alpha1.SaaSTenant) saasv1alpha1.ReleasePolicy {
	if product == nil {
		// The product is gone: keep the data, the safe choice.
		return saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.RetainData}
	}
	if t.Spec.Mode == saasv1alpha1.ModeDebug {
		return saasv1alpha1.ReleasePolicy{RetentionPolicy: saasv1alpha1.DeleteData}
	}
	return product.Spec.Lifecycle.Release
}

// reconcileDelete handles a SaaSTenant deleted by hand (or by its debug
// TTL): the release policy applies, and the finalizer goes at once, so
// nothing waits in Terminating. If the CRD itself is being deleted, every
// tenant object is left alone: a CRD reinstall must never cost data.
func (r *TenantReconciler) reconcileDelete(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if !controllerutil.ContainsFinalizer(t, saasv1alpha1.Finalizer) {
		return nil
	}
	crdGoing, err := r.crdTerminating(ctx)
	if err != nil {
		return err
	}
	if !crdGoing {
		if err := r.releaseOnDelete(ctx, t); err != nil {
			return err
		}
	}
	if err := recordTombstone(ctx, r.Client, r.Reader, r.Recorder, r.Options.SecretNamespace, t, tombstone.KindTenant); err != nil {
		return err
	}
	patch := client.MergeFrom(t.DeepCopy())
	controllerutil.RemoveFinalizer(t, saasv1alpha1.Finalizer)
	if err := r.Patch(ctx, t, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to remove the finalizer: %w", err)
	}
	return nil
}

// releaseOnDelete applies the release policy for a deleted tenant.
func (r *TenantReconciler) releaseOnDelete(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, client.ObjectKey{Name: t.Spec.ProductName}, product); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to read SaaSProduct %s: %w", t.Spec.ProductName, err)
		}
		product = nil
	}
	if product == nil || product.Spec.Workload == nil {
		// Without the product, the namespace's name and workload are unknown
		// beyond what status recorded: keep everything.
		return nil
	}
	d := &desiredTenant{tenant: t, product: product, plan: &saasv1alpha1.Plan{}, namespace: tenantNamespace(product, t.Spec.InstanceID)}
	_, _, err := r.releaseData(ctx, d, releasePolicy(product, t), r.Clock.Now())
	return err
}
