package ssogateway

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Cookie names. The session holds who is signed in; a login cookie holds
// one gateway-initiated login's state and where to return to, for 10
// minutes: one cookie per login, named loginCookiePrefix and the state's
// first loginNameChars characters, so that two tabs signing in at once
// do not overwrite each other's.
const (
	sessionCookie     = "kooper_session"
	loginCookiePrefix = "kooper_login_"
	loginNameChars    = 16
	// maxLogins bounds the live login cookies of a browser: a new login
	// expires the oldest beyond it, so a loop of /oauth2/start cannot
	// fill the browser's cookies.
	maxLogins = 5
	// sessionMaxAge bounds a session: past it the user signs in again,
	// whatever the tokens' lifetimes (the refresh token's is 30 days,
	// spec §7.3). It is counted from the session's SignedIn by the
	// gateway's clock: securecookie's own max age counts from the last
	// encoding, which every refresh renews.
	sessionMaxAge = 12 * time.Hour
	loginMaxAge   = 10 * time.Minute
	// maxCookieBytes is the most a cookie value may be, encoded: browsers
	// keep 4096 bytes per cookie, name and attributes included.
	maxCookieBytes = 3800
)

// session is what the session cookie carries, encrypted (AES-256-CTR) and
// signed (HMAC-SHA256) by securecookie: the user as the kit's userinfo
// (spec §7.5) named them, and the tokens (spec §7.3) to refresh with.
type session struct {
	// User is userinfo's userName, which authSync's users are keyed by.
	User string `json:"u"`
	// Email is userinfo's email; may be empty.
	Email string `json:"e,omitempty"`
	// AccessToken and RefreshToken are the kit's tokens.
	AccessToken  string `json:"a"`
	RefreshToken string `json:"r,omitempty"`
	// Expiry is when the access token expires, in Unix seconds; 0: never
	// said.
	Expiry int64 `json:"x,omitempty"`
	// SignedIn is when the user signed in (the callback), in Unix seconds;
	// a refresh keeps it. 0: a cookie of a version without it, which is
	// refused (see ended).
	SignedIn int64 `json:"i,omitempty"`
}

// ended says whether the session is past sessionMaxAge since its sign-in
// at now. A session without a sign-in time has ended: its age cannot be
// told, and a refreshed one could otherwise live as long as its refresh
// token.
func (s session) ended(now time.Time) bool {
	return s.SignedIn == 0 || now.Sub(time.Unix(s.SignedIn, 0)) > sessionMaxAge
}

// remaining is how long the session has left at now, for the cookie's
// Max-Age: at most sessionMaxAge, and at least a second (a Max-Age of 0
// would make it a cookie without an expiry; the gateway refuses it once
// ended anyway).
func (s session) remaining(now time.Time) time.Duration {
	left := time.Unix(s.SignedIn, 0).Add(sessionMaxAge).Sub(now)
	return max(time.Second, min(sessionMaxAge, left))
}

// login is what a login cookie carries.
type login struct {
	// State is the state sent to the authorise endpoint (spec §7.2).
	State string `json:"s"`
	// ReturnTo is the local path the user asked for before signing in.
	ReturnTo string `json:"r"`
	// At is when the login started, in Unix seconds.
	At int64 `json:"t"`
}

// loginCookieName is the name of the login cookie of state; "" for a
// state the gateway cannot have made.
func loginCookieName(state string) string {
	if len(state) < loginNameChars {
		return ""
	}
	return loginCookiePrefix + state[:loginNameChars]
}

// codec encodes and decodes the gateway's cookies.
type codec struct {
	sc *securecookie.SecureCookie
}

// newCodec makes a codec with the given 32-byte keys; cookies expire
// after sessionMaxAge (the login cookie's shorter age is checked too).
func newCodec(hashKey, blockKey []byte) codec {
	sc := securecookie.New(hashKey, blockKey)
	sc.SetSerializer(securecookie.JSONEncoder{})
	sc.MaxAge(int(sessionMaxAge.Seconds()))
	sc.MaxLength(maxCookieBytes)
	return codec{sc: sc}
}

// encode returns the value of cookie name holding v.
func (c codec) encode(name string, v any) (string, error) {
	return c.sc.Encode(name, v)
}

// decodeSession decodes a session cookie's value. It fails when the value
// was not made by a codec with the same keys and name, was changed, was
// encoded more than sessionMaxAge ago, or names no user or token. The
// session's own age (session.ended) is the caller's to check.
func (c codec) decodeSession(value string) (session, error) {
	var s session
	if err := c.sc.Decode(sessionCookie, value, &s); err != nil {
		return session{}, err
	}
	if s.User == "" || s.AccessToken == "" {
		return session{}, errors.New("the session names no user or token")
	}
	return s, nil
}

// decodeLogin decodes the value of login cookie name, refusing one older
// than loginMaxAge.
func (c codec) decodeLogin(name, value string, now time.Time) (login, error) {
	var l login
	if err := c.sc.Decode(name, value, &l); err != nil {
		return login{}, err
	}
	if l.State == "" || loginCookieName(l.State) != name || now.Sub(time.Unix(l.At, 0)) > loginMaxAge {
		return login{}, errors.New("the login expired")
	}
	return l, nil
}

// encodeLogin returns the name and value of the login cookie of l, made
// at now.
func (c codec) encodeLogin(l login, now time.Time) (string, string, error) {
	name := loginCookieName(l.State)
	if name == "" {
		return "", "", errors.New("the state is too short")
	}
	l.At = now.Unix()
	value, err := c.encode(name, l)
	return name, value, err
}

// setCookie sets a gateway cookie: HttpOnly, Secure, SameSite=Lax (the
// callback is a top-level navigation from the kit's domain, which Lax
// lets through), for the whole site.
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// clearCookie removes a gateway cookie.
func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// callback is the query of a request to the callback path.
type callback struct {
	// Code is the authorisation code (spec §7.1 step 2, §7.2).
	Code string
	// State is the gateway's state; empty for a login the kit's portal
	// started (spec §7.1), which carries Tenant instead.
	State string
	// Tenant is the tenant identifier a portal login carries: tenantId or
	// tenantCode, the spec cannot say which (§8 item 25).
	Tenant string
}

// Errors of parseCallback.
var (
	errNoCode         = errors.New("the callback carries no code")
	errBadCallback    = errors.New("the callback's parameters are malformed")
	errPortalNoTenant = errors.New("a login without state must carry tenant (spec §7.1)")
)

// maxParam bounds each callback parameter; the kit's are far shorter.
const maxParam = 2048

// parseCallback reads the callback's query: code is required, each
// parameter appears at most once and is at most maxParam bytes of
// printable ASCII, and a callback without state carries tenant. An error
// the kit sends instead of a code (error=...) is errNoCode.
func parseCallback(rawQuery string) (callback, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return callback{}, errBadCallback
	}
	get := func(name string) (string, error) {
		v := values[name]
		switch {
		case len(v) == 0:
			return "", nil
		case len(v) > 1 || len(v[0]) > maxParam || !printableASCII(v[0]):
			return "", errBadCallback
		}
		return v[0], nil
	}
	var cb callback
	for name, dst := range map[string]*string{"code": &cb.Code, "state": &cb.State, "tenant": &cb.Tenant} {
		if *dst, err = get(name); err != nil {
			return callback{}, err
		}
	}
	switch {
	case cb.Code == "":
		return callback{}, errNoCode
	case cb.State == "" && cb.Tenant == "":
		return callback{}, errPortalNoTenant
	}
	return cb, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// safeReturnPath is p when it is a path of this site ("/..." but not
// "//..." nor "/\\...", which browsers read as another host), else "/".
func safeReturnPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || !printableASCII(p) || len(p) > maxParam {
		return "/"
	}
	return p
}
