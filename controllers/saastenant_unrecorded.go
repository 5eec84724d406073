package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A new workload tenant's first status write carries its namespace, after
// the objects are applied, instead of a write of its own before (issue 26:
// one status write per transition). Until that write, what was made is
// found from the Namespace itself: it is the first object applied, named
// for the tenant and labelled with its instance ID, and every other object
// of a workload product lives in it. Teardown and the freeze from the
// record look it up on the API server (labelledNamespace) whenever status
// names no namespace (docs/lifecycle.md rule N).
//
// A chart tenant still records its namespace and inventory first: pruning
// works from the inventory. So does a tenant whose product mounts a
// directory: the directory controller delivers into the namespace status
// names, and must not wait for the first write.

// recordsBeforeApply reports whether s's tenant records its namespace (and
// inventory) in a status write of its own before anything is applied.
func recordsBeforeApply(s *tenantState) bool {
	w := s.product.Spec.Workload
	return s.product.Spec.Chart != nil || w == nil || w.Directory != nil
}

// unrecordedApplies remembers, by tenant name, when this process first
// applied the objects of a tenant whose status names no namespace yet:
// the start of the wait for its one status write (provisionedHold), and
// the sign that its namespace is no longer fresh. It is memory only: a
// restart forgets it, which costs at most another wait and a read of each
// object, never a decision (the cache says whether the namespace exists).
// The zero value is ready to use.
type unrecordedApplies struct {
	mu     sync.Mutex
	starts map[string]unrecordedApply
}

type unrecordedApply struct {
	uid   types.UID
	start time.Time
}

// begin records now as t's first apply, unless one is recorded, and
// reports whether one was.
func (u *unrecordedApplies) begin(t *saasv1alpha1.SaaSTenant, now time.Time) (begun bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if a, ok := u.starts[t.Name]; ok && a.uid == t.UID {
		return true
	}
	if u.starts == nil {
		u.starts = map[string]unrecordedApply{}
	}
	u.starts[t.Name] = unrecordedApply{uid: t.UID, start: now}
	return false
}

// since is when this process first applied t's objects unrecorded.
func (u *unrecordedApplies) since(t *saasv1alpha1.SaaSTenant) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.starts[t.Name]
	return a.start, ok && a.uid == t.UID
}

// forget drops what is remembered of the tenant called name: its status
// names its namespace now, or it is gone.
func (u *unrecordedApplies) forget(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.starts, name)
}

// len is how many tenants are remembered (tests).
func (u *unrecordedApplies) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.starts)
}

// beginUnrecorded puts the namespace into t's status in memory, for the
// write at the end of this pass, and reports whether the namespace is
// fresh: neither applied by this process before nor in the cache.
func (r *SaaSTenantReconciler) beginUnrecorded(ctx context.Context, s *tenantState, namespace string) (fresh bool, err error) {
	t := s.tenant
	t.Status.Namespace = namespace
	if r.unrecorded.begin(t, r.Clock.Now()) {
		return false, nil
	}
	err = r.Get(ctx, client.ObjectKey{Name: namespace}, &corev1.Namespace{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("failed to read Namespace %s: %w", namespace, err)
	}
	return false, nil
}

// labelledNamespace fills in t's namespace when its status names none,
// from the Namespace labelled as the tenant's, read from the API server: a
// pass may have applied it and stopped before its first status write. It
// leaves the namespace empty when there is none, and fails when more than
// one is labelled so (only kooper labels them: it never guesses).
func (r *SaaSTenantReconciler) labelledNamespace(ctx context.Context, t *saasv1alpha1.SaaSTenant) error {
	switch {
	case t.Status.Namespace != "":
		return nil
	case t.Status.Package != nil:
		return nil // a package runs nothing: it never has a namespace
	case apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReleasedCondition):
		// Its release looked already, and release is final: nothing is
		// applied after it. A released tenant that never had a namespace
		// does not list the Namespaces on every pass.
		return nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := apiReader(r.Reader, r.Client).List(ctx, list, tenantobjects.NamespaceSelector(t.Spec.InstanceID)); err != nil {
		return fmt.Errorf("failed to look up the Namespace of instance %s: %w", t.Spec.InstanceID, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		t.Status.Namespace = names[0]
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("several Namespaces are labelled as instance %s's (%v); delete the ones that are not, or set status.namespace", t.Spec.InstanceID, names)
}

// firstProvisioningOnly reports whether st holds nothing but what a new
// tenant's first provisioning decides: no condition beyond those it moves
// and its resolved order. A freeze, stall, expiry or release is written at
// once.
func firstProvisioningOnly(st saasv1alpha1.SaaSTenantStatus) bool {
	for _, c := range st.Conditions {
		if !slices.Contains(provisioningProgress, c.Type) && c.Type != saasv1alpha1.OrderResolvedCondition {
			return false
		}
	}
	return st.FirstReadyTime == nil && len(st.FrozenReplicas) == 0
}
