package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file plays the kit's OAuth server, the tenant's unified
// authentication at {domain_name} (spec §7): authorise with a login form
// (§7.2; without state it answers as the portal does, §7.1, with tenant),
// token for a code and for a refresh token (§7.3, §7.4), userinfo (§7.5)
// and logout (§7.6). Its accounts are the users the kit command syncs
// (kitUsers: sim.user00000, sim.user00001...), every number of them: the
// enterprise has them all, and kooper's directory says which are
// authorised for the application. They all share one password.

// Paths of the kit's OAuth server, under the domain.
const (
	ssoAuthorizePath = "/api/v1/oauth2/authorize"
	ssoTokenPath     = "/api/v1/oauth2/token"
	ssoUserinfoPath  = "/api/v1/oauth2/userinfo"
	ssoLogoutPath    = "/api/v1/logout"
	// kitSessionCookie is the kit's own session, set by a login through
	// the form, so that a second authorise skips the form until logout.
	kitSessionCookie = "sim_kit_session"
)

// Defaults of the kit's OAuth server: the kit command's client and tenant.
const (
	defaultSSOPassword   = "sim-password"
	defaultTokenLifetime = 7200 * time.Second // the doc example's expires_in
	refreshLifetime      = 30 * 24 * time.Hour
	codeLifetime         = 5 * time.Minute
	// maxSSOGrants bounds each table of codes, tokens and sessions.
	maxSSOGrants = 10_000
)

// simUserPattern is a kit account: the kit command's user names.
var simUserPattern = regexp.MustCompile(`^sim\.user([0-9]{5})$`)

// ssoConfig configures the kit's OAuth server.
type ssoConfig struct {
	clientID, clientSecret, password string
	tenantID, tenantCode             string
	tokenLifetime                    time.Duration
}

func defaultSSOConfig() ssoConfig {
	return ssoConfig{clientID: "sim-client", clientSecret: "sim-client-secret", password: defaultSSOPassword,
		tenantID: "sim-tenant", tenantCode: "sim", tokenLifetime: defaultTokenLifetime}
}

// ssoGrant is what a code, token or kit session stands for.
type ssoGrant struct {
	user        string
	redirectURI string
	expires     time.Time
}

// ssoServer is the kit's OAuth server, with state in memory.
type ssoServer struct {
	cfg ssoConfig
	now func() time.Time
	log func(r *http.Request, status int, detail string)

	mu       sync.Mutex
	codes    map[string]ssoGrant
	access   map[string]ssoGrant
	refresh  map[string]ssoGrant
	sessions map[string]ssoGrant
}

func newSSOServer(cfg ssoConfig, now func() time.Time, log func(*http.Request, int, string)) *ssoServer {
	return &ssoServer{cfg: cfg, now: now, log: log, codes: map[string]ssoGrant{}, access: map[string]ssoGrant{},
		refresh: map[string]ssoGrant{}, sessions: map[string]ssoGrant{}}
}

func (s *ssoServer) register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ssoAuthorizePath, s.authorizeForm)
	mux.HandleFunc("POST "+ssoAuthorizePath, s.authorizeLogin)
	mux.HandleFunc("POST "+ssoTokenPath, s.token)
	mux.HandleFunc("GET "+ssoUserinfoPath, s.userinfo)
	mux.HandleFunc("GET "+ssoLogoutPath, s.logout)
}

// issue stores a new random value for grant in table, emptying a full one.
func (s *ssoServer) issue(table map[string]ssoGrant, grant ssoGrant) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(table) >= maxSSOGrants {
		clear(table)
	}
	table[v] = grant
	return v
}

// lookup returns the live grant of v in table; take removes it.
func (s *ssoServer) lookup(table map[string]ssoGrant, v string, take bool) (ssoGrant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grant, ok := table[v]
	if take {
		delete(table, v)
	}
	if !ok || !s.now().Before(grant.expires) {
		return ssoGrant{}, false
	}
	return grant, true
}

var loginForm = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Joint-operation sign-in (simulated)</title></head>
<body><h1>Sign in with your joint-operation account</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="` + ssoAuthorizePath + `">
<input type="hidden" name="client_id" value="{{.ClientID}}"><input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}">
<label>Account <input id="username" name="userName" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Sign in</button>
</form></body></html>
`))

type loginPage struct {
	ClientID, RedirectURI, State, Error string
}

// authorizeForm is GET authorize (§7.2): the form, or straight back to
// the app when the browser is signed in to the kit already.
func (s *ssoServer) authorizeForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := loginPage{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state")}
	if q.Get("response_type") != "code" || !s.clientRedirect(p) {
		s.plainError(w, r, http.StatusBadRequest, "response_type must be code, client_id this client's, redirect_uri an absolute http(s) URL")
		return
	}
	if c, err := r.Cookie(kitSessionCookie); err == nil {
		if grant, ok := s.lookup(s.sessions, c.Value, false); ok {
			s.redirectWithCode(w, r, p, grant.user)
			return
		}
	}
	s.showForm(w, r, http.StatusOK, p)
}

func (s *ssoServer) showForm(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginForm.Execute(w, p)
	s.log(r, status, "login form")
}

// clientRedirect checks the client and its redirect URI.
func (s *ssoServer) clientRedirect(p loginPage) bool {
	u, err := url.Parse(p.RedirectURI)
	return p.ClientID == s.cfg.clientID && err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// authorizeLogin is the form's POST: the account and password, then back
// to the app with a code.
func (s *ssoServer) authorizeLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRegistrationBody)
	if err := r.ParseForm(); err != nil {
		s.plainError(w, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	p := loginPage{ClientID: r.PostForm.Get("client_id"), RedirectURI: r.PostForm.Get("redirect_uri"), State: r.PostForm.Get("state")}
	if !s.clientRedirect(p) {
		s.plainError(w, r, http.StatusBadRequest, "client_id must be this client's, redirect_uri an absolute http(s) URL")
		return
	}
	user, password := r.PostForm.Get("userName"), r.PostForm.Get("password")
	if !simUserPattern.MatchString(user) || subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.password)) != 1 {
		p.Error = "Unknown account or wrong password."
		s.showForm(w, r, http.StatusUnauthorized, p)
		return
	}
	session := s.issue(s.sessions, ssoGrant{user: user, expires: s.now().Add(12 * time.Hour)})
	http.SetCookie(w, &http.Cookie{Name: kitSessionCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.redirectWithCode(w, r, p, user)
}

// redirectWithCode sends the browser back with a single-use code and the
// state; without state, as the portal does (§7.1), with tenant.
func (s *ssoServer) redirectWithCode(w http.ResponseWriter, r *http.Request, p loginPage, user string) {
	code := s.issue(s.codes, ssoGrant{user: user, redirectURI: p.RedirectURI, expires: s.now().Add(codeLifetime)})
	target, _ := url.Parse(p.RedirectURI) // checked by clientRedirect
	q := target.Query()
	q.Set("code", code)
	if p.State != "" {
		q.Set("state", p.State)
	} else {
		q.Set("tenant", s.cfg.tenantCode)
	}
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
	s.log(r, http.StatusFound, "code issued")
}

// tokenAnswer is §7.3's answer.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

// token is §7.3 (grant_type authorization_code) and §7.4 (refresh_token):
// the client's id and secret in the form.
func (s *ssoServer) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRegistrationBody)
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, r, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	f := r.PostForm
	if f.Get("client_id") != s.cfg.clientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.cfg.clientSecret)) != 1 {
		s.oauthError(w, r, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	var grant ssoGrant
	var ok bool
	switch f.Get("grant_type") {
	case "authorization_code":
		grant, ok = s.lookup(s.codes, f.Get("code"), true)
		if ok && f.Get("redirect_uri") != "" && f.Get("redirect_uri") != grant.redirectURI {
			ok = false
		}
	case "refresh_token":
		grant, ok = s.lookup(s.refresh, f.Get("refresh_token"), true)
	default:
		s.oauthError(w, r, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	if !ok {
		s.oauthError(w, r, http.StatusBadRequest, "invalid_grant", "the code or refresh token is invalid, used or expired")
		return
	}
	answer := tokenAnswer{TokenType: "Bearer", Scope: "get_user_info", ExpiresIn: int64(s.cfg.tokenLifetime.Seconds()),
		AccessToken:  s.issue(s.access, ssoGrant{user: grant.user, expires: s.now().Add(s.cfg.tokenLifetime)}),
		RefreshToken: s.issue(s.refresh, ssoGrant{user: grant.user, expires: s.now().Add(refreshLifetime)})}
	s.writeJSON(w, r, http.StatusOK, answer, f.Get("grant_type"))
}

// userinfoAnswer is §7.5's answer.
type userinfoAnswer struct {
	ID               string `json:"id"`
	UserName         string `json:"userName"`
	Name             string `json:"name"`
	Email            string `json:"email"`
	Mobile           string `json:"mobile"`
	Role             string `json:"role"`
	OrganizationName string `json:"organizationName"`
	OrganizationCode string `json:"organizationCode"`
	UserID           string `json:"userId"`
	ProjectName      string `json:"projectName"`
	Tenant           string `json:"tenant"`
}

// userinfo is §7.5: the bearer's account, as kitUsers describes it.
func (s *ssoServer) userinfo(w http.ResponseWriter, r *http.Request) {
	bearer, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	grant, ok := s.lookup(s.access, bearer, false)
	if !found || !ok {
		s.oauthError(w, r, http.StatusUnauthorized, "unauthorized", "the access token is invalid or expired")
		return
	}
	n, _ := strconv.Atoi(simUserPattern.FindStringSubmatch(grant.user)[1])
	s.writeJSON(w, r, http.StatusOK, userinfoAnswer{ID: "id-" + grant.user, UserName: grant.user, Name: fmt.Sprintf("Sim User %d", n),
		Email: grant.user + "@example.com", Role: "user", OrganizationName: fmt.Sprintf("Department %d", n%5),
		OrganizationCode: fmt.Sprintf("sim-d%d", n%5), UserID: "uid-" + grant.user, ProjectName: "sim", Tenant: s.cfg.tenantCode}, "userinfo")
}

// logout is §7.6: the kit's session ends and the browser returns to
// redirect_url.
func (s *ssoServer) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(kitSessionCookie); err == nil {
		s.lookup(s.sessions, c.Value, true)
	}
	http.SetCookie(w, &http.Cookie{Name: kitSessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	target, err := url.Parse(r.URL.Query().Get("redirect_url"))
	if err != nil || (target.Scheme != "https" && target.Scheme != "http") {
		s.plainError(w, r, http.StatusBadRequest, "redirect_url must be an absolute http(s) URL")
		return
	}
	http.Redirect(w, r, target.String(), http.StatusFound)
	s.log(r, http.StatusFound, "signed out")
}

func (s *ssoServer) oauthError(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	s.writeJSON(w, r, status, map[string]string{"error": code, "error_description": description}, code)
}

func (s *ssoServer) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any, detail string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	s.log(r, status, detail)
}

func (s *ssoServer) plainError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	http.Error(w, msg, status)
	s.log(r, status, msg)
}
