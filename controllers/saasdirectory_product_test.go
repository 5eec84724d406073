package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// syncEnterprise sends, signed with product's kitKey, what a joint-operation
// enterprise's first syncs carry: the enterprise, one application (app-1,
// clientID, its clientSecret encrypted for the test's RSA key) and users.
func syncEnterprise(t *testing.T, product, instanceID, tenantID, clientID, users string) {
	t.Helper()
	g := NewWithT(t)
	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	secret, err := koogallery.EncryptClientSecret(&key.PublicKey, "secret-of-"+clientID, koogallery.OAEPSHA256MGF1SHA1)
	g.Expect(err).NotTo(HaveOccurred())
	calls := []struct {
		name koogallery.KitInterface
		rest string
	}{
		{koogallery.KitTenantSync, `"orderId":"","tenantCode":"` + tenantID + `","name":"Enterprise","domainName":"https://` + tenantID + `.example.com/","flag":1`},
		{koogallery.KitApplicationSync, `"appId":"app-1","clientId":"` + clientID + `","clientSecret":"` + secret + `","flag":1`},
		{koogallery.KitAuthSync, `"appId":"app-1","userList":` + users + `,"currentSyncTime":"1","flag":1`},
	}
	for _, c := range calls {
		g.Expect(kitCall(t, product, c.name, kitBody(instanceID, tenantID, c.rest))).To(Equal("000000"), string(c.name))
	}
}

// directorySettled waits until the directory's latest spec is reconciled: its
// Delivered condition is of its generation and it counts users users.
func directorySettled(users int32) func(Gomega, *saasv1alpha1.SaaSDirectory) {
	return func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.Users).To(Equal(users))
	}
}

// warningEvents are the reasons of the Warning Events about directory name.
func warningEvents(t *testing.T, g Gomega, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "SaaSDirectory" && e.Regarding.Name == name && e.Type == corev1.EventTypeWarning {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// A kit call signed with product A's kitKey may carry an instance ID that
// becomes product B's (the merchant typed one into the Seller Console's
// debugging tool before B's buyer's order was delivered). The receiver
// stores it, as it stores any instance it does not know (the seller's test
// tenant), and refuses it once the instance is B's (000003); delivering
// what it stored would overwrite B's kooper-sso and directory, whose names
// are fixed, so B's SSO gateway would admit A's enterprise and lock out B's
// own users.
func TestADirectoryNamingAnotherProductsInstanceIsNotDeliveredIntoIt(t *testing.T) {
	g := NewWithT(t)
	productA, productB := kitProduct(t, nil), kitProduct(t, nil)
	id := fmt.Sprintf("i-stray-%d", tenantSeq.Add(1))
	syncEnterprise(t, productA.Name, id, "tenant-stray", "client-a", kitUsers(100, 103))
	tenant := newTenant(t, productB, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Name, tn.Spec.InstanceID = id, id })
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	syncEnterprise(t, productB.Name, tenant.Name, "tenant-own", "client-b", kitUsers(0, 2))
	own := eventuallyDirectory(t, tenant.Name, "tenant-own", delivered(saasv1alpha1.SucceededReason))

	stray := eventuallyDirectory(t, tenant.Name, "tenant-stray", directorySettled(3))
	c := apimeta.FindStatusCondition(stray.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(c.Reason).To(Equal(saasv1alpha1.InstanceOfAnotherProductReason), c.Message)
	g.Expect(c.Message).To(And(ContainSubstring(productA.Name), ContainSubstring(productB.Name)))
	g.Expect(stray.Status.Namespace).To(BeEmpty(), "nothing of it is delivered")
	g.Expect(stray.Status.InstanceNamespace).To(BeEmpty(), "another product's namespace decides nothing about it")

	// B's tenant still signs in with B's application and admits B's users.
	sso := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)
	g.Expect(sso.Data).To(HaveKeyWithValue("clientId", []byte("client-b")))
	g.Expect(sso.Labels).To(HaveKeyWithValue(saasv1alpha1.DirectoryLabel, own.Name))
	g.Expect(keysOf(readDelivered(t, g, namespace, directory.Users))).To(ConsistOf("app-1/user00000", "app-1/user00001"))
	g.Expect(readTenant(t, g, tenant.Name).Status.Directory).To(HaveField("Name", own.Name))
	g.Eventually(func(g Gomega) {
		g.Expect(warningEvents(t, g, stray.Name)).To(ContainElement(saasv1alpha1.InstanceOfAnotherProductReason))
	}).Should(Succeed())
}
