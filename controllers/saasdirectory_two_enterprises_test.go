package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// syncReconciled waits until the directory's last kit call is reconciled:
// its status counts that sync and its Delivered condition is of its
// generation.
func syncReconciled(g Gomega, d *saasv1alpha1.SaaSDirectory) {
	g.Expect(d.Spec.LastSync).NotTo(BeNil())
	g.Expect(d.Status.ObservedSync).To(Equal(d.Spec.LastSync.Sequence))
	c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.ObservedGeneration).To(Equal(d.Generation))
}

// deliveredEnterprise expects namespace to hold directory name's enterprise:
// kooper-sso, which the login gateway takes the enterprise from, and the
// users shards, which it admits by.
func deliveredEnterprise(t *testing.T, g Gomega, namespace, name, tenantID string, users ...string) {
	t.Helper()
	sso := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}, sso)).To(Succeed())
	g.Expect(string(sso.Data["tenantId"])).To(Equal(tenantID), "the enterprise kooper-sso signs in with")
	g.Expect(sso.Labels).To(HaveKeyWithValue(saasv1alpha1.DirectoryLabel, name))
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf(users), "the users the gateway admits")
}

// appUsers are the keys of kitUsers(from, to) as delivered.
func appUsers(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("app-1/user%05d", i))
	}
	return out
}

// Each (instanceId, tenantId) pair is a directory of its own, and all of
// them deliver under the same fixed names. A second enterprise of a
// buyer's instance (the Seller Console's debugging tool sent with the
// buyer's instance ID and a test tenant, or a second registration that
// never sent tenantSync flag 0) must not take the buyer's tenant over:
// last writer wins otherwise, at every sync, and the login gateway then
// admits the other enterprise's users into the buyer's tenant.
func TestASecondEnterpriseOfAnInstanceIsDeliveredOnlyOnceTheFirstIsDeleted(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	syncEnterprise(t, product.Name, tenant.Name, "tenant-first", "client-first", kitUsers(0, 2))
	first := eventuallyDirectory(t, tenant.Name, "tenant-first", delivered(saasv1alpha1.SucceededReason))
	deliveredEnterprise(t, g, namespace, first.Name, "tenant-first", appUsers(0, 2)...)

	syncEnterprise(t, product.Name, tenant.Name, "tenant-second", "client-second", kitUsers(100, 103))
	var second *saasv1alpha1.SaaSDirectory
	for round := range 3 {
		if round > 0 { // a further sync of the second: one more user
			g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, kitBody(tenant.Name, "tenant-second",
				`"appId":"app-1","userList":`+kitUsers(102+round, 103+round)+`,"currentSyncTime":"1","flag":1`))).To(Equal("000000"))
		}
		second = eventuallyDirectory(t, tenant.Name, "tenant-second", syncReconciled)
		deliveredEnterprise(t, g, namespace, first.Name, "tenant-first", appUsers(0, 2)...)
		c := apimeta.FindStatusCondition(second.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(c.Reason).To(Equal(saasv1alpha1.InstanceHasAnotherEnterpriseReason), "round %d: %s", round, c.Message)
		g.Expect(c.Message).To(ContainSubstring(first.Name), "names the directory delivered instead")
		g.Expect(second.Status.Namespace).To(BeEmpty(), "nothing of it is delivered")
		g.Expect(second.Status.Users).To(Equal(int32(3+round)), "its own users are still counted")
	}
	g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(HaveField("Name", first.Name))
	g.Eventually(func(g Gomega) {
		g.Expect(warningEvents(t, g, second.Name)).To(ContainElement(saasv1alpha1.InstanceHasAnotherEnterpriseReason))
	}).Should(Succeed())

	// The first enterprise deleted (flag 0): the second takes its place.
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(tenant.Name, "tenant-first", `"flag":0`))).To(Equal("000000"))
	directoryGone(t, first.Name)
	eventuallyDirectory(t, tenant.Name, "tenant-second", delivered(saasv1alpha1.SucceededReason))
	g.Eventually(func(g Gomega) {
		deliveredEnterprise(t, g, namespace, second.Name, "tenant-second", appUsers(100, 105)...)
		g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(HaveField("Name", second.Name))
	}).Should(Succeed())
}

// Which of two enterprises of one instance is delivered: the rule must give
// exactly one of two live directories the namespace, whichever of them
// decides, or both would write kooper-sso (or neither would).
func TestOneEnterpriseOfAnInstanceIsDeliveredTheDeliveredOneElseTheFirstStored(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	later := metav1.NewTime(t0.Add(time.Second))
	dir := func(name string, created metav1.Time, namespace string, change ...func(*saasv1alpha1.SaaSDirectory)) *saasv1alpha1.SaaSDirectory {
		d := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created}}
		d.Spec.State, d.Status.Namespace = saasv1alpha1.DirectoryActive, namespace
		for _, c := range change {
			c(d)
		}
		return d
	}
	deleted := func(d *saasv1alpha1.SaaSDirectory) { d.Spec.State = saasv1alpha1.DirectoryDeleted }
	deleting := func(d *saasv1alpha1.SaaSDirectory) { d.DeletionTimestamp, d.Finalizers = &later, []string{"f"} }
	cases := []struct {
		name     string
		other, d *saasv1alpha1.SaaSDirectory
		want     bool
	}{
		{"a delivered one keeps out one stored before it", dir("d-b", later, "ns"), dir("d-a", t0, ""), true},
		{"an undelivered one does not keep out a delivered one", dir("d-a", t0, ""), dir("d-b", later, "ns"), false},
		{"of two undelivered ones, the first stored is delivered", dir("d-b", t0, ""), dir("d-a", later, ""), true},
		{"a later undelivered one waits", dir("d-a", later, ""), dir("d-b", t0, ""), false},
		{"of two delivered ones (an upgrade), the first stored stays", dir("d-b", t0, "ns"), dir("d-a", later, "ns"), true},
		{"within the same second, the smaller name comes first", dir("d-a", t0, ""), dir("d-b", t0, ""), true},
		{"within the same second, a greater name waits", dir("d-b", t0, ""), dir("d-a", t0, ""), false},
		{"a deleted enterprise keeps it out while its delivery is there", dir("d-b", later, "ns", deleted), dir("d-a", t0, ""), true},
		{"a deleted enterprise never delivered keeps nothing out", dir("d-a", t0, "", deleted), dir("d-b", later, ""), false},
		{"a directory being deleted keeps it out while its delivery is there", dir("d-a", t0, "ns", deleting), dir("d-b", later, ""), true},
		{"a directory being deleted and withdrawn keeps nothing out", dir("d-a", t0, "", deleting), dir("d-b", later, ""), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(deliveredInstead(c.other, c.d)).To(Equal(c.want))
			if !directoryGoing(c.other) {
				g.Expect(deliveredInstead(c.d, c.other)).To(Equal(!c.want), "exactly one of two live directories is delivered")
			}
		})
	}
}
