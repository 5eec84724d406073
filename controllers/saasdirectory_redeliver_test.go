package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// deliveredVersions returns the resourceVersion and data of every Secret
// delivered for the directory named name in namespace, by Secret name.
func deliveredVersions(t *testing.T, g Gomega, namespace, name string) (map[string]string, map[string]map[string][]byte) {
	t.Helper()
	list := &corev1.SecretList{}
	g.Expect(k8sClient.List(testContext(t), list, client.InNamespace(namespace),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: name})).To(Succeed())
	versions, data := map[string]string{}, map[string]map[string][]byte{}
	for _, s := range list.Items {
		versions[s.Name], data[s.Name] = s.ResourceVersion, s.Data
	}
	return versions, data
}

// deliveredForRedelivery delivers a directory of three users and two
// departments into a new tenant's namespace, and returns it with that
// namespace.
func deliveredForRedelivery(t *testing.T, tenantID string) (*saasv1alpha1.SaaSDirectory, string) {
	t.Helper()
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	syncUsersAndOrgs(t, product.Name, tenant.Name, tenantID)
	d := eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		delivered(saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Users).To(Equal(int32(3)))
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
	})
	return d, namespace
}

// deleteByHand deletes the named Secrets in namespace, as kubectl delete
// would, and waits until the ones deleted are gone: the controllers may put
// a new one, of another UID, in its place at once.
func deleteByHand(t *testing.T, namespace string, names ...string) {
	t.Helper()
	g := NewWithT(t)
	for _, name := range names {
		s := &corev1.Secret{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, s)).To(Succeed(), name)
		deleted := s.UID
		g.Expect(k8sClient.Delete(testContext(t), s, client.Preconditions{UID: &deleted})).To(Succeed(), name)
		g.Eventually(func() bool {
			now := &corev1.Secret{}
			err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, now)
			return apierrors.IsNotFound(err) || (err == nil && now.UID != deleted)
		}).Should(BeTrue(), name)
	}
}

func TestDirectoryDeliveryDeletedByHandIsPutBack(t *testing.T) {
	g := NewWithT(t)
	d, namespace := deliveredForRedelivery(t, "tenant-deleted-by-hand")
	_, before := deliveredVersions(t, g, namespace, d.Name)
	g.Expect(before).To(HaveKey(saasv1alpha1.SSOSecretName))

	deleteByHand(t, namespace, saasv1alpha1.SSOSecretName)
	g.Eventually(func(g Gomega) {
		_, after := deliveredVersions(t, g, namespace, d.Name)
		g.Expect(after).To(HaveKey(saasv1alpha1.SSOSecretName))
		g.Expect(after).To(Equal(before))
	}, 30*time.Second).Should(Succeed(), "kooper-sso is put back, as it was")
	eventuallyDirectory(t, d.Spec.InstanceID, d.Spec.TenantID, delivered(saasv1alpha1.SucceededReason))
}

// TestDirectoryDeliveryEditedByHandIsPutBack: a kubectl edit of kooper-sso
// (its token URL, say) or tenant.json stayed until the next kit sync: the
// directory's Secret watch passed deletions alone, and a delivery compared
// names and kooper's own hash annotation, not the content. An edit now
// shows as content that no longer matches its hash.
func TestDirectoryDeliveryEditedByHandIsPutBack(t *testing.T) {
	g := NewWithT(t)
	d, namespace := deliveredForRedelivery(t, "tenant-edited-by-hand")
	_, before := deliveredVersions(t, g, namespace, d.Name)
	g.Expect(before[saasv1alpha1.SSOSecretName]).To(HaveKey("tokenUrl"))

	for _, name := range []string{saasv1alpha1.SSOSecretName, saasv1alpha1.DirectorySecretName} {
		g.Eventually(func() error {
			s := &corev1.Secret{}
			if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
				return err
			}
			for k := range s.Data {
				s.Data[k] = []byte("https://attacker.example/")
			}
			return k8sClient.Update(testContext(t), s)
		}).Should(Succeed(), name)
	}
	g.Eventually(func(g Gomega) {
		_, after := deliveredVersions(t, g, namespace, d.Name)
		g.Expect(after).To(Equal(before))
	}, 30*time.Second).Should(Succeed(), "kooper-sso and tenant.json are put back, as they were")
}

func TestDirectoryReconcileDeliversWhatIsMissingAndThenWritesNothing(t *testing.T) {
	g := NewWithT(t)
	d, namespace := deliveredForRedelivery(t, "tenant-missing-piece")
	_, before := deliveredVersions(t, g, namespace, d.Name)
	g.Expect(before).To(HaveKey(saasv1alpha1.SSOSecretName))
	g.Expect(before).To(HaveKey("kooper-directory-users-000"))

	// A restore that missed two of them; the next reconcile, whatever
	// starts it, puts them back, as they were.
	// The suite's controllers watch kooper-sso and may put both back
	// first; either way the directory is whole again, as it was.
	deleteByHand(t, namespace, saasv1alpha1.SSOSecretName, "kooper-directory-users-000")
	r, _ := unclaimedReconciler(0, time.Now())
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	var versions map[string]string
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(testContext(t), req)
		g.Expect(err).NotTo(HaveOccurred())
		var after map[string]map[string][]byte
		versions, after = deliveredVersions(t, g, namespace, d.Name)
		g.Expect(after).To(And(HaveKey(saasv1alpha1.SSOSecretName), HaveKey("kooper-directory-users-000")))
		g.Expect(after).To(Equal(before))
	}).Should(Succeed())
	eventuallyDirectory(t, d.Spec.InstanceID, d.Spec.TenantID, delivered(saasv1alpha1.SucceededReason))

	// With nothing changed, a reconcile writes nothing: neither the
	// delivered Secrets nor the directory.
	stored := &saasv1alpha1.SaaSDirectory{}
	g.Expect(k8sClient.Get(testContext(t), req.NamespacedName, stored)).To(Succeed())
	_, err := r.Reconcile(testContext(t), req)
	g.Expect(err).NotTo(HaveOccurred())
	again, _ := deliveredVersions(t, g, namespace, d.Name)
	g.Expect(again).To(Equal(versions))
	g.Expect(k8sClient.Get(testContext(t), req.NamespacedName, d)).To(Succeed())
	g.Expect(d.ResourceVersion).To(Equal(stored.ResourceVersion))
}
