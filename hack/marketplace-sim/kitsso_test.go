package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// ssoClient is a browser without redirects: each answer is inspected.
func ssoClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signInAtKit posts the login form and returns the redirect's query.
func signInAtKit(g *WithT, c *http.Client, base, user, password, state string) (*http.Response, url.Values) {
	resp, err := c.PostForm(base+ssoAuthorizePath, url.Values{"client_id": {"sim-client"}, "redirect_uri": {"https://crm.example.com/oauth2/callback"},
		"state": {state}, "userName": {user}, "password": {password}})
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	g.Expect(err).NotTo(HaveOccurred())
	return resp, loc.Query()
}

func token(g *WithT, base string, form url.Values) (int, map[string]any) {
	resp, err := http.PostForm(base+ssoTokenPath, form)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var answer map[string]any
	g.Expect(json.NewDecoder(resp.Body).Decode(&answer)).To(Succeed())
	return resp.StatusCode, answer
}

func userinfo(g *WithT, base, access string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodGet, base+ssoUserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var answer map[string]any
	g.Expect(json.NewDecoder(resp.Body).Decode(&answer)).To(Succeed())
	return resp.StatusCode, answer
}

var clientForm = url.Values{"client_id": {"sim-client"}, "client_secret": {"sim-client-secret"}}

func withClient(extra url.Values) url.Values {
	form := url.Values{}
	for k, v := range clientForm {
		form[k] = v
	}
	for k, v := range extra {
		form[k] = v
	}
	return form
}

func TestTheKitOAuthServerSignsAUserInAndOut(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	c := ssoClient(t)

	resp, err := c.Get(srv.URL + ssoAuthorizePath + "?response_type=code&client_id=sim-client&scope=get_user_info&state=xyz&redirect_uri=" +
		url.QueryEscape("https://crm.example.com/oauth2/callback"))
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	_, q := signInAtKit(g, c, srv.URL, "sim.user00003", defaultSSOPassword, "xyz")
	g.Expect(q.Get("state")).To(Equal("xyz"))
	g.Expect(q.Get("code")).NotTo(BeEmpty())

	status, tok := token(g, srv.URL, withClient(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {"https://crm.example.com/oauth2/callback"}}))
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(tok).To(HaveKeyWithValue("token_type", "Bearer"))
	g.Expect(tok).To(HaveKeyWithValue("expires_in", BeNumerically("==", 7200)))
	g.Expect(tok).To(HaveKeyWithValue("scope", "get_user_info"))
	g.Expect(tok).NotTo(HaveKey("id_token"))

	status, info := userinfo(g, srv.URL, tok["access_token"].(string))
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(info).To(HaveKeyWithValue("userName", "sim.user00003"))
	g.Expect(info).To(HaveKeyWithValue("name", "Sim User 3"))
	g.Expect(info).To(HaveKeyWithValue("email", "sim.user00003@example.com"))
	g.Expect(info).To(HaveKeyWithValue("organizationCode", "sim-d3"))

	// The code is single use; the refresh token gives a new access token.
	status, tok2 := token(g, srv.URL, withClient(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}}))
	g.Expect(status).To(Equal(http.StatusBadRequest))
	g.Expect(tok2).To(HaveKeyWithValue("error", "invalid_grant"))
	status, refreshed := token(g, srv.URL, withClient(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}))
	g.Expect(status).To(Equal(http.StatusOK))
	g.Expect(refreshed["access_token"]).NotTo(Equal(tok["access_token"]))

	// Signed in at the kit, a second authorise skips the form; logout ends that.
	resp, err = c.Get(srv.URL + ssoAuthorizePath + "?response_type=code&client_id=sim-client&redirect_uri=" + url.QueryEscape("https://crm.example.com/cb"))
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusFound))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	g.Expect(loc.Query().Get("tenant")).To(Equal("sim"), "without state the kit answers as its portal does (§7.1)")
	g.Expect(loc.Query().Has("state")).To(BeFalse())

	resp, err = c.Get(srv.URL + ssoLogoutPath + "?redirect_url=" + url.QueryEscape("https://crm.example.com/oauth2/signed-out"))
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusFound))
	g.Expect(resp.Header.Get("Location")).To(Equal("https://crm.example.com/oauth2/signed-out"))
	resp, err = c.Get(srv.URL + ssoAuthorizePath + "?response_type=code&client_id=sim-client&redirect_uri=" + url.QueryEscape("https://crm.example.com/cb"))
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "the login form again")
}

func TestTheKitOAuthServerRefuses(t *testing.T) {
	cfg := defaultServerConfig()
	var now atomic.Int64
	now.Store(1_800_000_000)
	cfg.now = func() time.Time { return time.Unix(now.Load(), 0) }
	srv := startSim(t, cfg)
	cases := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"a wrong client secret", url.Values{"client_id": {"sim-client"}, "client_secret": {"x"}, "grant_type": {"authorization_code"}, "code": {"c"}}, http.StatusUnauthorized, "invalid_client"},
		{"an unknown code", withClient(url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}), http.StatusBadRequest, "invalid_grant"},
		{"an unknown refresh token", withClient(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}), http.StatusBadRequest, "invalid_grant"},
		{"another grant type", withClient(url.Values{"grant_type": {"password"}}), http.StatusBadRequest, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			status, answer := token(g, srv.URL, tc.form)
			g.Expect(status).To(Equal(tc.wantStatus))
			g.Expect(answer).To(HaveKeyWithValue("error", tc.wantError))
		})
	}
	t.Run("a wrong password or an account it does not have", func(t *testing.T) {
		g := NewWithT(t)
		for _, user := range []string{"sim.user00001", "alice"} {
			password := "wrong"
			if user == "alice" {
				password = defaultSSOPassword
			}
			resp, q := signInAtKit(g, ssoClient(t), srv.URL, user, password, "s")
			g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
			g.Expect(q).To(BeNil())
		}
	})
	t.Run("an expired access token", func(t *testing.T) {
		g := NewWithT(t)
		_, q := signInAtKit(g, ssoClient(t), srv.URL, "sim.user00001", defaultSSOPassword, "s")
		_, tok := token(g, srv.URL, withClient(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}}))
		now.Add(7201)
		status, answer := userinfo(g, srv.URL, tok["access_token"].(string))
		g.Expect(status).To(Equal(http.StatusUnauthorized))
		g.Expect(answer).To(HaveKeyWithValue("error", "unauthorized"))
	})
	t.Run("a redirect_uri that is not absolute", func(t *testing.T) {
		g := NewWithT(t)
		resp, err := http.Get(srv.URL + ssoAuthorizePath + "?response_type=code&client_id=sim-client&redirect_uri=/cb")
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		g.Expect(strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")).To(BeTrue())
	})
}
