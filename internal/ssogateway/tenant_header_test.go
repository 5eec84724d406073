package ssogateway

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

// TestATenantCodeWithAControlCharacterIsNotForwarded: Go's transport
// refuses a request with a control character in a header, so a tenantCode
// holding one would make every forwarded request of the tenant a 502. The
// user is forwarded without the tenant header, and the gateway says so
// once, without the value.
func TestATenantCodeWithAControlCharacterIsNotForwarded(t *testing.T) {
	for _, code := range []string{"a\u0001b", "acme\nX", "a\u007fb", strings.Repeat("a", maxTenantCodeChars+1)} {
		g := NewWithT(t)
		f := newFixture(t)
		var lines []string
		f.gateway.cfg.Log = funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})
		writeFile(t, filepath.Join(f.ssoDir, "tenantCode"), code)
		session := f.signIn(g, "alice")
		for range 2 {
			h := forwarded(g, f.request(http.MethodGet, "/reports", nil, session))
			g.Expect(h.Values("X-Forwarded-User")).To(Equal([]string{"alice"}), "%q", code)
			g.Expect(h).NotTo(HaveKey("X-Forwarded-Tenant"), "%q", code)
		}
		g.Expect(lines).To(HaveLen(1), "%q", code)
		g.Expect(lines[0]).To(ContainSubstring("tenantCode"))
		g.Expect(lines[0]).NotTo(ContainSubstring(strings.TrimSpace(code)))
	}
}
