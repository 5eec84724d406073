package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// retainedNamespace creates a released tenant's namespace, as kooper marks
// it, to be deleted after deleteAfter: in the future of the suite's clock,
// so the manager's own retention controller leaves it alone.
func retainedNamespace(t *testing.T, deleteAfter time.Time) *corev1.Namespace {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        fmt.Sprintf("tenant-retained-%d", tenantSeq.Add(1)),
		Labels:      map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue},
		Annotations: map[string]string{saasv1alpha1.DeleteAfterAnnotation: deleteAfter.UTC().Format(time.RFC3339)},
	}}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), ns)).To(Succeed())
	return ns
}

// moveDeleteAfter moves the namespace's date, as an admin's
// `kubectl annotate --overwrite` would.
func moveDeleteAfter(t *testing.T, ns *corev1.Namespace, deleteAfter time.Time) {
	t.Helper()
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Annotations[saasv1alpha1.DeleteAfterAnnotation] = deleteAfter.UTC().Format(time.RFC3339)
	NewWithT(t).Expect(k8sClient.Patch(testContext(t), ns, patch)).To(Succeed())
}

// retentionAt is a retention reconciler of the test's own, on a clock set
// to now, reading through c and around the cache from the API server.
func retentionAt(c client.Client, now time.Time) *RetentionReconciler {
	return &RetentionReconciler{Client: c, Reader: k8sClient, Recorder: events.NewFakeRecorder(10), Clock: clocktesting.NewFakeClock(now)}
}

func reconcileNamespace(t *testing.T, r *RetentionReconciler, ns *corev1.Namespace) (ctrl.Result, error) {
	t.Helper()
	return r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ns)})
}

func namespaceDeletion(t *testing.T, ns *corev1.Namespace) *metav1.Time {
	t.Helper()
	return getObject(t, &corev1.Namespace{}, "", ns.Name).DeletionTimestamp
}

// Rule A of docs/lifecycle.md, for the retention period: an admin moved
// the date later, and the cache has not seen it yet. The namespace is
// decided on as the API server holds it: kept, and looked at again when
// the new date comes.
func TestRetentionKeepsANamespaceWhoseDateWasMovedLaterThanTheCacheShows(t *testing.T) {
	g := NewWithT(t)
	start := fakeClock.Now()
	ns := retainedNamespace(t, start.Add(time.Hour))
	stale := ns.DeepCopy()
	later := start.Add(10 * 24 * time.Hour).Truncate(time.Second)
	moveDeleteAfter(t, ns, later)

	now := start.Add(2 * time.Hour) // past the date the cache shows
	result, err := reconcileNamespace(t, retentionAt(testenv.CacheBehind{Client: k8sClient, Old: stale}, now), ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(namespaceDeletion(t, ns)).To(BeNil(), "the date the admin set stands")
	g.Expect(result.RequeueAfter).To(BeNumerically("~", later.Sub(now), time.Second), "back at the new date")
}

// The ordinary end of a retention period: the date has passed, and the API
// server agrees with the cache.
func TestRetentionDeletesANamespaceOnceItsDateHasPassed(t *testing.T) {
	g := NewWithT(t)
	ns := retainedNamespace(t, fakeClock.Now().Add(time.Hour))

	result, err := reconcileNamespace(t, retentionAt(k8sClient, fakeClock.Now().Add(2*time.Hour)), ns)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result).To(Equal(ctrl.Result{}))
	g.Expect(namespaceDeletion(t, ns)).NotTo(BeNil())
}

// changedAfterRead is a reader after whose read of a Namespace an admin
// moves its date: the change lands between the decision and the delete.
type changedAfterRead struct {
	client.Reader
	t     *testing.T
	moved time.Time
}

func (c changedAfterRead) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		moveDeleteAfter(c.t, ns.DeepCopy(), c.moved)
	}
	return nil
}

// The delete carries the version it was decided on: a date moved after the
// read makes it fail with a Conflict, and the next reconcile, soon and
// without an error in the log, decides again.
func TestRetentionDoesNotDeleteANamespaceChangedSinceItWasRead(t *testing.T) {
	g := NewWithT(t)
	ns := retainedNamespace(t, fakeClock.Now().Add(time.Hour))
	r := retentionAt(k8sClient, fakeClock.Now().Add(2*time.Hour))
	r.Reader = changedAfterRead{Reader: k8sClient, t: t, moved: fakeClock.Now().Add(10 * 24 * time.Hour)}

	result, err := reconcileNamespace(t, r, ns)
	g.Expect(err).NotTo(HaveOccurred(), "a Conflict is decided again, not logged as an error")
	g.Expect(result.RequeueAfter).To(Equal(conflictRequeueDelay))
	g.Expect(namespaceDeletion(t, ns)).To(BeNil())
}
