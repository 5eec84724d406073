package controllers

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
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
		{name: "host uses every digit of the instance's hash", frontEnd: "https://{{slice .InstanceID 2}}.crm.example.com", ingress: true},
		{
			name: "host uses part of the instance's hash", frontEnd: "https://{{slice .InstanceID 2 10}}.crm.example.com", ingress: true,
			wantReason: saasv1alpha1.IngressHostNotUniqueReason, wantMessage: "differ only in hex digit 9",
		},
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
	g.Expect(cache.check(p, "")).To(MatchError(ContainSubstring("every tenant the Ingress host")))
	p.Spec.URLs.FrontEndURL = "https://{{.InstanceID}}.crm.example.com"
	g.Expect(cache.check(p, "")).NotTo(BeNil(), "the same generation is not rendered again")
	p.Generation = 2
	g.Expect(cache.check(p, "")).To(BeNil())
}

// TestAURLTemplateUsingAPrefixOfTheInstanceIDIsRefused: a host made from
// part of the instance ID is the same for every tenant whose IDs agree on
// that part (with 10,000 tenants and six hex digits, about three pairs of
// buyers would share a host, each reaching the other's tenant). Before, the
// check compared two sample tenants that differ in every digit, and
// accepted such a host. Now the host must change with each of the 20 hex
// digits, and a refusal names the digits it ignores.
func TestAURLTemplateUsingAPrefixOfTheInstanceIDIsRefused(t *testing.T) {
	cases := []struct {
		name, frontEnd string
		ingress        bool
		// wantMessage is a part of the refusal; "" when accepted.
		wantMessage []string
	}{
		{name: "a prefix of the instance ID", frontEnd: "https://{{slice .InstanceID 2 8}}.crm.example.com", ingress: true,
			wantMessage: []string{"differ only in hex digit 7 of the 20 after i- (i-00000000000000000000 and i-000000f0000000000000)",
				`the same Ingress host "000000.crm.example.com"`, "it ignores digits 7-20", "put the whole {{.InstanceID}} or {{.Namespace}} in its host"}},
		{name: "a suffix of the instance ID", frontEnd: "https://{{slice .InstanceID 12}}.crm.example.com", ingress: true,
			wantMessage: []string{"differ only in hex digit 1 of the 20", "it ignores digits 1-10"}},
		{name: "a prefix of the namespace", frontEnd: "https://{{slice .Namespace 0 15}}.crm.example.com", ingress: true,
			wantMessage: []string{"it ignores digits 7-20"}},
		{name: "every digit but one", frontEnd: "https://{{slice .InstanceID 2 12}}{{slice .InstanceID 13}}.crm.example.com", ingress: true,
			wantMessage: []string{"it ignores digit 11,", "differ only in hex digit 11 of the 20"}},
		{name: "two parts of the instance ID", frontEnd: "https://{{slice .InstanceID 2 5}}-{{slice .InstanceID 8 10}}.crm.example.com", ingress: true,
			wantMessage: []string{"it ignores digits 4-6 and 9-20"}},
		{name: "the whole instance ID", frontEnd: "https://{{.InstanceID}}.crm.example.com", ingress: true},
		{name: "the whole namespace", frontEnd: "https://{{.Namespace}}.crm.example.com", ingress: true},
		{name: "the instance ID's digits, written otherwise", frontEnd: `https://{{printf "t%s" (slice .InstanceID 2)}}.crm.example.com`, ingress: true},
		{name: "a prefix, no Ingress: the merchant routes", frontEnd: "https://{{slice .InstanceID 2 8}}.crm.example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := checkURLTemplates(urlProduct(tc.frontEnd, "", tc.ingress))
			if len(tc.wantMessage) == 0 {
				g.Expect(p).To(BeNil())
				return
			}
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.reason).To(Equal(saasv1alpha1.IngressHostNotUniqueReason))
			for _, want := range tc.wantMessage {
				g.Expect(p.message).To(ContainSubstring(want))
			}
		})
	}
}

// hostIngressTemplate is an Ingress at / of the host HOST, a template
// expression.
const hostIngressTemplate = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-portal
spec:
  rules:
    - host: HOST
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}-web
                port:
                  number: 80
`

// TestAChartIngressHostUsingAPrefixOfTheInstanceIDIsRefused is
// TestAURLTemplateUsingAPrefixOfTheInstanceIDIsRefused for a chart: an
// Ingress host cut from the instance ID (trunc in the chart, or a
// frontEndUrl that does, through kooper's host value) is the same for every
// tenant whose IDs agree on the part kept. Before, the chart's two sample
// tenants differed in every digit and such a chart was accepted.
func TestAChartIngressHostUsingAPrefixOfTheInstanceIDIsRefused(t *testing.T) {
	cases := []struct {
		name, host, frontEnd string
		// wantMessage is a part of the refusal; "" when accepted.
		wantMessage []string
	}{
		{name: "the chart keeps a prefix of the instance ID", host: "{{ .Values.kooper.instanceId | trunc 8 }}.crm.example.com",
			wantMessage: []string{"gives tenants on plan basic whose instance IDs differ only in hex digit 20 of the 20 after i- " +
				"(i-00000000000000000000 and i-0000000000000000000f) the same Ingress route " +
				`host "i-000000.crm.example.com" path "/" (Ingress i-00000000000000000000-portal)`, "no tenant is provisioned until then"}},
		{name: "the chart keeps a suffix of the namespace", host: "{{ .Values.kooper.namespace | trunc -8 }}.crm.example.com",
			wantMessage: []string{"differ only in hex digit 1 of the 20"}},
		{name: "frontEndUrl keeps a prefix, the chart routes its host", host: "{{ .Values.kooper.host }}",
			frontEnd:    "https://{{slice .InstanceID 2 8}}.crm.example.com",
			wantMessage: []string{"differ only in hex digit 20 of the 20", `host "000000.crm.example.com"`}},
		{name: "frontEndUrl leaves out a middle digit, the chart routes its host", host: "{{ .Values.kooper.host }}",
			frontEnd:    "https://{{slice .InstanceID 2 12}}{{slice .InstanceID 13}}.crm.example.com",
			wantMessage: []string{"differ only in hex digit 11 of the 20"}},
		{name: "the chart's host has the whole instance ID", host: "{{ .Values.kooper.instanceId }}.portal.example.com"},
		{name: "frontEndUrl has the whole instance ID, the chart routes its host", host: "{{ .Values.kooper.host }}",
			frontEnd: "https://{{.InstanceID}}.portal.example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := &saasv1alpha1.SaaSProduct{}
			product.Name = "crm"
			product.Spec.Type = saasv1alpha1.ProductTypeSaaS
			product.Spec.NamespacePrefix = "tenant"
			if tc.frontEnd != "" {
				product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: tc.frontEnd}
			}
			tgz := crmChartTgz(t, withTemplates(map[string]string{
				"templates/portal.yaml": strings.Replace(hostIngressTemplate, "HOST", tc.host, 1)}))
			e := exampleRenderer{renderer: &chartrender.Renderer{}, archive: chartrender.ArchiveFromBytes(tgz),
				product: product, kubeVersion: exampleKubeVersion}
			shared, err := e.sharedRoute(context.Background(), &saasv1alpha1.Plan{SKUCode: "basic"}, nil)
			g.Expect(err).NotTo(HaveOccurred())
			if len(tc.wantMessage) == 0 {
				g.Expect(shared).To(BeEmpty())
				return
			}
			for _, want := range tc.wantMessage {
				g.Expect(shared).To(ContainSubstring(want))
			}
		})
	}
}
