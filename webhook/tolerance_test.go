package webhook

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/specsign"
)

// The tests of this file sign with their own implementation of spec §2.1.2,
// not with internal/koogallery, which the receiver verifies with: code
// shared by both sides of a test hides the bugs they share.

// marketplaceQuery is the query the marketplace sends for body, signed as
// spec §2.1.2 says (internal/specsign): now, a fresh nonce.
func marketplaceQuery(t *testing.T, key, body string, stringMap bool) url.Values {
	t.Helper()
	payload, err := specsign.Payload(body, stringMap)
	if err != nil {
		t.Fatalf("test body %s: %v", body, err)
	}
	ts, nonce := strconv.FormatInt(time.Now().UnixMilli(), 10), randomNonce()
	return url.Values{"signature": {specsign.Signature(key, nonce, ts, payload)}, "timestamp": {ts}, "nonce": {nonce}}
}

// TestLooselyTypedCallbacksAreAccepted: each loosely typed form the
// marketplace may send, signed as sent or as its Map<String,String> writes
// it, is answered as the documented form is; the same body altered after
// signing is refused with 000001 and changes nothing.
func TestLooselyTypedCallbacksAreAccepted(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	instance, _ := f.buy(t)
	purchase := func(extra string) func() string {
		return func() string { return newInstanceBody(newOrderID(), extra) }
	}
	check := func(productInfo, extra string) func() string {
		return func() string {
			return fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":%s%s}`, instance, productInfo, extra)
		}
	}
	stringInfo := func(sku string) string {
		return strconv.Quote(fmt.Sprintf(`{"productId":"OFFI846204237451911168","skuCode":%q,"linearValue":10}`, sku))
	}
	mode := func(want saasv1alpha1.RequestMode) func(*testing.T, answer) {
		return func(t *testing.T, a answer) {
			NewWithT(t).Expect(getTenant(t, a.InstanceID).Spec.Mode).To(Equal(want))
		}
	}
	cases := []struct {
		name      string
		body      func() string
		stringMap bool
		wantCode  string
		wantMsg   string
		then      func(*testing.T, answer)
		// from and to alter the body after signing.
		from, to string
	}{
		{name: "testFlag 1, signed as sent", body: purchase(`"testFlag":1`), wantCode: "000000", then: mode(saasv1alpha1.ModeDebug), from: `:1}`, to: `:0}`},
		{name: "testFlag 1, signed as a string map", body: purchase(`"testFlag":1`), stringMap: true, wantCode: "000000", then: mode(saasv1alpha1.ModeDebug), from: `:1}`, to: `:0}`},
		{name: "testFlag true, signed as sent", body: purchase(`"testFlag":true`), wantCode: "000000", then: mode(saasv1alpha1.ModeDebug), from: `true`, to: `false`},
		{name: "testFlag true, signed as a string map", body: purchase(`"testFlag":true`), stringMap: true, wantCode: "000000", then: mode(saasv1alpha1.ModeDebug), from: `true`, to: `false`},
		{name: `testFlag "true"`, body: purchase(`"testFlag":"true"`), wantCode: "000000", then: mode(saasv1alpha1.ModeDebug), from: `"true"`, to: `"false"`},
		{name: "testFlag 0, signed as a string map", body: purchase(`"testFlag":0`), stringMap: true, wantCode: "000000", then: mode(saasv1alpha1.ModeProduction), from: `:0}`, to: `:1}`},
		{
			name: "numeric orderLineId, signed as a string map", stringMap: true, wantCode: "000000",
			body: func() string {
				return fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":1001,"businessId":%q}`, newOrderID(), randomNonce())
			},
			then: func(t *testing.T, a answer) {
				NewWithT(t).Expect(getTenant(t, a.InstanceID).Spec.OrderLineID).To(Equal("1001"))
			},
			from: `1001`, to: `1002`,
		},
		{name: "productInfo as a string, signed as sent", body: check(stringInfo("pro"), ""), wantCode: "000000", from: `pro`, to: `ent`},
		{
			name: "productInfo as a string naming no plan", body: check(stringInfo("platinum"), ""),
			wantCode: "000002", wantMsg: `skuCode "platinum" is not a plan`, from: `platinum`, to: `pro`,
		},
		{name: "productInfo as a string with testFlag 1, signed as a string map", body: check(stringInfo("pro"), `,"testFlag":1`), stringMap: true, wantCode: "000000", from: `pro`, to: `ent`},
		{name: "productInfo as an object with testFlag 1, signed as a string map", body: check(`{"skuCode":"pro"}`, `,"testFlag":1`), stringMap: true, wantCode: "000000", from: `"testFlag":1`, to: `"testFlag":0`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			body := tc.body()
			q := marketplaceQuery(t, f.key, body, tc.stringMap)
			g.Expect(body).To(ContainSubstring(tc.from))
			altered := strings.Replace(body, tc.from, tc.to, 1)
			before := len(tenantsOf(t, f.product.Name))

			refused := post(t, f.product.Name, q, altered)
			g.Expect(refused.status).To(Equal(200))
			g.Expect(refused.Code).To(Equal("000001"), "altered after signing: %s", refused.Msg)
			g.Expect(tenantsOf(t, f.product.Name)).To(HaveLen(before), "a refused callback stores nothing")

			// The refusal claimed no nonce: the body as signed, with the
			// same query, is accepted.
			a := post(t, f.product.Name, q, body)
			g.Expect(a.status).To(Equal(200))
			g.Expect(a.Code).To(Equal(tc.wantCode), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tc.wantMsg))
			if tc.then != nil {
				tc.then(t, a)
			}
		})
	}
}

// tenantsOf lists the tenants of product.
func tenantsOf(t *testing.T, product string) []saasv1alpha1.SaaSTenant {
	t.Helper()
	list := &saasv1alpha1.SaaSTenantList{}
	NewWithT(t).Expect(k8sClient.List(ctxFor(t), list, client.MatchingLabels{saasv1alpha1.ProductLabel: product})).To(Succeed())
	return list.Items
}

// TestProductNameAtTheLabelLimit: a product named with 63 characters (the
// limit of a label value, which its name becomes on every tenant) takes
// orders; one of 64 is refused at admission, so its production URL answers
// 000002 "unknown product" rather than 000005 for every order.
func TestProductNameAtTheLabelLimit(t *testing.T) {
	g := NewWithT(t)
	name := func(n int) string {
		prefix := fmt.Sprintf("p%d-", fixtureSeq.Add(1))
		return prefix + strings.Repeat("a", n-len(prefix))
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name(20) + "-keys"},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: testKey},
	}
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	product := func(n int) *saasv1alpha1.SaaSProduct {
		return &saasv1alpha1.SaaSProduct{
			ObjectMeta: metav1.ObjectMeta{Name: name(n)},
			Spec: saasv1alpha1.SaaSProductSpec{
				ProductID: "OFFI846204237451911168", KeysSecretName: secret.Name,
				URLs: &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"},
				Workload: &saasv1alpha1.WorkloadTemplate{
					Image: "registry.example.com/app:1.0", Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
				},
				Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}},
			},
		}
	}

	atLimit := product(63)
	g.Expect(k8sClient.Create(ctxFor(t), atLimit)).To(Succeed())
	f := &fixture{product: atLimit, key: testKey}
	g.Eventually(func(g Gomega) {
		a := f.call(t, newInstanceBody(newOrderID()))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		tenant := getTenant(t, a.InstanceID)
		g.Expect(tenant.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, atLimit.Name))
		g.Expect(tenant.Spec.ProductName).To(Equal(atLimit.Name))
	}).Should(Succeed())

	over := product(64)
	err := k8sClient.Create(ctxFor(t), over)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("metadata.name must be at most 63 characters"))
	a := (&fixture{product: over, key: testKey}).call(t, newInstanceBody(newOrderID()))
	g.Expect(a.status).To(Equal(200))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring(fmt.Sprintf("unknown product %q", over.Name)))
}
