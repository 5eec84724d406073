package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// unauthenticatedTextReceiver is a receiver over a fake client holding no
// object, and the lines its requests log: what an unauthenticated caller
// puts in the URL or the method is refused before any object is needed.
// reads, when set, intercepts the client's reads.
func unauthenticatedTextReceiver(t *testing.T, reads ...interceptor.Funcs) (serve func(method, target string) answer, logged func() string) {
	t.Helper()
	scheme, err := testenv.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	builder := fake.NewClientBuilder().WithScheme(scheme)
	for _, f := range reads {
		builder = builder.WithInterceptorFuncs(f)
	}
	c := builder.Build()
	r, err := NewReceiver(c, c, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	serve = func(method, target string) answer {
		req := httptest.NewRequest(method, target, strings.NewReader(`{}`))
		req = req.WithContext(logf.IntoContext(req.Context(), log))
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, req)
		return decodeAnswer(t, rec.Result())
	}
	logged = func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	return serve, logged
}

// TestTheAuditLineWithholdsAProductThatIsNoProductName: the refusal of a
// production URL whose product is a phone number, or 10 KiB of anything,
// withheld it, but the audit line's "product" carried it whole, up to the
// ~20 KiB a request line and headers may hold. Now the line quotes the
// product only when it has a product name's shape, as the refusal does
// (docs/personal-data.md), on the basic and the kit routes and below them.
func TestTheAuditLineWithholdsAProductThatIsNoProductName(t *testing.T) {
	long := strings.Repeat("%C3%A9", 10<<10/6) // 10 KiB of the URL: é, escaped
	for name, target := range map[string]string{
		"a phone number, basic":         CallbackPathPrefix + phone,
		"a phone number, kit":           CallbackPathPrefix + phone + koogallery.KitPathPrefix + string(koogallery.KitTenantSync),
		"a phone number, below the URL": CallbackPathPrefix + phone + "/orders",
		"10 KiB, basic":                 CallbackPathPrefix + long,
		"10 KiB, kit":                   CallbackPathPrefix + long + koogallery.KitPathPrefix + string(koogallery.KitTenantSync),
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			serve, logged := unauthenticatedTextReceiver(t)
			a := serve(http.MethodPost, target)
			g.Expect(a.Code).To(Equal("000002"), a.Msg)
			line := logged()
			g.Expect(line).To(ContainSubstring("Callback answered"))
			for _, shown := range []string{line, a.Msg} {
				g.Expect(shown).NotTo(ContainSubstring(phone))
				g.Expect(shown).NotTo(ContainSubstring("éééé"))
				g.Expect(shown).NotTo(ContainSubstring("%C3%A9%C3%A9"))
				g.Expect(len(shown)).To(BeNumerically("<", 1<<10))
			}
		})
	}
}

// TestAFailedReadOfTheProductLogsNoNameThatIsNone: a product that is a
// valid object name but no product name's shape (a phone number) is read
// from the API server; when that read fails, the API server's error names
// the object, and it went whole into the "Callback failed" line. Now the
// line keeps the error with the name withheld.
func TestAFailedReadOfTheProductLogsNoNameThatIsNone(t *testing.T) {
	for name, failure := range map[string]func(key client.ObjectKey) error{
		"forbidden": func(key client.ObjectKey) error {
			return apierrors.NewForbidden(schema.GroupResource{Group: "saas.kooper.io", Resource: "saasproducts"}, key.Name, fmt.Errorf("RBAC: denied"))
		},
		"a timeout": func(key client.ObjectKey) error {
			return fmt.Errorf("Get \"https://10.0.0.1/apis/saas.kooper.io/v1alpha1/saasproducts/%s\": %w", key.Name, context.DeadlineExceeded)
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			serve, logged := unauthenticatedTextReceiver(t, interceptor.Funcs{
				Get: func(_ context.Context, _ client.WithWatch, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
					return failure(key)
				},
			})
			a := serve(http.MethodPost, CallbackPathPrefix+phone)
			g.Expect(a.Code).To(Equal("000005"), a.Msg)
			line := logged()
			g.Expect(line).To(ContainSubstring("Callback failed"))
			g.Expect(line).To(ContainSubstring("the product cannot be read"))
			g.Expect(line).NotTo(ContainSubstring(phone))
		})
	}
}

// A product name an operator mistyped in the Seller Console is still
// named, in the audit line and in the answer: that is what shows which URL
// is wrong.
func TestTheAuditLineNamesAnUnknownProductOfANamesShape(t *testing.T) {
	g := NewWithT(t)
	serve, logged := unauthenticatedTextReceiver(t)
	a := serve(http.MethodPost, CallbackPathPrefix+"crm-typo")
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(`unknown product "crm-typo"`))
	g.Expect(logged()).To(ContainSubstring(`"product"="crm-typo"`))
}

// TestALongMethodIsNotQuotedWhole: a callback or kit call's method, up to
// the ~16 KiB of token characters the server's header limit allows, went
// whole into resultMsg and the audit line's reason. Now a method is quoted
// only when it is a name, as an unknown activity is.
func TestALongMethodIsNotQuotedWhole(t *testing.T) {
	method := strings.Repeat("X", 10<<10)
	for name, target := range map[string]string{
		"basic": CallbackPathPrefix + "crm",
		"kit":   CallbackPathPrefix + "crm" + koogallery.KitPathPrefix + string(koogallery.KitTenantSync),
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			serve, logged := unauthenticatedTextReceiver(t)
			a := serve(method, target)
			g.Expect(a.Code).To(Equal("000002"), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring("is not allowed"))
			for _, shown := range []string{a.Msg, logged()} {
				g.Expect(shown).NotTo(ContainSubstring(strings.Repeat("X", 64)))
				g.Expect(len(shown)).To(BeNumerically("<", 1<<10))
			}
			g.Expect(serve(http.MethodGet, target).Msg).To(ContainSubstring(`method "GET" is not allowed`))
		})
	}
}
