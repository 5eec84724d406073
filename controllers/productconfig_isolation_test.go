package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// forbidProduct installs a ValidatingAdmissionPolicy, as a cluster's policy
// engine would, that refuses creating or updating SaaSProduct product with
// message and the reason Forbidden. It returns once the API server enforces
// it, and a function that deletes it.
func forbidProduct(t *testing.T, product, message string) (lift func()) {
	t.Helper()
	g := NewWithT(t)
	name := "forbid-product-" + product
	lift = installDenyingPolicy(t, name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
				Resources: []string{"saasproducts"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf("object.metadata.name != %q", product),
			Message:    message,
			Reason:     ptr.To(metav1.StatusReasonForbidden),
		})
	probe, err := decodeProduct(productManifest(product, "OFFI-PROBE"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() error {
		return k8sClient.Create(testContext(t), probe.DeepCopy(), client.DryRunAll)
	}).Should(Satisfy(admissionRefusal), "the policy is enforced")
	// What the products ConfigMap's apply meets: 403 Forbidden, not 422.
	err = k8sClient.Create(testContext(t), probe.DeepCopy(), client.DryRunAll)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	g.Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeFalse())
	return lift
}

// TestAProductsConfigMapKeyTheClusterRefusesLeavesTheOthersApplied: a
// cluster policy refusing one product of the products ConfigMap with 403
// (not 422) ended the reconcile at that key: the keys sorted after it were
// never applied, and the "Not applied" Event was not raised. Now every
// other key is applied, the refused one is named in the Warning Event, and
// the reconcile is retried with back-off, so the product is applied once
// the policy lets it be.
func TestAProductsConfigMapKeyTheClusterRefusesLeavesTheOthersApplied(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const refused, fine = "cm-iso-refused", "cm-iso-fine"
	const message = "platform policy: products are reviewed before they are created"
	lift := forbidProduct(t, refused, message)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: productsConfigMap},
		Data: map[string]string{
			"a-refused.yaml": productManifest(refused, "OFFI-CM-ISO-1"), // first in key order
			"b-fine.yaml":    productManifest(fine, "OFFI-CM-ISO-2"),
		},
	}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), cm)
		for _, name := range []string{refused, fine} {
			_ = k8sClient.Delete(context.Background(), &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
	})

	g.Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Name: fine}, &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed(), "the key after the refused one is applied")
	g.Eventually(func(g Gomega) []string { return warningsNaming(g, t, productsConfigMap, "a-refused.yaml") }).
		Should(ContainElement(SatisfyAll(ContainSubstring(refused), ContainSubstring(message))))
	g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: refused}, &saasv1alpha1.SaaSProduct{}))).To(BeTrue())

	// kooper cannot see a policy change: the retry applies it.
	lift()
	g.Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Name: refused}, &saasv1alpha1.SaaSProduct{})
	}).WithTimeout(time.Minute).Should(Succeed(), "retried with back-off")
}

// retryableApply: only the API server's refusal of the manifest itself
// (422, 400) is final; the cluster's admission refusing it, whatever the
// code, and every other failure are retried.
func TestRetryableApplyTellsTheManifestsFaultFromTheClusters(t *testing.T) {
	gr := saasv1alpha1.GroupVersion.WithResource("saasproducts").GroupResource()
	refusal := func(code int32, reason metav1.StatusReason, msg string) error {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason,
			Message: `saasproducts.saas.kooper.io "crm" is forbidden: ` + msg}}
	}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"invalid (422)", apierrors.NewInvalid(saasv1alpha1.GroupVersion.WithKind("SaaSProduct").GroupKind(), "crm", nil), false},
		{"malformed (400)", apierrors.NewBadRequest("the manifest does not decode"), false},
		{"a policy's refusal with no reason of its own (422)",
			refusal(422, metav1.StatusReasonInvalid, "ValidatingAdmissionPolicy 'p' with binding 'p' denied request: no"), true},
		{"a webhook's refusal as 400",
			refusal(400, metav1.StatusReasonBadRequest, `admission webhook "policy.example.com" denied the request: no`), true},
		{"forbidden (403)", apierrors.NewForbidden(gr, "crm", fmt.Errorf("no")), true},
		{"a conflict (409)", apierrors.NewConflict(gr, "crm", fmt.Errorf("stale")), true},
		{"a timeout", apierrors.NewTimeoutError("slow etcd", 1), true},
		{"no answer", fmt.Errorf("dial tcp: connection refused"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			NewWithT(t).Expect(retryableApply(c.err)).To(Equal(c.want))
		})
	}
}
