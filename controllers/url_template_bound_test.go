package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestAURLTemplateWithARangeIsInvalid: Go's text/template ranges over an
// integer, so {{range 1000000000000000000}}{{end}} fits frontEndUrl's 512
// characters and never ends. Before, the product's URLsValid check ran it,
// holding a worker for good (and the tenants' shared URL check with it).
// Now a URL template with a {{range}} is invalid before anything runs it.
// The ranges here are finite, so that the test ends before the fix too.
func TestAURLTemplateWithARangeIsInvalid(t *testing.T) {
	cases := []struct{ name, frontEnd, admin string }{
		{name: "a long range in frontEndUrl", frontEnd: "https://{{range 30000000}}{{end}}{{.InstanceID}}.crm.example.com"},
		{name: "a short range that repeats the host", frontEnd: "https://{{range 3}}{{.InstanceID}}{{end}}.crm.example.com"},
		{name: "a range inside an if", frontEnd: "https://{{.InstanceID}}.crm.example.com/{{if .Product}}{{range 3}}x{{end}}{{end}}"},
		{name: "a range in adminUrl", frontEnd: "https://{{.InstanceID}}.crm.example.com",
			admin: "https://{{.InstanceID}}.crm.example.com/admin/{{range 30000000}}{{end}}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := urlProduct(tc.frontEnd, tc.admin, false)
			start := time.Now()
			cond := urlsCondition(product)
			g.Expect(time.Since(start)).To(BeNumerically("<", 500*time.Millisecond), "refused before it runs")
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(saasv1alpha1.URLTemplateInvalidReason))
			g.Expect(cond.Message).To(ContainSubstring("{{range}} is not allowed in a URL template"))
		})
	}
}

// TestOneProductsURLCheckDoesNotBlockAnothers: the tenants' memo of the URL
// checks is shared by every tenant of every product. Before, it held its
// lock while it rendered, so one product whose templates took long (or
// never ended) stopped every tenant reconcile of every product. Now it
// renders outside the lock: product B's check answers while product A's
// is still running.
func TestOneProductsURLCheckDoesNotBlockAnothers(t *testing.T) {
	g := NewWithT(t)
	slow := urlProduct("https://{{.InstanceID}}.a.example.com", "", true)
	slow.Name, slow.UID, slow.Generation = "a", "uid-slow", 1
	quick := urlProduct("https://{{.InstanceID}}.b.example.com", "", true)
	quick.Name, quick.UID, quick.Generation = "b", "uid-quick", 1

	started, release := make(chan struct{}), make(chan struct{})
	cache := urlCheckCache{render: func(product *saasv1alpha1.SaaSProduct) *urlProblem {
		if product.UID == slow.UID {
			close(started)
			<-release
		}
		return checkURLTemplates(product)
	}}
	slowDone := make(chan *urlProblem)
	go func() { slowDone <- cache.check(slow, "") }()
	<-started

	quickDone := make(chan *urlProblem, 1)
	go func() { quickDone <- cache.check(quick, "") }()
	select {
	case p := <-quickDone:
		g.Expect(p).To(BeNil())
	case <-time.After(5 * time.Second):
		close(release) // lets both checks end, so the test does
		if p := <-slowDone; p != nil {
			t.Logf("product a's check: %v", p)
		}
		t.Fatal("product b's URL check waited for product a's")
	}
	close(release)
	g.Expect(<-slowDone).To(BeNil())
	g.Expect(cache.check(slow, "")).To(BeNil(), "product a's verdict is remembered")
	g.Expect(cache.byProduct).To(HaveKey(slow.UID))
	g.Expect(cache.byProduct).To(HaveKey(quick.UID))
}
