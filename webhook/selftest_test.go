package webhook

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/selftest"
)

// The chart's `helm test` (kooper self-test) asks the receiver for an
// instance that cannot exist, as the Seller Console's debugger does first:
// the receiver answers 000003 with the product's key, and 000001 with
// another.
func TestTheSelfTestIsAnsweredInstanceNotFound(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	productionURL := receiverURL + CallbackPathPrefix + f.product.Name
	g.Eventually(func(g Gomega) {
		res, err := selftest.QueryUnknownInstance(ctxFor(t), http.DefaultClient, productionURL, testKey, time.Now())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Code).To(Equal("000003"), res.Message)
	}).Should(Succeed())
	res, err := selftest.QueryUnknownInstance(ctxFor(t), http.DefaultClient, productionURL, "not-the-key", time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Code).To(Equal("000001"))
	g.Expect(res.OK()).To(BeFalse())
}
