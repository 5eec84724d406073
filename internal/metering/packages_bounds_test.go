package metering

import (
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestEveryPackageQuotaTheSchemaAcceptsCanBeRead: a plan's package terms
// the API server accepts must make a package quota (PackageQuota), or a
// package the buyer paid for stalls (NoPackageTerms) and funds nothing.
// The largest value of each length the generated CRD's pattern accepts is
// tried, with a linearValue of 1 for quotaPerLinearValue.
func TestEveryPackageQuotaTheSchemaAcceptsCanBeRead(t *testing.T) {
	for _, field := range []string{"quota", "quotaPerLinearValue"} {
		t.Run(field, func(t *testing.T) {
			g := NewWithT(t)
			pattern, ok := testenv.CRDSchema(t, "saasproducts", "spec", "plans", "[]", "package", field)["pattern"].(string)
			g.Expect(ok).To(BeTrue(), "the CRD has a pattern for %s", field)
			accepts := regexp.MustCompile(pattern)
			tried := 0
			for digits := 1; digits <= 20; digits++ {
				for _, value := range []string{strings.Repeat("9", digits), strings.Repeat("9", digits) + ".9999"} {
					if !accepts.MatchString(value) {
						continue
					}
					tried++
					terms := &saasv1alpha1.PackageTerms{Quota: value}
					if field == "quotaPerLinearValue" {
						terms = &saasv1alpha1.PackageTerms{QuotaPerLinearValue: value}
					}
					_, err := PackageQuota(terms, 1)
					g.Expect(err).NotTo(HaveOccurred(), "the CRD accepts %s %q", field, value)
				}
			}
			g.Expect(tried).To(BeNumerically(">", 0), "the pattern accepts no value tried")
		})
	}
}
