package webhook

import (
	"testing"

	. "github.com/onsi/gomega"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// productSeries counts the series of the metric named family whose product
// label is product, in the registry the metrics endpoint serves.
func productSeries(t *testing.T, family, product string) int {
	t.Helper()
	families, err := metrics.Registry.Gather()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "product" && l.GetValue() == product {
					n++
				}
			}
		}
	}
	return n
}

// refusedCallback sends product a callback signed with a key it does not
// hold: answered 000001 and counted under the product, whose series it
// creates, without changing anything.
func refusedCallback(t *testing.T, product string) {
	t.Helper()
	b := newInstanceBody(newOrderID())
	a := post(t, product, signedQuery(t, "a-key-the-product-does-not-hold", b), b)
	NewWithT(t).Expect(a.Code).To(Equal(string(koogallery.ResultAuthFailed)), a.Msg)
}

// TestADeletedProductsCallbackSeriesAreDeleted: a product's series (its
// alert series at 0, its counts, its instances left out) stayed after its
// SaaSProduct was deleted, about 20 per receiver until it restarted, and
// dashboards went on showing the product. They go with it; a product
// created again under the name gets its series at 0 again with its first
// callback, so the alerts' increase() counts its first failures.
func TestADeletedProductsCallbackSeriesAreDeleted(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	name := f.product.Name
	refusedCallback(t, name)
	// What a queryInstance about several counts when it leaves one out.
	instancesLeftOut.WithLabelValues(name).Inc()
	g.Eventually(func() int { return productSeries(t, "kooper_callbacks_total", name) }).Should(BeNumerically(">", 1))
	series := productSeries(t, "kooper_callbacks_total", name)
	g.Expect(productSeries(t, "kooper_query_instances_left_out_total", name)).To(Equal(1))

	g.Expect(k8sClient.Delete(ctxFor(t), f.product)).To(Succeed())
	g.Eventually(func() int { return productSeries(t, "kooper_callbacks_total", name) }).Should(BeZero(), "the deleted product's counts")
	g.Expect(productSeries(t, "kooper_query_instances_left_out_total", name)).To(BeZero())

	again := f.product.DeepCopy()
	again.ResourceVersion, again.UID = "", ""
	g.Expect(k8sClient.Create(ctxFor(t), again)).To(Succeed())
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(again), &saasv1alpha1.SaaSProduct{})
	}).Should(Succeed())
	refusedCallback(t, name)
	g.Eventually(func() int { return productSeries(t, "kooper_callbacks_total", name) }).Should(Equal(series))
	g.Expect(callbacksCounted(t, name, string(koogallery.ActivityNewInstance), string(koogallery.ResultInternalError))).
		To(BeZero(), "the alert series of the product created again")
}

// TestAProductDeletedWhileTheWatchWasDownHasItsSeriesDeleted: a delete the
// informer learns of only by relisting comes as a tombstone, not the
// product; its series go all the same.
func TestAProductDeletedWhileTheWatchWasDownHasItsSeriesDeleted(t *testing.T) {
	g := NewWithT(t)
	const name = "product-deleted-unseen"
	seriesOfProduct(name)
	instancesLeftOut.WithLabelValues(name).Inc()
	g.Expect(productSeries(t, "kooper_callbacks_total", name)).NotTo(BeZero())

	forgetDeletedProduct(toolscache.DeletedFinalStateUnknown{Key: name})
	g.Expect(productSeries(t, "kooper_callbacks_total", name)).To(BeZero())
	g.Expect(productSeries(t, "kooper_query_instances_left_out_total", name)).To(BeZero())
	seriesOfProduct(name)
	g.Expect(productSeries(t, "kooper_callbacks_total", name)).NotTo(BeZero(), "forgotten: created again with its next callback")
}
