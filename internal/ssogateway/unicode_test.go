package ssogateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// userinfoSays points the fixture's userinfo at a kit that names the
// holder of a token the fake kit issued as say has it.
func (f *fixture) userinfoSays(t *testing.T, say func(user string) map[string]any) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.kit.mu.Lock()
		user, ok := f.kit.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		f.kit.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(say(user))
	}))
	t.Cleanup(srv.Close)
	writeFile(t, filepath.Join(f.ssoDir, "userinfoUrl"), srv.URL+"/api/v1/oauth2/userinfo")
}

// TestUserinfoWithALongChineseEmailSignsIn: the spec bounds userinfo's
// fields in characters (email 128, userName 64: §3.11.3, whose users
// userinfo names, §7.5). A Chinese e-mail of 90 characters is 3 bytes a
// character, past 256 bytes, and is still an e-mail the app is told of;
// a userName past 64 characters is refused whatever its bytes.
func TestUserinfoWithALongChineseEmailSignsIn(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	email := strings.Repeat("张", 84) + "@例子公司.中国" // 90 CJK characters and 2 ASCII: 272 bytes
	tooLong := strings.Repeat("张", 65)            // 65 characters, 195 bytes
	f.userinfoSays(t, func(user string) map[string]any {
		switch user {
		case "alice":
			return map[string]any{"userName": "alice", "email": email}
		case "long":
			return map[string]any{"userName": tooLong, "email": "long@example.com"}
		}
		return map[string]any{"userName": strings.Repeat("x", 257)}
	})
	// The over-long userName is authorised, so only userinfo's check can
	// refuse it.
	writeFile(t, filepath.Join(f.gateway.cfg.DirectoryDir, "users-001.json"),
		`[{"appId":"app-1","userName":"`+tooLong+`","enable":"true"}]`)

	session := f.signIn(g, "alice")
	h := forwarded(g, f.request(http.MethodGet, "/", nil, session))
	g.Expect(h.Values(UserHeader)).To(Equal([]string{"alice"}))
	g.Expect(h.Values(EmailHeader)).To(Equal([]string{email}))

	for _, user := range []string{"long", "bytes"} {
		authorize, login := f.startLogin(g, "/")
		w := f.request(http.MethodGet, CallbackPath+"?code=code-"+user+"&state="+authorize.Query().Get("state"), browser, login)
		g.Expect(w.Code).To(Equal(http.StatusBadGateway), user)
		g.Expect(w.Body.String()).To(ContainSubstring(`<h1 id="title">Sign-in failed</h1>`), user)
		g.Expect(cookie(w, sessionCookie)).To(BeNil(), user)
	}
}
