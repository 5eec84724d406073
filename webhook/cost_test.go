package webhook

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// What an unauthenticated caller can cost is bounded before the signature
// is checked: each route reads at most its own body limit, and at most
// MaxConcurrentVerifications bodies are canonicalised and verified at once.

func TestEachRouteReadsAtMostItsBodyLimit(t *testing.T) {
	opts := DefaultOptions()
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	over := func(limit int64) string { return `{"pad":"` + strings.Repeat("x", int(limit)) + `"}` }
	cases := []struct {
		name, path string
		body       string
		refused    bool
	}{
		{"a basic callback one byte over", CallbackPathPrefix + f.product.Name, over(opts.MaxBodyBytes), true},
		{"a basic callback the size of a user batch", CallbackPathPrefix + f.product.Name, over(opts.MaxBodyBytes * 4), true},
		{"a small kit call over the basic limit", kitPath(f, koogallery.KitTenantSync), over(opts.MaxBodyBytes), true},
		{"a user batch over the basic limit", kitPath(f, koogallery.KitAuthSync), over(opts.MaxBodyBytes * 4), false},
		{"a user batch over its own limit", kitPath(f, koogallery.KitAuthSync), over(opts.MaxBatchBodyBytes), true},
		{"a department tree over the batch limit", kitPath(f, koogallery.KitAllOrgSync), over(opts.MaxBatchBodyBytes * 2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			resp, err := http.Post(receiverURL+tc.path, "application/json", bytes.NewBufferString(tc.body))
			g.Expect(err).NotTo(HaveOccurred())
			a := decodeAnswer(t, resp)
			g.Expect(a.status).To(Equal(http.StatusOK))
			if tc.refused {
				g.Expect(a.Code).To(Equal("000002"))
				g.Expect(a.Msg).To(ContainSubstring("body exceeds"))
				return
			}
			g.Expect(a.Msg).NotTo(ContainSubstring("body exceeds"), "within its limit, the body goes on to the signature check")
		})
	}
}

func TestAFullVerifierAnswers000005AtOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	taken := 0
	for receiver.verifying.tryAcquire() {
		taken++
	}
	t.Cleanup(func() {
		for range taken {
			receiver.verifying.release()
		}
	})
	g.Expect(taken).To(Equal(DefaultOptions().MaxConcurrentVerifications))

	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	a := f.call(t, query)
	g.Expect(a.Code).To(Equal("000005"))
	g.Expect(a.Msg).To(ContainSubstring("busy"))

	receiver.verifying.release()
	taken--
	a = f.call(t, query)
	g.Expect(a.Code).To(Equal("000003"), "a free slot verifies again: %s", a.Msg)
}

// kitPath is the URL path of a kit interface of the fixture's product.
func kitPath(f *fixture, name koogallery.KitInterface) string {
	return CallbackPathPrefix + f.product.Name + koogallery.KitPathPrefix + string(name)
}
