package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// storedShards counts what is stored for directory name, of either kind,
// in the directory namespace and in kooper's (where earlier versions wrote).
func storedShards(t *testing.T, g Gomega, name string) int {
	t.Helper()
	n := 0
	for _, namespace := range []string{directoryNamespace, operatorNamespace} {
		for _, kind := range []string{"SecretList", "ConfigMapList"} {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
			g.Expect(k8sClient.List(testContext(t), list, client.InNamespace(namespace),
				client.MatchingLabels{saasv1alpha1.DirectoryLabel: name})).To(Succeed())
			n += len(list.Items)
		}
	}
	return n
}

// directoryEvents returns the reasons of the Events about directory name.
func directoryEvents(t *testing.T, g Gomega, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "SaaSDirectory" && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// directoryGone waits until directory name is deleted, with its shards.
func directoryGone(t *testing.T, name string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(isGone(t, &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: name}})()).To(BeTrue(), "the SaaSDirectory is deleted")
		g.Expect(storedShards(t, g, name)).To(BeZero(), "its shards are deleted")
	}, 90*time.Second).Should(Succeed())
}

// syncUsersAndOrgs stores three users and two departments for (instanceID, tenantID).
func syncUsersAndOrgs(t *testing.T, product, instanceID, tenantID string) *saasv1alpha1.SaaSDirectory {
	t.Helper()
	g := NewWithT(t)
	g.Expect(kitCall(t, product, koogallery.KitTenantSync, kitBody(instanceID, tenantID,
		`"orderId":"","tenantCode":"acme","name":"ACME","domainName":"https://acme.example.com","flag":1`))).To(Equal("000000"))
	g.Expect(kitCall(t, product, koogallery.KitAllOrgSync, kitBody(instanceID, tenantID, `"orgInfoList":`+kitOrgs("root", "sales")))).To(Equal("000000"))
	g.Expect(kitCall(t, product, koogallery.KitAuthSync, kitBody(instanceID, tenantID,
		`"appId":"app-1","userList":`+kitUsers(0, 3)+`,"currentSyncTime":"1","flag":1`))).To(Equal("000000"))
	return eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.Status.Users).To(Equal(int32(3)))
		g.Expect(d.Finalizers).To(ContainElement(saasv1alpha1.DirectoryFinalizer), "the receiver creates it with the finalizer")
	})
}

func TestTenantSyncDeleteDeletesTheDirectoryItsShardsAndItsDelivery(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-deleted"
	d := syncUsersAndOrgs(t, product.Name, tenant.Name, tenantID)
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))
	getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)
	g.Expect(storedShards(t, g, d.Name)).To(Equal(2))

	// flag 0, repeated: each answer is 000000, and the second creates nothing.
	del := kitBody(tenant.Name, tenantID, `"flag":0`)
	for range 2 {
		g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, del)).To(Equal("000000"))
	}
	directoryGone(t, d.Name)
	g.Eventually(func(g Gomega) {
		g.Expect(isGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}})()).To(BeTrue())
		g.Expect(readDelivered(t, g, namespace, "users")).To(BeEmpty())
		g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(BeNil())
		g.Expect(directoryEvents(t, g, d.Name)).To(ContainElements(saasv1alpha1.EnterpriseDeletedReason, saasv1alpha1.DirectoryDataDeletedReason))
	}).Should(Succeed())
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, del)).To(Equal("000000"))
	g.Expect(isGone(t, d)()).To(BeTrue(), "a delete of an absent enterprise creates no directory")
}

func TestDirectoryIsKeptWhileTheReleasedInstanceIsRetainedAndDeletedWithItsNamespace(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	product := kitProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10) })
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	d := syncUsersAndOrgs(t, product.Name, tenant.Name, "tenant-retained")
	eventuallyDirectory(t, tenant.Name, "tenant-retained", func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.Status.InstanceNamespace).To(Equal(namespace))
	})

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	eventuallyDirectory(t, tenant.Name, "tenant-retained", delivered(saasv1alpha1.InstanceReleasedReason))
	// The directory reads the release from the tenant's spec; the tenant
	// controller marks the namespace on its own time.
	ns := &corev1.Namespace{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: namespace}, ns)).To(Succeed())
		g.Expect(ns.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation), "retained for 10 days")
	}).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(storedShards(t, g, d.Name)).To(Equal(2), "kept with the retained data")
	}, 2*time.Second).Should(Succeed())

	// The retention period ends: the retention controller deletes the
	// namespace, and the directory goes with it.
	fakeClock.Step(11 * 24 * time.Hour)
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Annotations[saasv1alpha1.DeleteAfterAnnotation] = fakeClock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	g.Expect(k8sClient.Patch(testContext(t), ns, patch)).To(Succeed())
	directoryGone(t, d.Name)
	g.Eventually(func(g Gomega) {
		g.Expect(directoryEvents(t, g, d.Name)).To(ContainElement(saasv1alpha1.InstanceNamespaceDeletedReason))
	}).Should(Succeed())
}

func TestDirectoryGoesWhenItsTenantIsDeletedByHandWithItsData(t *testing.T) {
	product := kitProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.OnHandDeletion = saasv1alpha1.HandDeletionDelete
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	d := syncUsersAndOrgs(t, product.Name, tenant.Name, "tenant-hand")
	eventuallyDirectory(t, tenant.Name, "tenant-hand", func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.Status.InstanceNamespace).NotTo(BeEmpty())
	})
	NewWithT(t).Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	directoryGone(t, d.Name)
}

// unclaimedReconciler is a directory reconciler of the test's own, on a
// clock of its own, reconciling through the API server directly.
func unclaimedReconciler(ttl time.Duration, now time.Time) (*SaaSDirectoryReconciler, *events.FakeRecorder) {
	recorder := events.NewFakeRecorder(16)
	return &SaaSDirectoryReconciler{Client: k8sClient, Reader: k8sClient, Recorder: recorder, Clock: clocktesting.NewFakeClock(now),
		Options: DirectoryOptions{SecretNamespace: operatorNamespace, ShardNamespace: directoryNamespace, FieldOwner: fieldOwner,
			UnclaimedTTL: ttl}}, recorder
}

func TestDirectoryNoTenantCameForIsDeletedAfterTheUnclaimedTTL(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID := fmt.Sprintf("i-never%d", tenantSeq.Add(1))
	d := syncUsersAndOrgs(t, product.Name, instanceID, "tenant-unclaimed")
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	created := d.CreationTimestamp.Time
	ttl := 30 * 24 * time.Hour

	for _, tc := range []struct {
		name string
		ttl  time.Duration
		age  time.Duration
	}{
		{"kept a day before the TTL ends", ttl, ttl - 24*time.Hour},
		{"kept for ever with a TTL of 0", 0, 10 * ttl},
	} {
		r, recorder := unclaimedReconciler(tc.ttl, created.Add(tc.age))
		result, err := r.Reconcile(testContext(t), req)
		g.Expect(err).NotTo(HaveOccurred(), tc.name)
		g.Expect(isGone(t, d)()).To(BeFalse(), tc.name)
		g.Expect(recorder.Events).To(BeEmpty(), tc.name)
		if tc.ttl > 0 {
			g.Expect(result.RequeueAfter).To(BeNumerically("~", 24*time.Hour, time.Minute), "%s: looked at again when the TTL ends", tc.name)
		}
	}

	r, recorder := unclaimedReconciler(ttl, created.Add(ttl+time.Second))
	_, err := r.Reconcile(testContext(t), req)
	g.Expect(err).NotTo(HaveOccurred())
	directoryGone(t, d.Name)
	g.Expect(recorder.Events).To(Receive(And(ContainSubstring(saasv1alpha1.UnclaimedReason), ContainSubstring(instanceID))))
	g.Expect(recorder.Events).To(Receive(ContainSubstring(saasv1alpha1.DirectoryDataDeletedReason)))
}

func TestSyncsForADirectoryBeingDeletedAreRetriedAndThenStartAfresh(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID := fmt.Sprintf("i-redo%d", tenantSeq.Add(1))
	tenantID := "tenant-redo"
	d := syncUsersAndOrgs(t, product.Name, instanceID, tenantID)

	// Hold the directory in deletion with a finalizer of the test's own.
	const hold = "test.kooper.io/hold"
	patch := client.MergeFrom(d.DeepCopy())
	controllerutil.AddFinalizer(d, hold)
	g.Expect(k8sClient.Patch(testContext(t), d, patch)).To(Succeed())
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(instanceID, tenantID, `"flag":0`))).To(Equal("000000"))
	eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.DeletionTimestamp).NotTo(BeNil())
		g.Expect(d.Finalizers).To(Equal([]string{hold}), "kooper's part is done")
		g.Expect(storedShards(t, g, d.Name)).To(BeZero())
	})

	addUsers := kitBody(instanceID, tenantID, `"appId":"app-1","userList":`+kitUsers(100, 101)+`,"currentSyncTime":"1","flag":1`)
	g.Expect(postKitOnce(g, product.Name, koogallery.KitAuthSync, addUsers)).To(Equal(string(koogallery.ResultInternalError)),
		"a sync for a directory being deleted is retried by the marketplace")
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(instanceID, tenantID, `"flag":0`))).To(Equal("000000"),
		"deleting it again is what was asked")

	// A shard the old directory's receiver wrote after kooper deleted the
	// others: the new directory must not take its users.
	d = eventuallyDirectory(t, instanceID, tenantID, func(Gomega, *saasv1alpha1.SaaSDirectory) {})
	stale := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: directoryNamespace, Name: webhook.ShardName(d.Name, directory.Users, 0),
		Labels:      map[string]string{saasv1alpha1.DirectoryLabel: d.Name, saasv1alpha1.DirectoryPartLabel: string(directory.Users)},
		Annotations: map[string]string{saasv1alpha1.ShardDirectoryUIDAnnotation: string(d.ShardOwnerID())}},
		Data: map[string][]byte{directory.DataKey(directory.Users, 0): []byte(`[{"appId":"app-1","userName":"stale"}]`)}}
	g.Expect(k8sClient.Create(testContext(t), stale)).To(Succeed())
	patch = client.MergeFrom(d.DeepCopy())
	controllerutil.RemoveFinalizer(d, hold)
	g.Expect(k8sClient.Patch(testContext(t), d, patch)).To(Succeed())
	g.Eventually(isGone(t, d)).Should(BeTrue())

	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, addUsers)).To(Equal("000000"))
	fresh := eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, fresh *saasv1alpha1.SaaSDirectory) {
		g.Expect(fresh.UID).NotTo(Equal(d.UID))
		g.Expect(fresh.Status.Users).To(Equal(int32(1)), "the new directory holds none of the old users")
	})
	g.Expect(fresh.Finalizers).To(ContainElement(saasv1alpha1.DirectoryFinalizer))
	shard := getObject(t, &corev1.Secret{}, directoryNamespace, stale.Name)
	g.Expect(saasv1alpha1.ShardDirectoryUID(shard)).To(Equal(fresh.ShardOwnerID()), "the stale shard is replaced by the new directory's")
	g.Expect(string(shard.Data[directory.DataKey(directory.Users, 0)])).NotTo(ContainSubstring("stale"))
}

func TestADirectoryStoredWithoutTheFinalizerGetsIt(t *testing.T) {
	d := &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: webhook.DirectoryName("i-old-version", fmt.Sprint(tenantSeq.Add(1)))},
		Spec: saasv1alpha1.SaaSDirectorySpec{InstanceID: "i-old-version", TenantID: "t", ProductName: "an-old-product",
			State: saasv1alpha1.DirectoryActive, Mode: saasv1alpha1.ModeProduction},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), d)).To(Succeed())
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(strings.Join(d.Finalizers, ",")).To(Equal(saasv1alpha1.DirectoryFinalizer))
	}).Should(Succeed())
}

// The kit may delete an enterprise and add it again at once (the
// simulator's conformance run does): the add is answered 000000 whether it
// finds the old directory not yet deleted (it is kept) or being deleted
// (the receiver waits for it to go and starts a new one).
func TestAnEnterpriseDeletedAndAddedAgainAtOnceIsKept(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID, tenantID := fmt.Sprintf("i-again%d", tenantSeq.Add(1)), "tenant-again"
	add := kitBody(instanceID, tenantID, `"orderId":"","tenantCode":"again","name":"Again","domainName":"https://again.example.com","flag":1`)
	for round := range 5 {
		g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, add)).To(Equal("000000"), "round %d", round)
		g.Expect(postKitOnce(g, product.Name, koogallery.KitTenantSync, kitBody(instanceID, tenantID, `"flag":0`))).To(Equal("000000"), "round %d", round)
		g.Expect(postKitOnce(g, product.Name, koogallery.KitTenantSync, add)).To(Equal("000000"), "round %d", round)
	}
	g.Consistently(func(g Gomega) {
		d := &saasv1alpha1.SaaSDirectory{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: webhook.DirectoryName(instanceID, tenantID)}, d)).To(Succeed())
		g.Expect(d.Spec.State).To(Equal(saasv1alpha1.DirectoryActive))
	}, 2*time.Second).Should(Succeed())
}
