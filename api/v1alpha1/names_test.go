package v1alpha1_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// ofLength returns a unique lower-case name of exactly n characters.
func ofLength(prefix string, n int) string {
	name := uniqueName(prefix)
	if len(name) > n {
		panic("prefix too long for " + name)
	}
	return name + strings.Repeat("a", n-len(name))
}

func validDirectory() *saasv1alpha1.SaaSDirectory {
	return &saasv1alpha1.SaaSDirectory{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("d-directory")},
		Spec: saasv1alpha1.SaaSDirectorySpec{
			InstanceID: "i-0123456789abcdef0123", TenantID: "68cbc86f5b8e4d2f9d0a880d92f36422", ProductName: "crm",
		},
	}
}

// TestDerivedNameInputsAreBounded holds every input that kooper copies into
// a name or label value (docs/naming.md) to the limit that keeps the derived
// name within Kubernetes' own: the input at its maximum length is admitted,
// one character more is refused with a message that states the limit.
func TestDerivedNameInputsAreBounded(t *testing.T) {
	cases := []struct {
		name    string
		max     int
		object  func(n int) client.Object
		refusal string
	}{
		{
			name: "SaaSProduct name: label saas.kooper.io/product", max: 63,
			object: func(n int) client.Object {
				return with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Name = ofLength("product", n) })
			},
			refusal: "metadata.name must be at most 63 characters",
		},
		{
			name: "SaaSTenant spec.productName: label saas.kooper.io/product", max: 63,
			object: func(n int) client.Object {
				return with(validTenant(), func(o *saasv1alpha1.SaaSTenant) { o.Spec.ProductName = ofLength("product", n) })
			},
			refusal: "spec.productName: Too long: may not be more than 63",
		},
		{
			name: "License spec.productName: label saas.kooper.io/product", max: 63,
			object: func(n int) client.Object {
				return with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.ProductName = ofLength("product", n) })
			},
			refusal: "spec.productName: Too long: may not be more than 63",
		},
		{
			name: "SaaSDirectory spec.productName: a SaaSProduct's name", max: 63,
			object: func(n int) client.Object {
				return with(validDirectory(), func(o *saasv1alpha1.SaaSDirectory) { o.Spec.ProductName = ofLength("product", n) })
			},
			refusal: "spec.productName: Too long: may not be more than 63",
		},
		{
			name: "SaaSTenant instanceId and name: namespace <namespacePrefix>-<instanceId>, label saas.kooper.io/instance-id", max: 40,
			object: func(n int) client.Object {
				return with(validTenant(), func(o *saasv1alpha1.SaaSTenant) {
					o.Name = ofLength("i-tenant", n)
					o.Spec.InstanceID = o.Name
				})
			},
			refusal: "spec.instanceId: Too long: may not be more than 40",
		},
		{
			name: "SaaSProduct namespacePrefix: namespace <namespacePrefix>-<instanceId>", max: 20,
			object: func(n int) client.Object {
				return with(validProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.NamespacePrefix = ofLength("t", n) })
			},
			refusal: "spec.namespacePrefix: Too long: may not be more than 20",
		},
		{
			name: "License name: instanceId of its applications, Secret license-<name>", max: 63,
			object: func(n int) client.Object {
				return with(validLicense(), func(o *saasv1alpha1.License) { o.Name = ofLength("i-licence", n) })
			},
			refusal: "metadata.name must be at most 63 characters",
		},
		{
			name: "License spec.instanceId: label saas.kooper.io/instance-id", max: 63,
			object: func(n int) client.Object {
				return with(validLicense(), func(o *saasv1alpha1.License) { o.Spec.InstanceID = ofLength("i-instance", n) })
			},
			refusal: "spec.instanceId: Too long: may not be more than 63",
		},
		{
			name: "SaaSDirectory name: label saas.kooper.io/directory, shards <name>-<part>-<index>", max: 63,
			object: func(n int) client.Object {
				return with(validDirectory(), func(o *saasv1alpha1.SaaSDirectory) { o.Name = ofLength("d-directory", n) })
			},
			refusal: "metadata.name must be at most 63 characters",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			atMax := tc.object(tc.max)
			g.Expect(k8sClient.Create(ctx(t), atMax)).To(Succeed(), "at the maximum length, %d", tc.max)
			t.Cleanup(func() { _ = k8sClient.Delete(ctx(t), atMax) })

			err := k8sClient.Create(ctx(t), tc.object(tc.max+1))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "one character over, want an Invalid error, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.refusal))
		})
	}
}
