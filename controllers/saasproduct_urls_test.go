package controllers

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// urlProduct is a SaaS product with an Ingress and the given URL templates.
func urlProduct(frontEnd, admin string, ingress bool) *saasv1alpha1.SaaSProduct {
	p := &saasv1alpha1.SaaSProduct{}
	p.Name = "crm"
	p.Spec.Type = saasv1alpha1.ProductTypeSaaS
	p.Spec.NamespacePrefix = "tenant"
	p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: frontEnd, AdminURL: admin}
	p.Spec.Workload = &saasv1alpha1.WorkloadTemplate{}
	if ingress {
		p.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{}
	}
	return p
}

func TestURLTemplateChecks(t *testing.T) {
	// An issued instance ID has 22 characters: i- and 20 hex digits.
	const issuedIDLength = 22
	// pathTo512 pads a URL whose rendered part before the path has n
	// characters to exactly 512 characters.
	pathTo512 := func(n int) string { return strings.Repeat("p", maxURLLength-n) }
	prefix := "https://{{.InstanceID}}.example.com/" // renders to 8+22+13 = 43 characters
	type urlCase struct {
		name            string
		frontEnd, admin string
		ingress         bool
		wantReason      string
		wantMessage     string
	}
	cases := []urlCase{
		{name: "host names the instance", frontEnd: "https://{{.InstanceID}}.crm.example.com", ingress: true},
		{name: "host names the namespace", frontEnd: "https://{{.Namespace}}.crm.example.com", ingress: true},
		{name: "host uses part of the instance's hash", frontEnd: "https://{{slice .InstanceID 2 10}}.crm.example.com", ingress: true},
		{name: "spaces inside the action", frontEnd: "https://{{ .InstanceID }}.crm.example.com", ingress: true},
		{name: "one host, no Ingress: the merchant routes", frontEnd: "https://crm.example.com/{{.InstanceID}}"},
		{name: "one host without any placeholder, no Ingress", frontEnd: "https://crm.example.com/"},
		{
			name: "instance only in the path, with an Ingress", frontEnd: "https://crm.example.com/t/{{.InstanceID}}", ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: `frontEndUrl gives every tenant the Ingress host "crm.example.com"`,
		},
		{
			name: "no placeholder at all, with an Ingress", frontEnd: "https://crm.example.com", ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: "put {{.InstanceID}} or {{.Namespace}} in its host",
		},
		{
			name: "only the product in the host", frontEnd: "https://{{.Product}}.example.com", ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: `Ingress host "crm.example.com"`,
		},
		{
			name: "only the i- prefix every instance shares", frontEnd: "https://{{slice .InstanceID 0 2}}crm.example.com", ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: `Ingress host "i-crm.example.com"`,
		},
		{
			name: "the instance inside a branch never taken", frontEnd: `https://{{if eq .Product "other"}}{{.InstanceID}}.{{end}}crm.example.com`, ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: `Ingress host "crm.example.com"`,
		},
		{name: "frontEndUrl of exactly 512 characters", frontEnd: prefix + pathTo512(43), ingress: true},
		{
			name: "frontEndUrl of 513 characters", frontEnd: prefix + pathTo512(43) + "p", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "frontEndUrl renders to 513 characters for instance i-00000000000000000000; appInfo holds at most 512",
		},
		{name: "adminUrl of exactly 512 characters", frontEnd: "https://{{.InstanceID}}.example.com", admin: prefix + pathTo512(43), ingress: true},
		{
			name: "adminUrl of 513 characters", frontEnd: "https://{{.InstanceID}}.example.com", admin: prefix + pathTo512(42), ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "adminUrl renders to 513 characters",
		},
		{
			name: "host label of exactly 63 characters", ingress: true,
			frontEnd: "https://{{.InstanceID}}" + strings.Repeat("x", 63-issuedIDLength) + ".example.com",
		},
		{
			name: "host label of 64 characters", ingress: true,
			frontEnd:   "https://{{.InstanceID}}" + strings.Repeat("x", 64-issuedIDLength) + ".example.com",
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "has 64 characters, more than 63",
		},
		{
			name:     "host label of 64 characters, no Ingress: shown to the buyer only",
			frontEnd: "https://{{.InstanceID}}" + strings.Repeat("x", 64-issuedIDLength) + ".example.com",
		},
		{
			name: "the namespace and more in one label", frontEnd: "https://{{.Namespace}}-" + strings.Repeat("x", 40) + ".example.com", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "which is not a DNS name",
		},
		{
			name: "upper case host", frontEnd: "https://{{.InstanceID}}.CRM.example.com", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "which is not a DNS name",
		},
		{
			name: "template that does not parse", frontEnd: "https://{{.InstanceID}.example.com", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "frontEndUrl template:",
		},
		{
			name: "unknown field", frontEnd: "https://{{.Tenant}}.example.com", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "frontEndUrl template:",
		},
		{
			name: "no host", frontEnd: "https:///{{.InstanceID}}", ingress: true,
			wantReason: saasv1alpha1.URLTemplateInvalidReason, wantMessage: "has no host",
		},
	}
	// With the SSO gateway (issue 32's trial: a path was accepted, and
	// every sign-in would have missed the callback).
	gateway := []struct {
		name, frontEnd string
		wantMessage    string
	}{
		{name: "gateway at the root of the tenant's host", frontEnd: "https://{{.InstanceID}}.crm.example.com"},
		{name: "gateway at the root, final slash", frontEnd: "https://{{.InstanceID}}.crm.example.com/"},
		{name: "gateway behind a path", frontEnd: "https://{{.InstanceID}}.crm.example.com/app",
			wantMessage: `with sso.gateway, frontEndUrl must be https at the root of its host (the gateway's sign-in callback is /oauth2/callback there, and its cookies are Secure); it renders "https://i-00000000000000000000.crm.example.com/app" for instance i-00000000000000000000`},
		{name: "gateway over plain http", frontEnd: "http://{{.InstanceID}}.crm.example.com", wantMessage: "must be https at the root of its host"},
	}
	for _, tc := range gateway {
		cases = append(cases, urlCase{name: tc.name, frontEnd: tc.frontEnd, ingress: true, wantMessage: tc.wantMessage,
			wantReason: map[bool]string{true: saasv1alpha1.URLTemplateInvalidReason}[tc.wantMessage != ""]})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := urlProduct(tc.frontEnd, tc.admin, tc.ingress)
			if strings.HasPrefix(tc.name, "gateway ") {
				product.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
			}
			cond := urlsCondition(product)
			p := checkURLTemplates(product)
			if tc.wantReason == "" {
				g.Expect(p).To(BeNil())
				g.Expect(string(cond.Status)).To(Equal("True"))
				return
			}
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.reason).To(Equal(tc.wantReason))
			g.Expect(p.message).To(ContainSubstring(tc.wantMessage))
			g.Expect(string(cond.Status)).To(Equal("False"))
			g.Expect(cond.Reason).To(Equal(tc.wantReason))
		})
	}
}

func TestURLTemplatesOfALicenceProduct(t *testing.T) {
	g := NewWithT(t)
	p := &saasv1alpha1.SaaSProduct{}
	p.Name = "cad"
	p.Spec.Type = saasv1alpha1.ProductTypeLicense
	g.Expect(urlsCondition(p).Message).To(Equal("No URL templates"))
	// One page for every licence is fine: a licence has no Ingress.
	p.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://licences.example.com/"}
	g.Expect(checkURLTemplates(p)).To(BeNil())
	p.Spec.URLs.FrontEndURL = "https://licences.example.com/{{.InstanceID}}/" + strings.Repeat("p", 512)
	g.Expect(checkURLTemplates(p)).To(MatchError(ContainSubstring("appInfo holds at most 512")))
}

// TestURLChecksAreRenderedOncePerGeneration: the tenant controller renders
// a product's templates once per generation, not once per tenant.
func TestURLChecksAreRenderedOncePerGeneration(t *testing.T) {
	g := NewWithT(t)
	var cache urlCheckCache
	p := urlProduct("https://crm.example.com", "", true)
	p.UID, p.Generation = "uid-1", 1
	g.Expect(cache.check(p)).To(MatchError(ContainSubstring("every tenant the Ingress host")))
	p.Spec.URLs.FrontEndURL = "https://{{.InstanceID}}.crm.example.com"
	g.Expect(cache.check(p)).NotTo(BeNil(), "the same generation is not rendered again")
	p.Generation = 2
	g.Expect(cache.check(p)).To(BeNil())
}
