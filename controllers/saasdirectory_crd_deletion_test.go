package controllers

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// TestDeletingTheSaaSDirectoryCRDKeepsShardsAndDelivery deletes the
// SaaSDirectory CRD, which deletes every directory at once (kubectl delete
// -f of the CRDs, a chart uninstall without crds.keep), and checks that the
// joint-operation tenants keep their users: the shards and the delivery in
// the tenant namespace survive, with no owner reference through which the
// garbage collector could take them. It runs on a control plane of its own,
// since it removes a CRD.
func TestDeletingTheSaaSDirectoryCRDKeepsShardsAndDelivery(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	env := ownControlPlane(t)
	mgr, c := ownManager(t, env)
	g.Expect((&SaaSDirectoryReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kooper-saasdirectory"),
		Clock:   clocktesting.NewFakeClock(time.Now()),
		Options: DirectoryOptions{SecretNamespace: operatorNamespace, ShardNamespace: directoryNamespace, FieldOwner: fieldOwner},
	}).SetupWithManager(mgr)).To(Succeed())
	cancel := startOwnManager(t, mgr)

	// A joint-operation tenant with its namespace (no tenant controller runs
	// here: its status is written as that controller would) and a
	// directory of three users and two departments, delivered into it.
	namespace, d := deliveredDirectoryIn(t, c)
	shards := &corev1.SecretList{}
	g.Expect(c.List(ctx, shards, client.InNamespace(directoryNamespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(Succeed())
	g.Expect(shards.Items).To(HaveLen(2))
	deliveredNames := []string{saasv1alpha1.SSOSecretName, saasv1alpha1.DirectorySecretName,
		saasv1alpha1.DirectorySecretName + "-users-000", saasv1alpha1.DirectorySecretName + "-departments-000"}

	crd := deleteCRD(t, c, "saasdirectories")

	// The garbage collector acts on its own time: look for a while.
	g.Consistently(func(g Gomega) {
		for _, want := range shards.Items {
			shard := &corev1.Secret{}
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(&want), shard)).To(Succeed(), "shard %s is kept", want.Name)
			g.Expect(shard.OwnerReferences).To(BeEmpty(), "shard %s has no owner the garbage collector could follow", want.Name)
			g.Expect(shard.Data).To(Equal(want.Data), "shard %s holds its users", want.Name)
			g.Expect(saasv1alpha1.ShardDirectoryUID(shard)).To(BeEmpty(), "shard %s is kept for the directory restored under its name", want.Name)
		}
		for _, name := range deliveredNames {
			s := &corev1.Secret{}
			g.Expect(c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)).To(Succeed(), "the delivered %s is kept", name)
			g.Expect(s.OwnerReferences).To(BeEmpty(), "the delivered %s has no owner", name)
		}
	}, 5*time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(c.List(ctx, events)).To(Succeed())
		g.Expect(events.Items).To(ContainElement(And(HaveField("Reason", saasv1alpha1.DirectoryDataKeptReason),
			HaveField("Type", corev1.EventTypeWarning), HaveField("Regarding.Name", d.Name))))
	}).Should(Succeed())
	cancel() // the controller's informer would take its time to find the CRD again

	// The CRD is installed again and the directory restored (from a
	// backup: same name, new UID): it carries on with the kept shards.
	reinstallCRD(t, c, crd)
	g.Eventually(func() error { return c.List(testContext(t), &saasv1alpha1.SaaSDirectoryList{}) }).Should(Succeed())
	restored := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Finalizers: d.Finalizers,
		Annotations: d.Annotations}, Spec: d.Spec}
	g.Expect(c.Create(testContext(t), restored)).To(Succeed())
	r, _ := directReconciler(c, time.Now())
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(restored)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(restored), restored)).To(Succeed())
		g.Expect(restored.Status.Users).To(Equal(int32(3)), "the restored directory reads the kept users")
		g.Expect(restored.Status.Departments).To(Equal(int32(2)))
		g.Expect(apimeta.IsStatusConditionTrue(restored.Status.Conditions, saasv1alpha1.DeliveredCondition)).To(BeTrue())
	}).Should(Succeed())
	after := &corev1.SecretList{}
	g.Expect(c.List(testContext(t), after, client.InNamespace(directoryNamespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(Succeed())
	g.Expect(after.Items).To(HaveLen(2), "neither duplicated nor lost")
}

// restoreCRD creates crd again, as a reinstall would, and waits until it

// directReconciler is a directory reconciler of the test's own that reads
// and writes through c, at now.
func directReconciler(c client.Client, now time.Time) (*SaaSDirectoryReconciler, *events.FakeRecorder) {
	recorder := events.NewFakeRecorder(16)
	return &SaaSDirectoryReconciler{Client: c, Reader: c, Recorder: recorder, Clock: clocktesting.NewFakeClock(now),
		Options: DirectoryOptions{SecretNamespace: operatorNamespace, ShardNamespace: directoryNamespace, FieldOwner: fieldOwner}}, recorder
}

// The controllers and the receiver both decide with ShardBelongsTo which
// directory a shard is: written for it, kept for none, or another's.
func TestWhichDirectoryAShardBelongsTo(t *testing.T) {
	g := NewWithT(t)
	d := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: "d-x", UID: "current",
		Annotations: map[string]string{saasv1alpha1.DirectoryIDAnnotation: "id-current"}}}
	earlier := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: "d-x", UID: "earlier"}}
	// d restored from a backup: a new UID, the same ID.
	restored := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: "d-x", UID: "restored", Annotations: d.Annotations}}
	writtenFor := func(id string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Annotations: map[string]string{saasv1alpha1.ShardDirectoryUIDAnnotation: id}}
	}
	for _, tc := range []struct {
		name  string
		shard metav1.ObjectMeta
		d     *saasv1alpha1.SaaSDirectory
		is    bool
	}{
		{"written for it", writtenFor("id-current"), d, true},
		{"written for it, restored from a backup", writtenFor("id-current"), restored, true},
		{"written for its UID (an earlier version)", writtenFor("current"), d, true},
		{"written for an earlier directory", writtenFor("earlier"), d, false},
		{"kept when the CRD was deleted", metav1.ObjectMeta{}, d, true},
		{"owned by it (an earlier version)", ownedBy(d), d, true},
		{"owned by an earlier directory (an earlier version)", ownedBy(earlier), d, false},
	} {
		g.Expect(saasv1alpha1.ShardBelongsTo(&tc.shard, tc.d)).To(Equal(tc.is), tc.name)
	}
}

// ownedBy is the metadata of a shard earlier versions wrote for d.
func ownedBy(d *saasv1alpha1.SaaSDirectory) metav1.ObjectMeta {
	return metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{APIVersion: saasv1alpha1.GroupVersion.String(),
		Kind: "SaaSDirectory", Name: d.Name, UID: d.UID}}}
}

// An earlier version made each shard owned by its directory; the
// directory controller replaces that owner reference with the annotation,
// once: a reconcile that finds none writes no shard.
func TestAShardOwnedByItsDirectoryLosesTheOwnerReferenceOnReconcile(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID := fmt.Sprintf("i-owned%d", tenantSeq.Add(1))
	d := syncUsersAndOrgs(t, product.Name, instanceID, "tenant-owned")
	shard := getObject(t, &corev1.Secret{}, directoryNamespace, webhook.ShardName(d.Name, directory.Users, 0))
	patch := client.MergeFrom(shard.DeepCopy())
	delete(shard.Annotations, saasv1alpha1.ShardDirectoryUIDAnnotation)
	g.Expect(controllerutil.SetOwnerReference(d, shard, k8sClient.Scheme())).To(Succeed())
	g.Expect(k8sClient.Patch(testContext(t), shard, patch)).To(Succeed())

	r, _ := directReconciler(k8sClient, time.Now())
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(testContext(t), req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(shard), shard)).To(Succeed())
		g.Expect(shard.OwnerReferences).To(BeEmpty())
		g.Expect(shard.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardDirectoryUIDAnnotation, string(d.ShardOwnerID())))
	}).Should(Succeed())
	written := shard.ResourceVersion
	g.Eventually(func() error { _, err := r.Reconcile(testContext(t), req); return err }).Should(Succeed())
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(shard), shard)).To(Succeed())
	g.Expect(shard.ResourceVersion).To(Equal(written), "nothing to change, nothing written")
	g.Expect(eventuallyDirectory(t, instanceID, "tenant-owned", func(Gomega, *saasv1alpha1.SaaSDirectory) {}).Status.Users).To(Equal(int32(3)))
}

// A directory deleted by hand (kubectl delete) while its CRD stays is a
// decision about it: its shards and its delivery are deleted explicitly,
// since no owner reference leaves them to the garbage collector.
func TestADirectoryDeletedByHandTakesItsShardsAndDelivery(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	d := syncUsersAndOrgs(t, product.Name, tenant.Name, "tenant-by-hand")
	eventuallyDirectory(t, tenant.Name, "tenant-by-hand", delivered(saasv1alpha1.SucceededReason))
	getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)

	g.Expect(k8sClient.Delete(testContext(t), d)).To(Succeed())
	directoryGone(t, d.Name)
	g.Eventually(func(g Gomega) {
		g.Expect(isGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}})()).To(BeTrue())
		g.Expect(readDelivered(t, g, namespace, directory.Users)).To(BeEmpty())
		g.Expect(directoryEvents(t, g, d.Name)).To(ContainElement(saasv1alpha1.DirectoryDataDeletedReason))
	}).Should(Succeed())
}

// A shard written for a directory that is gone (a sync racing its
// deletion, or a finalizer removed by hand) is deleted when the controller
// looks at the name; one kept when the CRD was deleted is not.
func TestAShardWrittenForAGoneDirectoryIsDeleted(t *testing.T) {
	g := NewWithT(t)
	name := webhook.DirectoryName(fmt.Sprintf("i-gone%d", tenantSeq.Add(1)), "tenant-gone")
	stray := shardOf(name, directory.Users, 0, map[string]string{saasv1alpha1.ShardDirectoryUIDAnnotation: "a-directory-gone"})
	kept := shardOf(name, directory.Departments, 0, nil)
	for _, s := range []*corev1.Secret{stray, kept} {
		g.Expect(k8sClient.Create(testContext(t), s)).To(Succeed())
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), kept) })

	r, _ := directReconciler(k8sClient, time.Now())
	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: name}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(isGone(t, stray)()).To(BeTrue(), "the stray shard is deleted")
	g.Expect(isGone(t, kept)()).To(BeFalse(), "the kept shard waits for its directory")
}

// shardOf is a shard of directory name, with annotations.
func shardOf(name string, part directory.Part, index int, annotations map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: directoryNamespace, Name: webhook.ShardName(name, part, index),
		Labels:      map[string]string{saasv1alpha1.DirectoryLabel: name, saasv1alpha1.DirectoryPartLabel: string(part)},
		Annotations: annotations},
		Data: map[string][]byte{directory.DataKey(part, index): []byte("[]")}}
}

// After the CRD was deleted and installed again, the next sync creates
// the directory again (without a backup to restore it from): it carries
// on with the users and departments kept under its name.
func TestADirectoryCreatedAgainByASyncCarriesOnWithTheKeptShards(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID, tenantID := fmt.Sprintf("i-kept%d", tenantSeq.Add(1)), "tenant-kept"
	name := webhook.DirectoryName(instanceID, tenantID)
	for _, s := range []*corev1.Secret{
		keptShard(name, directory.Users, storedUsers(t, 0, 3)),
		keptShard(name, directory.Departments, storedOrgs("root", "sales")),
	} {
		g.Expect(k8sClient.Create(testContext(t), s)).To(Succeed())
	}

	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, kitBody(instanceID, tenantID,
		`"appId":"app-1","userList":`+kitUsers(3, 4)+`,"currentSyncTime":"1","flag":1`))).To(Equal("000000"))
	d := eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		g.Expect(d.Status.Users).To(Equal(int32(4)), "the kept users and the new one")
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
	})
	stored := readStored(t, g, d)
	g.Expect(keysOf(stored[directory.Users])).To(ConsistOf("app-1/user00000", "app-1/user00001", "app-1/user00002", "app-1/user00003"))
	g.Expect(keysOf(stored[directory.Departments])).To(ConsistOf("root", "sales"))
}

// keptShard is shard 0 of part of directory name as a CRD deletion leaves
// it: for no directory in particular.
func keptShard(name string, part directory.Part, entries []directory.Entry) *corev1.Secret {
	s := shardOf(name, part, 0, map[string]string{saasv1alpha1.DirectoryCountAnnotation: strconv.Itoa(len(entries))})
	s.Labels[saasv1alpha1.ManagedByLabel] = saasv1alpha1.ManagedByValue
	s.Type = corev1.SecretTypeOpaque
	s.Data = map[string][]byte{directory.DataKey(part, 0): []byte(directory.Encode(entries))}
	return s
}

// deliveredDirectoryIn makes, through c, a tenant with its namespace and a
// directory of three users and two departments for it, the users' shard
// stored as earlier versions did (owned by the directory), and waits until the
// directory controller has delivered it. It returns the tenant namespace
// and the directory.
func deliveredDirectoryIn(t *testing.T, c client.Client) (string, *saasv1alpha1.SaaSDirectory) {
	t.Helper()
	g := NewWithT(t)
	ctx := testContext(t)
	product := newTenantProductIn(t, c, nil)
	tenant := newTenantIn(t, c, product, "basic", nil)
	namespace := "tenant-" + tenant.Name
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Status.Namespace = namespace
	g.Expect(c.Status().Patch(ctx, tenant, patch)).To(Succeed())

	d := &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: webhook.DirectoryName(tenant.Name, "tenant-crd"),
			Annotations: map[string]string{saasv1alpha1.ShardsFormatAnnotation: saasv1alpha1.ShardsFormatSecrets},
			Finalizers:  []string{saasv1alpha1.DirectoryFinalizer}},
		Spec: saasv1alpha1.SaaSDirectorySpec{InstanceID: tenant.Name, TenantID: "tenant-crd", ProductName: product.Name,
			State: saasv1alpha1.DirectoryActive, Mode: saasv1alpha1.ModeProduction},
	}
	g.Expect(c.Create(ctx, d)).To(Succeed())
	createShardIn(t, c, d, directory.Users, 0, storedUsers(t, 0, 3), true)
	createShardIn(t, c, d, directory.Departments, 0, storedOrgs("root", "sales"), false)
	// As the receiver does after it wrote the shards: the spec's new sync
	// brings the controller (shards are in no cache, so their writes do not).
	patch = client.MergeFrom(d.DeepCopy())
	d.Spec.LastSync = &saasv1alpha1.DirectorySync{Interface: saasv1alpha1.KitAllOrgSync, Flag: -1, ReceivedTime: metav1.Now(), Sequence: 1}
	g.Expect(c.Patch(ctx, d, patch)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(apimeta.IsStatusConditionTrue(d.Status.Conditions, saasv1alpha1.DeliveredCondition)).To(BeTrue())
		// Both shards counted in the pass that delivered: a pass between
		// the two shards' creation delivers the users alone.
		g.Expect(d.Status.Users).To(Equal(int32(3)))
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
		g.Expect(d.Status.Namespace).To(Equal(namespace))
	}, 30*time.Second).Should(Succeed())
	return namespace, d
}

// shardMeta is the metadata the receiver gives shard index of d's part, of
// count entries, in namespace.
func shardMeta(d *saasv1alpha1.SaaSDirectory, namespace string, part directory.Part, index, count int) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: namespace, Name: webhook.ShardName(d.Name, part, index),
		Labels: map[string]string{
			saasv1alpha1.ManagedByLabel:     saasv1alpha1.ManagedByValue,
			saasv1alpha1.DirectoryLabel:     d.Name,
			saasv1alpha1.DirectoryPartLabel: string(part),
		},
		Annotations: map[string]string{saasv1alpha1.DirectoryCountAnnotation: strconv.Itoa(count)},
	}
}

// createShardIn stores a shard of d through c as the receiver does, or as
// earlier versions did: owned by d.
func createShardIn(t *testing.T, c client.Client, d *saasv1alpha1.SaaSDirectory, part directory.Part, index int, entries []directory.Entry,
	earlierVersion bool) {
	t.Helper()
	g := NewWithT(t)
	s := &corev1.Secret{ObjectMeta: shardMeta(d, directoryNamespace, part, index, len(entries)),
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{directory.DataKey(part, index): []byte(directory.Encode(entries))}}
	if earlierVersion {
		g.Expect(controllerutil.SetOwnerReference(d, s, c.Scheme())).To(Succeed())
	} else {
		s.Annotations[saasv1alpha1.ShardDirectoryUIDAnnotation] = string(d.UID)
	}
	g.Expect(c.Create(testContext(t), s)).To(Succeed())
}

// TestADirectoryRestoredWithItsShardsFromABackupKeepsThem restores a
// directory and its shards as a backup does (Velero restores Secrets before
// custom resources; neither keeps its UID). Before, the shards named the
// directory's UID, which a restore does not keep: the restored directory
// took its own shards for an earlier directory's and deleted them, and the
// buyer's users with them. Now they name the directory's ID, an annotation
// the restore keeps.
func TestADirectoryRestoredWithItsShardsFromABackupKeepsThem(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	d := syncUsersAndOrgs(t, product.Name, tenant.Name, "tenant-restored")
	eventuallyDirectory(t, tenant.Name, "tenant-restored", delivered(saasv1alpha1.SucceededReason))
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(d), d)).To(Succeed())
	backup := &corev1.SecretList{}
	g.Expect(k8sClient.List(testContext(t), backup, client.InNamespace(directoryNamespace),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(Succeed())
	g.Expect(backup.Items).NotTo(BeEmpty())

	// Lost, then restored: the shards first, the directory after.
	g.Expect(k8sClient.Delete(testContext(t), d)).To(Succeed())
	directoryGone(t, d.Name)
	for i := range backup.Items {
		restoreRecord(t, k8sClient, &backup.Items[i])
	}
	restored := &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Labels: d.Labels, Annotations: d.Annotations, Finalizers: d.Finalizers},
		Spec:       d.Spec,
	}
	restoreRecord(t, k8sClient, restored)

	got := eventuallyDirectory(t, tenant.Name, "tenant-restored", func(g Gomega, got *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, got)
		g.Expect(got.Status.Users).To(Equal(int32(3)), "the restored directory keeps its users")
	})
	g.Expect(got.UID).NotTo(Equal(d.UID), "a restore gives the directory a new UID")
	g.Expect(storedShards(t, g, d.Name)).To(Equal(len(backup.Items)), "no restored shard is deleted")
}
