package tenantobjects

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestAConfigTemplateWithARangeIsRefused: Go's text/template ranges over an
// integer, so a configuration file of {{range 1000000000000000000}}{{end}}
// never ends: the 1 MiB cap on what it writes does not stop a range that
// writes nothing, and the worker rendering it was held for good. Now a
// configuration template with a {{range}} does not render, before it runs.
// The ranges here are finite, so that the test ends before the fix too.
func TestAConfigTemplateWithARangeIsRefused(t *testing.T) {
	cases := []struct{ name, text string }{
		{name: "a long range that writes nothing", text: "{{range 30000000}}{{end}}"},
		{name: "a short range", text: "id={{range 2}}{{$.InstanceID}}{{end}}\n"},
		{name: "a range inside a with", text: "{{with .SKUCode}}{{range 3}}plan{{end}}{{end}}"},
		{name: "a range in a template it defines", text: `{{define "x"}}{{range 30000000}}{{end}}{{end}}id={{template "x"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			start := time.Now()
			config, p := RenderConfig(ConfigSource{Templates: map[string]string{"app.conf": tc.text}, Origin: "test source"}, sampleConfigData)
			g.Expect(time.Since(start)).To(BeNumerically("<", 500*time.Millisecond), "refused before it runs")
			g.Expect(config).To(BeNil())
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.Reason).To(Equal(saasv1alpha1.ConfigTemplateInvalidReason))
			g.Expect(p.Message).To(And(ContainSubstring(`configuration file "app.conf" of test source does not render`),
				ContainSubstring("{{range}} is not allowed in a configuration template")))
		})
	}
}

// TestARenderedURLWithARangeIsRefused: the tenant controller renders its
// tenant's URLs itself too (RenderURLs), after the product's check.
func TestARenderedURLWithARangeIsRefused(t *testing.T) {
	g := NewWithT(t)
	product := &saasv1alpha1.SaaSProduct{}
	product.Name = "crm"
	product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{range 30000000}}{{end}}{{.InstanceID}}.crm.example.com"}
	start := time.Now()
	_, err := RenderURLs(product, "i-1", "tenant-i-1")
	g.Expect(time.Since(start)).To(BeNumerically("<", 500*time.Millisecond), "refused before it runs")
	g.Expect(err).To(MatchError(ContainSubstring("frontEndUrl template: {{range}} is not allowed in a URL template")))
}

// TestARenderedURLIsBounded: what a URL template writes is capped, however
// it writes it: a URL longer than the cap is unusable anyway.
func TestARenderedURLIsBounded(t *testing.T) {
	g := NewWithT(t)
	product := &saasv1alpha1.SaaSProduct{}
	product.Name = "crm"
	// 2^11 copies of the instance ID: 6144 bytes, a value within
	// templatebound.MaxValueBytes.
	product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: `https://{{.InstanceID}}.crm.example.com/{{$a := .InstanceID}}` +
		strings.Repeat(`{{$a = print $a $a}}`, 11) + `{{$a}}`}
	_, err := RenderURLs(product, "i-1", "tenant-i-1")
	g.Expect(err).To(MatchError(ContainSubstring("frontEndUrl template: renders to more than 4096 bytes")))
}

// TestAConfigTemplateThatRendersPast1MiBStopsThere: without {{range}}, a
// small template still renders past 1 MiB by calling a template it
// defines; the cap stops it there.
func TestAConfigTemplateThatRendersPast1MiBStopsThere(t *testing.T) {
	g := NewWithT(t)
	text := `{{define "x"}}` + strings.Repeat("x", 600<<10) + `{{end}}{{template "x"}}{{template "x"}}`
	config, p := RenderConfig(ConfigSource{Templates: map[string]string{"big.conf": text}, Origin: "test source"}, sampleConfigData)
	g.Expect(config).To(BeNil())
	g.Expect(p).NotTo(BeNil())
	g.Expect(p.Reason).To(Equal(saasv1alpha1.ConfigTooLargeReason))
	g.Expect(p.Message).To(ContainSubstring(`at file "big.conf"`))
}
