package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestAChangedKitLoginURLIsDeliveredToExistingDirectories: a merchant who
// corrected --kit-login-url (the portal differs between sites, spec §8
// item 25) and restarted kooper found every directory delivered before
// keeping the old loginUrl until its next kit sync: the delivery hash
// covered the directory, not the login URL written from the options, so
// the restarted controllers took each delivery for up to date.
func TestAChangedKitLoginURLIsDeliveredToExistingDirectories(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	syncEnterprise(t, product.Name, tenant.Name, "tenant-login-url", "client-login-url", kitUsers(0, 2))
	d := eventuallyDirectory(t, tenant.Name, "tenant-login-url", delivered(saasv1alpha1.SucceededReason))
	loginURL := func(g Gomega) string {
		sso := &corev1.Secret{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}, sso)).To(Succeed())
		return string(sso.Data["loginUrl"])
	}
	g.Eventually(loginURL).Should(Equal("https://macroverse.huaweicloud.com/unified-login/#/portal-login?ind=UNOP&appId=app-1"))

	// kooper restarted with the corrected URL. The suite's controllers,
	// still on the default, may put the old one back after each pass:
	// what counts is that a pass of the new options delivers the new one.
	restarted, _ := unclaimedReconciler(0, time.Now())
	restarted.Options.LoginURL = "https://login.example.com/portal?app={appId}&ind=UNOP"
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(d)}
	g.Eventually(func(g Gomega) {
		_, err := restarted.Reconcile(testContext(t), req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(loginURL(g)).To(Equal("https://login.example.com/portal?app=app-1&ind=UNOP"))
	}).Should(Succeed())
}
