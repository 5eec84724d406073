package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// copyableTLSSecret is a TLS Secret in kooper's namespace that the merchant
// lets kooper copy into tenant namespaces.
func copyableTLSSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("tls-%d", tenantSeq.Add(1)),
			Labels: map[string]string{saasv1alpha1.CopyToTenantsLabel: "true"}},
		Type:       corev1.SecretTypeTLS,
		StringData: map[string]string{corev1.TLSCertKey: "certificate", corev1.TLSPrivateKeyKey: "key"},
	}
}

// A product naming a Secret the merchant did not mark for copying, or one
// of the wrong type, copies nothing: its tenants stall with the reason,
// and resume once the Secret is fixed.
func TestOnlySecretsMarkedForCopyingReachTenants(t *testing.T) {
	cases := []struct {
		name    string
		secret  func(*corev1.Secret)
		message string
	}{
		{"without the label", func(s *corev1.Secret) { s.Labels = nil }, "lacks the label saas.kooper.io/copy-to-tenants"},
		{"of another type", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeOpaque
		}, "has type Opaque; a " + tenantobjects.TLSSecretName + " copy must be of type kubernetes.io/tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := testContext(t)
			secret := copyableTLSSecret()
			tc.secret(secret)
			g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
			product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Ingress.TLSSecretName = secret.Name })
			tenant := newTenant(t, product, "basic", nil)
			stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.SecretNotCopyableReason))
			g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring(tc.message))
			g.Expect(stalled.Status.Namespace).To(BeEmpty(), "nothing is provisioned, nothing copied")

			// The merchant fixes the Secret (a type cannot change: it is
			// created again), and the tenant resumes.
			g.Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
			fixed := copyableTLSSecret()
			fixed.Name = secret.Name
			g.Eventually(func() error { return k8sClient.Create(ctx, fixed) }).Should(Succeed())
			eventuallyTenant(t, tenant.Name, provisioned)
			getObject(t, &corev1.Secret{}, "tenant-"+tenant.Name, tenantobjects.TLSSecretName)
		})
	}
}

func TestCopiedSecretRefusals(t *testing.T) {
	tls := copiedSecret{name: "s", target: tenantobjects.TLSSecretName, types: []corev1.SecretType{corev1.SecretTypeTLS}}
	labelled := map[string]string{saasv1alpha1.CopyToTenantsLabel: "true"}
	for _, tc := range []struct {
		name   string
		secret corev1.Secret
		ok     bool
	}{
		{"labelled, of the right type", corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: labelled}, Type: corev1.SecretTypeTLS}, true},
		{"label set to false", corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{saasv1alpha1.CopyToTenantsLabel: "false"}}, Type: corev1.SecretTypeTLS}, false},
		{"no label", corev1.Secret{Type: corev1.SecretTypeTLS}, false},
		{"wrong type", corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: labelled}, Type: corev1.SecretTypeDockerConfigJson}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(tls.refuse(&tc.secret) == "").To(Equal(tc.ok))
		})
	}
}

// TestAProductThatStopsCopyingItsCertificateTakesTheCopiesBack: a product
// that moves to the ingress controller's certificate (tlsCertificate
// IngressController) leaves no copy of its private key in its tenants'
// namespaces, and their Ingresses keep HTTPS for their hosts.
func TestAProductThatStopsCopyingItsCertificateTakesTheCopiesBack(t *testing.T) {
	g := NewWithT(t)
	secret := copyableTLSSecret()
	g.Expect(k8sClient.Create(testContext(t), secret)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Ingress.TLSSecretName = secret.Name })
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	getObject(t, &corev1.Secret{}, ns, tenantobjects.TLSSecretName)
	g.Expect(getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName).Spec.TLS[0].SecretName).To(Equal(tenantobjects.TLSSecretName))

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Ingress.TLSSecretName = ""
		p.Spec.Workload.Ingress.TLSCertificate = saasv1alpha1.TLSCertificateIngressController
	})
	g.Eventually(absent(t, &corev1.Secret{}, ns, tenantobjects.TLSSecretName)).Should(BeTrue(), "the copy of the private key goes")
	g.Eventually(func() ([]networkingv1.IngressTLS, error) {
		ing := &networkingv1.Ingress{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, ing)
		return ing.Spec.TLS, err
	}).Should(Equal([]networkingv1.IngressTLS{{Hosts: []string{tenant.Name + ".crm.example.com"}}}), "HTTPS with the ingress controller's certificate")
}
