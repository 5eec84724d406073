package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// TestOAuthEndpointsNeedHTTPS: the token request carries the client secret
// and the code, and its answer the tokens, so the endpoints are derived
// only from an https origin (or http to a loopback address, the
// marketplace simulator's), and from nothing but an origin: a path, query
// or fragment would move the endpoints or turn their paths into a query.
func TestOAuthEndpointsNeedHTTPS(t *testing.T) {
	g := NewWithT(t)
	for _, bad := range []string{"http://idp.example", "https://h/x?", "https://h/x", "https://h?a=1", "https://h#", "https://h#x",
		"https://user@idp.example", "ftp://idp.example", "http://localhost:9099", "http://10.0.0.1", "https://", "idp.example/x?"} {
		endpoints, err := oauthEndpoints(bad)
		g.Expect(endpoints).To(BeEmpty(), "%q", bad)
		g.Expect(err).To(MatchError(ContainSubstring("cannot be the base of the OAuth endpoints")), "%q", bad)
	}
	for domain, origin := range map[string]string{
		"https://idp.example":   "https://idp.example",
		"https://idp.example/":  "https://idp.example",
		"https://idp.example//": "https://idp.example",
		"idp.example":           "https://idp.example",
		"idp.example:8443":      "https://idp.example:8443",
		"http://127.0.0.1:9099": "http://127.0.0.1:9099",
		"http://[::1]:9099/":    "http://[::1]:9099",
	} {
		endpoints, err := oauthEndpoints(domain)
		g.Expect(err).NotTo(HaveOccurred(), "%q", domain)
		g.Expect(endpoints).To(Equal(map[string]string{
			"authorizeUrl": origin + "/api/v1/oauth2/authorize", "tokenUrl": origin + "/api/v1/oauth2/token",
			"userinfoUrl": origin + "/api/v1/oauth2/userinfo", "logoutUrl": origin + "/api/v1/logout",
		}), "%q", domain)
	}
	endpoints, err := oauthEndpoints("")
	g.Expect(endpoints).To(BeEmpty())
	g.Expect(err).NotTo(HaveOccurred(), "no domain is not a refused one")
}

// TestACleartextDomainDeliversKooperSSOWithoutEndpoints: a tenantSync that
// moves the enterprise to a cleartext domain takes the endpoints out of
// kooper-sso (the gateway then signs nobody in) and says why in
// Delivered; an https domain puts them back.
func TestACleartextDomainDeliversKooperSSOWithoutEndpoints(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-cleartext"
	syncEnterprise(t, product.Name, tenant.Name, tenantID, "client-1", kitUsers(0, 2))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))
	g.Expect(getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName).Data).To(HaveKey("tokenUrl"))

	moved := `"orderId":"","tenantCode":"` + tenantID + `","name":"Enterprise","domainName":"http://idp.example","flag":2`
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(tenant.Name, tenantID, moved))).To(Equal("000000"))
	d := eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.DomainNameUnusableReason))
	c := apimeta.FindStatusCondition(d.Status.Conditions, saasv1alpha1.DeliveredCondition)
	g.Expect(c.Message).To(And(ContainSubstring(`"http://idp.example"`), ContainSubstring("not https")))
	sso := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName)
	g.Expect(sso.Data).To(HaveKeyWithValue("clientId", []byte("client-1")))
	for _, endpoint := range []string{"authorizeUrl", "tokenUrl", "userinfoUrl", "logoutUrl"} {
		g.Expect(sso.Data).NotTo(HaveKey(endpoint))
	}

	back := `"orderId":"","tenantCode":"` + tenantID + `","name":"Enterprise","domainName":"https://idp.example","flag":2`
	g.Expect(kitCall(t, product.Name, koogallery.KitTenantSync, kitBody(tenant.Name, tenantID, back))).To(Equal("000000"))
	eventuallyDirectory(t, tenant.Name, tenantID, delivered(saasv1alpha1.SucceededReason))
	g.Expect(getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.SSOSecretName).Data).To(
		HaveKeyWithValue("tokenUrl", []byte("https://idp.example/api/v1/oauth2/token")))
}
