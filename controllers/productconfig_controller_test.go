package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func productManifest(name, productID string, replicas ...string) string {
	replicaLine := ""
	if len(replicas) > 0 {
		replicaLine = "      replicas: " + replicas[0] + "\n"
	}
	return `apiVersion: saas.kooper.io/v1alpha1
kind: SaaSProduct
metadata:
  name: ` + name + `
spec:
  productId: ` + productID + `
  keysSecretName: cm-keys
  urls:
    frontEndUrl: "https://{{.InstanceID}}.example.com"
  workload:
    image: example.com/app:1
    ports: [{name: http, containerPort: 8080}]
  plans:
    - skuCode: basic
` + replicaLine
}

func TestProductConfigAppliesUpdatesAndKeepsProducts(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: productsConfigMap},
		Data: map[string]string{
			"cm-crm.yaml": productManifest("cm-crm", "OFFI-CM-1"),
			// Each of these is reported and skipped; the good entry is still applied.
			"typo.yaml":       productManifest("cm-typo", "OFFI-CM-2") + "  replicaz: 3\n",
			"wrong-kind.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cm-secret\n",
			"not-yaml.yaml":   "{{ not yaml",
		},
	}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), cm) })

	product := &saasv1alpha1.SaaSProduct{}
	g.Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Name: "cm-crm"}, product)
	}).Should(Succeed())
	g.Expect(product.Spec.ProductID).To(Equal("OFFI-CM-1"))
	// Only what the manifest says is owned by the ConfigMap's field manager;
	// schema defaults are still the API server's.
	g.Expect(product.Spec.Plans[0].Replicas).To(HaveValue(BeEquivalentTo(1)))
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "cm-typo"}, &saasv1alpha1.SaaSProduct{})).NotTo(Succeed())
	expectEvent(t, productsConfigMap, corev1.EventTypeWarning, InvalidProductReason)
	expectEvent(t, productsConfigMap, corev1.EventTypeNormal, ProductsAppliedReason)

	// A helm upgrade changes the ConfigMap: the product follows.
	cm.Data = map[string]string{"cm-crm.yaml": productManifest("cm-crm", "OFFI-CM-1", "4")}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "cm-crm"}, product)).To(Succeed())
		g.Expect(product.Spec.Plans[0].Replicas).To(HaveValue(BeEquivalentTo(4)))
	}).Should(Succeed())

	// helm uninstall deletes the ConfigMap: the product and its tenants stay.
	g.Expect(k8sClient.Delete(ctx, cm)).To(Succeed())
	g.Consistently(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Name: "cm-crm"}, &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed())
}

func TestProductConfigIgnoresOtherConfigMaps(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	for _, ns := range []string{operatorNamespace, "elsewhere"} {
		name := productsConfigMap
		if ns == operatorNamespace {
			name = "not-the-products"
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data:       map[string]string{"p.yaml": productManifest("cm-ignored-"+ns, "OFFI-CM-X")},
		}
		g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), cm) })
	}
	g.Consistently(func() error {
		list := &saasv1alpha1.SaaSProductList{}
		if err := k8sClient.List(ctx, list); err != nil {
			return err
		}
		for _, p := range list.Items {
			g.Expect(p.Name).NotTo(HavePrefix("cm-ignored-"))
		}
		return nil
	}).Should(Succeed())
}
