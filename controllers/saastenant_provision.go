package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/apply"
	"github.com/kooper-io/kooper/internal/credentials"
	"github.com/kooper-io/kooper/internal/redact"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// namespaceGone reports whether the namespace of a tenant provisioned
// before is gone from the API server (deleted outside kooper), so that
// making it again says so. A namespace being deleted is an error naming
// the cause: nothing can be made in it until it is gone (its deletion
// queues the tenant). The cache decides only while it holds the
// namespace: a miss is confirmed with the API server, since a namespace
// whose labels someone changed is missing from the cache, not gone.
func (r *SaaSTenantReconciler) namespaceGone(ctx context.Context, name string) (bool, error) {
	ns := &corev1.Namespace{}
	err := r.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil && ns.DeletionTimestamp.IsZero():
		return false, nil
	case err == nil:
		return false, namespaceTerminatingError(name)
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("failed to read Namespace %s: %w", name, err)
	}
	stored, fate, err := r.storedNamespace(ctx, name)
	switch {
	case err != nil:
		return false, err
	case stored == nil && fate == dataDeleting:
		return false, namespaceTerminatingError(name)
	}
	return stored == nil, nil
}

// namespaceTerminatingError says why nothing is made in the tenant's
// namespace: someone deleted it while the tenant was not released.
type namespaceTerminatingError string

func (name namespaceTerminatingError) Error() string {
	return fmt.Sprintf("namespace %s is being deleted, though the tenant is not released (kooper deletes a namespace only after a release); "+
		"kooper makes it again once it is gone, without the data it held", string(name))
}

// refuseNamespaceOfAnother stalls tenant t with NamespaceOfAnotherTenant
// when namespace name, the one its product names for it, exists labelled
// as another tenant's (namespaceOwnedByAnother). Names can collide: prefix
// "tenant-i" with instance "0123" and prefix "tenant" with instance
// "i-0123" name one namespace, and applying t's namespace over the other
// tenant's would relabel it as t's, so that t's release would delete the
// other's data. The cache only points at such a namespace; the refusal is
// decided on it as the API server holds it. A namespace the cache does not
// hold (made a moment ago, or not labelled as kooper's) is left to
// makeFreshNamespace, for a tenant that has recorded none, and to the
// chart's admission policy, which refuses a change of its instance-id. It
// fails only when a read fails.
func (r *SaaSTenantReconciler) refuseNamespaceOfAnother(ctx context.Context, t *saasv1alpha1.SaaSTenant, name string) outcome {
	key := client.ObjectKey{Name: name}
	cached := &corev1.Namespace{}
	switch err := r.Get(ctx, key, cached, client.UnsafeDisableDeepCopy); {
	case apierrors.IsNotFound(err):
		return proceed()
	case err != nil:
		return failed(fmt.Errorf("failed to read Namespace %s: %w", name, err))
	case namespaceOwnedByAnother(cached, t) == "":
		return proceed()
	}
	stored := &corev1.Namespace{}
	switch err := apiReader(r.Reader, r.Client).Get(ctx, key, stored); {
	case apierrors.IsNotFound(err):
		return proceed()
	case err != nil:
		return failed(fmt.Errorf("failed to read Namespace %s: %w", name, err))
	}
	owner := namespaceOwnedByAnother(stored, t)
	if owner == "" {
		return proceed() // the cache has not caught up with it
	}
	return r.stall(t, saasv1alpha1.NamespaceOfAnotherTenantReason,
		"namespace %s, named by SaaSProduct %s's namespacePrefix %q and instanceId %q, is another tenant's (%s): "+
			"kooper applies nothing of this tenant's to it. Delete this SaaSTenant if it was made by hand; "+
			"a product's namespacePrefix must not name another product's tenants' namespaces (docs/naming.md)",
		name, t.Spec.ProductName, strings.TrimSuffix(name, "-"+t.Spec.InstanceID), t.Spec.InstanceID, owner)
}

// namespaceOwnedByAnother names the owner ns is labelled with, as
// "saas.kooper.io/instance-id=<id>, saas.kooper.io/product=<name>", when
// it is not t: kooper labels a tenant's namespace with its instance ID,
// which no other tenant has (it is the SaaSTenant's name), and its
// product, which a tenant never changes. "" when ns carries t's labels, or
// neither label.
func namespaceOwnedByAnother(ns *corev1.Namespace, t *saasv1alpha1.SaaSTenant) string {
	id, product := ns.Labels[saasv1alpha1.InstanceIDLabel], ns.Labels[saasv1alpha1.ProductLabel]
	if (id == "" || id == t.Spec.InstanceID) && (product == "" || product == t.Spec.ProductName) {
		return ""
	}
	return fmt.Sprintf("%s=%s, %s=%s", saasv1alpha1.InstanceIDLabel, id, saasv1alpha1.ProductLabel, product)
}

// provision applies the tenant's namespace and objects, and records what it
// applied: teardown works from that record.
func (r *SaaSTenantReconciler) provision(ctx context.Context, s *tenantState) outcome {
	d, o := r.desired(ctx, s)
	if !o.proceeds() {
		return o
	}
	// Before the namespace is recorded as the tenant's: its release works
	// from that record, and would mark another tenant's data for deletion.
	if o := r.refuseNamespaceOfAnother(ctx, s.tenant, d.Namespace); !o.proceeds() {
		return o
	}
	chart := s.product.Spec.Chart != nil
	var plan *chartPlan
	if chart {
		// Rendered before anything is created: a chart that cannot be
		// applied stalls the tenant with nothing half-made.
		if plan, o = r.planChart(ctx, s, d); !o.proceeds() {
			return o
		}
	}
	t := s.tenant
	ctx = withReplacedReporter(ctx, func(note string) {
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, objectReplacedReason, "Provision", "%s", note)
	})
	// Nothing of the tenant's was made in its namespace before the
	// namespace was recorded.
	s.freshNamespace = t.Status.Namespace == ""
	if s.freshNamespace {
		if err := r.makeFreshNamespace(ctx, d); err != nil {
			return r.provisionFailed(t, err)
		}
	}
	if err := r.recordBeforeApply(ctx, s, d.Namespace, plan.recorded()); err != nil {
		return failed(err)
	}
	t.Status.FrontEndURL, t.Status.AdminURL = d.URLs.FrontEnd, d.URLs.Admin
	if !chart {
		if err := r.recordFreeze(ctx, s); err != nil {
			return failed(err)
		}
	}
	applying := &saasv1alpha1.AppliedPlan{SKUCode: s.plan.SKUCode, Replicas: s.plan.Replicas, Resources: d.ContainerResources().DeepCopy()}
	quota, err := r.quotaInForce(ctx, s, d.Namespace, applying)
	if err != nil {
		return failed(err)
	}
	d.QuotaInForce = quota
	s.appliedHashes = map[string]string{}
	err = r.applyAll(ctx, d, s)
	if err == nil && chart {
		err = r.applyChart(ctx, s, plan)
	}
	if err == nil {
		// After what the product runs now is applied: a tenant whose
		// product switched between spec.workload and spec.chart is never
		// left with nothing.
		err = r.removeSwitchedFrom(ctx, s, d, plan)
	}
	if err != nil {
		return r.provisionFailed(t, err)
	}
	t.Status.CredentialsSecretName = tenantobjects.CredentialsSecretName
	t.Status.Applied = applying
	if s.revision != "" {
		t.Status.Revision = s.revision
	}
	msg := fmt.Sprintf("Namespace %s holds the tenant's objects for plan %s", d.Namespace, s.plan.SKUCode)
	if c := s.product.Status.Chart; chart && c != nil {
		msg += fmt.Sprintf(", chart %s %s (%s)", c.Name, c.Version, c.Digest)
	}
	if w := d.VolumeWarning(); w != "" {
		msg += "; warning: " + w
	}
	setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason, msg)
	return proceed()
}

// provisionFailed ends a provisioning pass that err stopped: the
// Provisioned condition, or the stall, says why.
func (r *SaaSTenantReconciler) provisionFailed(t *saasv1alpha1.SaaSTenant, err error) outcome {
	var invalid *invalidObjectsError
	var terminating namespaceTerminatingError
	var notKoopers *namespaceNotKoopersError
	denied, refused := asAdmissionRefused(err)
	switch {
	case errors.As(err, &notKoopers):
		return r.stall(t, saasv1alpha1.NamespaceNotKoopersReason, "%s", notKoopers.Error())
	case errors.As(err, &terminating):
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.NamespaceTerminatingReason, err.Error())
		return failed(err)
	case errors.As(err, &invalid):
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ObjectInvalidReason, invalid.Error())
		return r.stall(t, saasv1alpha1.ObjectInvalidReason, "%s", invalid.Error())
	case refused:
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.AdmissionRefusedReason, denied.Error())
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.AdmissionRefusedReason, "Provision", "%s", denied.Error())
		return failed(redact.APIError(err)) // logged and in Reconciling: the policy's message may quote the Secret
	}
	err = redact.APIError(err) // a causeless BadRequest of server-side apply may quote a value
	setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ProvisioningReason, err.Error())
	return failed(err)
}

// makeFreshNamespace makes the namespace of a tenant that has recorded
// none, just before it records it (recordBeforeApply): a namespace of that
// name that is not labelled as the tenant's stalls it first, so that it
// is never recorded, nor labelled and restricted as the tenant's. The
// cache holds only kooper's namespaces, and without the chart's admission
// policy (Kubernetes before 1.30) nothing else refuses the forced apply
// that follows a create answered AlreadyExists: it would take another
// program's namespace (prefix "ingress", instance "nginx") for the
// tenant's, shut it in with the tenant's NetworkPolicy and Pod Security,
// and delete it, with its data, at the tenant's release. The API server
// is asked only when the create answers AlreadyExists, which a new
// tenant's does not: the first pass costs no request more. A namespace
// made here and not yet recorded (the record's write failed) is labelled
// as the tenant's, so that the next pass and teardown find it
// (recoverNamespace); nothing is made in it before the record.
func (r *SaaSTenantReconciler) makeFreshNamespace(ctx context.Context, d *tenantobjects.Desired) error {
	a := r.applier()
	a.FreshNamespace = true
	a.Client = refusingNamespaceNotKoopers{Client: a.Client, reader: apiReader(r.Reader, r.Client), d: d}
	return applyNamespace(ctx, a, d)
}

// applyNamespace applies the tenant's namespace.
func applyNamespace(ctx context.Context, a *apply.Applier, d *tenantobjects.Desired) error {
	if _, err := a.Apply(ctx, tenantobjects.NamespaceObject(d.Tenant, d.Namespace)); err != nil {
		if admissionRefusal(err) {
			// Nothing can be made in a namespace that is not there, nor
			// should be in one whose Pod Security someone else set.
			return &admissionRefusedError{refused: []string{"Namespace " + d.Namespace + ": " + apiMessage(err)}}
		}
		return err
	}
	return nil
}

// refusingNamespaceNotKoopers is a client whose create of d's namespace,
// answered AlreadyExists, fails with a namespaceNotKoopersError when the
// namespace, as the API server holds it, is not labelled as d's tenant's:
// the applier then stops instead of applying over it.
type refusingNamespaceNotKoopers struct {
	client.Client
	reader client.Reader
	d      *tenantobjects.Desired
}

func (c refusingNamespaceNotKoopers) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := c.Client.Create(ctx, obj, opts...)
	if !apierrors.IsAlreadyExists(err) || obj.GetNamespace() != "" || obj.GetName() != c.d.Namespace {
		return err
	}
	stored := &corev1.Namespace{}
	switch getErr := c.reader.Get(ctx, client.ObjectKey{Name: c.d.Namespace}, stored); {
	case apierrors.IsNotFound(getErr):
		return err // deleted since: the apply that follows makes it
	case getErr != nil:
		return fmt.Errorf("failed to read Namespace %s: %w", c.d.Namespace, getErr)
	case !labelledAsTenants(stored, c.d.Tenant):
		return &namespaceNotKoopersError{namespace: c.d.Namespace, product: c.d.Product.Name,
			prefix: c.d.Product.Spec.NamespacePrefix, instanceID: c.d.Tenant.Spec.InstanceID}
	}
	// The tenant's own: made by a pass whose record's write failed, or
	// before a restore lost the record.
	return err
}

// namespaceNotKoopersError says why a new tenant stalls: the namespace its
// product names for it exists, and kooper did not make it for the tenant.
type namespaceNotKoopersError struct {
	namespace, product, prefix, instanceID string
}

func (e *namespaceNotKoopersError) Error() string {
	return fmt.Sprintf("namespace %s, named by SaaSProduct %s's namespacePrefix %q and instanceId %q, already exists and is not labelled "+
		"as this tenant's (%s=%s, %s=%s): kooper takes over no namespace it did not make, and applies nothing of this tenant's to it. "+
		"Delete this SaaSTenant if it was made by hand; a product's namespacePrefix must not name namespaces of other programs (docs/naming.md)",
		e.namespace, e.product, e.prefix, e.instanceID, saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue,
		saasv1alpha1.InstanceIDLabel, e.instanceID)
}

// recordBeforeApply writes the tenant's namespace, and a chart tenant's
// inventory (nil for any other), into its stored status before anything is
// created in it (a new tenant's namespace itself is made just before, by
// makeFreshNamespace, labelled so that teardown finds it unrecorded):
// teardown and pruning work from that record alone, so it must
// name whatever a reconcile that stops half-way (a failed or refused status
// write, a crash) leaves behind. One write carries both, and only when
// either changes; it carries the resourceVersion t was read at, and t and
// s.stored take the new one.
//
// A new tenant's record carries its whole status so far (the order Query
// Order resolved, its history, Ready), the revision about to be applied,
// and Provisioned False with reason Applying: the write after the objects are applied may then wait for
// Ready (provisionedHold) without anything decided being kept only in
// memory.
func (r *SaaSTenantReconciler) recordBeforeApply(ctx context.Context, s *tenantState, namespace string, inventory []saasv1alpha1.InventoryEntry) error {
	t := s.tenant
	if inventory == nil {
		inventory = t.Status.Inventory
	}
	if t.Status.Namespace == namespace && slices.Equal(t.Status.Inventory, inventory) {
		return nil
	}
	recorded := t.DeepCopy()
	recorded.Status.Namespace, recorded.Status.Inventory = namespace, inventory
	// The patch is the difference to what is stored: for a tenant that
	// has a record, only the namespace and inventory this pass changes.
	base := t.DeepCopy()
	fresh := t.Status.Namespace == ""
	if fresh {
		setCondition(recorded, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ApplyingReason,
			fmt.Sprintf("Applying the tenant's objects in namespace %s, then waiting for its workload", namespace))
		// On the controllers' clock, which provisionedHold reads it by.
		apimeta.FindStatusCondition(recorded.Status.Conditions, saasv1alpha1.ProvisionedCondition).LastTransitionTime = metav1.NewTime(r.Clock.Now())
		if s.revision != "" {
			// Pinned before anything is made: a pass whose status write
			// waits must not leave a rollout taking the tenant for one
			// never provisioned, nor the next pass pick another revision.
			recorded.Status.Revision = s.revision
		}
		r.deriveStatus(s.stored, recorded)
		base.Status = *s.stored.Status.DeepCopy()
	}
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, recorded, patch); err != nil {
		return fmt.Errorf("failed to record namespace %s and the objects to apply before provisioning: %w", namespace, err)
	}
	if fresh {
		t.Status, t.ResourceVersion = *recorded.Status.DeepCopy(), recorded.ResourceVersion
		*s.stored = *recorded.DeepCopy()
		return nil
	}
	t.Status.Namespace, t.Status.Inventory, t.ResourceVersion = namespace, inventory, recorded.ResourceVersion
	s.stored.Status.Namespace, s.stored.Status.Inventory, s.stored.ResourceVersion = namespace, inventory, recorded.ResourceVersion
	return nil
}

// desired gathers what the tenant's objects are built from. A product
// whose URL templates fail the product's URLsValid check, or render this
// tenant's URLs unusable (too long, or a host that is not a DNS name),
// stalls provisioning: an Ingress host shared by every tenant would send
// buyers to one another's tenants.
func (r *SaaSTenantReconciler) desired(ctx context.Context, s *tenantState) (*tenantobjects.Desired, outcome) {
	t := s.tenant
	if p := r.urlChecks.check(s.product, s.revision); p != nil {
		return nil, r.stall(t, p.reason, "SaaSProduct %q: %s", s.product.Name, p.message)
	}
	namespace := tenantobjects.NamespaceName(s.product, t.Spec.InstanceID)
	urls, err := tenantobjects.RenderURLs(s.product, t.Spec.InstanceID, namespace)
	if err != nil {
		return nil, r.stall(t, saasv1alpha1.URLTemplateInvalidReason, "SaaSProduct %q: %v", s.product.Name, err)
	}
	if p := checkTenantURLs(s.product, t.Spec.InstanceID, urls); p != nil {
		return nil, r.stall(t, p.reason, "SaaSProduct %q: %s", s.product.Name, p.message)
	}
	if err := tenantobjects.CheckEgress(s.product.Spec.TenantEgress()); err != nil {
		return nil, r.stall(t, saasv1alpha1.EgressRuleInvalidReason, "SaaSProduct %q: %v", s.product.Name, err)
	}
	if err := tenantobjects.CheckAllowFrom(&s.product.Spec); err != nil {
		return nil, r.stall(t, saasv1alpha1.IngressSourceInvalidReason, "SaaSProduct %q: %v", s.product.Name, err)
	}
	d := &tenantobjects.Desired{
		Tenant: t, Product: s.product, Plan: s.plan, Namespace: namespace, URLs: urls,
		Frozen: s.frozen, Simulated: simulated(s), IngressNamespace: r.Options.IngressNamespace,
		MonitoringNamespace: r.Options.MonitoringNamespace, ClusterCIDRs: r.Options.ClusterCIDRs,
		GatewayImage: r.Options.GatewayImage,
	}
	var o outcome
	if !d.Simulated {
		// A simulated debug tenant runs no pods and no Ingress: it needs
		// no copy, nor waits for one.
		if d.CopiedSecrets, o = r.secretsToCopy(ctx, t, s.product); !o.proceeds() {
			return nil, o
		}
	}
	live, err := r.liveDeployment(ctx, s, d.Namespace)
	if err != nil {
		return nil, failed(err)
	}
	// Earlier builds of kooper ran a tenant's pods as a ServiceAccount app
	// of its own. The cache is enough to tell: kooper no longer makes such
	// a Deployment, so one made before this process started is in the
	// synced cache, and one that is not there is gone.
	d.LegacyServiceAccount = live != nil && live.Spec.Template.Spec.ServiceAccountName == tenantobjects.AppName
	if o := r.tenantConfig(ctx, s, d, live); !o.proceeds() {
		return nil, o
	}
	if err := r.existingVolume(ctx, s, d); err != nil {
		return nil, failed(err)
	}
	return d, proceed()
}

// liveDeployment is the workload's Deployment in namespace as the cache
// holds it, read once per reconcile and without a copy: only read it. Nil
// when there is none, and for a product without a workload (a chart's
// Deployments are its own).
func (r *SaaSTenantReconciler) liveDeployment(ctx context.Context, s *tenantState, namespace string) (*appsv1.Deployment, error) {
	if s.product.Spec.Workload == nil {
		return nil, nil
	}
	return r.deployment(ctx, namespace, client.UnsafeDisableDeepCopy)
}

// existingVolume puts the tenant's data claim, as the cache holds it, into
// d: the claim applied keeps its class, access modes and size (see
// tenantobjects.Desired.Volume). No read before the namespace exists, nor
// for a product without storage.
func (r *SaaSTenantReconciler) existingVolume(ctx context.Context, s *tenantState, d *tenantobjects.Desired) error {
	w := s.product.Spec.Workload
	if w == nil || w.Storage == nil || s.tenant.Status.Namespace == "" {
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: tenantobjects.DataVolumeName}, pvc)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("failed to read the data volume's claim in %s: %w", d.Namespace, err)
	}
	d.Volume = pvc
	return nil
}

// secretsToCopy reads the product's TLS and image-pull Secrets from
// kooper's namespace. Each must be of its kind's type and carry the
// merchant's copy-to-tenants label; otherwise the tenant stalls, and nothing
// is copied.
func (r *SaaSTenantReconciler) secretsToCopy(ctx context.Context, t *saasv1alpha1.SaaSTenant, product *saasv1alpha1.SaaSProduct) (map[string]*corev1.Secret, outcome) {
	copies := map[string]*corev1.Secret{}
	for _, source := range copiedSecrets(product) {
		secret := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: source.name}, secret); err != nil {
			return nil, failed(fmt.Errorf("failed to read Secret %s/%s named by SaaSProduct %s: %w", r.Options.SecretNamespace, source.name, product.Name, err))
		}
		if problem := source.refuse(secret); problem != "" {
			return nil, r.stall(t, saasv1alpha1.SecretNotCopyableReason, "Secret %s/%s named by SaaSProduct %s %s",
				r.Options.SecretNamespace, source.name, product.Name, problem)
		}
		copies[source.target] = secret
	}
	return copies, proceed()
}

// applyAll applies the namespace first, then the credentials, then the
// objects that isolate the namespace (applyIsolation), then every other
// object, and removes what must not exist. Should the cluster refuse the
// tenant's NetworkPolicy, or its plan's ResourceQuota, while the namespace
// has none, nothing that serves is applied (nor, as provision applies a
// chart only after this, a chart's objects): the refusal fails the pass,
// saying so, and a later pass applies them once the isolation is there. In
// a fresh namespace (nothing of the tenant's was made before) uncached
// objects are written without a read.
func (r *SaaSTenantReconciler) applyAll(ctx context.Context, d *tenantobjects.Desired, s *tenantState) error {
	a := r.applier()
	a.FreshNamespace, a.Hashes = s.freshNamespace, s.appliedHashes
	gone := false
	if !s.freshNamespace {
		// A fresh one was made before the record (makeFreshNamespace).
		var err error
		if gone, err = r.namespaceGone(ctx, d.Namespace); err != nil {
			return err
		}
		// Only a namespace an apply once completed in can have held data:
		// one whose first create failed (refused, a webhook timing out) is
		// missing without anyone having deleted it.
		gone = gone && d.Tenant.Status.Applied != nil
		if err := applyNamespace(ctx, a, d); err != nil {
			return err
		}
	}
	if gone {
		r.Recorder.Eventf(d.Tenant, nil, corev1.EventTypeWarning, saasv1alpha1.NamespaceRecreatedReason, "Provision",
			"namespace %s was deleted outside kooper while the tenant was not released; it is made again, empty: the data it held is gone", d.Namespace)
	}
	if err := r.ensureCredentials(ctx, d); err != nil {
		return err
	}
	present, absent := d.Objects()
	isolation, serving := splitIsolation(present)
	var refused refusals
	missing, err := r.applyIsolation(ctx, a, isolation, &refused)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		// Served now, the workload would take traffic from every
		// namespace and reach anything, the cloud's metadata endpoint
		// included, or use the node without bound: it waits for its
		// isolation, and the refusal says so.
		refused.heldBack = heldBackNote(d, missing)
		return refused.err()
	}
	if !s.freshNamespace {
		if err := replaceServicesOfOtherClusterIP(ctx, r.Client, serving); err != nil {
			return err
		}
	}
	if err := applyRecording(ctx, a, serving, &refused); err != nil {
		return err
	}
	if err := refused.err(); err != nil {
		return err
	}
	remover := a
	if s.frozen && !apimeta.IsStatusConditionTrue(d.Tenant.Status.Conditions, saasv1alpha1.FrozenCondition) {
		// The pass that freezes the tenant: what it takes away (the
		// Ingress, under DisableIngress) is looked up in the API server,
		// since one whose labels someone removed is missing from the cache
		// while it still serves. Later passes trust the cache.
		remover = r.confirming(a)
	}
	for _, obj := range absent {
		if _, err := remover.Remove(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// confirming is a copy of a that reads every object from the API server,
// not the cache: for the passes that take something away and must not
// take a cache's miss for its absence.
func (r *SaaSTenantReconciler) confirming(a *apply.Applier) *apply.Applier {
	c := *a
	c.Reader = apiReader(r.Reader, r.Client)
	c.Uncached = func(client.Object) bool { return true }
	return &c
}

// replaceServicesOfOtherClusterIP deletes each of the tenant's Services
// in objs that is headless where the desired one has a cluster IP, or the
// other way round (spec.workload.ingress.clusterIP, or a chart's
// spec.clusterIP), so that the apply that follows creates it anew: the API
// server neither adds a cluster IP to a Service nor takes one away (given
// none, it keeps the one there, even None, without an error; given None
// for a Service with an address, it refuses the change). The cache only
// says whether to try: the deletion is conditional on the UID and
// resourceVersion the cache showed, so a stale copy fails it with a
// conflict, and the tenant is reconciled again.
func replaceServicesOfOtherClusterIP[T client.Object](ctx context.Context, c client.Client, objs []T) error {
	for _, obj := range objs {
		wantHeadless, ok := desiredHeadless(obj)
		if !ok {
			continue
		}
		current := &corev1.Service{}
		// Only read, so not copied: a restart reads every tenant's Service.
		err := c.Get(ctx, client.ObjectKeyFromObject(obj), current, client.UnsafeDisableDeepCopy)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return err
		case current.Spec.ClusterIP == "" || (current.Spec.ClusterIP == corev1.ClusterIPNone) == wantHeadless:
			continue
		}
		stale := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: current.Namespace, Name: current.Name}}
		precondition := client.Preconditions{UID: &current.UID, ResourceVersion: &current.ResourceVersion}
		if err := c.Delete(ctx, stale, precondition); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("failed to delete Service %s to recreate it with a cluster IP of the other kind: %w",
				client.ObjectKeyFromObject(current), err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a tenant's Service to recreate it: whether it has a cluster IP changed",
			"Service", current.Name, "headless", wantHeadless)
	}
	return nil
}

// desiredHeadless reports whether obj, when a Service of a kind that has a
// cluster IP (not ExternalName), is to be headless (clusterIP None).
func desiredHeadless(obj client.Object) (headless, isService bool) {
	switch o := obj.(type) {
	case *corev1.Service:
		return o.Spec.ClusterIP == corev1.ClusterIPNone, o.Spec.Type != corev1.ServiceTypeExternalName
	case *unstructured.Unstructured:
		gvk := o.GroupVersionKind()
		if gvk.Group != "" || gvk.Kind != "Service" {
			return false, false
		}
		clusterIP, _, _ := unstructured.NestedString(o.Object, "spec", "clusterIP")
		serviceType, _, _ := unstructured.NestedString(o.Object, "spec", "type")
		return clusterIP == corev1.ClusterIPNone, serviceType != string(corev1.ServiceTypeExternalName)
	}
	return false, false
}

// invalidObjectsError names the objects the API server refused as invalid
// (422): retrying cannot help until the product, plan or chart changes,
// or someone does what advice, when not empty, says.
type invalidObjectsError struct {
	refused []string
	advice  string
	// heldBack, when not empty, says what was not applied because of the
	// refusals (heldBackNote).
	heldBack string
}

func (e *invalidObjectsError) Error() string {
	advice := ""
	if e.advice != "" {
		advice = " (" + e.advice + ")"
	}
	return capMessage(fmt.Sprintf("The API server refuses %d of the tenant's objects as invalid%s: %s%s",
		len(e.refused), advice, strings.Join(e.refused, "; "), heldBackSuffix(e.heldBack)))
}

// heldBackSuffix is "; " and heldBack, or "" when nothing was held back.
func heldBackSuffix(heldBack string) string {
	if heldBack == "" {
		return ""
	}
	return "; " + heldBack
}

// admissionRefusedError names the tenant's objects the cluster's admission
// refused (AdmissionRefusedReason), each with who refused, its reason and
// code, never the webhook's or the policy's message (redact.APIError).
type admissionRefusedError struct {
	refused []string
	// heldBack, when not empty, says what was not applied because of the
	// refusals (heldBackNote).
	heldBack string
}

func (e *admissionRefusedError) Error() string {
	return capMessage(fmt.Sprintf("The cluster's admission refuses %d of the tenant's objects (an admission webhook or policy, not the object's own validation): %s%s",
		len(e.refused), strings.Join(e.refused, "; "), heldBackSuffix(e.heldBack)))
}

// asAdmissionRefused is err as an admissionRefusedError: itself, or a
// single refusal by the cluster's admission of a write that stops the
// apply (the namespace's, the credentials Secret's), named by err's text.
func asAdmissionRefused(err error) (*admissionRefusedError, bool) {
	var denied *admissionRefusedError
	switch {
	case errors.As(err, &denied):
		return denied, true
	case admissionRefusal(err):
		// The webhook's or the policy's message may quote the Secret's data.
		return &admissionRefusedError{refused: []string{redact.APIError(err).Error()}}, true
	}
	return nil, false
}

// admissionRefusal reports whether err is a refusal by an admission webhook
// or a ValidatingAdmissionPolicy, told by the messages kube-apiserver gives
// them ("admission webhook %q denied the request: …", "ValidatingAdmissionPolicy
// '…' with binding '…' denied request: …"): their status codes (400, 403,
// 422, whatever the webhook or the policy's reason chose) are shared with
// refusals of other causes.
func admissionRefusal(err error) bool {
	var status apierrors.APIStatus
	if err == nil || !errors.As(err, &status) {
		return false
	}
	msg := status.Status().Message
	return strings.Contains(msg, "admission webhook ") && strings.Contains(msg, " denied the request") ||
		strings.Contains(msg, "ValidatingAdmissionPolicy '") && strings.Contains(msg, " denied request")
}

// applyEach applies every object. One the API server refuses as invalid,
// or the cluster's admission refuses, does not stop the others: what can be
// applied is, and the refusals come back together, as an
// invalidObjectsError if any is invalid (retrying cannot help: it names
// only those), else as an admissionRefusedError. Any other failure stops at
// once. A change the API server refuses in place is first made by
// replacing the object, where replaceRefused finds that safe (a Job's
// template, a Secret's type, a Deployment's selector, say), and applying
// it again: only then is it refused.
func applyEach[T client.Object](ctx context.Context, a *apply.Applier, objs []T) error {
	var refused refusals
	if err := applyRecording(ctx, a, objs, &refused); err != nil {
		return err
	}
	return refused.err()
}

// applyRecording applies every object as applyEach does, keeping the
// refusals in refused; it returns only a failure that stops at once.
func applyRecording[T client.Object](ctx context.Context, a *apply.Applier, objs []T, refused *refusals) error {
	for _, obj := range objs {
		if err := applyOrReplace(ctx, a, obj); err != nil && !refused.record(a, obj, err) {
			return err
		}
	}
	return nil
}

// applyOrReplace applies obj, and, when the API server refuses the change
// in place, makes it by replacing obj where replaceRefused finds that safe.
func applyOrReplace(ctx context.Context, a *apply.Applier, obj client.Object) error {
	_, err := a.Apply(ctx, obj)
	if apierrors.IsInvalid(err) && !admissionRefusal(err) {
		err = replaceRefused(ctx, a, obj, err)
	}
	return err
}

// refusals gathers the objects the API server refuses as invalid and those
// the cluster's admission refuses, neither of which stops the others.
type refusals struct {
	invalid, denied []string
	// advice is the first refusal's remedy, for an invalidObjectsError.
	advice string
	// heldBack, when not empty, says which objects were not applied
	// because of the refusals (heldBackNote).
	heldBack string
}

// record keeps err, the answer to obj's apply, when it is a refusal that
// does not stop the other objects, and reports whether it was.
func (f *refusals) record(a *apply.Applier, obj client.Object, err error) bool {
	switch {
	case admissionRefusal(err):
		f.denied = append(f.denied, describeRefusal(a, obj, err))
	case apierrors.IsInvalid(err), refusedResize(obj, err):
		f.invalid = append(f.invalid, describeRefusal(a, obj, err))
		f.advice = cmp.Or(f.advice, refusalAdvice(obj.GetObjectKind().GroupVersionKind().GroupKind(), obj.GetNamespace(), obj.GetName(), err))
	default:
		return false
	}
	return true
}

// err is the refusals as an invalidObjectsError if any is invalid, else as
// an admissionRefusedError; nil when there were none.
func (f *refusals) err() error {
	switch {
	case len(f.invalid) > 0:
		return &invalidObjectsError{refused: f.invalid, advice: f.advice, heldBack: f.heldBack}
	case len(f.denied) > 0:
		return &admissionRefusedError{refused: f.denied, heldBack: f.heldBack}
	}
	return nil
}

// splitIsolation splits the tenant's objects (in Objects' order) into
// those that isolate its namespace, its ResourceQuota, LimitRange and
// NetworkPolicy, and the rest, each in the order given.
func splitIsolation(objs []client.Object) (isolation, rest []client.Object) {
	for _, obj := range objs {
		switch obj.(type) {
		case *corev1.ResourceQuota, *corev1.LimitRange, *networkingv1.NetworkPolicy:
			isolation = append(isolation, obj)
		default:
			rest = append(rest, obj)
		}
	}
	return isolation, rest
}

// servingWaitsFor returns, for an object without which the tenant's
// serving objects are not applied, an empty one of its kind to read it
// into; nil for any other. They are its NetworkPolicy, without which every
// namespace reaches the pods and they reach anything, and its
// ResourceQuota (there only when the plan sets one), without which they
// may use the node without bound. Not the LimitRange: it only fills in the
// resources a container leaves out (kooper's Deployment sets the plan's),
// and a quota that counts a resource refuses a pod that leaves it out.
func servingWaitsFor(obj client.Object) client.Object {
	switch obj.(type) {
	case *corev1.ResourceQuota:
		return &corev1.ResourceQuota{}
	case *networkingv1.NetworkPolicy:
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// applyIsolation applies the objects that isolate the tenant's namespace,
// keeping the refusals in refused as applyEach does, and returns, as
// "<Kind> <name>", those refused that the namespace does not have: the
// API server is asked, since a cache behind a deletion would show an
// object that no longer isolates anything. An earlier version of a
// refused object, still there, still isolates: it is not returned.
func (r *SaaSTenantReconciler) applyIsolation(ctx context.Context, a *apply.Applier, objs []client.Object, refused *refusals) ([]string, error) {
	var missing []string
	for _, obj := range objs {
		err := applyOrReplace(ctx, a, obj)
		if err == nil {
			continue
		}
		if !refused.record(a, obj, err) {
			return nil, err
		}
		stored := servingWaitsFor(obj)
		if stored == nil {
			continue
		}
		gvk, _ := apiutil.GVKForObject(obj, a.Scheme) // Apply found it
		switch err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKeyFromObject(obj), stored); {
		case apierrors.IsNotFound(err):
			missing = append(missing, gvk.Kind+" "+obj.GetName())
		case err != nil:
			return nil, fmt.Errorf("failed to read %s %s, refused, to tell whether the namespace is isolated without it: %w",
				gvk.Kind, client.ObjectKeyFromObject(obj), err)
		}
	}
	return missing, nil
}

// heldBackNote says that the tenant's serving objects were not applied
// because the namespace lacks missing, its isolation objects refused.
func heldBackNote(d *tenantobjects.Desired, missing []string) string {
	serving := "the workload's Deployment, Service and Ingress, and what they use"
	if d.Product.Spec.Chart != nil {
		serving = "the chart's objects"
	}
	return fmt.Sprintf("serving objects held back for isolation: %s are not applied while namespace %s lacks %s",
		serving, d.Namespace, strings.Join(missing, " and "))
}

// describeRefusal is "<Kind> <name>: <the API server's reason>".
func describeRefusal(a *apply.Applier, obj client.Object, err error) string {
	gvk, _ := apiutil.GVKForObject(obj, a.Scheme) // Apply found it
	return fmt.Sprintf("%s %s: %s", gvk.Kind, obj.GetName(), apiMessage(err))
}

// refusedResize reports the API server's refusal to grow a claim whose
// storage class does not allow expansion (or whose volume was not
// dynamically provisioned): the PersistentVolumeClaimResize admission
// answers 403, not 422, but retrying cannot help either, until the
// product's size or the class changes.
func refusedResize(obj client.Object, err error) bool {
	if !apierrors.IsForbidden(err) {
		return false
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return gvk.Kind == "PersistentVolumeClaim" && gvk.Group == "" && strings.Contains(err.Error(), "can be resized")
}

// apiMessage is the API server's reason for refusing an object, for a
// condition or an Event: field by field ("spec.volumeClaimTemplates: field
// is immutable"), or who refused for an admission webhook or policy, and
// never a value the refusal quotes (redact.Reason).
func apiMessage(err error) string {
	return redact.Reason(err)
}

func (r *SaaSTenantReconciler) applier() *apply.Applier {
	return &apply.Applier{Client: r.Client, Reader: r.Reader, Uncached: r.notCached, Scheme: r.Scheme, Owner: r.Options.FieldOwner,
		HashAnnotation: saasv1alpha1.LastAppliedHashAnnotation, CreatedAnnotation: saasv1alpha1.FieldsOwnerAnnotation, Written: &r.written}
}

// observedApplied reports whether a cached copy of a tenant object shows
// this reconcile's apply of it: a copy from before (the cache behind the
// write) would report the health of what ran before. An object this
// reconcile did not apply, or applied before kooper recorded hashes,
// counts as shown.
func (s *tenantState) observedApplied(kind string, obj metav1.Object) bool {
	want, applied := s.appliedHashes[kind+"/"+obj.GetName()]
	got, recorded := obj.GetAnnotations()[saasv1alpha1.LastAppliedHashAnnotation]
	return !applied || !recorded || got == want
}

// notCached reports a ConfigMap outside kooper's namespace: the cache
// holds none (see CacheOptions), so they are read from the API server,
// which only tenants with configuration files or a chart that renders them
// do. Secrets are cached: kooper's namespace, and kooper's own in every
// other (a Secret kooper did not label is absent, so it is applied). A chart's object of a version other than the
// one kooper caches is read from the API server too: reading it through the
// cache would start an informer of every such object in the cluster.
func (r *SaaSTenantReconciler) notCached(obj client.Object) bool {
	switch obj.(type) {
	case *corev1.Secret:
		return false
	case *corev1.ConfigMap:
		return obj.GetNamespace() != r.Options.SecretNamespace
	case *unstructured.Unstructured:
		gvk := obj.GetObjectKind().GroupVersionKind()
		switch gvk.GroupKind() {
		case secretKind:
			return gvk.Version != "v1"
		case configMapKind:
			return obj.GetNamespace() != r.Options.SecretNamespace
		}
		cached, ok := r.childGVK(gvk.GroupKind())
		return !ok || cached != gvk
	}
	return false
}

// ensureCredentials makes sure the tenant's admin credentials Secret
// exists. Its password is derived from the credentials key and the
// instance ID (internal/credentials), so the receiver derives the same one
// for appInfo and no copy of it is kept: a new tenant costs one create,
// and a credentials Secret deleted by hand is made again, the same. The
// key is read only to make or check the Secret: a tenant whose status
// names the key and whose Secret is there needs nothing, so a lost key
// never stops a freeze or a plan change. A tenant whose password an
// earlier kooper drew at random (status names its Secret but no key) keeps
// it, and its copy in kooper's namespace.
func (r *SaaSTenantReconciler) ensureCredentials(ctx context.Context, d *tenantobjects.Desired) error {
	t := d.Tenant
	if t.Status.CredentialsSecretName != "" && t.Status.CredentialsKeyID == "" {
		return r.ensureCopiedCredentials(ctx, d)
	}
	existing, err := r.cachedCredentials(ctx, d)
	if err != nil || (existing != nil && t.Status.CredentialsKeyID != "") {
		return err
	}
	key, err := r.credentialsKey(ctx)
	if err != nil {
		return err
	}
	if id := t.Status.CredentialsKeyID; id != "" && id != key.ID() {
		return fmt.Errorf("the tenant's password was derived from credentials key %s, but Secret %s/%s holds key %s: restore that Secret from a backup",
			id, r.Options.SecretNamespace, saasv1alpha1.CredentialsKeySecretName, key.ID())
	}
	if existing == nil {
		if existing, err = r.createCredentials(ctx, d, key); err != nil {
			return err
		}
	}
	if existing != nil && t.Status.CredentialsKeyID == "" {
		password, err := key.Password(t.Spec.InstanceID)
		if err != nil {
			return err
		}
		if string(existing.Data[saasv1alpha1.CredentialsPasswordKey]) != password {
			// Made by an earlier kooper, whose status write had not named
			// it yet: its password was drawn at random, and stays. (Once
			// status names the key, a password edited by hand in the
			// Secret is left alone, and appInfo keeps giving the one
			// delivered.)
			return r.copyCredentials(ctx, d, existing)
		}
	}
	t.Status.CredentialsKeyID = key.ID()
	return nil
}

// ensureCopiedCredentials keeps the credentials of a tenant whose password
// an earlier kooper drew at random: a Secret deleted by hand is restored
// from its copy in kooper's namespace, and a missing copy is made.
func (r *SaaSTenantReconciler) ensureCopiedCredentials(ctx context.Context, d *tenantobjects.Desired) error {
	copied, err := r.credentialsCopied(ctx, d.Tenant)
	if err != nil {
		return err
	}
	if err := r.restoreCredentials(ctx, d); err != nil || copied {
		return err
	}
	return r.copyCredentials(ctx, d, nil)
}

// cachedCredentials returns the tenant's credentials Secret as the cache
// holds it (not a copy: it is only read), or nil.
func (r *SaaSTenantReconciler) cachedCredentials(ctx context.Context, d *tenantobjects.Desired) (*corev1.Secret, error) {
	existing := &corev1.Secret{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: tenantobjects.CredentialsSecretName}, existing, client.UnsafeDisableDeepCopy); {
	case err == nil:
		return existing, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("failed to read the credentials Secret in %s: %w", d.Namespace, err)
	}
}

// createCredentials makes the tenant's credentials Secret with the
// password key derives, and returns nil; or, when a create is answered
// AlreadyExists (the cache was behind), the Secret read from the API
// server.
func (r *SaaSTenantReconciler) createCredentials(ctx context.Context, d *tenantobjects.Desired, key credentials.Key) (*corev1.Secret, error) {
	password, err := key.Password(d.Tenant.Spec.InstanceID)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: d.Meta(tenantobjects.CredentialsSecretName),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			saasv1alpha1.CredentialsUsernameKey: []byte(credentials.Username),
			saasv1alpha1.CredentialsPasswordKey: []byte(password),
		},
	}
	switch err := apply.CreateRetryingNamespaceMiss(ctx, r.Client, secret); {
	case err == nil:
		return nil, nil
	case !apierrors.IsAlreadyExists(err):
		return nil, fmt.Errorf("failed to create the credentials Secret in %s: %w", d.Namespace, err)
	}
	existing := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(secret), existing); err != nil {
		return nil, fmt.Errorf("failed to read the credentials Secret in %s: %w", d.Namespace, err)
	}
	return existing, nil
}

// copyCredentials keeps a copy of the tenant's credentials in kooper's
// namespace, where the receiver may read them for appInfo: the receiver
// may not read Secrets in tenant namespaces (least privilege). The caller
// found no copy in the cache; one made meanwhile is left as it is. Copied
// once; the credentials never change. created is the credentials Secret
// this reconcile created, nil when it did not: then it is read.
func (r *SaaSTenantReconciler) copyCredentials(ctx context.Context, d *tenantobjects.Desired, created *corev1.Secret) error {
	id := d.Tenant.Spec.InstanceID
	key := client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: saasv1alpha1.CredentialsCopyName(id)}
	credentials := created
	if credentials == nil {
		credentials = &corev1.Secret{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: tenantobjects.CredentialsSecretName}, credentials); err != nil {
			return fmt.Errorf("failed to read the credentials Secret in %s: %w", d.Namespace, err)
		}
	}
	labels := tenantobjects.Labels(d.Tenant)
	labels[saasv1alpha1.CredentialsCopyLabel] = id
	copied := credentialsLike(metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: labels}, credentials)
	if err := r.Create(ctx, copied); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to copy the credentials into %s: %w", key.Namespace, err)
	}
	return nil
}

// credentialsCopied reports whether the cache holds t's credentials copy
// in kooper's namespace (a cached read: no request).
func (r *SaaSTenantReconciler) credentialsCopied(ctx context.Context, t *saasv1alpha1.SaaSTenant) (bool, error) {
	key := client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: saasv1alpha1.CredentialsCopyName(t.Spec.InstanceID)}
	switch err := r.Get(ctx, key, &corev1.Secret{}); {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("failed to read the credentials copy of %s: %w", t.Spec.InstanceID, err)
	}
}

// restoreCredentials puts back a tenant's credentials Secret that is gone
// (deleted by hand: the workload's pods read it), with the values of its
// copy in kooper's namespace, which the buyer got in appInfo. The cache
// says whether it is there; a miss is confirmed with the API server, since
// a cache behind a recent create would otherwise cost a needless write.
// Without a copy there is nothing to restore from, and nothing is made up.
func (r *SaaSTenantReconciler) restoreCredentials(ctx context.Context, d *tenantobjects.Desired) error {
	key := client.ObjectKey{Namespace: d.Namespace, Name: tenantobjects.CredentialsSecretName}
	if err := r.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		return err
	}
	if err := r.Reader.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		return err
	}
	copied := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: saasv1alpha1.CredentialsCopyName(d.Tenant.Spec.InstanceID)}, copied)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read the credentials copy of %s: %w", d.Namespace, err)
	}
	restored := credentialsLike(d.Meta(tenantobjects.CredentialsSecretName), copied)
	if err := apply.CreateRetryingNamespaceMiss(ctx, r.Client, restored); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("failed to restore the credentials Secret in %s: %w", d.Namespace, err)
	}
	return nil
}

// credentialsLike is a credentials Secret with meta and the username and
// password of source (a tenant's credentials, or their copy).
func credentialsLike(meta metav1.ObjectMeta, source *corev1.Secret) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			saasv1alpha1.CredentialsUsernameKey: source.Data[saasv1alpha1.CredentialsUsernameKey],
			saasv1alpha1.CredentialsPasswordKey: source.Data[saasv1alpha1.CredentialsPasswordKey],
		},
	}
}

// removeCredentialsCopy deletes the copy once no appInfo is due: the
// tenant is released or deleted. A tenant whose password is derived from
// the credentials key never had one.
func (r *SaaSTenantReconciler) removeCredentialsCopy(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	if t.Status.CredentialsKeyID != "" {
		return nil
	}
	copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Options.SecretNamespace, Name: saasv1alpha1.CredentialsCopyName(t.Spec.InstanceID)}}
	if err := r.Delete(ctx, copied); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete the credentials copy %s: %w", copied.Name, err)
	}
	return nil
}

// recordFreeze remembers, before a freeze scales the workload to zero, how
// many replicas ran; unfreezing restores the plan's count, which is what ran
// unless someone scaled by hand, and then forgets the record.
func (r *SaaSTenantReconciler) recordFreeze(ctx context.Context, s *tenantState) error {
	t := s.tenant
	if !s.frozen || s.lifecycle.Freeze.Behavior != saasv1alpha1.FreezeScaleToZero {
		t.Status.FrozenReplicas = nil
		return nil
	}
	if len(t.Status.FrozenReplicas) > 0 {
		return nil
	}
	running := s.plannedReplicas()
	deployment, err := r.deployment(ctx, t.Status.Namespace)
	if err != nil {
		return err
	}
	if deployment != nil && ptr.Deref(deployment.Spec.Replicas, 1) > 0 {
		// Zero can only be this freeze's own doing, seen by a reconcile
		// whose cached tenant predates the record: keep the plan's count.
		running = ptr.Deref(deployment.Spec.Replicas, 1)
	}
	t.Status.FrozenReplicas = []saasv1alpha1.WorkloadReplicas{{Kind: "Deployment", Name: tenantobjects.AppName, Replicas: running}}
	return nil
}

// plannedReplicas is the plan's replica count, or, when the plan is
// missing, the count the tenant recorded.
func (s *tenantState) plannedReplicas() int32 {
	switch {
	case s.plan != nil:
		return s.plan.Replicas
	case s.tenant.Status.Applied != nil:
		return s.tenant.Status.Applied.Replicas
	}
	return 0
}

// deployment reads the tenant's Deployment from the cache; nil if there is none.
func (r *SaaSTenantReconciler) deployment(ctx context.Context, namespace string, opts ...client.GetOption) (*appsv1.Deployment, error) {
	deployment := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, deployment, opts...)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the Deployment: %w", err)
	}
	return deployment, nil
}

// observeWorkload reads the Deployment's rollout from the cache; for a
// chart, the status of every object it rendered (observeChart). Once the
// workload is Available on the plan, a quota kept larger while the plan
// changed is narrowed to the plan's (narrowQuota).
func (r *SaaSTenantReconciler) observeWorkload(ctx context.Context, s *tenantState) outcome {
	observe := r.observeDeployment
	if s.product.Spec.Chart != nil && !simulated(s) {
		observe = r.observeChart
	}
	if o := observe(ctx, s); !o.proceeds() {
		return o
	}
	return r.narrowQuota(ctx, s)
}

// observeDeployment reads the Deployment's rollout from the cache.
func (r *SaaSTenantReconciler) observeDeployment(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	deployment := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: t.Status.Namespace, Name: tenantobjects.AppName}, deployment)
	if err != nil && !apierrors.IsNotFound(err) {
		return failed(fmt.Errorf("failed to read the Deployment: %w", err))
	}
	available, msg := deploymentAvailable(deployment, err == nil)
	if err == nil && !s.observedApplied("Deployment", deployment) {
		available, msg = false, "Deployment: the rollout just applied is not observed yet"
	}
	if simulated(s) {
		available, msg = true, "Debug tenant: the workload is simulated"
	}
	status, reason := metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason
	if available {
		status, reason = metav1.ConditionTrue, saasv1alpha1.SucceededReason
	}
	setCondition(t, saasv1alpha1.AvailableCondition, status, reason, msg)
	return proceed()
}

// quotaInForce is the tenant's ResourceQuota as the cache holds it (not
// a copy: only read it) while pods admitted under it may still run beside
// those of what this pass applies (applying): a plan change, or a plan's
// replicas or resources edited, until the workload is Available on it.
// provision then keeps each quota entry at the larger of the two
// (tenantobjects.QuotaDuringChange): a quota lowered in the pass that
// starts the rollout counts the old pods, which a rolling update removes
// only once the new ones are ready, and so may refuse every new pod for
// ever. It is decided from the tenant as stored and the namespace as it
// is, nothing a pass remembers, so a crash between the applies and the
// status write changes nothing: the next pass keeps what this one kept.
// The quota in force, not the earlier plan's, is what is kept: it is what
// the running pods were admitted under, kooper applied it, and it is
// there when the earlier plan is gone from the product. Nil when the
// tenant is settled (workloadSettled), in a namespace made this pass
// (nothing ran in it), for a plan without a quota (none is applied) and
// when the namespace holds none (the plan's quota is made). A cache read:
// no request.
func (r *SaaSTenantReconciler) quotaInForce(ctx context.Context, s *tenantState, namespace string, applying *saasv1alpha1.AppliedPlan) (*corev1.ResourceQuota, error) {
	if s.freshNamespace || len(s.plan.Quota) == 0 || workloadSettled(s.stored, applying) {
		return nil, nil
	}
	return r.cachedQuota(ctx, namespace)
}

// narrowQuota applies the plan's quota once the workload is Available on
// what this pass applied, where provision kept a larger one
// (quotaInForce): no pod of what ran before is left, and the plan's own
// fit its quota at the peak of a rollout (PlansValid). It does so in the
// pass that sees the workload Available, since nothing else would wake
// the tenant: its own status write does not. Nothing is read once the
// tenant, as stored, was Available on what it runs; an error is retried,
// and the next pass, finding the tenant settled, applies the plan's
// quota anyway.
func (r *SaaSTenantReconciler) narrowQuota(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	if len(s.plan.Quota) == 0 || !apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.AvailableCondition) ||
		workloadSettled(s.stored, t.Status.Applied) {
		return proceed()
	}
	inForce, err := r.cachedQuota(ctx, t.Status.Namespace)
	if err != nil {
		return failed(err)
	}
	if inForce == nil || !tenantobjects.QuotaAbove(inForce.Spec.Hard, s.plan.Quota) {
		return proceed()
	}
	d := &tenantobjects.Desired{Tenant: t, Product: s.product, Plan: s.plan, Namespace: t.Status.Namespace}
	if _, err := r.applier().Apply(ctx, d.ResourceQuota()); err != nil {
		return failed(err)
	}
	ctrl.LoggerFrom(ctx).Info("Narrowed the tenant's ResourceQuota to its plan's: the workload is available on the plan",
		"namespace", t.Status.Namespace, "plan", s.plan.SKUCode)
	return proceed()
}

// workloadSettled reports whether the tenant, as stored, recorded applied
// as what it last applied and its workload Available on it: no pod of an
// earlier plan runs beside the plan's.
func workloadSettled(stored *saasv1alpha1.SaaSTenant, applied *saasv1alpha1.AppliedPlan) bool {
	return apimeta.IsStatusConditionTrue(stored.Status.Conditions, saasv1alpha1.AvailableCondition) &&
		apiequality.Semantic.DeepEqual(stored.Status.Applied, applied)
}

// cachedQuota reads the tenant's ResourceQuota in namespace from the cache,
// without a copy (only read it); nil if there is none.
func (r *SaaSTenantReconciler) cachedQuota(ctx context.Context, namespace string) (*corev1.ResourceQuota, error) {
	quota := &corev1.ResourceQuota{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: tenantobjects.ResourceQuotaName}, quota, client.UnsafeDisableDeepCopy)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read the ResourceQuota in %s: %w", namespace, err)
	}
	return quota, nil
}

// simulated reports whether the tenant is a debug tenant its product
// serves without a workload.
func simulated(s *tenantState) bool {
	debug := s.product.Spec.Debug
	return s.tenant.Spec.Mode == saasv1alpha1.ModeDebug && debug != nil && debug.Handling == saasv1alpha1.DebugSimulate
}

// deploymentAvailable reports whether the Deployment's current spec is
// rolled out with every replica available, as kstatus (the library Flux and
// kpt use, and kooper for a chart's parts) judges it: observed, every
// replica updated, ready and available, none of an older ReplicaSet left,
// and the Deployment's own Progressing and Available conditions True. A
// Deployment whose new pods never become ready, while the old one still
// serves, is not available.
func deploymentAvailable(d *appsv1.Deployment, exists bool) (bool, string) {
	if !exists {
		return false, "Deployment not created yet"
	}
	res, err := tenantobjects.Status(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))
	switch {
	case err != nil:
		return false, fmt.Sprintf("Deployment: %v", err)
	case res.Status != status.CurrentStatus:
		return false, "Deployment: " + res.Message
	}
	return true, fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1))
}
