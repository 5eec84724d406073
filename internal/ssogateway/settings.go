package ssogateway

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"
)

// settings are the tenant's SSO settings: the files of the kooper-sso
// Secret (controllers/saasdirectory_delivery.go), one per key, mounted
// read-only. The kubelet updates them in place when the kit syncs a new
// client or domain, so they are read again for every login and refresh.
type settings struct {
	clientID, clientSecret                      string
	authorizeURL, tokenURL, userinfoURL, logout string
	appID, tenantCode, tenantID                 string
}

// errNotDelivered means the SSO settings are not (yet) in the pod: the kit
// has not synced the enterprise and its application, or the delivery is
// on its way.
var errNotDelivered = errors.New("the joint-operation SSO settings are not delivered yet")

// readSettings reads the settings from dir. A missing client, secret or
// endpoint is errNotDelivered; other files may be absent.
func readSettings(dir string) (settings, error) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(data))
	}
	s := settings{
		clientID: read("clientId"), clientSecret: read("clientSecret"),
		authorizeURL: read("authorizeUrl"), tokenURL: read("tokenUrl"), userinfoURL: read("userinfoUrl"), logout: read("logoutUrl"),
		appID: read("appId"), tenantCode: read("tenantCode"), tenantID: read("tenantId"),
	}
	if s.clientID == "" || s.clientSecret == "" || s.authorizeURL == "" || s.tokenURL == "" || s.userinfoURL == "" {
		return settings{}, errNotDelivered
	}
	return s, nil
}

// oauthConfig is the OAuth client of spec §7.2–7.4: client_id and
// client_secret in the form (not Basic authentication), scope get_user_info.
func (s settings) oauthConfig(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.clientID,
		ClientSecret: s.clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: s.authorizeURL, TokenURL: s.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL:  redirectURL,
		Scopes:       []string{"get_user_info"},
	}
}

// cookieKeys derives the session cookie's keys from the client secret and
// the tenant: 32 bytes to sign (HMAC-SHA256) and 32 to encrypt (AES-256),
// the same in every replica, and new with every new client secret.
func (s settings) cookieKeys() (hashKey, blockKey []byte, err error) {
	salt := []byte("kooper-gateway/" + s.tenantID + "/" + s.appID)
	if hashKey, err = hkdf.Key(sha256.New, []byte(s.clientSecret), salt, "session cookie signature", 32); err != nil {
		return nil, nil, fmt.Errorf("failed to derive the cookie keys: %w", err)
	}
	if blockKey, err = hkdf.Key(sha256.New, []byte(s.clientSecret), salt, "session cookie encryption", 32); err != nil {
		return nil, nil, fmt.Errorf("failed to derive the cookie keys: %w", err)
	}
	return hashKey, blockKey, nil
}
