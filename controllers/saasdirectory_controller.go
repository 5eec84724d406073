package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
)

// directoryInstanceIndex indexes SaaSDirectories by spec.instanceId, so a
// tenant finds its directories without a list-everything loop.
const directoryInstanceIndex = "spec.instanceId"

// directoryProductIndex indexes SaaSDirectories by spec.productName, so a
// product whose SSO gateway names another application finds them.
const directoryProductIndex = "spec.productName"

// DirectoryOptions are the directory controller's settings.
type DirectoryOptions struct {
	// SecretNamespace is kooper's namespace, where products' keys Secrets live.
	SecretNamespace string
	// ShardNamespace is where the receiver writes the directories' shards:
	// a namespace of their own, since the receiver may write nowhere near
	// the keys. Empty: SecretNamespace (a receiver in one process with the
	// controllers).
	ShardNamespace string
	// FieldOwner is the server-side apply field manager of delivered objects.
	FieldOwner string
	// MaxConcurrentReconciles is how many directories are delivered at once.
	MaxConcurrentReconciles int
	// UnclaimedTTL is how long a directory whose instance never had a tenant
	// is kept; 0 keeps it for ever.
	UnclaimedTTL time.Duration
	// LoginURL is the unified login portal's address delivered as the SSO
	// Secret's loginUrl, a template whose {appId} is the application's ID
	// (see CheckKitLoginURL); empty is DefaultKitLoginURL.
	LoginURL string
}

// DefaultKitLoginURL is the unified login portal of spec §7.1, for an
// application {appId}. The spec gives it by example and it may differ
// between Huawei Cloud's sites (§8 item 25), hence --kit-login-url.
const DefaultKitLoginURL = "https://macroverse.huaweicloud.com/unified-login/#/portal-login?ind=UNOP&appId={appId}"

// kitLoginURLApp is the placeholder of a login URL template.
const kitLoginURLApp = "{appId}"

// CheckKitLoginURL reports whether template can be a login URL template:
// an absolute https URL holding {appId} exactly once.
func CheckKitLoginURL(template string) error {
	u, err := url.Parse(strings.Replace(template, kitLoginURLApp, "app", 1))
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("login URL %.128q is not an absolute https URL", template)
	case strings.Count(template, kitLoginURLApp) != 1:
		return fmt.Errorf("login URL %.128q must hold %s exactly once, where the application's ID goes", template, kitLoginURLApp)
	}
	return nil
}

// loginURL is the login portal's address for application appID.
func (o DirectoryOptions) loginURL(appID string) string {
	template := o.LoginURL
	if template == "" {
		template = DefaultKitLoginURL
	}
	return strings.Replace(template, kitLoginURLApp, url.QueryEscape(appID), 1)
}

// SaaSDirectoryReconciler delivers each SaaSDirectory (the joint-operation
// enterprise, its OAuth client, departments and users) into its tenant's
// namespace as the kooper-sso and kooper-directory Secrets, once that tenant
// exists, and keeps the directory's counts in its status. It also moves
// shards that earlier versions stored as ConfigMaps into Secrets.
type SaaSDirectoryReconciler struct {
	client.Client
	// Reader reads what the cache does not hold: shards and delivered objects.
	Reader   client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Options  DirectoryOptions
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasdirectories,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasdirectories/status,verbs=get;patch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=list;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get

// directoryState carries one reconcile's findings from step to step.
type directoryState struct {
	dir    *saasv1alpha1.SaaSDirectory
	shards shardSet
	// strays counts the shards of the directory's name written for an
	// earlier directory of that name.
	strays int
	// namespace is the tenant namespace the directory is delivered to.
	namespace string
}

// Reconcile delivers one directory.
func (r *SaaSDirectoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	d := &saasv1alpha1.SaaSDirectory{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: a sync may have written a shard for it after its
			// finalizer deleted the others, or it went without the
			// finalizer (removed by hand).
			return ctrl.Result{}, r.deleteStrayShards(ctx, req.Name)
		}
		return ctrl.Result{}, err
	}
	if !d.DeletionTimestamp.IsZero() {
		return quietConflict(r.finalize(ctx, d))
	}
	if err := r.ensureFinalizerAndID(ctx, d); err != nil {
		return quietConflict(err)
	}
	d, fate, err := r.settleFate(ctx, d)
	if err != nil || d == nil {
		return ctrl.Result{}, err
	}
	if fate.retire() {
		return quietConflict(r.retire(ctx, d, fate))
	}
	before := d.DeepCopy()
	defer func() {
		retErr = finishReconcile(ctx, &result, retErr, r.patchStatus(ctx, before, d, retErr))
	}()
	s := &directoryState{dir: d}
	o := runSteps(ctx, s,
		r.moveShardsToSecrets,
		r.countEntries,
		r.takeOwnerReferencesOffShards,
		r.deleteStraysOfEarlierDirectories,
		r.findTarget,
		r.deliverToTenant,
		r.summariseInTenant,
	)
	return o.result(ctrl.Result{RequeueAfter: fate.recheckAfter})
}

// quietConflict turns a Conflict (the object changed since it was read)
// into a requeue without an error log, as foldStatusError does for every
// kind: it is decided again on the new version.
func quietConflict(err error) (ctrl.Result, error) {
	var result ctrl.Result
	return result, foldStatusError(&result, err, nil)
}

// patchStatus sets observedGeneration only after a successful reconcile,
// derives Ready from the conditions the steps left, writes the status when
// it changed, and reports a stored kit call as an Event.
func (r *SaaSDirectoryReconciler) patchStatus(ctx context.Context, before, d *saasv1alpha1.SaaSDirectory, reconcileErr error) error {
	if reconcileErr == nil {
		d.Status.ObservedGeneration = d.Generation
	}
	setDirectoryReady(d)
	written, err := patchStatusIfChanged(ctx, r.Client, before, d, before.Status, d.Status)
	if written {
		r.recordSync(before, d)
		r.recordDeliveryWarning(before, d)
	}
	return err
}

// deliveryWarnings are the Delivered reasons that only a person can clear:
// a Warning Event announces the condition taking one of them.
var deliveryWarnings = []string{saasv1alpha1.ClientSecretUndecryptableReason, saasv1alpha1.InstanceOfAnotherProductReason,
	saasv1alpha1.InstanceHasAnotherEnterpriseReason, saasv1alpha1.ShardsNotMountedReason, saasv1alpha1.DomainNameUnusableReason}

// recordDeliveryWarning emits a Warning Event, with the condition's
// message, when Delivered takes one of deliveryWarnings; not again while
// it keeps it, so each sync of a broken directory adds none.
func (r *SaaSDirectoryReconciler) recordDeliveryWarning(before, after *saasv1alpha1.SaaSDirectory) {
	change := conditionChange{before: before.Status.Conditions, after: after.Status.Conditions}
	is := change.tookReason(saasv1alpha1.DeliveredCondition)
	if is == nil || !slices.Contains(deliveryWarnings, is.Reason) {
		return
	}
	r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, is.Reason, "Deliver", "%s", is.Message)
}

// moveShardsToSecrets moves the directory's shards out of ConfigMaps if an
// earlier version left some there.
func (r *SaaSDirectoryReconciler) moveShardsToSecrets(ctx context.Context, s *directoryState) outcome {
	return failed(r.ensureShardsInSecrets(ctx, s.dir))
}

// countEntries reads the shards and counts the directory's users and
// departments.
func (r *SaaSDirectoryReconciler) countEntries(ctx context.Context, s *directoryState) outcome {
	shards, strays, err := r.shards(ctx, s.dir)
	if err != nil {
		return failed(err)
	}
	d := s.dir
	s.shards, s.strays = shards, strays
	d.Status.Users, d.Status.Departments = shards.count(directory.Users), shards.count(directory.Departments)
	if d.Spec.LastSync != nil {
		d.Status.LastSyncTime, d.Status.ObservedSync = &d.Spec.LastSync.ReceivedTime, d.Spec.LastSync.Sequence
	}
	return proceed()
}

// findTarget finds the tenant namespace to deliver to. With none, it
// withdraws what an earlier delivery left, says why, and ends the reconcile.
func (r *SaaSDirectoryReconciler) findTarget(ctx context.Context, s *directoryState) outcome {
	d := s.dir
	namespace, reason, msg, err := r.target(ctx, d)
	if err != nil {
		return failed(err)
	}
	if namespace != "" {
		s.namespace = namespace
		return proceed()
	}
	if reason == saasv1alpha1.LostWithCRDReason {
		// Not a release: the delivery stays as it is for the record restored.
		setCondition(d, saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, reason, msg)
		return done()
	}
	if err := r.withdraw(ctx, d); err != nil {
		return failed(err)
	}
	setCondition(d, saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, reason, msg)
	if err := r.summarise(ctx, d, false); err != nil {
		return failed(err)
	}
	return done()
}

// deliverToTenant delivers the directory into the tenant's namespace.
func (r *SaaSDirectoryReconciler) deliverToTenant(ctx context.Context, s *directoryState) outcome {
	if err := r.deliver(ctx, s.dir, s.namespace, s.shards); err != nil {
		// What the tenant has is the last delivery, not this one.
		setCondition(s.dir, saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.DeliveryFailedReason, err.Error())
		return failed(err)
	}
	return proceed()
}

// summariseInTenant shows the delivered directory in its tenant's status:
// its users are there even when kooper-sso is not (ClientSecretUndecryptable).
func (r *SaaSDirectoryReconciler) summariseInTenant(ctx context.Context, s *directoryState) outcome {
	return failed(r.summarise(ctx, s.dir, s.dir.Status.Namespace == s.namespace))
}

// summarise shows the delivered directory in its tenant's status (counts
// and last sync), or removes it from there once it is withdrawn. It merge-
// patches status.directory alone, which no other controller writes, against
// the tenant version it read: a Conflict requeues.
func (r *SaaSDirectoryReconciler) summarise(ctx context.Context, d *saasv1alpha1.SaaSDirectory, delivered bool) error {
	tenant := &saasv1alpha1.SaaSTenant{}
	if err := r.Get(ctx, client.ObjectKey{Name: d.Spec.InstanceID}, tenant); err != nil {
		return client.IgnoreNotFound(err)
	}
	var want *saasv1alpha1.TenantDirectory
	if delivered {
		want = &saasv1alpha1.TenantDirectory{Name: d.Name, TenantID: d.Spec.TenantID,
			Users: d.Status.Users, Departments: d.Status.Departments, LastSyncTime: d.Status.LastSyncTime}
	} else if tenant.Status.Directory == nil || tenant.Status.Directory.Name != d.Name {
		return nil // another directory's summary, or none: not this one's to remove
	}
	before := tenant.DeepCopy()
	tenant.Status.Directory = want
	_, err := patchStatusIfChanged(ctx, r.Client, before, tenant, before.Status.Directory, tenant.Status.Directory)
	return err
}

// target returns the namespace to deliver to, or why there is none: the
// reason LostWithCRD says that what is delivered must stay as it is. A
// tenant namespace holds one enterprise, since kooper-sso and
// kooper-directory have fixed names: while another enterprise's directory
// of the instance is delivered in d's place (enterpriseDeliveredInstead),
// d is delivered nowhere, as InstanceHasAnotherEnterprise.
func (r *SaaSDirectoryReconciler) target(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (string, string, string, error) {
	namespace, reason, msg, err := r.tenantTarget(ctx, d)
	if err != nil || namespace == "" {
		return namespace, reason, msg, err
	}
	other, err := r.enterpriseDeliveredInstead(ctx, d)
	if err != nil {
		return "", "", "", err
	}
	if other != nil {
		return "", saasv1alpha1.InstanceHasAnotherEnterpriseReason, anotherEnterprisesInstance(d, other, namespace), nil
	}
	return namespace, "", "", nil
}

// enterpriseDeliveredInstead returns the directory of another enterprise
// of d's instance and product that is delivered in d's place
// (deliveredInstead), nil when there is none and d may be delivered.
//
// The candidates come from the cache's directoryInstanceIndex (the API
// server cannot select custom resources by a spec field) through the
// read-your-writes client: the cache holds d, so it holds every directory
// created before d (the informer receives them in resourceVersion order),
// and every write this process made to a directory, each delivery among
// them. A directory it has not seen yet was created after d, is not
// delivered, and comes after d, unless stored within d's second under a
// smaller name: then each finds the other when reconciled, and the one
// claimsBefore puts second withdraws. Each candidate is then read
// again from the API server, since a wrong "none" delivers d over another
// enterprise's kooper-sso: its delivery, state and deletion are taken as
// stored. Another product's directory of the instance is delivered
// nowhere (InstanceOfAnotherProduct) and does not count.
func (r *SaaSDirectoryReconciler) enterpriseDeliveredInstead(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (*saasv1alpha1.SaaSDirectory, error) {
	list, err := r.instanceDirectories(ctx, d.Spec.InstanceID)
	if err != nil {
		return nil, err
	}
	var instead *saasv1alpha1.SaaSDirectory
	for i := range list {
		cached := &list[i]
		if cached.Name == d.Name || cached.Spec.ProductName != d.Spec.ProductName {
			continue
		}
		other := &saasv1alpha1.SaaSDirectory{}
		err := r.Reader.Get(ctx, client.ObjectKey{Name: cached.Name}, other)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("failed to read SaaSDirectory %s: %w", cached.Name, err)
		}
		if deliveredInstead(other, d) && (instead == nil || claimsBefore(other, instead)) {
			instead = other
		}
	}
	return instead, nil
}

// instanceDirectories lists the directories of instanceID through the
// client's directoryInstanceIndex, without copying the cache's objects:
// callers only read them. A client without the index (a reconciler built
// on the API server alone, as tests build one) is refused the field by the
// API server, BadRequest: then every directory is listed, and the
// instance's kept.
func (r *SaaSDirectoryReconciler) instanceDirectories(ctx context.Context, instanceID string) ([]saasv1alpha1.SaaSDirectory, error) {
	list := &saasv1alpha1.SaaSDirectoryList{}
	err := r.List(ctx, list, client.MatchingFields{directoryInstanceIndex: instanceID}, client.UnsafeDisableDeepCopy)
	if apierrors.IsBadRequest(err) {
		if err = r.List(ctx, list); err == nil {
			list.Items = slices.DeleteFunc(list.Items, func(d saasv1alpha1.SaaSDirectory) bool { return d.Spec.InstanceID != instanceID })
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list the directories of instance %s: %w", instanceID, err)
	}
	return list.Items, nil
}

// claimsBefore orders live directories of one instance by their claim on
// its tenant namespace: a delivered one (status.namespace) before one that
// is not, so that a late sync, or an upgrade finding both delivered, never
// moves a working tenant to another enterprise; then the one created
// first; within the same second (creation times are to the second), by
// name.
func claimsBefore(a, b *saasv1alpha1.SaaSDirectory) bool {
	if aDelivered, bDelivered := a.Status.Namespace != "", b.Status.Namespace != ""; aDelivered != bDelivered {
		return aDelivered
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// deliveredInstead reports whether other, another enterprise's directory
// of d's instance, keeps d out of the tenant namespace: a live one that
// claims it before d (claimsBefore); a going one only while its delivery
// is there, because its finalizer deletes by their fixed names the
// Secrets d would write.
func deliveredInstead(other, d *saasv1alpha1.SaaSDirectory) bool {
	if directoryGoing(other) {
		return other.Status.Namespace != ""
	}
	return claimsBefore(other, d)
}

// directoryGoing reports whether d is on its way out: tenantSync deleted
// its enterprise (flag 0), or it is being deleted.
func directoryGoing(d *saasv1alpha1.SaaSDirectory) bool {
	return d.Spec.State == saasv1alpha1.DirectoryDeleted || !d.DeletionTimestamp.IsZero()
}

// anotherEnterprisesInstance says why d is not delivered into namespace,
// where other, another enterprise's directory of the instance, is
// delivered or comes first. It names the directories (their specs say
// which enterprises they are), never a user or a secret.
func anotherEnterprisesInstance(d, other *saasv1alpha1.SaaSDirectory, namespace string) string {
	why := "was stored first"
	switch {
	case directoryGoing(other):
		why = "is being deleted, with what it delivered there"
	case other.Status.Namespace != "":
		why = "is delivered there"
	}
	return fmt.Sprintf("instance %q has another enterprise's SaaSDirectory %s, which %s: nothing of this one is delivered into namespace %s, "+
		"whose kooper-sso and kooper-directory hold one enterprise. It is delivered once %s is gone "+
		"(tenantSync flag 0 for its tenantId, or kubectl delete saasdirectory %s)",
		d.Spec.InstanceID, other.Name, why, namespace, other.Name, other.Name)
}

// tenantTarget is target as the instance's SaaSTenant alone decides it.
func (r *SaaSDirectoryReconciler) tenantTarget(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (string, string, string, error) {
	if d.Spec.State == saasv1alpha1.DirectoryDeleted {
		return "", saasv1alpha1.DirectoryDeletedReason, "tenantSync deleted the enterprise; nothing is delivered", nil
	}
	if len(validation.IsDNS1123Subdomain(d.Spec.InstanceID)) > 0 {
		return "", saasv1alpha1.WaitingForInstanceReason, r.neverClaimed(d), nil
	}
	waiting := r.waitingForInstance(d)
	tenant := &saasv1alpha1.SaaSTenant{}
	err := r.Get(ctx, client.ObjectKey{Name: d.Spec.InstanceID}, tenant)
	if err == nil && tenant.Spec.ProductName != d.Spec.ProductName {
		return "", saasv1alpha1.InstanceOfAnotherProductReason, anotherProductsInstance(d, tenant), nil
	}
	if err == nil && tenant.Status.Namespace != "" {
		d.Status.InstanceNamespace = tenant.Status.Namespace // kept: the directory goes with it
	}
	switch {
	case apierrors.IsNotFound(err) && d.Status.Namespace != "":
		return r.tenantGoneFromDelivery(ctx, d, waiting)
	case apierrors.IsNotFound(err):
		return "", saasv1alpha1.WaitingForInstanceReason, waiting, nil
	case err != nil:
		return "", "", "", fmt.Errorf("failed to read SaaSTenant %s: %w", d.Spec.InstanceID, err)
	case tenant.Spec.State == saasv1alpha1.StateReleased:
		return "", saasv1alpha1.InstanceReleasedReason, "the instance is released; nothing is delivered", nil
	case tenant.Status.Namespace == "" && d.Status.Namespace != "":
		// Delivered before, and the tenant's record has no namespace now:
		// restored without its status, which the tenant controller records
		// again. Withdrawn meanwhile, the tenant's sign-in would break.
		return d.Status.Namespace, "", "", nil
	case tenant.Status.Namespace == "":
		return "", saasv1alpha1.WaitingForInstanceReason, "the instance has no namespace yet", nil
	}
	return tenant.Status.Namespace, "", "", nil
}

// anotherProductsInstance says why d, whose instance is tenant, another
// product's, is not delivered. The kooper-sso and kooper-directory names
// are fixed: delivered, d would replace the tenant's own enterprise, so
// that its SSO gateway let d's users in and kept its own users out.
// Basic callbacks refuse such an instance (000003); the kit stores it, as
// it stores any instance kooper does not know (the seller's test tenant).
func anotherProductsInstance(d *saasv1alpha1.SaaSDirectory, tenant *saasv1alpha1.SaaSTenant) string {
	return fmt.Sprintf("instance %q is SaaSProduct %s's, and the directory came through SaaSProduct %s's kit: nothing is delivered "+
		"(a kit call signed with %s's kitKey named an instance of %s, such as one typed into the Seller Console's debugging tool)",
		d.Spec.InstanceID, tenant.Spec.ProductName, d.Spec.ProductName, d.Spec.ProductName, tenant.Spec.ProductName)
}

// waitingForInstance says that d's instance, a valid object name, has no
// SaaSTenant, and how long d waits for one: until the namespace it
// delivered into is deleted, or else Options.UnclaimedTTL from its
// creation (fate decides so).
func (r *SaaSDirectoryReconciler) waitingForInstance(d *saasv1alpha1.SaaSDirectory) string {
	head := fmt.Sprintf("instance %q does not exist yet; the directory ", d.Spec.InstanceID)
	switch ttl := r.Options.UnclaimedTTL; {
	case d.Status.InstanceNamespace != "":
		return head + fmt.Sprintf("is delivered once it does, and deleted with its users once namespace %s is deleted", d.Status.InstanceNamespace)
	case ttl <= 0:
		return head + "is kept until it does (--directory-unclaimed-ttl 0), and delivered then"
	default:
		return head + fmt.Sprintf("is delivered once it does, and deleted with its users if no SaaSTenant comes within %s of its creation "+
			"(--directory-unclaimed-ttl)", ttl)
	}
}

// neverClaimed says that d's instanceId can never name a SaaSTenant, and
// when d goes: Options.UnclaimedTTL after its creation, or never.
func (r *SaaSDirectoryReconciler) neverClaimed(d *saasv1alpha1.SaaSDirectory) string {
	head := fmt.Sprintf("instance %q is not a valid object name, so no SaaSTenant can ever have it; nothing is delivered, and the directory is ", d.Spec.InstanceID)
	if ttl := r.Options.UnclaimedTTL; ttl > 0 {
		return head + fmt.Sprintf("deleted with its users %s after its creation (--directory-unclaimed-ttl)", ttl)
	}
	return head + "kept until deleted by hand (--directory-unclaimed-ttl 0)"
}

// tenantGoneFromDelivery is target's answer for a delivered directory
// whose SaaSTenant is not found: WaitingForInstance (the delivery is
// withdrawn) when the tenant was deleted, LostWithCRD (it is kept) when
// the SaaSTenant CRD is being deleted or gone, which deletes every tenant
// record at once while their namespaces run on (crdTerminating).
func (r *SaaSDirectoryReconciler) tenantGoneFromDelivery(ctx context.Context, d *saasv1alpha1.SaaSDirectory, waiting string) (string, string, string, error) {
	lost, err := crdTerminating(ctx, r.Reader, "saastenants")
	if err != nil {
		return "", "", "", err
	}
	if !lost {
		return "", saasv1alpha1.WaitingForInstanceReason, waiting, nil
	}
	return "", saasv1alpha1.LostWithCRDReason, fmt.Sprintf("the SaaSTenant of instance %q went with its CRD: the delivery in namespace %s "+
		"is kept as it is until the record is restored", d.Spec.InstanceID, d.Status.Namespace), nil
}

// directoryReadyInputs are what a directory's Ready sums up.
var directoryReadyInputs = []readyInput{
	{condType: saasv1alpha1.DeliveredCondition, waiting: "Waiting for the first delivery"},
}

// setDirectoryReady is the one writer of a directory's Ready condition,
// called just before its status is written.
func setDirectoryReady(d *saasv1alpha1.SaaSDirectory) {
	msg := ""
	if delivered := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition); delivered != nil {
		msg = delivered.Message // what was delivered where, with the counts
	}
	setReady(d, directoryReadyInputs, d.Status.ObservedGeneration, msg)
}

// recordSync emits one Event per kit call the receiver recorded: one
// that changed the enterprise or an application, and every users or
// departments sync answered 000000 (a retry may be what delivers them).
func (r *SaaSDirectoryReconciler) recordSync(before, after *saasv1alpha1.SaaSDirectory) {
	sync := after.Spec.LastSync
	if sync == nil || before.Status.ObservedSync == sync.Sequence {
		return
	}
	r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, saasv1alpha1.DirectorySyncedReason, "Sync",
		"%s flag %d with %d entries: %d users, %d departments", sync.Interface, sync.Flag, sync.Items,
		after.Status.Users, after.Status.Departments)
}

// SetupWithManager watches directories; tenants as they get a namespace
// or are released; products' keys Secrets as their rsaPrivateKey changes
// (which may open a clientSecret that did not decrypt); and the deletion of
// a directory's kooper-sso or kooper-directory in its tenant's namespace,
// through the Secrets the controllers cache already (CacheOptions); and,
// for the other directories of its instance, a directory delivered,
// withdrawn, deleted by tenantSync or going (InstanceHasAnotherEnterprise).
func (r *SaaSDirectoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexByKeysSecret(mgr); err != nil {
		return err
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &saasv1alpha1.SaaSDirectory{}, directoryInstanceIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSDirectory).Spec.InstanceID} })
	if err != nil {
		return fmt.Errorf("failed to index SaaSDirectories by instance: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &saasv1alpha1.SaaSDirectory{}, directoryProductIndex,
		func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSDirectory).Spec.ProductName} })
	if err != nil {
		return fmt.Errorf("failed to index SaaSDirectories by product: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&saasv1alpha1.SaaSDirectory{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, deletionStarted()))).
		Watches(&saasv1alpha1.SaaSProduct{}, handler.EnqueueRequestsFromMapFunc(r.directoriesOfProduct),
			builder.WithPredicates(ssoInputsChanged())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.directoriesOfKeys),
			builder.WithPredicates(rsaKeyChanged(r.Options.SecretNamespace))).
		Watches(&saasv1alpha1.SaaSTenant{}, handler.EnqueueRequestsFromMapFunc(r.directoriesOfTenant),
			builder.WithPredicates(tenantPlacementChanged())).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.directoriesOfNamespace),
			builder.WithPredicates(deletionStarted())).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.directoryOfDelivered),
			builder.WithPredicates(deliveredSecretDeletedOrEdited())).
		Watches(&saasv1alpha1.SaaSDirectory{}, handler.EnqueueRequestsFromMapFunc(r.otherEnterprisesOfInstance),
			builder.WithPredicates(claimChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Options.MaxConcurrentReconciles, 1), RateLimiter: newRetryRateLimiter()}).
		Named("saasdirectory").
		Complete(r)
}

// claimChanged passes the directory events that may change which
// enterprise of an instance is delivered (deliveredInstead): a directory
// delivered or withdrawn (status.namespace), its enterprise deleted
// (spec.state), its deletion starting, or the directory going.
func claimChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, wok := e.ObjectOld.(*saasv1alpha1.SaaSDirectory)
			is, iok := e.ObjectNew.(*saasv1alpha1.SaaSDirectory)
			return wok && iok && (was.Status.Namespace != is.Status.Namespace || was.Spec.State != is.Spec.State ||
				was.DeletionTimestamp.IsZero() != is.DeletionTimestamp.IsZero())
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// otherEnterprisesOfInstance maps a directory to the other directories of
// its instance: one waiting for it may now be delivered, and the one
// delivered puts back what it withdrew, under the same names.
func (r *SaaSDirectoryReconciler) otherEnterprisesOfInstance(ctx context.Context, obj client.Object) []reconcile.Request {
	d, ok := obj.(*saasv1alpha1.SaaSDirectory)
	if !ok {
		return nil
	}
	return slices.DeleteFunc(r.directoriesOfInstance(ctx, d.Spec.InstanceID),
		func(req reconcile.Request) bool { return req.Name == d.Name })
}

// tenantPlacementChanged passes tenant events that matter to delivery: a
// tenant appearing or going, getting its namespace, or being released.
func tenantPlacementChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, is := e.ObjectOld.(*saasv1alpha1.SaaSTenant), e.ObjectNew.(*saasv1alpha1.SaaSTenant)
			return was.Status.Namespace != is.Status.Namespace || was.Spec.State != is.Spec.State
		},
	}
}

// ssoInputsChanged passes product updates that change what kooper-sso is
// built from: which application it carries (spec.workload.sso.gateway.appId,
// or the gateway coming or going), or the keys Secret whose rsaPrivateKey
// decrypts the clientSecret.
func ssoInputsChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, is := e.ObjectOld.(*saasv1alpha1.SaaSProduct), e.ObjectNew.(*saasv1alpha1.SaaSProduct)
			return gatewayApplication(was) != gatewayApplication(is) || was.Spec.KeysSecretName != is.Spec.KeysSecretName
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// gatewayApplication is what of a product chooses kooper-sso's
// application: "" without a gateway, else "gateway:" and its appId.
func gatewayApplication(p *saasv1alpha1.SaaSProduct) string {
	gw := p.Spec.Workload.Gateway()
	if gw == nil {
		return ""
	}
	return "gateway:" + gw.AppID
}

func (r *SaaSDirectoryReconciler) directoriesOfProduct(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &saasv1alpha1.SaaSDirectoryList{}
	if err := r.List(ctx, list, client.MatchingFields{directoryProductIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the directories of a product", "SaaSProduct", obj.GetName())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, d := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
	}
	return requests
}

// rsaKeyChanged passes a Secret of kooper's namespace (where products'
// keys Secrets live) appearing, or changing its rsaPrivateKey: the
// remedy ClientSecretUndecryptable names, which no kit call follows.
func rsaKeyChanged(namespace string) predicate.Predicate {
	inNamespace := func(obj client.Object) bool {
		_, shard := obj.GetLabels()[saasv1alpha1.DirectoryLabel]
		return obj.GetNamespace() == namespace && !shard
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return inNamespace(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, wok := e.ObjectOld.(*corev1.Secret)
			is, iok := e.ObjectNew.(*corev1.Secret)
			return wok && iok && inNamespace(is) &&
				!bytes.Equal(was.Data[saasv1alpha1.RSAPrivateKeySecretKey], is.Data[saasv1alpha1.RSAPrivateKeySecretKey])
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// directoriesOfKeys maps a keys Secret to the directories of the products
// naming it (keysSecretNameIndex).
func (r *SaaSDirectoryReconciler) directoriesOfKeys(ctx context.Context, secret client.Object) []reconcile.Request {
	products := &saasv1alpha1.SaaSProductList{}
	if err := r.List(ctx, products, client.MatchingFields{keysSecretNameIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the SaaSProducts of a keys Secret", "Secret", secret.GetName())
		return nil
	}
	var requests []reconcile.Request
	for i := range products.Items {
		requests = append(requests, r.directoriesOfProduct(ctx, &products.Items[i])...)
	}
	return requests
}

// deletionStarted passes an object's deletion: its deletion timestamp
// being set, or the object going.
func deletionStarted() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// deliveredSecretDeletedOrEdited passes a Secret's deletion, and an update
// that left it other than kooper delivered it (a kubectl edit of
// kooper-sso): deliver puts back what is missing or changed. kooper's own
// deliveries are updates whose content matches their hash, and pass not.
func deliveredSecretDeletedOrEdited() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			s, ok := e.ObjectNew.(*corev1.Secret)
			return ok && editedSinceDelivered(s)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// directoryOfDelivered maps a Secret delivered into a tenant's namespace
// to the directory its label names; Secrets in kooper's namespace and
// the shard namespace map to none.
func (r *SaaSDirectoryReconciler) directoryOfDelivered(_ context.Context, obj client.Object) []reconcile.Request {
	name, ok := obj.GetLabels()[saasv1alpha1.DirectoryLabel]
	if !ok || obj.GetNamespace() == r.Options.SecretNamespace || obj.GetNamespace() == r.shardNamespace() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
}

func (r *SaaSDirectoryReconciler) directoriesOfTenant(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.directoriesOfInstance(ctx, obj.GetName())
}

// directoriesOfNamespace maps a tenant namespace to its instance's
// directories, which go when it is deleted.
func (r *SaaSDirectoryReconciler) directoriesOfNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	instanceID, ok := obj.GetLabels()[saasv1alpha1.InstanceIDLabel]
	if !ok {
		return nil
	}
	return r.directoriesOfInstance(ctx, instanceID)
}

func (r *SaaSDirectoryReconciler) directoriesOfInstance(ctx context.Context, instanceID string) []reconcile.Request {
	list := &saasv1alpha1.SaaSDirectoryList{}
	// Only the names are read: the cache's objects are not copied.
	if err := r.List(ctx, list, client.MatchingFields{directoryInstanceIndex: instanceID}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the directories of an instance", "instanceId", instanceID)
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, d := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
	}
	return requests
}
