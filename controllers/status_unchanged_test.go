package controllers

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A pass that finds an object as its last pass left it writes no status,
// and a condition that did not change keeps the time it last changed
// (Kubernetes API conventions), even when the pass cleared it before
// setting it again: a stall after the plan is found (a missing ConfigMap,
// a licence's keys without the signing key) is set again by every pass.
// Before, each such pass sent a status write: a no-op within the second
// the stall began, a real one after it that moved Stalled's
// lastTransitionTime to the pass, so "stalled since" was always "now".
func TestAPassThatChangesNothingWritesNoStatus(t *testing.T) {
	cases := []struct {
		name string
		// stall makes an object stalled after its plan is found and returns
		// it as stored, with a reconciler like the manager's reading through
		// c.
		stall func(t *testing.T, c client.Client) (client.Object, reconcile.Reconciler)
	}{
		{"tenant: its ConfigMap is missing", func(t *testing.T, c client.Client) (client.Object, reconcile.Reconciler) {
			product := configProduct(t, &saasv1alpha1.WorkloadConfig{MountPath: "/etc/crm", ConfigMapName: "no-such-config"})
			tenant := newTenant(t, product, "basic", nil)
			stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ConfigMapNotFoundReason))
			return stalled, tenantReconcilerLikeSetup(t, c)
		}},
		{"licence: its keys lack the signing key", func(t *testing.T, c client.Client) (client.Object, reconcile.Reconciler) {
			product, _ := newLicenseProduct(t, false)
			l := newLicense(t, product, "basic")
			stalled := eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.KeysSecretIncompleteReason))
			return stalled, &LicenseReconciler{Client: c, Reader: k8sClient, Scheme: k8sClient.Scheme(),
				Recorder: events.NewFakeRecorder(10), Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL),
				Uploads: MarketplaceUploadClients(marketplace.server.URL), Options: LicenseOptions{SecretNamespace: operatorNamespace}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			writes := &statusWriteCounter{Client: cachedClient}
			stored, r := tc.stall(t, writes)
			began := stalledSince(g, stored)
			// The stall was recorded within a second that is over now, so a
			// time set again would show in the stored status.
			g.Eventually(time.Now).Should(BeTemporally(">=", began.Add(time.Second)))

			for range 2 {
				_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stored)})
				g.Expect(err).NotTo(HaveOccurred())
			}

			g.Expect(writes.count.Load()).To(BeZero(), "status writes by passes that found nothing new")
			now := stored.DeepCopyObject().(client.Object)
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(stored), now)).To(Succeed())
			g.Expect(now.GetResourceVersion()).To(Equal(stored.GetResourceVersion()))
			g.Expect(stalledSince(g, now)).To(Equal(began), "Stalled keeps the time the stall began")
		})
	}
}

// stalledSince is the lastTransitionTime of obj's Stalled condition.
func stalledSince(g Gomega, obj client.Object) time.Time {
	c := apimeta.FindStatusCondition(obj.(conditioned).GetConditions(), saasv1alpha1.StalledCondition)
	g.Expect(c).NotTo(BeNil())
	return c.LastTransitionTime.Time
}

// tenantReconcilerLikeSetup is a tenant reconciler with the options Setup
// gives the manager's, reading and writing through c.
func tenantReconcilerLikeSetup(t *testing.T, c client.Client) *SaaSTenantReconciler {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(testEnv.Config)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	version, err := dc.ServerVersion()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return &SaaSTenantReconciler{Client: c, Reader: k8sClient, Scheme: k8sClient.Scheme(),
		Recorder: events.NewFakeRecorder(100), Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL),
		Charts: &Charts{}, Options: TenantOptions{SecretNamespace: operatorNamespace, IngressNamespace: "ingress-nginx",
			MonitoringNamespace: monitoringNamespace, ClusterCIDRs: slices.Concat(testPodCIDRs, testServiceCIDRs),
			FieldOwner: fieldOwner, MaxConcurrentReconciles: 1, KubeVersion: version.GitVersion}}
}

// statusWriteCounter counts the status writes sent through it.
type statusWriteCounter struct {
	client.Client
	count atomic.Int64
}

func (c *statusWriteCounter) Status() client.SubResourceWriter {
	return countedStatus{SubResourceWriter: c.Client.Status(), count: &c.count}
}

type countedStatus struct {
	client.SubResourceWriter
	count *atomic.Int64
}

func (s countedStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.count.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (s countedStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.count.Add(1)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func TestKeepStoredConditions(t *testing.T) {
	stored := metav1.NewTime(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2026, 12, 5, 9, 30, 0, 123, time.UTC))
	cond := func(condType string, status metav1.ConditionStatus, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, Reason: "R", LastTransitionTime: at}
	}
	was := []metav1.Condition{cond("OrderResolved", "True", stored), cond("Stalled", "True", stored), cond("Ready", "False", stored)}
	cases := []struct {
		name        string
		after, want []metav1.Condition
	}{
		{"cleared and set again: its place and time",
			[]metav1.Condition{cond("OrderResolved", "True", stored), cond("Ready", "False", stored), cond("Stalled", "True", now)},
			was},
		{"its status changed: its place, the new time",
			[]metav1.Condition{cond("OrderResolved", "True", stored), cond("Ready", "True", now), cond("Stalled", "True", stored)},
			[]metav1.Condition{cond("OrderResolved", "True", stored), cond("Stalled", "True", stored), cond("Ready", "True", now)}},
		{"new ones after the stored, in their order; a removed one stays removed",
			[]metav1.Condition{cond("Reconciling", "True", now), cond("Ready", "False", now), cond("Available", "False", now), cond("OrderResolved", "True", now)},
			[]metav1.Condition{cond("OrderResolved", "True", stored), cond("Ready", "False", stored), cond("Reconciling", "True", now), cond("Available", "False", now)}},
		{"none stored", []metav1.Condition{cond("Ready", "True", now)}, []metav1.Condition{cond("Ready", "True", now)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after := slices.Clone(tc.after)
			keepStoredConditions(was, &after)
			NewWithT(t).Expect(after).To(Equal(tc.want))
		})
	}
}

// A status equal to the stored one as the API server stores it (times in
// whole seconds) is not written, though in memory it differs. A Namespace
// stands in for any kind, as in TestPatchStatusIfChangedRefusesAStaleRead.
func TestAStatusEqualAsStoredIsNotWritten(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "status-same-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	at := metav1.NewTime(time.Now().Truncate(time.Second))
	withCondition := ns.DeepCopy()
	withCondition.Status.Conditions = []corev1.NamespaceCondition{{Type: "Test", Status: corev1.ConditionTrue, Reason: "Test", LastTransitionTime: at}}
	_, err := patchStatusIfChanged(ctx, k8sClient, ns, withCondition, ns.Status, withCondition.Status)
	g.Expect(err).NotTo(HaveOccurred())
	stored := &corev1.Namespace{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ns), stored)).To(Succeed())

	// The same second, finer in memory: what Now() gives.
	after := stored.DeepCopy()
	after.Status.Conditions[0].LastTransitionTime.Time = at.Add(123 * time.Millisecond)
	writes := &statusWriteCounter{Client: k8sClient}
	written, err := patchStatusIfChanged(ctx, writes, stored, after, stored.Status, after.Status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(written).To(BeFalse())
	g.Expect(writes.count.Load()).To(BeZero(), "a write that changes nothing stored")

	// A change the API server stores is written.
	after.Status.Conditions[0].Reason = "Changed"
	written, err = patchStatusIfChanged(ctx, writes, stored, after, stored.Status, after.Status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(written).To(BeTrue())
	g.Expect(writes.count.Load()).To(Equal(int64(1)))
}
