package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A plan's package terms that make no package quota: a package bought on
// the plan is acknowledged to the buyer, then stalls (NoPackageTerms) and
// funds nothing. The schema refuses such terms (at most 14 whole digits);
// a product stored before it did is reported on PlansValid, as
// plansCondition sees it.
func TestAPlanWhosePackageTermsMakeNoQuotaIsNotValid(t *testing.T) {
	product := func(packages bool, terms ...saasv1alpha1.PackageTerms) *saasv1alpha1.SaaSProduct {
		p := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1}}}}
		if packages {
			p.Spec.Packages = &saasv1alpha1.PackagesSpec{}
		}
		for i := range terms {
			p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: []string{"pkg-a", "pkg-b"}[i], Package: &terms[i]})
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		product *saasv1alpha1.SaaSProduct
		want    string // the message, "" when PlansValid is True
	}{
		{name: "the largest quota the schema allows", product: product(true, saasv1alpha1.PackageTerms{Quota: "99999999999999.9999"})},
		{name: "the largest quota per linear value the schema allows", product: product(true, saasv1alpha1.PackageTerms{QuotaPerLinearValue: "99999999999999.9999"})},
		{name: "a quota of 15 digits stored before the schema refused it",
			product: product(true, saasv1alpha1.PackageTerms{Quota: "999999999999999"}),
			want: `plan pkg-a: package.quota "999999999999999" is too large: a usage value is at most 461168601842738.9999; ` +
				"a package bought on it would fund nothing (its tenant stalls with NoPackageTerms): give at most 14 whole digits, such as 99999999999999"},
		{name: "both kinds of terms, each too large",
			product: product(true, saasv1alpha1.PackageTerms{QuotaPerLinearValue: "461168601842739"}, saasv1alpha1.PackageTerms{Quota: "500000000000000.5"}),
			want: `plan pkg-a: package.quotaPerLinearValue "461168601842739" is too large: a usage value is at most 461168601842738.9999; ` +
				`plan pkg-b: package.quota "500000000000000.5" is too large: a usage value is at most 461168601842738.9999; ` +
				"a package bought on them would fund nothing (its tenant stalls with NoPackageTerms): give at most 14 whole digits, such as 99999999999999"},
		{name: "terms a product without spec.packages does not use", product: product(false, saasv1alpha1.PackageTerms{Quota: "999999999999999"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cond := plansCondition(tc.product)
			if tc.want == "" {
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
				return
			}
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(saasv1alpha1.PackageQuotaInvalidReason))
			g.Expect(cond.Message).To(Equal(tc.want))
		})
	}
}

// The API server refuses a package quota kooper cannot count in (the
// probe's "unlimited" 999999999999999, accepted before), and the largest
// it accepts funds a package: each plan is valid, and a package bought on
// it records its whole quota and funds the buyer's tenant.
func TestAPackageQuotaTheSchemaAcceptsFundsAPackage(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
		p.Spec.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: saasv1alpha1.ExhaustedFreeze}
		p.Spec.Plans = append(p.Spec.Plans,
			saasv1alpha1.Plan{SKUCode: "pkg-unlimited", Package: &saasv1alpha1.PackageTerms{Quota: "99999999999999"}},
			saasv1alpha1.Plan{SKUCode: "pkg-per-user", Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "99999999999999.9999"}})
	})
	expectCondition(t, product, saasv1alpha1.PlansValidCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)

	for _, field := range []string{"quota", "quotaPerLinearValue"} {
		// Read again on a conflict: the controllers write the product's
		// status meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			stored := &saasv1alpha1.SaaSProduct{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), stored)).To(Succeed())
			stored.Spec.Plans[2].Package = &saasv1alpha1.PackageTerms{Quota: "999999999999999"}
			if field == "quotaPerLinearValue" {
				stored.Spec.Plans[2].Package = &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "999999999999999"}
			}
			return k8sClient.Update(testContext(t), stored)
		})
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s 999999999999999: %v", field, err)
		g.Expect(err).To(MatchError(ContainSubstring("spec.plans[2].package." + field)))
	}

	payPerUse := buyPayPerUse(t, product, "buyer-unlimited")
	unlimited := buyPackage(t, product, "buyer-unlimited", "pkg-unlimited", "20991231235959", 0, payPerUse)
	g.Expect(unlimited.Status.Package.Quota).To(Equal("99999999999999"))
	perUser := buyPackage(t, product, "buyer-unlimited", "pkg-per-user", "20991231235959", 1, payPerUse)
	g.Expect(perUser.Status.Package.Quota).To(Equal("99999999999999.9999"))
}
