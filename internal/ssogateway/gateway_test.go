package ssogateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

const (
	testClientSecret = "s3cret-of-the-client"
	testAppID        = "app-1"
)

// fakeKit is the tenant's unified authentication (spec §7.3–7.5), as far
// as the gateway calls it: token (code "code-<user>", refresh tokens it
// issued) and userinfo.
type fakeKit struct {
	mu        sync.Mutex
	issued    int
	tokens    map[string]string // access token -> user
	refreshes map[string]string // refresh token -> user
	used      map[string]bool   // codes exchanged
	expiresIn int
	rotate    bool         // a refresh token is accepted once
	forms     []url.Values // token requests, in order
	// numericUserNames sends an all-digit userName as a JSON number, as
	// the kit does for accounts named by a phone number.
	numericUserNames bool
}

func newFakeKit() *fakeKit {
	return &fakeKit{tokens: map[string]string{}, refreshes: map[string]string{}, used: map[string]bool{}, expiresIn: 7200}
}

func (k *fakeKit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v1/oauth2/token":
		_ = r.ParseForm()
		k.forms = append(k.forms, r.PostForm)
		if r.PostForm.Get("client_id") != "client-1" || r.PostForm.Get("client_secret") != testClientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		var user string
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			code := r.PostForm.Get("code")
			user, _ = strings.CutPrefix(code, "code-")
			user, _, _ = strings.Cut(user, ".") // code-alice.2: alice's second code
			if k.used[code] || user == code {
				user = ""
			}
			k.used[code] = true
		case "refresh_token":
			user = k.refreshes[r.PostForm.Get("refresh_token")]
			if k.rotate {
				delete(k.refreshes, r.PostForm.Get("refresh_token"))
			}
		}
		if user == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"the code `+r.PostForm.Get("code")+` is used"}`)
			return
		}
		k.issued++
		access, refresh := fmt.Sprintf("access-%s-%d", user, k.issued), fmt.Sprintf("refresh-%s-%d", user, k.issued)
		k.tokens[access], k.refreshes[refresh] = user, user
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": k.expiresIn,
			"scope": "get_user_info", "refresh_token": refresh})
	case "/api/v1/oauth2/userinfo":
		user, ok := k.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"unauthorized"}`)
			return
		}
		var userName any = user
		if _, err := strconv.ParseUint(user, 10, 64); err == nil && k.numericUserNames {
			userName = json.Number(user)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "1", "userName": userName, "name": strings.ToUpper(user), "email": user + "@example.com",
			"role": "user", "tenant": "acme"})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a gateway in front of an app that echoes what it received,
// with a fake kit.
type fixture struct {
	gateway *Gateway
	kit     *fakeKit
	clock   *testClock
	ssoDir  string
}

const testDirectory = `[{"appId":"app-1","userName":"alice","name":"Alice","enable":"true","email":"alice@example.com"},
{"appId":"app-1","userName":"carol","enable":"false"},{"appId":"app-2","userName":"bob","enable":"true"},{"appId":"app-1","userName":12345}]`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kit := newFakeKit()
	kitSrv := httptest.NewServer(kit)
	t.Cleanup(kitSrv.Close)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "header": r.Header})
	}))
	t.Cleanup(app.Close)
	ssoDir, dirDir := t.TempDir(), t.TempDir()
	files := map[string]string{"clientId": "client-1", "clientSecret": testClientSecret, "appId": testAppID,
		"tenantCode": "acme", "tenantId": "t-1",
		"authorizeUrl": kitSrv.URL + "/api/v1/oauth2/authorize", "tokenUrl": kitSrv.URL + "/api/v1/oauth2/token",
		"userinfoUrl": kitSrv.URL + "/api/v1/oauth2/userinfo", "logoutUrl": kitSrv.URL + "/api/v1/logout"}
	for name, content := range files {
		writeFile(t, filepath.Join(ssoDir, name), content)
	}
	writeFile(t, filepath.Join(dirDir, "users-000.json"), testDirectory)
	upstream, _ := url.Parse(app.URL)
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	g, err := New(Config{Upstream: upstream, SSODir: ssoDir, DirectoryDir: dirDir, ExternalURL: "https://crm.example.com", Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{gateway: g, kit: kit, clock: clock, ssoDir: ssoDir}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// request sends one request to the gateway with the cookies given.
func (f *fixture) request(method, target string, header http.Header, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Header = header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.gateway.ServeHTTP(w, r)
	return w
}

// cookie returns the cookie name that w sets, nil when it sets none.
func cookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var browser = http.Header{"Accept": {"text/html,application/xhtml+xml"}}

// startLogin follows a page load to the authorise URL and returns it with
// the login cookie.
func (f *fixture) startLogin(g *WithT, path string) (*url.URL, *http.Cookie) {
	w := f.request(http.MethodGet, path, browser)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	start := w.Header().Get("Location")
	g.Expect(start).To(HavePrefix(StartPath + "?rd="))
	w = f.request(http.MethodGet, start, browser)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	authorize, err := url.Parse(w.Header().Get("Location"))
	g.Expect(err).NotTo(HaveOccurred())
	login := cookie(w, loginCookieName(authorize.Query().Get("state")))
	g.Expect(login).NotTo(BeNil())
	return authorize, login
}

// signIn logs user in through a gateway-initiated login and returns the
// session cookie.
func (f *fixture) signIn(g *WithT, user string) *http.Cookie {
	authorize, login := f.startLogin(g, "/")
	w := f.request(http.MethodGet, CallbackPath+"?code=code-"+user+"&state="+authorize.Query().Get("state"), browser, login)
	g.Expect(w.Code).To(Equal(http.StatusFound), w.Body.String())
	session := cookie(w, sessionCookie)
	g.Expect(session).NotTo(BeNil())
	return session
}

// forwarded decodes what the echoing app received.
func forwarded(g *WithT, w *httptest.ResponseRecorder) http.Header {
	g.Expect(w.Code).To(Equal(http.StatusOK), w.Body.String())
	var echo struct{ Header http.Header }
	g.Expect(json.Unmarshal(w.Body.Bytes(), &echo)).To(Succeed())
	return echo.Header
}

func TestAGatewayInitiatedLoginForwardsTheUserAndOnlyTheGatewaysIdentity(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	authorize, login := f.startLogin(g, "/reports?month=5")
	g.Expect(authorize.Path).To(Equal("/api/v1/oauth2/authorize"))
	q := authorize.Query()
	g.Expect(q.Get("response_type")).To(Equal("code"))
	g.Expect(q.Get("client_id")).To(Equal("client-1"))
	g.Expect(q.Get("redirect_uri")).To(Equal("https://crm.example.com/oauth2/callback"))
	g.Expect(q.Get("scope")).To(Equal("get_user_info"))
	g.Expect(q.Get("state")).To(HaveLen(43))
	g.Expect(login.HttpOnly && login.Secure).To(BeTrue())

	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+q.Get("state"), browser, login)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	g.Expect(w.Header().Get("Location")).To(Equal("/reports?month=5"))
	session := cookie(w, sessionCookie)
	g.Expect(session.HttpOnly && session.Secure).To(BeTrue())
	g.Expect(session.SameSite).To(Equal(http.SameSiteLaxMode))
	g.Expect(f.kit.forms[0].Get("redirect_uri")).To(Equal("https://crm.example.com/oauth2/callback"))

	forged := http.Header{"X-Forwarded-User": {"mallory"}, "X-Forwarded-Email": {"mallory@example.com"}, "X-Forwarded-Tenant": {"other"},
		"X-Forwarded-Groups": {"admin"}, "X-Auth-Request-User": {"mallory"}, "Cookie": {"theme=dark"}}
	h := forwarded(g, f.request(http.MethodGet, "/reports", forged, session))
	g.Expect(h.Values("X-Forwarded-User")).To(Equal([]string{"alice"}))
	g.Expect(h.Values("X-Forwarded-Email")).To(Equal([]string{"alice@example.com"}))
	g.Expect(h.Values("X-Forwarded-Tenant")).To(Equal([]string{"acme"}))
	g.Expect(h).NotTo(HaveKey("X-Forwarded-Groups"))
	g.Expect(h).NotTo(HaveKey("X-Auth-Request-User"))
	g.Expect(h.Get("Cookie")).To(Equal("theme=dark"))
}

func TestNoSecretOrTokenReachesTheBrowser(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	authorize, login := f.startLogin(g, "/")
	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+authorize.Query().Get("state"), browser, login)
	for _, secret := range []string{testClientSecret, "access-alice-1", "refresh-alice-1"} {
		g.Expect(w.Body.String()).NotTo(ContainSubstring(secret))
		for _, values := range w.Header() {
			g.Expect(strings.Join(values, " ")).NotTo(ContainSubstring(secret))
		}
	}
	g.Expect(authorize.String()).NotTo(ContainSubstring(testClientSecret))
}

func TestAPortalLoginForThisTenantIsAccepted(t *testing.T) {
	for _, tenant := range []string{"acme", "t-1"} {
		t.Run(tenant, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&tenant="+tenant, browser)
			g.Expect(w.Code).To(Equal(http.StatusFound))
			g.Expect(w.Header().Get("Location")).To(Equal("/"))
			h := forwarded(g, f.request(http.MethodGet, "/", nil, cookie(w, sessionCookie)))
			g.Expect(h.Get("X-Forwarded-User")).To(Equal("alice"))
		})
	}
}

func TestCallbacksThatAreRefused(t *testing.T) {
	cases := []struct {
		name       string
		query      func(state string) string
		withCookie bool
		wantStatus int
		wantTitle  string
	}{
		{"another state", func(string) string { return "code=code-alice&state=forged" }, true, http.StatusForbidden, "Sign-in expired"},
		{"no login cookie", func(s string) string { return "code=code-alice&state=" + s }, false, http.StatusForbidden, "Sign-in expired"},
		{"a portal login for another tenant", func(string) string { return "code=code-alice&tenant=globex" }, false, http.StatusForbidden, "Sign-in refused"},
		{"no code", func(s string) string { return "error=access_denied&state=" + s }, true, http.StatusBadRequest, "Sign-in refused"},
		{"no state nor tenant", func(string) string { return "code=code-alice" }, true, http.StatusBadRequest, "Sign-in refused"},
		{"two codes", func(s string) string { return "code=code-alice&code=code-bob&state=" + s }, true, http.StatusBadRequest, "Sign-in refused"},
		{"a code the kit refuses", func(s string) string { return "code=stolen&state=" + s }, true, http.StatusBadGateway, "Sign-in failed"},
		{"a user of another application", func(s string) string { return "code=code-bob&state=" + s }, true, http.StatusForbidden, "Not authorised"},
		{"a disabled user", func(s string) string { return "code=code-carol&state=" + s }, true, http.StatusForbidden, "Not authorised"},
		{"a user the directory does not have", func(s string) string { return "code=code-dave&state=" + s }, true, http.StatusForbidden, "Not authorised"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			authorize, login := f.startLogin(g, "/")
			var cookies []*http.Cookie
			if tc.withCookie {
				cookies = append(cookies, login)
			}
			w := f.request(http.MethodGet, CallbackPath+"?"+tc.query(authorize.Query().Get("state")), browser, cookies...)
			g.Expect(w.Code).To(Equal(tc.wantStatus))
			g.Expect(w.Body.String()).To(ContainSubstring("<h1 id=\"title\">" + tc.wantTitle + "</h1>"))
			if c := cookie(w, sessionCookie); c != nil {
				g.Expect(c.MaxAge).To(BeNumerically("<", 0))
			}
		})
	}
}

func TestACodeIsExchangedOnce(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.signIn(g, "alice")
	authorize, login := f.startLogin(g, "/")
	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+authorize.Query().Get("state"), browser, login)
	g.Expect(w.Code).To(Equal(http.StatusBadGateway))
}

func TestWithoutASessionPagesGoToSignInAndOtherRequestsAre401(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	w := f.request(http.MethodGet, "/api/things", http.Header{"Accept": {"application/json"}})
	g.Expect(w.Code).To(Equal(http.StatusUnauthorized))
	w = f.request(http.MethodPost, "/form", browser)
	g.Expect(w.Code).To(Equal(http.StatusUnauthorized))
	tampered := f.signIn(g, "alice")
	tampered.Value = tampered.Value[:len(tampered.Value)-2] + "xx"
	w = f.request(http.MethodGet, "/", browser, tampered)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	g.Expect(w.Header().Get("Location")).To(HavePrefix(StartPath))
}

func TestAnExpiredTokenIsRefreshed(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	f.clock.add(7201 * time.Second)
	w := f.request(http.MethodGet, "/", nil, session)
	g.Expect(forwarded(g, w).Get("X-Forwarded-User")).To(Equal("alice"))
	refreshed := cookie(w, sessionCookie)
	g.Expect(refreshed).NotTo(BeNil())
	last := f.kit.forms[len(f.kit.forms)-1]
	g.Expect(last.Get("grant_type")).To(Equal("refresh_token"))
	g.Expect(last.Get("refresh_token")).To(Equal("refresh-alice-1"))
	g.Expect(last.Get("client_id")).To(Equal("client-1"))

	// The refreshed session goes on without another refresh.
	calls := len(f.kit.forms)
	forwarded(g, f.request(http.MethodGet, "/", nil, refreshed))
	g.Expect(f.kit.forms).To(HaveLen(calls))
}

// The kit accepts a numeric userName in authSync (an account named by a
// phone number) and the directory keys it by the number's text; its
// userinfo answers the same number, which must sign that user in.
func TestASignInWithANumericUserNameIsAdmitted(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.kit.numericUserNames = true
	session := f.signIn(g, "12345")
	g.Expect(forwarded(g, f.request(http.MethodGet, "/", nil, session)).Get("X-Forwarded-User")).To(Equal("12345"))
}

// The same user's session, signed in while userinfo sent the name as a
// string, is refreshed when it sends it as the number (spec §7.5 gives no
// types): the refresh reads userinfo again.
func TestASessionWithANumericUserNameIsRefreshed(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "12345")
	f.kit.numericUserNames = true
	f.clock.add(7201 * time.Second)
	w := f.request(http.MethodGet, "/", nil, session)
	g.Expect(forwarded(g, w).Get("X-Forwarded-User")).To(Equal("12345"))
	g.Expect(cookie(w, sessionCookie)).NotTo(BeNil())
	g.Expect(f.kit.forms[len(f.kit.forms)-1].Get("grant_type")).To(Equal("refresh_token"))
}

func TestASessionWhoseTokenCannotBeRefreshedEnds(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	f.kit.refreshes = map[string]string{}
	f.clock.add(7200*time.Second + refreshGrace)
	w := f.request(http.MethodGet, "/", browser, session)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	g.Expect(w.Header().Get("Location")).To(HavePrefix(StartPath))
	g.Expect(cookie(w, sessionCookie).MaxAge).To(BeNumerically("<", 0))
}

func TestAUserNoLongerAuthorisedIsRefusedMidSession(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	writeFile(t, filepath.Join(f.gateway.cfg.DirectoryDir, "users-000.json"), `[]`)
	f.clock.add(directoryReload)
	w := f.request(http.MethodGet, "/", browser, session)
	g.Expect(w.Code).To(Equal(http.StatusForbidden))
	g.Expect(w.Body.String()).To(ContainSubstring("not authorised"))
}

func TestANewClientSecretEndsEverySession(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	writeFile(t, filepath.Join(f.ssoDir, "clientSecret"), "a-new-secret")
	forwarded(g, f.request(http.MethodGet, "/", browser, session)) // the settings read are kept a while
	f.clock.add(settingsReload)
	w := f.request(http.MethodGet, "/", browser, session)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	g.Expect(w.Header().Get("Location")).To(HavePrefix(StartPath))
}

func TestLogoutEndsTheSessionAndSignsOutOfTheKit(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	w := f.request(http.MethodGet, LogoutPath, browser, session)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	g.Expect(cookie(w, sessionCookie).MaxAge).To(BeNumerically("<", 0))
	logout, err := url.Parse(w.Header().Get("Location"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(logout.Path).To(Equal("/api/v1/logout"))
	g.Expect(logout.Query().Get("redirect_url")).To(Equal("https://crm.example.com/oauth2/signed-out"))
	w = f.request(http.MethodGet, SignedOutPath, browser)
	g.Expect(w.Code).To(Equal(http.StatusOK))
	g.Expect(w.Body.String()).To(ContainSubstring("Signed out"))
}

func TestWithoutTheSSOSettingsSignInIsUnavailable(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	g.Expect(os.Remove(filepath.Join(f.ssoDir, "clientSecret"))).To(Succeed())
	w := f.request(http.MethodGet, "/", browser)
	g.Expect(w.Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(f.request(http.MethodGet, HealthPath, nil).Code).To(Equal(http.StatusOK))
}

func TestTheAppIDFlagChoosesTheApplication(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.gateway.cfg.AppID = "app-2"
	authorize, login := f.startLogin(g, "/")
	w := f.request(http.MethodGet, CallbackPath+"?code=code-bob&state="+authorize.Query().Get("state"), browser, login)
	g.Expect(w.Code).To(Equal(http.StatusFound))
}

func TestSafeReturnPath(t *testing.T) {
	for in, want := range map[string]string{"/a?b=c": "/a?b=c", "//evil.example.com": "/", "/\\evil": "/", "https://evil": "/", "": "/", "/\x00": "/"} {
		if got := safeReturnPath(in); got != want {
			t.Errorf("safeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTheAppGetsTheProxyHeadersOfTheIngressInFront(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	ingress := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host": {"crm.example.com"}, "X-Forwarded-Port": {"443"}}
	h := forwarded(g, f.request(http.MethodGet, "/", ingress, session))
	// httptest's requests come from 192.0.2.1.
	g.Expect(h.Values("X-Forwarded-For")).To(Equal([]string{"203.0.113.7, 192.0.2.1"}))
	g.Expect(h.Values("X-Forwarded-Proto")).To(Equal([]string{"https"}))
	g.Expect(h.Values("X-Forwarded-Host")).To(Equal([]string{"crm.example.com"}))
	g.Expect(h.Values("X-Forwarded-Port")).To(Equal([]string{"443"}))

	// Reached directly: the gateway says what it saw, and no port.
	h = forwarded(g, f.request(http.MethodGet, "http://app.internal/", nil, session))
	g.Expect(h.Values("X-Forwarded-For")).To(Equal([]string{"192.0.2.1"}))
	g.Expect(h.Values("X-Forwarded-Proto")).To(Equal([]string{"http"}))
	g.Expect(h.Values("X-Forwarded-Host")).To(Equal([]string{"app.internal"}))
	g.Expect(h).NotTo(HaveKey("X-Forwarded-Port"))
	h = forwarded(g, f.request(http.MethodGet, "https://app.internal/", nil, session))
	g.Expect(h.Values("X-Forwarded-Proto")).To(Equal([]string{"https"}))
}

func TestIdentityHeadersSpelledWithUnderscoresAreStripped(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	forged := http.Header{"X_Forwarded_User": {"mallory"}, "X-Forwarded_Email": {"m@example.com"}, "X_forwarded_tenant": {"other"},
		"X_Auth_Request_User": {"mallory"}, "X_Forwarded_For": {"10.0.0.1"}, "X_Forwarded_Proto": {"https"}, "X_Other": {"kept"}}
	h := forwarded(g, f.request(http.MethodGet, "/", forged, session))
	for name := range forged {
		if name != "X_Other" {
			g.Expect(h).NotTo(HaveKey(name))
		}
	}
	g.Expect(h.Values("X_Other")).To(Equal([]string{"kept"}))
	g.Expect(h.Values("X-Forwarded-User")).To(Equal([]string{"alice"}))
}

// refreshes counts the kit's refresh grants.
func (k *fakeKit) refreshCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, f := range k.forms {
		if f.Get("grant_type") == "refresh_token" {
			n++
		}
	}
	return n
}

func TestAPagesParallelRequestsAfterExpiryShareOneRefresh(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.kit.rotate = true
	session := f.signIn(g, "alice")
	f.clock.add(7201 * time.Second)
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := f.request(http.MethodGet, "/", nil, session)
			codes[i] = w.Code
			if c := cookie(w, sessionCookie); c != nil && c.MaxAge < 0 {
				codes[i] = -1
			}
		}()
	}
	wg.Wait()
	for i, code := range codes {
		g.Expect(code).To(Equal(http.StatusOK), "request %d", i)
	}
	g.Expect(f.kit.refreshCount()).To(Equal(1))

	// A late arrival with the old cookie, past the kept result, on a kit
	// that no longer accepts its refresh token: served, cookie kept.
	f.clock.add(refreshKeep)
	w := f.request(http.MethodGet, "/", nil, session)
	g.Expect(w.Code).To(Equal(http.StatusOK))
	g.Expect(cookie(w, sessionCookie)).To(BeNil())
}

func TestAFailedRefreshWithinTheGraceServesTheSessionAsItIs(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")
	f.kit.refreshes = map[string]string{}
	f.clock.add(7200*time.Second + refreshGrace/2)
	w := f.request(http.MethodGet, "/", nil, session)
	g.Expect(forwarded(g, w).Get("X-Forwarded-User")).To(Equal("alice"))
	g.Expect(cookie(w, sessionCookie)).To(BeNil())
	// Admission is still checked.
	writeFile(t, filepath.Join(f.gateway.cfg.DirectoryDir, "users-000.json"), `[]`)
	f.clock.add(directoryReload)
	g.Expect(f.request(http.MethodGet, "/", nil, session).Code).To(Equal(http.StatusForbidden))
}

// jar is a browser's cookies for the gateway's site.
type jar map[string]*http.Cookie

func (j jar) take(w *httptest.ResponseRecorder) {
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c
		}
	}
}

func (j jar) all() []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j {
		out = append(out, c)
	}
	return out
}

// startIn starts a login in the browser whose cookies are j and returns
// its state.
func (f *fixture) startIn(g *WithT, j jar, rd string) string {
	w := f.request(http.MethodGet, StartPath+"?rd="+url.QueryEscape(rd), browser, j.all()...)
	g.Expect(w.Code).To(Equal(http.StatusFound))
	j.take(w)
	authorize, err := url.Parse(w.Header().Get("Location"))
	g.Expect(err).NotTo(HaveOccurred())
	return authorize.Query().Get("state")
}

func TestTwoTabsSigningInAtOnceBothSucceed(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	j := jar{}
	first := f.startIn(g, j, "/first")
	second := f.startIn(g, j, "/second")
	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+first, browser, j.all()...)
	g.Expect(w.Code).To(Equal(http.StatusFound), w.Body.String())
	g.Expect(w.Header().Get("Location")).To(Equal("/first"))
	j.take(w)
	g.Expect(j).To(HaveKey(loginCookieName(second)))
	w = f.request(http.MethodGet, CallbackPath+"?code=code-alice.2&state="+second, browser, j.all()...)
	g.Expect(w.Code).To(Equal(http.StatusFound), w.Body.String())
	g.Expect(w.Header().Get("Location")).To(Equal("/second"))
	j.take(w)
	g.Expect(j).To(HaveKey(sessionCookie))
	g.Expect(loginCookies(&http.Request{Header: http.Header{"Cookie": {cookieHeader(j)}}})).To(BeEmpty())
}

func cookieHeader(j jar) string {
	var parts []string
	for _, c := range j {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

func TestABrowserKeepsAtMostFiveLogins(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	j := jar{}
	var states []string
	for range 8 {
		states = append(states, f.startIn(g, j, "/"))
		f.clock.add(time.Second)
		g.Expect(len(j)).To(BeNumerically("<=", maxLogins))
	}
	g.Expect(j).To(HaveLen(maxLogins))
	// The newest five are the ones kept, and each still completes.
	for _, state := range states[len(states)-maxLogins:] {
		g.Expect(j).To(HaveKey(loginCookieName(state)))
	}
	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+states[len(states)-1], browser, j.all()...)
	g.Expect(w.Code).To(Equal(http.StatusFound))
}

func TestACallbackWithAStateTheGatewayDidNotIssue(t *testing.T) {
	const foreign = "the-workplaces-own-state-1234567890"
	cases := []struct {
		name       string
		query      string
		workplace  bool
		wantStatus int
		wantTitle  string
	}{
		{"naming this tenant's code", "code=code-alice&state=" + foreign + "&tenant=acme", false, http.StatusFound, ""},
		{"naming this tenant's id", "code=code-alice&state=" + foreign + "&tenant=t-1", false, http.StatusFound, ""},
		{"naming another tenant", "code=code-alice&state=" + foreign + "&tenant=globex", true, http.StatusForbidden, "Sign-in refused"},
		{"without tenant, by default", "code=code-alice&state=" + foreign, false, http.StatusForbidden, "Sign-in expired"},
		{"without tenant, workplace logins accepted", "code=code-alice&state=" + foreign, true, http.StatusFound, ""},
		{"a short state, workplace logins accepted", "code=code-alice&state=x", true, http.StatusFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			f.gateway.cfg.WorkplaceLogins = tc.workplace
			w := f.request(http.MethodGet, CallbackPath+"?"+tc.query, browser)
			g.Expect(w.Code).To(Equal(tc.wantStatus), w.Body.String())
			if tc.wantStatus != http.StatusFound {
				g.Expect(w.Body.String()).To(ContainSubstring("<h1 id=\"title\">" + tc.wantTitle + "</h1>"))
				g.Expect(cookie(w, sessionCookie)).To(BeNil())
				return
			}
			g.Expect(w.Header().Get("Location")).To(Equal("/"))
			h := forwarded(g, f.request(http.MethodGet, "/", nil, cookie(w, sessionCookie)))
			g.Expect(h.Get("X-Forwarded-User")).To(Equal("alice"))
		})
	}
}

func TestAStateOfThisBrowsersLoginMustMatchEvenWithWorkplaceLogins(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.gateway.cfg.WorkplaceLogins = true
	authorize, login := f.startLogin(g, "/")
	state := authorize.Query().Get("state")
	forged := state[:loginNameChars] + "forged-rest-of-it"
	w := f.request(http.MethodGet, CallbackPath+"?code=code-alice&state="+forged+"&tenant=acme", browser, login)
	g.Expect(w.Code).To(Equal(http.StatusForbidden))
	g.Expect(w.Body.String()).To(ContainSubstring("Sign-in expired"))
}

func TestMissingSettingsAreLoggedAtMostOnceAMinute(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	var lines []string
	f.gateway.cfg.Log = funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})
	g.Expect(os.Remove(filepath.Join(f.ssoDir, "clientSecret"))).To(Succeed())
	for range 3 {
		g.Expect(f.request(http.MethodGet, "/", browser).Code).To(Equal(http.StatusServiceUnavailable))
		f.clock.add(settingsReload)
	}
	g.Expect(lines).To(HaveLen(1))
	g.Expect(lines[0]).To(ContainSubstring("not delivered yet"))
	f.clock.add(unavailableLogEvery)
	g.Expect(f.request(http.MethodGet, "/", browser).Code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(lines).To(HaveLen(2))
}
