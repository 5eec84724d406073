package controllers

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// padded returns prefix and a sequence number padded with 'a' to n characters.
func padded(prefix string, n int) string {
	name := fmt.Sprintf("%s%d", prefix, tenantSeq.Add(1))
	return name + strings.Repeat("a", n-len(name))
}

// TestTenantAtEveryNameLimitIsProvisioned: with each input at the longest
// the API admits (product name 63, namespacePrefix 20, instanceId 40), every
// derived name and label value fits: the namespace <prefix>-<instanceId> has
// 61 characters, the product label 63, and the Ingress host's first label 40.
func TestTenantAtEveryNameLimitIsProvisioned(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Name = padded("tp-max-", 63)
		p.Spec.NamespacePrefix = padded("p", 20)
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Name = padded("i-max-", 40)
		tn.Spec.InstanceID = tn.Name
	})
	ns := product.Spec.NamespacePrefix + "-" + tenant.Name
	g.Expect(ns).To(HaveLen(61))

	got := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(got.Status.Namespace).To(Equal(ns))
	g.Expect(got.Status.FrontEndURL).To(Equal("https://" + tenant.Name + ".crm.example.com"))
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, product.Name))
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.InstanceIDLabel, tenant.Name))
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, product.Name))
	ingress := getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)
	g.Expect(ingress.Spec.Rules[0].Host).To(Equal(tenant.Name + ".crm.example.com"))
}

// TestProductWithASharedIngressHostProvisionsNoTenant: a product whose
// Ingress host does not change from tenant to tenant is refused with
// URLsValid=False, and its tenants stall before anything is applied; once
// the template names the instance in its host, they are provisioned.
func TestProductWithASharedIngressHostProvisionsNoTenant(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://crm.example.com/t/{{.InstanceID}}"}
	})
	cond := expectCondition(t, product, saasv1alpha1.URLsValidCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)
	g.Expect(cond.Message).To(ContainSubstring(`frontEndUrl gives every tenant the Ingress host "crm.example.com"`))
	g.Expect(cond.Message).To(ContainSubstring("put {{.InstanceID}} or {{.Namespace}} in its host"))
	expectCondition(t, product, saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)

	tenant := newTenant(t, product, "basic", nil)
	got := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressHostNotUniqueReason))
	g.Expect(got.Status.Namespace).To(BeEmpty())
	g.Expect(got.Status.FrontEndURL).To(BeEmpty(), "no URL shared with other buyers is ever handed out")
	hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.IngressHostNotUniqueReason)(g, got)
	err := k8sClient.Get(testContext(t), client.ObjectKey{Name: "tenant-" + tenant.Name}, &corev1.Namespace{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the stalled tenant's namespace: %v", err)

	g.Eventually(func() error {
		stored := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stored); err != nil {
			return err
		}
		stored.Spec.URLs.FrontEndURL = "https://{{.InstanceID}}.crm.example.com"
		return k8sClient.Update(testContext(t), stored)
	}).Should(Succeed())
	expectCondition(t, product, saasv1alpha1.URLsValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	got = eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(got.Status.FrontEndURL).To(Equal("https://" + tenant.Name + ".crm.example.com"))
}

// TestTenantWhoseHostBreaksTheDNSLimitIsNotProvisioned: the product check
// renders the instance IDs kooper issues (22 characters); a tenant made by
// hand with a longer one is checked again when it is provisioned, and
// stalls with the limit in its message rather than failing every apply.
func TestTenantWhoseHostBreaksTheDNSLimitIsNotProvisioned(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		// 22 + 1 + 30 = 53 characters in the first label for an issued ID.
		p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}-" + strings.Repeat("x", 30) + ".crm.example.com"}
	})
	expectCondition(t, product, saasv1alpha1.URLsValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Name = padded("i-long-", 40)
		tn.Spec.InstanceID = tn.Name
	})
	got := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.URLTemplateInvalidReason))
	g.Expect(got.Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("has 71 characters, more than 63"))))
	g.Expect(got.Status.Namespace).To(BeEmpty())
}
