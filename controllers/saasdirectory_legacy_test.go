package controllers

import (
	"encoding/json"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// storedUsers are users from to to-1 as the receiver stores them: as the
// kit sent them, with their appId first.
func storedUsers(t *testing.T, from, to int) []directory.Entry {
	t.Helper()
	g := NewWithT(t)
	var raws []json.RawMessage
	g.Expect(json.Unmarshal([]byte(kitUsers(from, to)), &raws)).To(Succeed())
	entries := make([]directory.Entry, 0, len(raws))
	for _, raw := range raws {
		item, err := directory.WithField(raw, "appId", "app-1")
		g.Expect(err).NotTo(HaveOccurred())
		key, err := directory.KeyOf(directory.Users, item)
		g.Expect(err).NotTo(HaveOccurred())
		entries = append(entries, directory.Entry{Key: key, JSON: item})
	}
	return entries
}

// storedOrgs are departments as the receiver stores them.
func storedOrgs(codes ...string) []directory.Entry {
	entries := make([]directory.Entry, 0, len(codes))
	for _, c := range codes {
		data, _ := json.Marshal(koogallery.KitOrg{OrgCode: c, OrgName: "Dept " + c, ParentCode: "root"})
		entries = append(entries, directory.Entry{Key: c, JSON: data})
	}
	return entries
}

// createLegacyShard stores a shard of d as a ConfigMap in namespace, as
// versions before the Secrets did.
func createLegacyShard(t *testing.T, d *saasv1alpha1.SaaSDirectory, namespace string, part directory.Part, index int, entries []directory.Entry) {
	t.Helper()
	g := NewWithT(t)
	cm := &corev1.ConfigMap{ObjectMeta: shardMeta(d, namespace, part, index, len(entries)),
		Data: map[string]string{directory.DataKey(part, index): directory.Encode(entries)}}
	g.Expect(controllerutil.SetOwnerReference(d, cm, k8sClient.Scheme())).To(Succeed())
	g.Expect(k8sClient.Create(testContext(t), cm)).To(Succeed())
}

// unmarkShardsFormat takes the shards-format mark off d, which the receiver
// put there when it created d: d is then as an earlier version left it, and
// is looked at for ConfigMap shards until the controller marks it again.
func unmarkShardsFormat(t *testing.T, d *saasv1alpha1.SaaSDirectory) {
	t.Helper()
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	delete(d.Annotations, saasv1alpha1.ShardsFormatAnnotation)
	NewWithT(t).Expect(k8sClient.Patch(testContext(t), d, patch)).To(Succeed())
}

// legacyShardLists counts the LISTs of d's ConfigMap shards, in the
// directory namespace and kooper's, that the receiver and the controllers
// sent.
func legacyShardLists(name string) int {
	return managerRequests.Count(testenv.ConfigMapShardListsOf(name, directoryNamespace, operatorNamespace))
}

// createLegacyDelivered stores a ConfigMap in a tenant namespace as versions
// before the Secrets delivered them.
func createLegacyDelivered(t *testing.T, d *saasv1alpha1.SaaSDirectory, namespace, name, key, data string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		saasv1alpha1.DirectoryLabel: d.Name,
	}}, Data: map[string]string{key: data}}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), cm)).To(Succeed())
}

// An install upgraded from a version that kept directories in ConfigMaps:
// users in the directory namespace; departments in kooper's namespace, where
// shards were kept before the directory namespace, beside an older copy of
// the users that later syncs replaced; and the ConfigMaps delivered into the
// tenant's namespace. The directory controller moves the shards into
// Secrets, keeping every entry, drops the older copy, and replaces the
// delivered ConfigMaps with Secrets; a sync arriving meanwhile is answered
// 000005 and, retried, stored on top of the moved shards.
func TestDirectoryShardsInConfigMapsAreMovedToSecretsWithoutLosingAnEntry(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-legacy"
	enterprise := func(name string) string {
		return kitBody(tenant.Name, tenantID, `"orderId":"","tenantCode":"legacy","name":"`+name+`","domainName":"https://legacy.example.com","flag":2`)
	}
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, enterprise("Legacy"))).To(Equal("000000"))
	// Once delivered and summarised, nothing makes the controller look at
	// the directory again until its spec changes.
	d := eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(readTenant(t, g, tenant.Name).Status.Directory).NotTo(BeNil())
	})

	createLegacyShard(t, d, directoryNamespace, directory.Users, 0, storedUsers(t, 0, 3))
	createLegacyShard(t, d, directoryNamespace, directory.Users, 1, storedUsers(t, 3, 5))
	createLegacyShard(t, d, operatorNamespace, directory.Departments, 0, storedOrgs("root", "sales"))
	createLegacyShard(t, d, operatorNamespace, directory.Users, 0, storedUsers(t, 100, 103)) // the older copy
	createLegacyDelivered(t, d, namespace, saasv1alpha1.DirectorySecretName, "tenant.json", `{"users":5}`)
	createLegacyDelivered(t, d, namespace, "kooper-directory-users-000", "users-000.json", directory.Encode(storedUsers(t, 0, 3)))
	unmarkShardsFormat(t, d)

	// Before the move, a change of either part would start from half the
	// directory: it is refused, retryably.
	addUsers := kitBody(tenant.Name, tenantID, `"appId":"app-1","userList":`+kitUsers(5, 7)+`,"currentSyncTime":"1","flag":1`)
	addOrg := kitBody(tenant.Name, tenantID, `"orgCode":"support","orgName":"Dept support","parentCode":"root","flag":1`)
	g.Expect(postKitOnce(g, product.Name, koogallery.KitAuthSync, addUsers)).To(Equal(string(koogallery.ResultInternalError)))
	g.Expect(postKitOnce(g, product.Name, koogallery.KitSingleOrgSync, addOrg)).To(Equal(string(koogallery.ResultInternalError)))

	// A change of the enterprise (no shard) is stored, and the controller's
	// reconcile of the directory moves the shards; retried, the syncs succeed.
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, enterprise("Legacy Ltd"))).To(Equal("000000"))
	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, addUsers)).To(Equal("000000"))
	g.Expect(kitCall(t, product.Name, koogallery.KitSingleOrgSync, addOrg)).To(Equal("000000"))

	users := []string{"app-1/user00000", "app-1/user00001", "app-1/user00002", "app-1/user00003", "app-1/user00004",
		"app-1/user00005", "app-1/user00006"}
	departments := []string{"root", "sales", "support"}
	d = eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(len(users))))
		g.Expect(d.Status.Departments).To(Equal(int32(len(departments))))
		g.Expect(d.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardsFormatAnnotation, saasv1alpha1.ShardsFormatSecrets))
	})
	g.Eventually(func(g Gomega) {
		stored := readStored(t, g, d)
		g.Expect(keysOf(stored[directory.Users])).To(ConsistOf(users))
		g.Expect(keysOf(stored[directory.Departments])).To(ConsistOf(departments))
		g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf(users))
		g.Expect(keysOf(readDelivered(t, g, namespace, directory.Departments))).To(ConsistOf(departments))
		g.Expect(string(getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.DirectorySecretName).Data["tenant.json"])).
			To(ContainSubstring(`"users": 7`))
		noDirectoryConfigMaps(t, g)
	}).Should(Succeed())
	// Kooper's namespace holds no shard Secret either.
	g.Expect(readShards(t, g, operatorNamespace, client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})).To(BeEmpty())

	g.Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), events)).To(Succeed())
		var notes []string
		for _, e := range events.Items {
			if e.Regarding.Name == d.Name && e.Reason == saasv1alpha1.ShardsMovedReason {
				notes = append(notes, e.Note)
			}
		}
		g.Expect(notes).To(ConsistOf(fmt.Sprintf("Moved 3 directory shards from ConfigMaps to Secrets in namespace %s; dropped 1 older copies in namespace %s",
			directoryNamespace, operatorNamespace)))
	}).Should(Succeed())
}

// A directory the receiver creates is marked as storing its shards in
// Secrets, and neither the receiver (at each sync of users or departments)
// nor the controller (at each reconcile) lists ConfigMaps to look for shards
// of an earlier version: for ever after an upgrade, that would be an API
// LIST per callback and per reconcile.
func TestNewDirectoryIsMarkedAndNobodyListsConfigMapShardsForIt(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	tenantID := "tenant-marked"
	syncs := []struct {
		name koogallery.KitInterface
		body string
	}{
		{koogallery.KitTenantSync, `"orderId":"","tenantCode":"marked","name":"Marked","domainName":"https://marked.example.com","flag":1`},
		{koogallery.KitAuthSync, `"appId":"app-1","userList":` + kitUsers(0, 3) + `,"currentSyncTime":"1","flag":1`},
		{koogallery.KitAllOrgSync, `"orgInfoList":` + kitOrgs("root", "sales")},
		{koogallery.KitSingleOrgSync, `"orgCode":"support","orgName":"Dept support","parentCode":"root","flag":1`},
		{koogallery.KitAuthSync, `"appId":"app-1","userList":` + kitUsers(0, 1) + `,"currentSyncTime":"2","flag":0`},
	}
	for _, sync := range syncs {
		g.Expect(kitCall(t, product.Name, sync.name, kitBody(tenant.Name, tenantID, sync.body))).To(Equal("000000"), string(sync.name))
	}

	d := eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(2)))
		g.Expect(d.Status.Departments).To(Equal(int32(3)))
	})
	g.Expect(d.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardsFormatAnnotation, saasv1alpha1.ShardsFormatSecrets))
	g.Expect(legacyShardLists(d.Name)).To(BeZero(), "ConfigMap LISTs for the directory's shards")
}

// A directory an earlier version created carries no shards-format mark: the
// controller looks for its ConfigMap shards once, moves what it finds, and
// marks it; from then on neither the receiver nor the controller lists
// ConfigMaps for it again.
func TestDirectoryOfAnEarlierVersionIsMarkedOnceMovedAndListedForNoMore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		legacy []directory.Entry // users left in a ConfigMap shard, if any
		users  []string          // the directory's users once more are synced
	}{
		{"with a ConfigMap shard left", storedUsers(t, 0, 2), []string{"app-1/user00000", "app-1/user00001", "app-1/user00005"}},
		{"with none left", nil, []string{"app-1/user00005"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := kitProduct(t, nil)
			tenant := newTenant(t, product, "basic", nil)
			eventuallyTenant(t, tenant.Name, provisioned)
			tenantID := fmt.Sprintf("tenant-unmarked-%d", len(tc.legacy))
			enterprise := func(name string) string {
				return kitBody(tenant.Name, tenantID, `"orderId":"","tenantCode":"old","name":"`+name+`","domainName":"https://old.example.com","flag":2`)
			}
			g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, enterprise("Old"))).To(Equal("000000"))
			d := eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
				delivered(saasv1alpha1.SucceededReason)(g, d)
				g.Expect(readTenant(t, g, tenant.Name).Status.Directory).NotTo(BeNil())
			})
			if tc.legacy != nil {
				createLegacyShard(t, d, directoryNamespace, directory.Users, 0, tc.legacy)
			}
			unmarkShardsFormat(t, d)

			// A change of the enterprise makes the controller reconcile the
			// unmarked directory: it looks, moves what it finds, and marks it.
			g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, enterprise("Old Ltd"))).To(Equal("000000"))
			d = eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
				delivered(saasv1alpha1.SucceededReason)(g, d)
				g.Expect(d.Annotations).To(HaveKeyWithValue(saasv1alpha1.ShardsFormatAnnotation, saasv1alpha1.ShardsFormatSecrets))
			})
			looked := legacyShardLists(d.Name)
			g.Expect(looked).To(BeNumerically(">", 0), "the unmarked directory is looked at")

			// Syncs of both parts, and a reconcile for each, list no more.
			addUsers := kitBody(tenant.Name, tenantID, `"appId":"app-1","userList":`+kitUsers(5, 6)+`,"currentSyncTime":"1","flag":1`)
			addOrg := kitBody(tenant.Name, tenantID, `"orgCode":"support","orgName":"Dept support","parentCode":"root","flag":1`)
			g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, addUsers)).To(Equal("000000"))
			g.Expect(kitCall(t, product.Name, koogallery.KitSingleOrgSync, addOrg)).To(Equal("000000"))
			d = eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
				delivered(saasv1alpha1.SucceededReason)(g, d)
				g.Expect(d.Status.Users).To(Equal(int32(len(tc.users))))
				g.Expect(d.Status.Departments).To(Equal(int32(1)))
			})
			g.Expect(keysOf(readStored(t, g, d)[directory.Users])).To(ConsistOf(tc.users))
			g.Expect(legacyShardLists(d.Name)).To(Equal(looked), "ConfigMap LISTs after the mark")
		})
	}
}

// The controllers' cache holds no shard Secret, even in kooper's own
// namespace (where a receiver without a directory namespace of its own
// writes them): a directory can be megabytes, read only when it changes.
func TestControllersCacheHoldsNoDirectoryShardSecrets(t *testing.T) {
	g := NewWithT(t)
	labelled := map[string]string{saasv1alpha1.DirectoryLabel: "d-cache", saasv1alpha1.DirectoryPartLabel: string(directory.Users)}
	shard := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "d-cache-users-000", Labels: labelled},
		Data: map[string][]byte{directory.DataKey(directory.Users, 0): []byte("[]")}}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: "not-a-shard"},
		Data: map[string][]byte{"k": []byte("v")}}
	for _, s := range []*corev1.Secret{shard, other} {
		g.Expect(k8sClient.Create(testContext(t), s)).To(Succeed())
		t.Cleanup(func() { _ = k8sClient.Delete(testContext(t), s) })
	}

	// The informer is live: it sees the other Secret, created after the shard.
	g.Eventually(func() error {
		return cachedClient.Get(testContext(t), client.ObjectKeyFromObject(other), &corev1.Secret{})
	}).Should(Succeed())
	err := cachedClient.Get(testContext(t), client.ObjectKeyFromObject(shard), &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a cached Get of a shard must miss, got %v", err)
	cached := &corev1.SecretList{}
	g.Expect(cachedClient.List(testContext(t), cached, client.HasLabels{saasv1alpha1.DirectoryPartLabel})).To(Succeed())
	g.Expect(cached.Items).To(BeEmpty(), "no shard cached, in any namespace")
	// The API server has it.
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(shard), &corev1.Secret{})).To(Succeed())
}
