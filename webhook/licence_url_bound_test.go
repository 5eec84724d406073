package webhook

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestALicencesFrontEndURLIsRenderedWithinBounds: the receiver rendered a
// License product's frontEndUrl for a licence's appInfo with text/template
// unbounded, so a {{range}} over a number held the callback and the
// receiver's CPU for good; it is refused there as on the tenant's side.
func TestALicencesFrontEndURLIsRenderedWithinBounds(t *testing.T) {
	g := NewWithT(t)
	product := &saasv1alpha1.SaaSProduct{}
	product.Name = "crm"
	product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{range 1000000000000000000}}{{end}}{{.InstanceID}}.crm.example.com"}
	done := make(chan string, 1)
	go func() { done <- frontEndURL(product, "i-1") }()
	select {
	case url := <-done:
		g.Expect(url).To(BeEmpty(), "a template that does not render gives no URL")
	case <-time.After(5 * time.Second):
		t.Fatal("the licence's frontEndUrl template ran for more than 5 s")
	}
	product.Spec.URLs.FrontEndURL = "https://{{.InstanceID}}.crm.example.com"
	g.Expect(frontEndURL(product, "i-1")).To(Equal("https://i-1.crm.example.com"))
}
