package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A product with an SSO gateway: each tenant pod runs the gateway beside
// the app, the Service goes through it, and kooper-sso carries the
// application the gateway names, or says the choice is ambiguous.
func TestAnSSOGatewayProductsTenantsGetTheGatewayAndItsApplication(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
		p.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	})
	key, err := directoryRSAKey()
	g.Expect(err).NotTo(HaveOccurred())
	instanceID, tenantID := fmt.Sprintf("i-gw%d", tenantSeq.Add(1)), "tenant-gw"
	secret1, err := koogallery.EncryptClientSecret(&key.PublicKey, "secret-1", koogallery.OAEPSHA256MGF1SHA1)
	g.Expect(err).NotTo(HaveOccurred())
	secret2, err := koogallery.EncryptClientSecret(&key.PublicKey, "secret-2", koogallery.OAEPSHA256MGF1SHA1)
	g.Expect(err).NotTo(HaveOccurred())
	tenant := newTenant(t, product, "basic", func(tenant *saasv1alpha1.SaaSTenant) {
		tenant.Name, tenant.Spec.InstanceID = instanceID, instanceID
	})
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace

	deployment := getObject(t, &appsv1.Deployment{}, namespace, tenantobjects.AppName)
	containers := deployment.Spec.Template.Spec.Containers
	g.Expect(containers).To(HaveLen(2))
	g.Expect(containers[1].Name).To(Equal(tenantobjects.GatewayContainerName))
	g.Expect(containers[1].Args).To(ContainElements("gateway", "--sso-dir=/etc/kooper/sso", "--directory-dir=/etc/kooper/directory"))
	service := getObject(t, &corev1.Service{}, namespace, tenantobjects.AppName)
	g.Expect(service.Spec.Ports[0].TargetPort).To(Equal(intstr.FromString(tenantobjects.GatewayPortName)))

	for _, call := range []struct {
		name koogallery.KitInterface
		rest string
	}{
		{koogallery.KitTenantSync, `"orderId":"","tenantCode":"acme","name":"ACME","domainName":"https://acme.tenantaccount.com","flag":1`},
		{koogallery.KitApplicationSync, `"appId":"app-1","clientId":"client-1","clientSecret":"` + secret1 + `","flag":1`},
	} {
		g.Expect(kitCall(t, product.Name, call.name, kitBody(instanceID, tenantID, call.rest))).To(Equal("000000"), string(call.name))
	}
	ssoApp := func(g Gomega) string {
		sso := &corev1.Secret{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}, sso)).To(Succeed())
		return string(sso.Data["appId"])
	}
	eventuallyDirectory(t, instanceID, tenantID, delivered(saasv1alpha1.SucceededReason))
	g.Eventually(ssoApp).Should(Equal("app-1"))

	// A second application, none named: the condition says so, and the
	// tenant keeps signing in with the first, whose users are authorised
	// (issue 32's trial: it moved to the newest, and locked them out).
	g.Expect(kitCall(t, product.Name, koogallery.KitApplicationSync, kitBody(instanceID, tenantID,
		`"appId":"app-2","clientId":"client-2","clientSecret":"`+secret2+`","flag":1`))).To(Equal("000000"))
	d := eventuallyDirectory(t, instanceID, tenantID, delivered(saasv1alpha1.SeveralApplicationsReason))
	g.Expect(apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition).Message).To(ContainSubstring("spec.workload.sso.gateway.appId"))
	g.Expect(ssoApp(g)).To(Equal("app-1"))

	// Naming one redelivers kooper-sso with it.
	stored := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stored)).To(Succeed())
	patch := client.MergeFrom(stored.DeepCopy())
	stored.Spec.Workload.SSO.Gateway.AppID = "app-2"
	g.Expect(k8sClient.Patch(testContext(t), stored, patch)).To(Succeed())
	eventuallyDirectory(t, instanceID, tenantID, delivered(saasv1alpha1.SucceededReason))
	g.Eventually(func(g Gomega) {
		sso := &corev1.Secret{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}, sso)).To(Succeed())
		g.Expect(sso.Data).To(And(HaveKeyWithValue("appId", []byte("app-2")), HaveKeyWithValue("clientId", []byte("client-2")),
			HaveKeyWithValue("clientSecret", []byte("secret-2"))))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		deployment := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, deployment)).To(Succeed())
		g.Expect(deployment.Spec.Template.Spec.Containers[1].Args).To(ContainElement("--app-id=app-2"))
	}).Should(Succeed())
}
