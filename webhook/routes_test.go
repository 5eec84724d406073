package webhook

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// noRedirects is a client that reports a redirect instead of following it,
// as the marketplace's client does for POST.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// routeKind says which pipeline a path must reach.
type routeKind int

const (
	basicRoute routeKind = iota
	kitRoute
	unknownRoute
)

// TestEveryPathIsAnsweredWithJSON sends each shape of path, with POST, GET,
// HEAD and PUT, through the real HTTP server: every answer is HTTP 200 with
// a JSON result code, never a redirect, a 404 or a 405. A signed POST to a
// callback path, however written, reaches its handler; other methods and
// paths that name no callback answer 000002.
func TestEveryPathIsAnsweredWithJSON(t *testing.T) {
	f := newKitFixture(t)
	p := f.product.Name
	cases := []struct {
		name, path    string
		kind          routeKind
		postCode, msg string
	}{
		{"production URL", "/koogallery/" + p, basicRoute, "000003", `"i-never-issued" does not exist`},
		{"trailing slash", "/koogallery/" + p + "/", basicRoute, "000003", `"i-never-issued" does not exist`},
		{"repeated slashes", "//koogallery//" + p + "//", basicRoute, "000003", `"i-never-issued" does not exist`},
		{"dot segments", "/koogallery/x/../" + p + "/.", basicRoute, "000003", `"i-never-issued" does not exist`},
		{"escaped slash is not a separator", "/koogallery/" + p + "%2F..%2F" + p, basicRoute, "000002", `unknown product "` + p + `/../` + p + `"`},
		{"kit path", "/koogallery/" + p + "/produceAPI/v2/tenantSync", kitRoute, "000000", "success"},
		{"kit path with a double slash", "/koogallery/" + p + "//produceAPI/v2/tenantSync", kitRoute, "000000", "success"},
		{"kit path with a trailing slash", "/koogallery/" + p + "/produceAPI/v2/tenantSync/", kitRoute, "000000", "success"},
		{"kit sub-path without an interface", "/koogallery/" + p + "/produceAPI/v2/", unknownRoute, "000002", "the production URL is /koogallery/" + p + ","},
		{"a path below the production URL", "/koogallery/" + p + "/orders", unknownRoute, "000002", "the production URL is /koogallery/" + p + ","},
		{"the prefix alone", "/koogallery/", unknownRoute, "000002", "the production URL is /koogallery/<SaaSProduct name>"},
		{"the prefix without its slash", "/koogallery", unknownRoute, "000002", "kit calls go to it plus /produceAPI/v2/<interface>"},
		{"outside the prefix", "/saasproduce", unknownRoute, "000002", "/saasproduce is not a callback URL"},
		{"dot segments out of the prefix", "/koogallery/../" + p, unknownRoute, "000002", "/" + p + " is not a callback URL"},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodHead, http.MethodPut} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				g := NewWithT(t)
				resp := sendTo(t, f, method, tc.path, tc.kind)
				g.Expect(resp.status).To(Equal(http.StatusOK), "Location %q", resp.header.Get("Location"))
				g.Expect(resp.header.Get("Content-Type")).To(HavePrefix("application/json"))
				if method == http.MethodHead {
					g.Expect(resp.raw).To(BeEmpty())
					return
				}
				a := resp.answer(t)
				switch {
				case method == http.MethodPost || tc.kind == unknownRoute:
					g.Expect(a.Code).To(Equal(tc.postCode), a.Msg)
					g.Expect(a.Msg).To(ContainSubstring(tc.msg))
				default:
					g.Expect(a.Code).To(Equal("000002"), a.Msg)
					g.Expect(a.Msg).To(ContainSubstring("are POST"))
				}
			})
		}
	}
}

// rawAnswer is an answer before it is decoded.
type rawAnswer struct {
	status int
	header http.Header
	raw    []byte
}

func (r rawAnswer) answer(t *testing.T) answer {
	t.Helper()
	return decodeAnswer(t, &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.raw))})
}

// sendTo sends method to path on the receiver, signed for the route kind:
// a queryInstance of an unknown instance, or a kit tenantSync.
func sendTo(t *testing.T, f *fixture, method, path string, kind routeKind) rawAnswer {
	t.Helper()
	body := `{"activity":"queryInstance","instanceId":"i-never-issued"}`
	header := http.Header{}
	target := receiverURL + path
	if kind == kitRoute {
		instanceID, tenantID := kitIDs()
		body = tenantSyncBody(instanceID, tenantID, 1)
		header = kitHeaders(t, testKitKey, body)
	} else {
		target += "?" + signedQuery(t, f.key, body).Encode()
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// TestTheRevocationListKeepsItsOwnContract: GET and HEAD answer the signed
// list as text, a JWS by default, however the path is written; other
// methods are 405 with Allow, never a callback answer.
func TestTheRevocationListKeepsItsOwnContract(t *testing.T) {
	f, keys := newLicenceFixtureWithSigningKey(t)
	for _, path := range []string{"/koogallery/" + f.product.Name + "/licenses/revoked", "/koogallery/" + f.product.Name + "//licenses/revoked/"} {
		cases := []struct {
			method     string
			wantStatus int
		}{
			{http.MethodGet, http.StatusOK}, {http.MethodHead, http.StatusOK},
			{http.MethodPost, http.StatusMethodNotAllowed}, {http.MethodPut, http.StatusMethodNotAllowed},
		}
		for _, tc := range cases {
			t.Run(tc.method+" "+path, func(t *testing.T) {
				g := NewWithT(t)
				req, err := http.NewRequest(tc.method, receiverURL+path, nil)
				g.Expect(err).NotTo(HaveOccurred())
				resp, err := noRedirects.Do(req)
				g.Expect(err).NotTo(HaveOccurred())
				defer func() { _ = resp.Body.Close() }()
				raw, _ := io.ReadAll(resp.Body)
				g.Expect(resp.StatusCode).To(Equal(tc.wantStatus), string(raw))
				g.Expect(resp.Header.Get("Content-Type")).To(HavePrefix("text/plain"))
				switch {
				case tc.wantStatus == http.StatusMethodNotAllowed:
					g.Expect(resp.Header.Get("Allow")).To(Equal("GET, HEAD"))
				case tc.method == http.MethodGet:
					list, err := licensekey.ParseRevocationList(string(raw), keys)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(list.Format).To(Equal(licensekey.FormatJWS))
				}
			})
		}
	}
}

// Issue 35: a product whose license.keyFormat is Legacy serves the legacy
// list (krl1), as software that verifies only that format expects.
func TestTheRevocationListFollowsTheKeyFormat(t *testing.T) {
	g := NewWithT(t)
	f, keys := newLicenceFixtureWithSigningKey(t)
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), product)).To(Succeed())
	product.Spec.License = &saasv1alpha1.LicensePolicy{KeyFormat: saasv1alpha1.LicenseKeyFormatLegacy}
	g.Expect(k8sClient.Update(ctxFor(t), product)).To(Succeed())
	g.Eventually(func(g Gomega) {
		resp, err := noRedirects.Get(receiverURL + "/koogallery/" + f.product.Name + "/licenses/revoked")
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		g.Expect(string(raw)).To(HavePrefix(licensekey.RevocationPrefix + "."))
		list, err := licensekey.ParseRevocationList(string(raw), keys)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(list.Format).To(Equal(licensekey.FormatLegacy))
	}).Should(Succeed())
}

// Software in the field can pin the list's format with ?format=, so a
// change of the product's setting (or of kooper's default on upgrade)
// never hands it a format it cannot read; an unknown format is a 400.
func TestTheRevocationListServesTheFormatAskedFor(t *testing.T) {
	g := NewWithT(t)
	f, keys := newLicenceFixtureWithSigningKey(t)
	get := func(query string) (int, string) {
		resp, err := noRedirects.Get(receiverURL + "/koogallery/" + f.product.Name + "/licenses/revoked" + query)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	for query, want := range map[string]licensekey.Format{"": licensekey.FormatJWS, "?format=JWS": licensekey.FormatJWS, "?format=Legacy": licensekey.FormatLegacy} {
		g.Eventually(func(g Gomega) {
			status, body := get(query)
			g.Expect(status).To(Equal(http.StatusOK), body)
			list, err := licensekey.ParseRevocationList(body, keys)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(list.Format).To(Equal(want), "query %q", query)
		}).Should(Succeed())
	}
	status, body := get("?format=PASETO")
	g.Expect(status).To(Equal(http.StatusBadRequest))
	g.Expect(body).To(ContainSubstring("format must be JWS or Legacy"))
}

// newLicenceFixtureWithSigningKey is a License product whose keys Secret
// holds a licence signing key, as the receiver's cache sees it, and the
// public key that verifies what it signs.
func newLicenceFixtureWithSigningKey(t *testing.T) (*fixture, licensekey.KeySet) {
	t.Helper()
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	pemKey, err := licensekey.MarshalPrivateKeyPEM(priv)
	g.Expect(err).NotTo(HaveOccurred())
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}
	g.Expect(k8sClient.Get(ctxFor(t), key, secret)).To(Succeed())
	secret.Data[saasv1alpha1.LicenseSigningKeySecretKey] = pemKey
	g.Expect(k8sClient.Update(ctxFor(t), secret)).To(Succeed())
	g.Eventually(func() []byte {
		cached := &corev1.Secret{}
		_ = receiver.client.Get(ctxFor(t), key, cached)
		return cached.Data[saasv1alpha1.LicenseSigningKeySecretKey]
	}).ShouldNot(BeEmpty())
	pub, _ := priv.Public().(ed25519.PublicKey)
	return f, licensekey.NewKeySet(pub)
}

// TestTheRevocationListNamesAFrozenLicenceWithoutItsProductLabel: the list
// was read by the product label, which kooper sets and a person or script
// may remove: a frozen licence without it was left out of the list, so its
// key stayed valid in the merchant's software. Its spec names the product.
func TestTheRevocationListNamesAFrozenLicenceWithoutItsProductLabel(t *testing.T) {
	g := NewWithT(t)
	f, keys := newLicenceFixtureWithSigningKey(t)
	id := "i-unlabelled-" + f.product.Name
	l := &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: f.product.Name, OrderID: "CS1UNLABELLED", OrderLineID: "CS1UNLABELLED-000001",
			State: saasv1alpha1.StateFrozen}}
	g.Expect(k8sClient.Create(ctxFor(t), l)).To(Succeed())
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(l), &saasv1alpha1.License{})
	}).Should(Succeed())

	resp, err := noRedirects.Get(receiverURL + "/koogallery/" + f.product.Name + "/licenses/revoked")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	list, err := licensekey.ParseRevocationList(string(raw), keys)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Revoked).To(ContainElement(licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonFrozen}))
}

// TestARevocationListOfANameNoProductCanHaveIsKeptNowhere: each made-up
// product name was a memo entry of its own for the TTL (a refusal is kept,
// so a flood of polls costs a read a second), up to 10,000 of them, each
// keyed by a name as long as a request allows: an unauthenticated client
// could pin 160 MiB in the receiver. A name no product can have (over 63
// characters, or not a DNS subdomain) is answered 404 without a read, and
// kept nowhere.
func TestARevocationListOfANameNoProductCanHaveIsKeptNowhere(t *testing.T) {
	g := NewWithT(t)
	entries := func() int {
		receiver.revocationLists.mu.Lock()
		defer receiver.revocationLists.mu.Unlock()
		return len(receiver.revocationLists.entries)
	}
	before := entries()
	for _, name := range []string{strings.Repeat("a", 64), strings.Repeat("b", 8000), "Not_A_Name"} {
		resp, err := noRedirects.Get(receiverURL + "/koogallery/" + name + "/licenses/revoked")
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound), name[:min(len(name), 16)])
	}
	g.Expect(entries()).To(BeNumerically("<=", before), "nothing is kept for a name no product can have")
}
