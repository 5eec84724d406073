package ssogateway

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The gateway's own clock bounds a session: securecookie stamps each
// encoding with the real time, so these tests move only the fixture's
// clock and assert the gateway's own check of the sign-in time.

func TestASessionEndsTwelveHoursAfterSignInWhateverTheRefreshes(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	session := f.signIn(g, "alice")

	// At +11h the access token (2 hours) has expired: the session is
	// refreshed and goes on, for what is left of its 12 hours.
	f.clock.add(11 * time.Hour)
	w := f.request(http.MethodGet, "/", browser, session)
	g.Expect(forwarded(g, w).Get("X-Forwarded-User")).To(Equal("alice"))
	refreshed := cookie(w, sessionCookie)
	g.Expect(refreshed).NotTo(BeNil())
	refreshes := f.kit.refreshCount()
	g.Expect(refreshes).To(Equal(1))

	// At +12h01m the refreshed cookie, whose tokens are still good, is sent
	// to sign in, and neither it nor the original is refreshed again.
	f.clock.add(61 * time.Minute)
	for _, c := range []*http.Cookie{refreshed, session} {
		w = f.request(http.MethodGet, "/", browser, c)
		g.Expect(w.Code).To(Equal(http.StatusFound), w.Body.String())
		g.Expect(w.Header().Get("Location")).To(HavePrefix(StartPath))
		g.Expect(cookie(w, sessionCookie).MaxAge).To(BeNumerically("<", 0))
	}
	g.Expect(f.kit.refreshCount()).To(Equal(refreshes))

	// The browser was told to drop the refreshed cookie when its sign-in
	// is 12 hours old, not 12 hours after the refresh.
	g.Expect(refreshed.MaxAge).To(BeNumerically(">", 0))
	g.Expect(refreshed.MaxAge).To(BeNumerically("<=", int(time.Hour.Seconds())))
}

func TestASessionCookieWithoutASignInTimeIsSentToSignIn(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	_, c, err := f.gateway.tenantSettings()
	g.Expect(err).NotTo(HaveOccurred())
	// What the previous version wrote: no sign-in time, a live token.
	legacy := session{User: "alice", Email: "alice@example.com", AccessToken: "access-alice-1", RefreshToken: "refresh-alice-1",
		Expiry: f.clock.now().Add(time.Hour).Unix()}
	value, err := c.encode(sessionCookie, legacy)
	g.Expect(err).NotTo(HaveOccurred())

	w := f.request(http.MethodGet, "/", browser, &http.Cookie{Name: sessionCookie, Value: value})
	g.Expect(w.Code).To(Equal(http.StatusFound), w.Body.String())
	g.Expect(w.Header().Get("Location")).To(HavePrefix(StartPath))
	g.Expect(cookie(w, sessionCookie).MaxAge).To(BeNumerically("<", 0))
}
