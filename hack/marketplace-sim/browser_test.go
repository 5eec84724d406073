package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/ssogateway"
)

// requireBrowserEnv set to 1 (CI sets it) makes a missing browser fail the
// browser test instead of skipping it.
const requireBrowserEnv = "KOOPER_REQUIRE_BROWSER"

// chromiumPath is Debian's chromium package's binary.
const chromiumPath = "/usr/bin/chromium"

// ssoStack is the simulator playing the kit, the sample app, and kooper's
// gateway in front of it, all on loopback.
type ssoStack struct {
	kit, gateway, app string // base URLs
}

// The application and users of the test enterprise: the kit command's
// defaults (--app-id sim-app, authSync --users 3: sim.user00000 to
// sim.user00002 are authorised). sim.user00042 is an account of the
// enterprise that nobody authorised.
const (
	browserAppID        = "sim-app"
	authorisedUsers     = 3
	authorisedUser      = "sim.user00001"
	unauthorisedAccount = "sim.user00042"
)

// startSSOStack starts the stack. The gateway reads the files kooper
// delivers into a tenant pod: kooper-sso's keys, and the users shard that
// the kit command's authSync leads to (each user with the appId it was
// authorised for).
func startSSOStack(t *testing.T) ssoStack {
	t.Helper()
	g := NewWithT(t)
	kit := startSim(t, defaultServerConfig())
	appURL := startSampleApp(t)

	ssoDir, dirDir := t.TempDir(), t.TempDir()
	files := map[string]string{"clientId": "sim-client", "clientSecret": "sim-client-secret", "appId": browserAppID,
		"tenantId": "sim-tenant", "tenantCode": "sim",
		"authorizeUrl": kit.URL + ssoAuthorizePath, "tokenUrl": kit.URL + ssoTokenPath,
		"userinfoUrl": kit.URL + ssoUserinfoPath, "logoutUrl": kit.URL + ssoLogoutPath}
	for name, content := range files {
		g.Expect(os.WriteFile(filepath.Join(ssoDir, name), []byte(content), 0o600)).To(Succeed())
	}
	users := make([]callbackBody, 0, authorisedUsers)
	for _, u := range kitUsers(0, authorisedUsers) {
		users = append(users, append(callbackBody{{"appId", browserAppID}}, u...))
	}
	var shard bytes.Buffer
	g.Expect(writeJSONValue(&shard, users)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dirDir, "users-000.json"), shard.Bytes(), 0o600)).To(Succeed())

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	base := "http://" + listener.Addr().String()
	upstream, _ := url.Parse(appURL)
	gw, err := ssogateway.New(ssogateway.Config{Upstream: upstream, SSODir: ssoDir, DirectoryDir: dirDir, ExternalURL: base})
	g.Expect(err).NotTo(HaveOccurred())
	srv := &httptest.Server{Listener: listener, Config: &http.Server{Handler: gw, ReadHeaderTimeout: 5 * time.Second}}
	srv.Start()
	t.Cleanup(srv.Close)
	return ssoStack{kit: kit.URL, gateway: base, app: appURL}
}

// startSampleApp builds and runs hack/sample-app on a free loopback port.
func startSampleApp(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	bin := filepath.Join(t.TempDir(), "sample-app")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../sample-app"
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	port := l.Addr().(*net.TCPAddr).Port
	g.Expect(l.Close()).To(Succeed())
	app := exec.Command(bin)
	app.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "DATA_DIR="+t.TempDir())
	g.Expect(app.Start()).To(Succeed())
	t.Cleanup(func() { _ = app.Process.Kill(); _ = app.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	g.Eventually(func() (int, error) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).Should(Equal(http.StatusOK))
	return base
}

// newBrowser starts headless Chromium with a fresh profile and the flags it
// needs on a closed network; it skips the test when Chromium is missing,
// unless KOOPER_REQUIRE_BROWSER=1.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv(requireBrowserEnv) == "1" {
			t.Fatalf("%s is required (%s=1) but missing: apt-get install -y chromium, or run make test as root", chromiumPath, requireBrowserEnv)
		}
		t.Skipf("no %s (apt-get install -y chromium); set %s=1 to make this a failure", chromiumPath, requireBrowserEnv)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true), chromedp.WindowSize(1024, 768),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// screenshot saves the page as <step>.png in the test's artifact directory
// (kept under -outputdir with go test -artifacts).
func screenshot(t *testing.T, step string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, target) // 100: PNG
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(t.ArtifactDir(), step+".png"), png, 0o600)
	})
}

// signInThroughTheKitForm opens path on the gateway, which sends the
// browser to the kit's form; it signs in there as user.
func signInThroughTheKitForm(t *testing.T, s ssoStack, path, user, step string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(s.gateway+path),
		chromedp.WaitVisible(chromedp.ID("username")),
		screenshot(t, step),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), defaultSSOPassword),
		chromedp.Click(chromedp.ID("submit")),
	)
}

// text waits for the element with id and returns its text.
func text(ctx context.Context, g *WithT, id string) string {
	g.Expect(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID(id)))).To(Succeed())
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	g.Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(s)
}

// setExtraHeaders makes the browser send headers with every request.
func setExtraHeaders(ctx context.Context, headers network.Headers) error {
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers})
	return err
}

// TestKitSSOInARealBrowser signs users in to the sample app through kooper's
// gateway and the simulated kit, in headless Chromium: an authorised user
// sees their own name (a forged X-Forwarded-User changes nothing), logout
// ends the session, an account nobody authorised is refused.
func TestKitSSOInARealBrowser(t *testing.T) {
	ctx := newBrowser(t)
	g := NewWithT(t)
	s := startSSOStack(t)
	t.Logf("screenshots in %s", t.ArtifactDir())

	g.Expect(chromedp.Do(ctx, signInThroughTheKitForm(t, s, "/whoami", authorisedUser, "01-kit-login-form"))).To(Succeed())
	g.Expect(text(ctx, g, "user")).To(Equal(authorisedUser))
	g.Expect(text(ctx, g, "email")).To(Equal(authorisedUser + "@example.com"))
	g.Expect(text(ctx, g, "tenant")).To(Equal("sim"))
	g.Expect(chromedp.Do(ctx, screenshot(t, "02-signed-in"))).To(Succeed())

	// A forged identity header on every request the browser sends.
	g.Expect(setExtraHeaders(ctx, network.Headers{"X-Forwarded-User": "mallory", "X-Forwarded-Email": "mallory@example.com"})).To(Succeed())
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(s.app+"/whoami"))).To(Succeed())
	g.Expect(text(ctx, g, "user")).To(Equal("mallory"), "the browser sends the forged header: the app, reached without the gateway, believes it")
	g.Expect(chromedp.Do(ctx, screenshot(t, "03a-forged-header-without-the-gateway"), chromedp.Navigate(s.gateway+"/whoami"))).To(Succeed())
	g.Expect(text(ctx, g, "user")).To(Equal(authorisedUser))
	g.Expect(text(ctx, g, "email")).To(Equal(authorisedUser + "@example.com"))
	g.Expect(chromedp.Do(ctx, screenshot(t, "03-forged-header-ignored"))).To(Succeed())
	g.Expect(setExtraHeaders(ctx, network.Headers{})).To(Succeed())

	// The session cookie is HttpOnly: the page's scripts cannot read it.
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cookies).NotTo(ContainSubstring("kooper_session"))

	// Logout ends the gateway's session and the kit's.
	g.Expect(chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")))).To(Succeed())
	g.Expect(text(ctx, g, "title")).To(Equal("Signed out"))
	g.Expect(chromedp.Do(ctx, screenshot(t, "04-signed-out"), chromedp.Navigate(s.gateway+"/whoami"),
		chromedp.WaitVisible(chromedp.ID("username")), screenshot(t, "05-kit-login-form-again"))).To(Succeed())

	// An account of the enterprise that is not authorised for the app.
	g.Expect(chromedp.Do(ctx, signInThroughTheKitForm(t, s, "/whoami", unauthorisedAccount, "06-kit-login-form-unauthorised"))).To(Succeed())
	g.Expect(text(ctx, g, "title")).To(Equal("Not authorised"))
	g.Expect(text(ctx, g, "message")).To(ContainSubstring("not authorised for this application"))
	g.Expect(chromedp.Do(ctx, screenshot(t, "07-not-authorised"))).To(Succeed())
	// Signed in at the kit, the account skips the form next time: the
	// gateway still refuses it.
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(s.gateway+"/whoami"))).To(Succeed())
	g.Expect(text(ctx, g, "title")).To(Equal("Not authorised"))
}

func TestAMissingOutputDirectoryIsMadeBeforeEnvtestStarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "there")
	if err := ensureOutputDir(true, dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Fatalf("%s not made: %v", dir, err)
	}
	if err := ensureOutputDir(false, filepath.Join(t.TempDir(), "unused")); err != nil {
		t.Fatal(err)
	}
}
