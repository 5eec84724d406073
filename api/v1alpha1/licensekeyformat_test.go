package v1alpha1_test

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Issue 35: spec.license.keyFormat chooses the format of new licence keys;
// omitted, the operator's default applies (JWS unless set: a trial found
// that a schema default left an upgrade no way to keep products that say
// nothing on Legacy); only a License product has it.
func TestSchemaLicenseKeyFormat(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&saasv1alpha1.SaaSProductSpec{}).GetLicenseKeyFormat("")).To(Equal(saasv1alpha1.LicenseKeyFormatJWS), "omitted")
	g.Expect((&saasv1alpha1.SaaSProductSpec{}).GetLicenseKeyFormat(saasv1alpha1.LicenseKeyFormatLegacy)).
		To(Equal(saasv1alpha1.LicenseKeyFormatLegacy), "omitted, the operator's default")

	product := with(validLicenseProduct(), func(o *saasv1alpha1.SaaSProduct) { o.Spec.License = &saasv1alpha1.LicensePolicy{} })
	g.Expect(k8sClient.Create(ctx(t), product)).To(Succeed())
	g.Expect(product.Spec.License.KeyFormat).To(BeEmpty(), "no schema default: the operator's applies")

	legacy := with(validLicenseProduct(), func(o *saasv1alpha1.SaaSProduct) {
		o.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatLegacy}
	})
	g.Expect(k8sClient.Create(ctx(t), legacy)).To(Succeed())
	g.Expect(legacy.Spec.GetLicenseKeyFormat(saasv1alpha1.LicenseKeyFormatJWS)).To(Equal(saasv1alpha1.LicenseKeyFormatLegacy), "the product's own wins")

	for name, tc := range map[string]struct {
		object      *saasv1alpha1.SaaSProduct
		wantMessage string
	}{
		"unknown format": {with(validLicenseProduct(), func(o *saasv1alpha1.SaaSProduct) {
			o.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: "PASETO"}
		}), `spec.license.keyFormat: Unsupported value: "PASETO": supported values: "JWS", "Legacy"`},
		"on a SaaS product": {with(validProduct(), func(o *saasv1alpha1.SaaSProduct) {
			o.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatJWS}
		}), "license is for products of type License"},
	} {
		err := k8sClient.Create(ctx(t), tc.object)
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: want an Invalid error, got %v", name, err)
		g.Expect(err.Error()).To(ContainSubstring(tc.wantMessage), name)
	}
}
