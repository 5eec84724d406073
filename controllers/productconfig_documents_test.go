package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// createProductsConfigMap creates the products ConfigMap with data, and
// deletes it and the named products when the test ends.
func createProductsConfigMap(t *testing.T, data map[string]string, products ...string) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: productsConfigMap},
		Data:       data,
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), cm)).To(Succeed())
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), cm)
		for _, name := range products {
			_ = k8sClient.Delete(context.Background(), &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
	})
}

// TestAProductsKeyWithTwoDocumentsIsRefused: a key holding two SaaSProduct
// manifests separated by "---" applied the first and silently dropped the
// second (the YAML decoder reads only the first document), with no Event
// and no log line, so the marketplace's callbacks for the second product
// met an unknown product. Now the key is refused whole, neither product is
// applied, and the Warning Event names the key and how many documents it
// holds.
func TestAProductsKeyWithTwoDocumentsIsRefused(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const crm, hr, fine = "cm-docs-crm", "cm-docs-hr", "cm-docs-fine"
	createProductsConfigMap(t, map[string]string{
		"products.yaml": productManifest(crm, "OFFI-CM-DOCS-1") + "---\n" + productManifest(hr, "OFFI-CM-DOCS-2"),
		// Sorted after the two-document key: once this is applied, that key
		// was read in the same pass.
		"z-fine.yaml": productManifest(fine, "OFFI-CM-DOCS-3"),
	}, crm, hr, fine)

	g.Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Name: fine}, &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed(), "the other key is applied")
	for _, name := range []string{crm, hr} {
		err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, &saasv1alpha1.SaaSProduct{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s is not applied: %v", name, err)
	}
	expectEventSaying(t, productsConfigMap, InvalidProductReason,
		"products.yaml: holds 2 documents; give each SaaSProduct its own key")
}

// TestAProductsKeyWithOneDocumentAfterASeparatorIsApplied: a key whose one
// manifest is preceded by "---" (and followed by a separator and a comment,
// as files cut from a multi-document stream are) is one product, applied.
func TestAProductsKeyWithOneDocumentAfterASeparatorIsApplied(t *testing.T) {
	g := NewWithT(t)
	const name = "cm-docs-separated"
	createProductsConfigMap(t, map[string]string{
		"separated.yaml": "# the CRM product\n---\n" + productManifest(name, "OFFI-CM-DOCS-4") + "---\n# end\n",
	}, name)

	product := &saasv1alpha1.SaaSProduct{}
	g.Eventually(func() error {
		return k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product)
	}).Should(Succeed())
	g.Expect(product.Spec.ProductID).To(Equal("OFFI-CM-DOCS-4"))
}

// decodeProduct counts only documents with content: separators, blank and
// comment-only documents around the one manifest are not documents; a
// second document, even one that does not parse, is.
func TestDecodeProductCountsOnlyDocumentsWithContent(t *testing.T) {
	manifest := productManifest("cm-docs-unit", "OFFI-CM-DOCS-5")
	cases := []struct {
		name, data, wantErr string
	}{
		{"bare", manifest, ""},
		{"a leading separator", "---\n" + manifest, ""},
		{"a trailing separator", manifest + "---\n", ""},
		{"a separator with a comment", "--- # crm\n" + manifest, ""},
		{"comment-only and blank documents", "# crm\n---\n\n---\n" + manifest + "---\n# end\n---\n", ""},
		{"two documents", manifest + "---\n" + manifest, "holds 2 documents; give each SaaSProduct its own key"},
		{"three documents", manifest + "---\n" + manifest + "---\n" + manifest, "holds 3 documents"},
		{"a second document that does not parse", manifest + "---\n{{ not yaml\n", "holds 2 documents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			product, err := decodeProduct(c.data)
			if c.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(c.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(product.GetName()).To(Equal("cm-docs-unit"))
		})
	}
}
