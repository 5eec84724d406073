package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestDeletingTheSaaSTenantCRDKeepsEveryDirectoryDelivery deletes the
// SaaSTenant CRD, which deletes every tenant record at once while the
// tenants' namespaces keep running. Before, the directory took its
// tenant's absence for a release and withdrew kooper-sso and tenant.json
// from every tenant namespace: every joint-operation app lost its sign-in.
// A record lost with its CRD touches nothing else (docs/lifecycle.md), so
// the delivery now stays as it is, and the directory says why. It runs on
// a control plane of its own, since it removes a CRD.
func TestDeletingTheSaaSTenantCRDKeepsEveryDirectoryDelivery(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	mgr, c := ownManager(t, ownControlPlane(t))
	g.Expect((&SaaSDirectoryReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kooper-saasdirectory"),
		Clock:   clocktesting.NewFakeClock(time.Now()),
		Options: DirectoryOptions{SecretNamespace: operatorNamespace, ShardNamespace: directoryNamespace, FieldOwner: fieldOwner},
	}).SetupWithManager(mgr)).To(Succeed())
	startOwnManager(t, mgr)
	namespace, d := deliveredDirectoryIn(t, c)

	deleteCRD(t, c, "saastenants")

	deliveredNames := []string{saasv1alpha1.SSOSecretName, saasv1alpha1.DirectorySecretName,
		saasv1alpha1.DirectorySecretName + "-users-000", saasv1alpha1.DirectorySecretName + "-departments-000"}
	kept := func(g Gomega) {
		for _, name := range deliveredNames {
			g.Expect(c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{})).To(Succeed(), "the delivered %s is kept", name)
		}
	}
	// The tenant's deletion reaches the directory through its watch: wait
	// for the pass that saw it, then look a while longer.
	g.Eventually(func(g Gomega) {
		kept(g)
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		cond := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Reason).To(Equal(saasv1alpha1.LostWithCRDReason), cond.Message)
		g.Expect(cond.Message).To(ContainSubstring(namespace))
	}).Should(Succeed())
	g.Consistently(kept, 3*time.Second).Should(Succeed())
	g.Expect(d.Status.Namespace).To(Equal(namespace), "the directory still knows where its delivery is")
}

// TestARestoredReleasedTenantsRelabelledNamespaceKeepsItsDirectory: a
// released tenant restored from a backup has no status.namespace, and its
// namespace, retained, was relabelled by another tool. The directory found
// the namespace only by kooper's labels, so it took the tenant for one
// released before it had a namespace and deleted the directory with its
// users while the namespace was still retained. The namespace is now also
// looked up by the name kooper gave it, and the directory goes only once
// that namespace does.
func TestARestoredReleasedTenantsRelabelledNamespaceKeepsItsDirectory(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	id := fmt.Sprintf("i-relabelled%d", tenantSeq.Add(1))
	d := syncUsersAndOrgs(t, product.Name, id, "tenant-relabelled")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantobjects.NamespaceName(product, id),
		Labels: map[string]string{saasv1alpha1.ManagedByLabel: "argocd"}}}
	g.Expect(k8sClient.Create(testContext(t), ns)).To(Succeed())
	newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Name, tn.Spec.InstanceID, tn.Spec.State = id, id, saasv1alpha1.StateReleased
	})

	r, _ := directReconciler(k8sClient, time.Now())
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	_, err := r.Reconcile(testContext(t), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(isGone(t, d)()).To(BeFalse(), "the directory stays while its tenant's namespace is retained")
	g.Expect(storedShards(t, g, d.Name)).To(Equal(2), "its users and departments with it")

	// The retention ends: the namespace goes, and the directory with it.
	g.Expect(k8sClient.Delete(testContext(t), ns)).To(Succeed())
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(testContext(t), req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(isGone(t, d)()).To(BeTrue())
	}).Should(Succeed())
	directoryGone(t, d.Name)
}

// TestAWithdrawTakesKooperSSOWhoseLabelWasRemovedByHand: kooper-sso holds
// the OAuth clientSecret. A withdraw found what to delete by the directory
// label alone, so a kooper-sso or tenant.json whose label was taken off
// while kooper was not running (or no pass redelivered it before the
// release) stayed in the namespace of a released tenant, and the withdraw
// then forgot the namespace: nothing would find it again. Both have fixed
// names and are now deleted by name too, unless another directory's label
// is on them. The Secrets are made here, where no tenant is: the suite's
// controllers would put the label back on a delivery they watch.
func TestAWithdrawTakesKooperSSOWhoseLabelWasRemovedByHand(t *testing.T) {
	g := NewWithT(t)
	namespace := fmt.Sprintf("unlabelled-delivery-%d", tenantSeq.Add(1))
	g.Expect(k8sClient.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	d := &saasv1alpha1.SaaSDirectory{ObjectMeta: metav1.ObjectMeta{Name: "d-unlabelled"}}
	fixed := []string{saasv1alpha1.SSOSecretName, saasv1alpha1.DirectorySecretName}
	for _, name := range fixed {
		meta := deliveredMeta(d, namespace, name)
		meta.Labels[saasv1alpha1.DirectoryLabel] = "d-another-enterprise"
		g.Expect(k8sClient.Create(testContext(t), &corev1.Secret{ObjectMeta: meta,
			Data: map[string][]byte{"clientSecret": []byte("s3cret")}})).To(Succeed(), name)
	}
	r, _ := directReconciler(k8sClient, time.Now())

	// Another directory's delivery in the same namespace is left alone.
	d.Status.Namespace = namespace
	g.Expect(r.withdraw(testContext(t), d)).To(Succeed())
	for _, name := range fixed {
		g.Expect(isGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})()).To(BeFalse(),
			"%s is labelled as another directory's", name)
	}

	for _, name := range fixed {
		s := getObject(t, &corev1.Secret{}, namespace, name)
		patch := client.MergeFrom(s.DeepCopy())
		delete(s.Labels, saasv1alpha1.DirectoryLabel)
		g.Expect(k8sClient.Patch(testContext(t), s, patch)).To(Succeed(), name)
	}
	d.Status.Namespace = namespace
	g.Expect(r.withdraw(testContext(t), d)).To(Succeed())
	g.Expect(d.Status.Namespace).To(BeEmpty(), "withdrawn: the namespace is forgotten")
	for _, name := range fixed {
		g.Expect(isGone(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})()).To(BeTrue(),
			"%s is withdrawn though its label was taken off", name)
	}
}

// TestADeliveryStaysWhileItsTenantIsRestoredWithoutStatus: a tenant record
// restored from a backup (or after a CRD reinstall) has no status, so no
// namespace until the tenant controller records it again; the directory
// took that for a tenant not provisioned yet and withdrew kooper-sso and
// tenant.json from the running namespace. It delivers where it delivered.
func TestADeliveryStaysWhileItsTenantIsRestoredWithoutStatus(t *testing.T) {
	g := NewWithT(t)
	d, namespace := deliveredForRedelivery(t, "tenant-restored-without-status")
	before, _ := deliveredVersions(t, g, namespace, d.Name)
	tenant := getObject(t, &saasv1alpha1.SaaSTenant{}, "", d.Spec.InstanceID)
	restored := tenant.DeepCopy()
	restored.Status = saasv1alpha1.SaaSTenantStatus{}

	r, _ := unclaimedReconciler(0, time.Now())
	r.Client = testenv.CacheBehind{Client: k8sClient, Old: restored}
	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)})
	g.Expect(err).NotTo(HaveOccurred())
	after, _ := deliveredVersions(t, g, namespace, d.Name)
	g.Expect(after).To(Equal(before), "nothing withdrawn, nothing written again")
}
