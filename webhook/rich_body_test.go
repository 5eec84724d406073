package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// richNewInstanceBody is a newInstance of the older rich shape (spec §2.1.3,
// §8 item 29): the order's IDs only inside orderInfo[], no businessId, and
// nested objects with unsorted keys and non-ASCII text.
func richNewInstanceBody(orderID string) string {
	return fmt.Sprintf(`{"activity":"newInstance","buyerInfo":{"userName":"张三","customerId":"c-1"},`+
		`"orderInfo":[{"orderId":%q,"orderLineId":"%s-000001","trialFlag":"0","chargingMode":"PERIOD","periodType":"month","provisionType":"1",`+
		`"productInfo":{"skuCode":"basic","productName":"基础版","productId":"OFFI1","linearValue":"5"},"extendParams":[{"name":"emailDomainName","value":"acme"}]}],`+
		`"testFlag":"0"}`, orderID, orderID)
}

// productTenants lists the product's SaaSTenants.
func productTenants(t *testing.T, f *fixture) []saasv1alpha1.SaaSTenant {
	t.Helper()
	list := &saasv1alpha1.SaaSTenantList{}
	NewWithT(t).Expect(k8sClient.List(ctxFor(t), list, client.MatchingLabels{saasv1alpha1.ProductLabel: f.product.Name})).To(Succeed())
	return list.Items
}

// TestRichNewInstanceCreatesTheTenantAMinimalBodyWould: the rich body is
// answered as the minimal one for the same order line: the same instance,
// one tenant, and a repeat in either shape creates nothing new.
func TestRichNewInstanceCreatesTheTenantAMinimalBodyWould(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	a := f.call(t, richNewInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(instanceID(orderID, orderID+"-000001")), "the instance a minimal body names")

	tenant := getTenant(t, a.InstanceID)
	g.Expect(tenant.Spec.InstanceID).To(Equal(a.InstanceID))
	g.Expect(tenant.Spec.ProductName).To(Equal(f.product.Name))
	g.Expect(tenant.Spec.OrderID).To(Equal(orderID))
	g.Expect(tenant.Spec.OrderLineID).To(Equal(orderID + "-000001"))
	g.Expect(tenant.Spec.BusinessID).To(BeEmpty(), "the rich body carries none")
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.ModeProduction))
	g.Expect(tenant.Spec.Orders).To(HaveLen(1))
	g.Expect(tenant.Spec.Orders[0].Activity).To(Equal(saasv1alpha1.ActivityNewInstance))
	g.Expect(tenant.Spec.Orders[0].OrderID).To(Equal(orderID))

	for _, repeat := range []string{richNewInstanceBody(orderID), newInstanceBody(orderID)} {
		again := f.call(t, repeat)
		g.Expect(again.Code).To(Equal("000000"), again.Msg)
		g.Expect(again.InstanceID).To(Equal(a.InstanceID), repeat)
	}
	g.Expect(productTenants(t, f)).To(HaveLen(1), "a repeat creates nothing new")
	g.Expect(getTenant(t, a.InstanceID).Spec.Orders).To(HaveLen(1))
}

// signedQueryForm signs body over its canonical form form, now.
func signedQueryForm(t *testing.T, key, body string, form koogallery.CanonicalForm) url.Values {
	t.Helper()
	canonical, err := koogallery.CanonicalPayloadForm([]byte(body), form)
	if err != nil {
		t.Fatalf("test body does not canonicalise: %v", err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomNonce()
	return url.Values{"signature": {koogallery.SignBasic(key, nonce, ts, canonical)}, "timestamp": {ts}, "nonce": {nonce}}
}

// TestRichNewInstanceSignedInEveryCanonicalForm: the marketplace's
// serializer may sort nested keys or escape non-ASCII (spec §8 item 3); the
// receiver accepts each form by default, and refuses one left out of
// Options.CanonicalForms with 000001.
func TestRichNewInstanceSignedInEveryCanonicalForm(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	opts := receiver.opts
	opts.CanonicalForms = []koogallery.CanonicalForm{koogallery.FormAsReceived}
	strict, err := NewReceiver(receiver.client, receiver.reader, opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(strict.Handler())
	t.Cleanup(server.Close)
	for _, form := range koogallery.DefaultCanonicalForms {
		t.Run(string(form), func(t *testing.T) {
			g := NewWithT(t)
			orderID := newOrderID()
			body := richNewInstanceBody(orderID)
			if form != koogallery.FormAsReceived {
				resp, err := http.Post(server.URL+CallbackPathPrefix+f.product.Name+"?"+signedQueryForm(t, f.key, body, form).Encode(), "application/json", strings.NewReader(body))
				g.Expect(err).NotTo(HaveOccurred())
				refused := decodeAnswer(t, resp)
				g.Expect(refused.Code).To(Equal("000001"), "left out of the forms")
			}
			a := post(t, f.product.Name, signedQueryForm(t, f.key, body, form), body)
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			g.Expect(a.InstanceID).To(Equal(instanceID(orderID, orderID+"-000001")))
		})
	}
	NewWithT(t).Expect(productTenants(t, f)).To(HaveLen(len(koogallery.DefaultCanonicalForms)))
}
