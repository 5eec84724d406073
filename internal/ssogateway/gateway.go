package ssogateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/kooper-io/kooper/internal/directory"
)

// Paths the gateway serves itself; every other path is the app's.
const (
	StartPath     = "/oauth2/start"
	CallbackPath  = "/oauth2/callback"
	LogoutPath    = "/oauth2/logout"
	SignedOutPath = "/oauth2/signed-out"
	HealthPath    = "/oauth2/healthz"
)

// The headers the gateway sets on every request it forwards, after
// removing whatever the client sent under these names.
const (
	UserHeader   = "X-Forwarded-User"
	EmailHeader  = "X-Forwarded-Email"
	TenantHeader = "X-Forwarded-Tenant"
)

// maxUserinfoBytes bounds the userinfo answer (spec §7.5): a few hundred
// bytes in practice.
const maxUserinfoBytes = 64 << 10

// Config configures a Gateway.
type Config struct {
	// Upstream is the app, e.g. http://127.0.0.1:8080.
	Upstream *url.URL
	// SSODir holds the kooper-sso Secret's files (clientId, clientSecret,
	// authorizeUrl, tokenUrl, userinfoUrl, logoutUrl, appId, tenantCode,
	// tenantId).
	SSODir string
	// DirectoryDir holds the directory's users-NNN.json shards.
	DirectoryDir string
	// AppID is the application whose users are admitted; empty: the appId
	// of SSODir.
	AppID string
	// ExternalURL is the app's URL as browsers see it (the tenant's
	// frontEndUrl), whose path /oauth2/callback is the redirect URI; empty:
	// https:// and the request's Host.
	ExternalURL string
	// WorkplaceLogins accepts a callback with a state the gateway did not
	// issue and no tenant: the enterprise workplace's own login (spec
	// §7.2), which cannot be told from a login-CSRF attempt. Off by
	// default; a callback that names this tenant is accepted either way.
	WorkplaceLogins bool
	// HTTPClient reaches the kit's token and userinfo endpoints; nil:
	// a client with a 10-second timeout.
	HTTPClient *http.Client
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Log receives one line per refused login, without any personal data
	// or secret; the zero Logger discards them.
	Log logr.Logger
}

// settingsReload is how long the SSO settings and the cookie keys made
// from them are kept before the files are read again: a new client or
// domain (the kubelet updates the mounted Secret) takes effect within it.
const settingsReload = 10 * time.Second

// Gateway is the login gateway's HTTP handler.
type Gateway struct {
	cfg   Config
	users *authoriser
	proxy *httputil.ReverseProxy
	mux   *http.ServeMux

	mu       sync.Mutex
	loadedAt time.Time // zero: never loaded
	settings settings
	codec    codec
	err      error
	// unavailableLoggedAt is when settingsMissing last logged.
	unavailableLoggedAt time.Time
	// tenantOmittedLog logs, once, that tenantCode is not header-safe.
	tenantOmittedLog sync.Once

	// flights and refreshed share refreshes of one refresh token.
	flights   singleflight.Group
	refreshMu sync.Mutex
	refreshed map[string]refreshResult // by refreshOnce's key
}

// New returns a Gateway for cfg. It fails without an upstream or the
// directories.
func New(cfg Config) (*Gateway, error) {
	if cfg.Upstream == nil || cfg.SSODir == "" || cfg.DirectoryDir == "" {
		return nil, errors.New("the gateway needs an upstream, an SSO directory and a user directory")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, users: &authoriser{dir: cfg.DirectoryDir, now: cfg.Now}, refreshed: map[string]refreshResult{}}
	g.proxy = &httputil.ReverseProxy{Rewrite: g.rewrite, ErrorHandler: g.upstreamError}
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	g.mux.HandleFunc("GET "+StartPath, g.start)
	g.mux.HandleFunc("GET "+CallbackPath, g.callback)
	g.mux.HandleFunc(LogoutPath, g.logout)
	g.mux.HandleFunc("GET "+SignedOutPath, g.signedOut)
	g.mux.HandleFunc("/", g.forward)
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	g.mux.ServeHTTP(w, r)
}

// tenantSettings returns the SSO settings and the cookie codec made from
// them, read again once they are settingsReload old.
func (g *Gateway) tenantSettings() (settings, codec, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := g.cfg.Now(); g.loadedAt.IsZero() || now.Sub(g.loadedAt) >= settingsReload {
		g.settings, g.codec, g.err = loadSettings(g.cfg.SSODir)
		g.loadedAt = now
	}
	return g.settings, g.codec, g.err
}

// loadSettings reads the SSO settings in dir and makes their cookie codec.
func loadSettings(dir string) (settings, codec, error) {
	s, err := readSettings(dir)
	if err != nil {
		return settings{}, codec{}, err
	}
	hashKey, blockKey, err := s.cookieKeys()
	if err != nil {
		return settings{}, codec{}, err
	}
	return s, newCodec(hashKey, blockKey), nil
}

// unavailableLogEvery bounds the log lines of settingsMissing.
const unavailableLogEvery = time.Minute

// settingsMissing answers "Sign-in unavailable" for want of the SSO
// settings (most likely the kit's tenantSync and applicationSync have not
// delivered them yet), logging why at most once a minute.
func (g *Gateway) settingsMissing(w http.ResponseWriter, err error) {
	g.mu.Lock()
	now := g.cfg.Now()
	logIt := g.unavailableLoggedAt.IsZero() || now.Sub(g.unavailableLoggedAt) >= unavailableLogEvery
	if logIt {
		g.unavailableLoggedAt = now
	}
	g.mu.Unlock()
	if logIt {
		g.cfg.Log.Info("Answering Sign-in unavailable: the SSO settings cannot be read (logged at most once a minute)", "reason", err.Error(), "dir", g.cfg.SSODir)
	}
	g.page(w, http.StatusServiceUnavailable, pageUnavailable)
}

// appID is the application whose users are admitted.
func (g *Gateway) appID(s settings) string {
	if g.cfg.AppID != "" {
		return g.cfg.AppID
	}
	return s.appID
}

// externalBase is the app's origin and path prefix as browsers see it,
// without a final slash.
func (g *Gateway) externalBase(r *http.Request) string {
	if g.cfg.ExternalURL != "" {
		return strings.TrimRight(g.cfg.ExternalURL, "/")
	}
	return "https://" + r.Host
}

// start begins a gateway-initiated login (spec §7.2): a fresh state in the
// login cookie, then the kit's authorise endpoint.
func (g *Gateway) start(w http.ResponseWriter, r *http.Request) {
	s, c, err := g.tenantSettings()
	if err != nil {
		g.settingsMissing(w, err)
		return
	}
	state, err := randomState()
	if err != nil {
		g.page(w, http.StatusInternalServerError, pageUnavailable)
		return
	}
	name, value, err := c.encodeLogin(login{State: state, ReturnTo: safeReturnPath(r.URL.Query().Get("rd"))}, g.cfg.Now())
	if err != nil {
		g.page(w, http.StatusInternalServerError, pageUnavailable)
		return
	}
	g.expireOldLogins(w, r, c)
	setCookie(w, name, value, loginMaxAge)
	http.Redirect(w, r, s.oauthConfig(g.externalBase(r)+CallbackPath).AuthCodeURL(state), http.StatusFound)
}

// randomState is 32 random bytes, URL-safe Base64.
func randomState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// callback ends a login: the gateway's own (with state, checked against
// the login cookie) or the kit portal's (spec §7.1: tenant and no state,
// accepted when tenant is this tenant's; see docs/sso-gateway.md on login
// CSRF). It exchanges the code, reads userinfo, admits an authorised user
// and sets the session cookie.
func (g *Gateway) callback(w http.ResponseWriter, r *http.Request) {
	cb, err := parseCallback(r.URL.RawQuery)
	if err != nil {
		g.refuse(w, http.StatusBadRequest, pageBadCallback, "callback refused", err)
		return
	}
	s, c, err := g.tenantSettings()
	if err != nil {
		g.settingsMissing(w, err)
		return
	}
	returnTo, ok := g.checkOrigin(w, r, cb, s, c)
	if !ok {
		return
	}
	conf := s.oauthConfig(g.externalBase(r) + CallbackPath)
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, g.cfg.HTTPClient)
	token, err := conf.Exchange(ctx, cb.Code)
	if err != nil {
		g.refuse(w, http.StatusBadGateway, pageLoginFailed, "code exchange failed", oauthError(err))
		return
	}
	info, err := g.userinfo(ctx, s, token.AccessToken)
	if err != nil {
		g.refuse(w, http.StatusBadGateway, pageLoginFailed, "userinfo failed", err)
		return
	}
	if !g.admit(w, s, info.UserName) {
		return
	}
	sess := session{User: info.UserName, Email: info.Email, AccessToken: token.AccessToken, RefreshToken: token.RefreshToken,
		Expiry: g.expiry(token), SignedIn: g.cfg.Now().Unix()}
	if !g.setSession(w, c, sess) {
		return
	}
	http.Redirect(w, r, returnTo, http.StatusFound)
}

// checkOrigin checks where a callback comes from and returns where the
// user goes next. A callback with a state this browser's login cookie
// holds is the gateway's own login, and must match it. Any other is
// another's: one without state (the portal's, spec §7.1) or with a state
// the gateway did not issue (the enterprise workplace's own, spec §7.2) is
// accepted when its tenant names this tenant; one with a state and no
// tenant only when Config.WorkplaceLogins says so (docs/sso-gateway.md on
// login CSRF).
func (g *Gateway) checkOrigin(w http.ResponseWriter, r *http.Request, cb callback, s settings, c codec) (string, bool) {
	var cookie *http.Cookie
	if name := loginCookieName(cb.State); name != "" {
		cookie, _ = r.Cookie(name)
	}
	if cookie == nil {
		switch {
		case cb.Tenant != "" && cb.Tenant != s.tenantCode && cb.Tenant != s.tenantID:
			g.refuse(w, http.StatusForbidden, pageBadCallback, "portal login for another tenant refused", nil)
			return "", false
		case cb.Tenant != "":
			return "/", true
		case g.cfg.WorkplaceLogins:
			return "/", true
		}
		g.refuse(w, http.StatusForbidden, pageLoginExpired, "callback with a state but no login cookie nor tenant refused", nil)
		return "", false
	}
	clearCookie(w, cookie.Name)
	l, err := c.decodeLogin(cookie.Name, cookie.Value, g.cfg.Now())
	if err != nil || subtle.ConstantTimeCompare([]byte(l.State), []byte(cb.State)) != 1 {
		g.refuse(w, http.StatusForbidden, pageLoginExpired, "callback state refused", nil)
		return "", false
	}
	return safeReturnPath(l.ReturnTo), true
}

// expireOldLogins clears the request's login cookies that are no longer
// valid, and the oldest valid ones beyond maxLogins-1, making room for a
// new one.
func (g *Gateway) expireOldLogins(w http.ResponseWriter, r *http.Request, c codec) {
	var live []login
	names := map[string]string{} // state -> cookie name
	for _, ck := range loginCookies(r) {
		l, err := c.decodeLogin(ck.Name, ck.Value, g.cfg.Now())
		if err != nil {
			clearCookie(w, ck.Name)
			continue
		}
		live = append(live, l)
		names[l.State] = ck.Name
	}
	if len(live) < maxLogins {
		return
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].At < live[j].At })
	for _, l := range live[:len(live)-(maxLogins-1)] {
		clearCookie(w, names[l.State])
	}
}

// loginCookies are r's login cookies.
func loginCookies(r *http.Request) []*http.Cookie {
	var out []*http.Cookie
	for _, ck := range r.Cookies() {
		if strings.HasPrefix(ck.Name, loginCookiePrefix) {
			out = append(out, ck)
		}
	}
	return out
}

// userInfo is what the gateway reads of userinfo (spec §7.5).
type userInfo struct {
	UserName string
	Email    string
}

// userInfoWire is userinfo's answer as sent. §7.5 gives no types, and the
// kit accepts a numeric userName in authSync (an account named by a phone
// number), which the directory keys by the number's text: both fields are
// read by the directory's rule, so such a user signs in as the user the
// directory authorised, not refused as a malformed answer.
type userInfoWire struct {
	UserName directory.ScalarText `json:"userName"`
	Email    directory.ScalarText `json:"email"`
}

// userinfo reads the signed-in user from the kit.
func (g *Gateway) userinfo(ctx context.Context, s settings, accessToken string) (userInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.userinfoURL, nil)
	if err != nil {
		return userInfo{}, errors.New("the userinfo URL is malformed")
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return userInfo{}, fmt.Errorf("userinfo unreachable: %w", withoutURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return userInfo{}, fmt.Errorf("userinfo answered HTTP %d", resp.StatusCode)
	}
	var wire userInfoWire
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUserinfoBytes)).Decode(&wire); err != nil {
		return userInfo{}, errors.New("userinfo answered something other than a JSON object whose userName and email are a string, number or boolean")
	}
	info := userInfo{UserName: string(wire.UserName), Email: string(wire.Email)}
	if info.UserName == "" || !headerSafe(info.UserName, maxUserNameChars) || !headerSafe(info.Email, maxEmailChars) {
		return userInfo{}, errors.New("userinfo named no usable userName")
	}
	return info, nil
}

// admit says whether user is authorised for the application, answering
// the refusal itself when not.
func (g *Gateway) admit(w http.ResponseWriter, s settings, user string) bool {
	ok, err := g.users.authorised(g.appID(s), user)
	switch {
	case err != nil:
		g.refuse(w, http.StatusServiceUnavailable, pageUnavailable, "the directory cannot be read", err)
		return false
	case !ok:
		clearCookie(w, sessionCookie)
		g.refuse(w, http.StatusForbidden, pageNotAuthorised, "user not authorised for the application", nil)
		return false
	}
	return true
}

// setSession writes the session cookie, which the browser keeps until
// the session's sign-in is sessionMaxAge old.
func (g *Gateway) setSession(w http.ResponseWriter, c codec, sess session) bool {
	value, err := c.encode(sessionCookie, sess)
	if err != nil {
		g.refuse(w, http.StatusBadGateway, pageLoginFailed, "the session does not fit a cookie", nil)
		return false
	}
	setCookie(w, sessionCookie, value, sess.remaining(g.cfg.Now()))
	return true
}

// logout ends the session (spec §7.6): the cookie goes, then the browser
// goes to the kit's logout, which returns it to the signed-out page.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, sessionCookie)
	for _, ck := range loginCookies(r) {
		clearCookie(w, ck.Name)
	}
	s, _, err := g.tenantSettings()
	if err != nil || s.logout == "" {
		http.Redirect(w, r, SignedOutPath, http.StatusFound)
		return
	}
	target, err := url.Parse(s.logout)
	if err != nil {
		http.Redirect(w, r, SignedOutPath, http.StatusFound)
		return
	}
	q := target.Query()
	q.Set("redirect_url", g.externalBase(r)+SignedOutPath)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func (g *Gateway) signedOut(w http.ResponseWriter, _ *http.Request) {
	g.page(w, http.StatusOK, pageSignedOut)
}

// forward sends a signed-in, authorised user's request to the app, with
// the identity headers; anyone else is sent to sign in (a page load) or
// refused (401).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request) {
	s, c, err := g.tenantSettings()
	if err != nil {
		g.settingsMissing(w, err)
		return
	}
	sess, ok := g.currentSession(w, r, s, c)
	if !ok {
		g.signIn(w, r)
		return
	}
	if !g.admit(w, s, sess.User) {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), identityKey{}, identity{user: sess.User, email: sess.Email, tenant: g.tenantHeader(s)}))
	g.proxy.ServeHTTP(w, r)
}

// tenantHeader is the value of TenantHeader: the tenantCode, or "" (no
// header) when it is not header-safe. It comes from the kit's tenantSync,
// and a control character in it would make Go's transport refuse every
// forwarded request, the tenant's app unavailable to all its users; the
// app still gets the user. Logged once, without the value.
func (g *Gateway) tenantHeader(s settings) string {
	if headerSafe(s.tenantCode, maxTenantCodeChars) {
		return s.tenantCode
	}
	g.tenantOmittedLog.Do(func() {
		g.cfg.Log.Info("Forwarding requests without "+TenantHeader+": the delivered tenantCode holds control characters or is too long",
			"maxChars", maxTenantCodeChars)
	})
	return ""
}

// currentSession is the request's session, refreshed (spec §7.4) when its
// access token has expired. ok is false without a usable one; a session
// that cannot be refreshed, or whose sign-in is sessionMaxAge old by the
// gateway's clock (session.ended: however often it was refreshed, and
// one without a sign-in time), is cleared.
func (g *Gateway) currentSession(w http.ResponseWriter, r *http.Request, s settings, c codec) (session, bool) {
	cookie, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	sess, err := c.decodeSession(cookie.Value)
	if err != nil || sess.ended(g.cfg.Now()) {
		clearCookie(w, sessionCookie)
		return session{}, false
	}
	if sess.Expiry == 0 || g.cfg.Now().Before(time.Unix(sess.Expiry, 0)) {
		return sess, true
	}
	refreshed, err := g.refreshOnce(r.Context(), s, sess)
	if err != nil {
		if g.cfg.Now().Before(time.Unix(sess.Expiry, 0).Add(refreshGrace)) {
			// Most likely another request of the same page refreshed with
			// this refresh token first, on another replica, and the kit
			// rotated it: that request's Set-Cookie carries the new tokens.
			// This one goes on with the session as it is (admission is still
			// checked against the directory).
			g.cfg.Log.Info("Token refresh failed within the grace after expiry; the session goes on", "reason", err.Error())
			return sess, true
		}
		g.cfg.Log.Info("Session ended: its token could not be refreshed", "reason", err.Error())
		clearCookie(w, sessionCookie)
		return session{}, false
	}
	// A refresh does not extend the session: the result, which may be
	// another request's with the same refresh token, keeps this sign-in.
	refreshed.SignedIn = sess.SignedIn
	return refreshed, g.setSession(w, c, refreshed)
}

// refreshGrace is how long after its access token's expiry a session
// whose refresh fails goes on (without a new cookie); past it a failed
// refresh ends the session. refreshKeep is how long a refresh's result is
// kept for the requests that come with the same refresh token after it.
const (
	refreshGrace = 2 * time.Minute
	refreshKeep  = 30 * time.Second
)

// refreshResult is a refresh's outcome, kept refreshKeep.
type refreshResult struct {
	sess session
	err  error
	at   time.Time
}

// refreshOnce refreshes sess once per refresh token in this replica: the
// parallel requests of a page whose token has expired share one refresh
// (a kit that rotates refresh tokens accepts each only once), and those
// arriving within refreshKeep after it get its result.
func (g *Gateway) refreshOnce(ctx context.Context, s settings, sess session) (session, error) {
	sum := sha256.Sum256([]byte(s.clientID + "\x00" + sess.RefreshToken))
	key := hex.EncodeToString(sum[:])
	if res, ok := g.keptRefresh(key); ok {
		return sameUser(res, sess)
	}
	v, _, _ := g.flights.Do(key, func() (any, error) {
		if res, ok := g.keptRefresh(key); ok {
			return res, nil
		}
		// The refresh is shared: it must not end with the first
		// request's cancellation.
		refreshed, err := g.refresh(context.WithoutCancel(ctx), s, sess)
		res := refreshResult{sess: refreshed, err: err, at: g.cfg.Now()}
		g.keepRefresh(key, res)
		return res, nil
	})
	return sameUser(v.(refreshResult), sess)
}

// sameUser is res's session, when it is sess's user's.
func sameUser(res refreshResult, sess session) (session, error) {
	if res.err != nil {
		return session{}, res.err
	}
	if res.sess.User != sess.User {
		return session{}, errors.New("the refreshed token is another user's")
	}
	return res.sess, nil
}

func (g *Gateway) keptRefresh(key string) (refreshResult, bool) {
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	res, ok := g.refreshed[key]
	if !ok || g.cfg.Now().Sub(res.at) >= refreshKeep {
		return refreshResult{}, false
	}
	return res, true
}

// keepRefresh keeps res under key, dropping the results older than
// refreshKeep.
func (g *Gateway) keepRefresh(key string, res refreshResult) {
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	now := g.cfg.Now()
	for k, old := range g.refreshed {
		if now.Sub(old.at) >= refreshKeep {
			delete(g.refreshed, k)
		}
	}
	g.refreshed[key] = res
}

// refresh gets a new access token with the session's refresh token (spec
// §7.4) and checks that it is still the same user's.
func (g *Gateway) refresh(ctx context.Context, s settings, sess session) (session, error) {
	if sess.RefreshToken == "" {
		return session{}, errors.New("the session has no refresh token")
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.cfg.HTTPClient)
	// Without its access token the old token is invalid: the source
	// refreshes it whatever the real clock says.
	token, err := s.oauthConfig("").TokenSource(ctx, &oauth2.Token{RefreshToken: sess.RefreshToken}).Token()
	if err != nil {
		return session{}, oauthError(err)
	}
	info, err := g.userinfo(ctx, s, token.AccessToken)
	if err != nil {
		return session{}, err
	}
	if info.UserName != sess.User {
		return session{}, errors.New("the refreshed token is another user's")
	}
	sess.AccessToken, sess.Expiry, sess.Email = token.AccessToken, g.expiry(token), info.Email
	if token.RefreshToken != "" {
		sess.RefreshToken = token.RefreshToken
	}
	return sess, nil
}

// expiry is when token expires by the gateway's clock, in Unix seconds:
// now plus expires_in (spec §7.3); 0 when the kit did not say.
func (g *Gateway) expiry(token *oauth2.Token) int64 {
	if token.ExpiresIn <= 0 {
		return 0
	}
	return g.cfg.Now().Add(time.Duration(token.ExpiresIn) * time.Second).Unix()
}

// signIn sends a browser's page load to the login, and refuses anything
// else with 401: a script's request cannot follow the kit's login form.
func (g *Gateway) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, StartPath+"?rd="+url.QueryEscape(safeReturnPath(r.URL.RequestURI())), http.StatusFound)
		return
	}
	g.page(w, http.StatusUnauthorized, pageSignInFirst)
}

// identityKey keys the signed-in identity in a forwarded request's context.
type identityKey struct{}

type identity struct{ user, email, tenant string }

// rewrite builds the request to the app: the client's identity headers
// (and any X-Forwarded-* or X-Auth-Request-* header but the standard
// proxy ones, under any spelling with underscores) go, the gateway's own
// are set, and the gateway's cookies are not passed on. The standard
// proxy headers keep what the proxy in front of the gateway (the Ingress)
// set; see forwardedHeaders.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.cfg.Upstream)
	pr.Out.Host = pr.In.Host
	for name := range pr.Out.Header {
		if isIdentityHeader(name) {
			pr.Out.Header.Del(name)
		}
	}
	forwardedHeaders(pr)
	id, _ := pr.In.Context().Value(identityKey{}).(identity)
	pr.Out.Header.Set(UserHeader, id.user)
	if id.email != "" {
		pr.Out.Header.Set(EmailHeader, id.email)
	}
	if id.tenant != "" {
		pr.Out.Header.Set(TenantHeader, id.tenant)
	}
	withoutGatewayCookies(pr.Out)
}

// forwardedHeaders sets the standard proxy headers of the request to the
// app. The gateway sits behind the TLS-terminating Ingress, so what that
// proxy set is kept: X-Forwarded-For gets the peer's address appended (as
// the standard library's Director does), and X-Forwarded-Proto, -Host and
// -Port pass unchanged when present; when absent, Proto is https or http
// as the gateway's own connection was, Host the request's Host, and Port
// is not set.
func forwardedHeaders(pr *httputil.ProxyRequest) {
	in, out := pr.In.Header, pr.Out.Header
	out.Del("X-Forwarded-For")
	if peer, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := in.Values("X-Forwarded-For"); len(prior) > 0 {
			peer = strings.Join(prior, ", ") + ", " + peer
		}
		out.Set("X-Forwarded-For", peer)
	}
	keep := func(name, otherwise string) {
		out.Del(name)
		if v := in.Get(name); v != "" {
			out.Set(name, v)
		} else if otherwise != "" {
			out.Set(name, otherwise)
		}
	}
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	keep("X-Forwarded-Proto", proto)
	keep("X-Forwarded-Host", pr.In.Host)
	keep("X-Forwarded-Port", "")
}

// isIdentityHeader says whether a client-sent header could pass for an
// identity: any X-Forwarded-* but For, Host, Proto and Port (which
// forwardedHeaders handles), and any X-Auth-Request-*. Underscores are
// read as hyphens (a WSGI or CGI app reads X_Forwarded_User as
// X-Forwarded-User), and a name with one is stripped even among the
// standard four: a proxy never sends that spelling.
func isIdentityHeader(name string) bool {
	lower := strings.ToLower(name)
	hyphens := strings.ReplaceAll(lower, "_", "-")
	if !strings.HasPrefix(hyphens, "x-forwarded-") && !strings.HasPrefix(hyphens, "x-auth-request-") {
		return false
	}
	if hyphens != lower {
		return true
	}
	switch lower {
	case "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port":
		return false
	}
	return true
}

// withoutGatewayCookies removes the gateway's cookies from r: the app has
// no use for them.
func withoutGatewayCookies(r *http.Request) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != sessionCookie && !strings.HasPrefix(c.Name, loginCookiePrefix) {
			r.AddCookie(c)
		}
	}
}

func (g *Gateway) upstreamError(w http.ResponseWriter, _ *http.Request, err error) {
	g.cfg.Log.Info("The app did not answer", "reason", withoutURL(err).Error())
	g.page(w, http.StatusBadGateway, pageUpstreamDown)
}

// refuse answers a page and logs why, without personal data or secrets.
func (g *Gateway) refuse(w http.ResponseWriter, status int, p page, why string, err error) {
	if err != nil {
		g.cfg.Log.Info("Login refused", "reason", why, "error", err.Error())
	} else {
		g.cfg.Log.Info("Login refused", "reason", why)
	}
	g.page(w, status, p)
}

// oauthError is err without the token endpoint's body, which may echo
// what was sent.
func oauthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" && re.Response != nil {
			code = fmt.Sprintf("HTTP %d", re.Response.StatusCode)
		}
		return fmt.Errorf("the token endpoint refused: %s", code)
	}
	return withoutURL(err)
}

// withoutURL is err without a URL it quotes (which may carry a code).
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// The lengths of userinfo's fields, in characters as the spec counts them:
// userinfo names the users authSync sends (spec §7.5, §3.11.3). Counted in
// bytes, a Chinese e-mail of 86 characters (3 bytes each) would refuse its
// user's sign-in. At 4 bytes a character at most, both together are 768
// bytes: far within the 8 KiB a proxy commonly allows a request's header
// lines, and they leave the tokens most of the session cookie
// (maxCookieBytes).
const (
	maxUserNameChars = 64
	maxEmailChars    = 128
)

// maxTenantCodeChars is tenantCode's length in the spec (§3.11.1), which
// the kit decoder holds it to.
const maxTenantCodeChars = 64

// headerSafe says whether s may be a header value of at most maxChars
// characters: no control characters.
func headerSafe(s string, maxChars int) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return utf8.RuneCountInString(s) <= maxChars
}
