package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// A user in a shard beyond the 64 a workload mounts (where earlier
// versions put users after months of syncs) cannot sign in: the SSO
// gateway reads no such shard. The delivery says so, Delivered False with
// the count, instead of Succeeded; the next sync moves the user into a
// mounted shard and the delivery is whole again.
func TestDirectoryWithUsersBeyondTheMountedShardsSaysSoUntilTheyMoveIn(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	instanceID, tenantID := fmt.Sprintf("i-unmounted%d", tenantSeq.Add(1)), "tenant-unmounted"
	d := syncUsersAndOrgs(t, product.Name, instanceID, tenantID)

	// The shard an earlier receiver wrote past the mounted ones.
	beyond := directory.MountedUserShards
	shard := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: directoryNamespace, Name: webhook.ShardName(d.Name, directory.Users, beyond),
		Labels: map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
			saasv1alpha1.DirectoryLabel: d.Name, saasv1alpha1.DirectoryPartLabel: string(directory.Users)},
		Annotations: map[string]string{saasv1alpha1.ShardDirectoryUIDAnnotation: string(d.ShardOwnerID()),
			saasv1alpha1.DirectoryCountAnnotation: "1"},
	}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{
		directory.DataKey(directory.Users, beyond): []byte(`[{"appId":"app-1","userName":"late","name":"Late","role":"user","enable":"true"}]`),
	}}
	g.Expect(k8sClient.Create(testContext(t), shard)).To(Succeed())

	tenant := newTenant(t, product, "basic", func(tenant *saasv1alpha1.SaaSTenant) {
		tenant.Name, tenant.Spec.InstanceID = instanceID, instanceID
	})
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.ShardsNotMountedReason)(g, d)
		c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Message).To(ContainSubstring("the tenant's pods cannot read 1 users (in 1 shards past the 64 mounted)"))
		g.Expect(apimeta.IsStatusConditionTrue(d.Status.Conditions, saasv1alpha1.ReadyCondition)).To(BeFalse())
		g.Expect(d.Status.Users).To(Equal(int32(4)))
	})
	// Delivered all the same: the API and tenant.json have the user.
	getObject(t, &corev1.Secret{}, namespace, fmt.Sprintf("%s-users-%03d", saasv1alpha1.DirectorySecretName, beyond))

	// The next sync moves the user into a mounted shard.
	g.Expect(kitCall(t, product.Name, koogallery.KitAuthSync, kitBody(instanceID, tenantID,
		`"appId":"app-1","userList":`+kitUsers(3, 4)+`,"currentSyncTime":"2","flag":1`))).To(Equal("000000"))
	eventuallyDirectory(t, instanceID, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(5)))
	})
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ContainElement("app-1/late"))
	g.Eventually(func() bool {
		err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(shard), &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue(), "the shard beyond the mounted ones is gone")
	g.Eventually(func() bool {
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace,
			Name: fmt.Sprintf("%s-users-%03d", saasv1alpha1.DirectorySecretName, beyond)}, &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue(), "and so is its delivery")
}
