package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// visitsFile is the file, in the data directory, that every visit is
// appended to: one line "<RFC 3339 time> <user>".
const visitsFile = "visits.log"

// identityHeaderPrefixes are the request headers that carry who the caller
// is, as an authenticating proxy in front of the tenant sets them
// (oauth2-proxy, an ingress controller's external auth): X-Forwarded-User,
// X-Forwarded-Email, X-Auth-Request-Groups and the like.
var identityHeaderPrefixes = []string{"X-Forwarded-", "X-Auth-Request-"}

// app is the sample tenant application.
type app struct {
	dataDir    string
	instanceID string // KOOPER_INSTANCE_ID, set by kooper on the tenant's Deployment
	skuCode    string // KOOPER_SKU_CODE
	mu         sync.Mutex
}

// visit is what GET / answers, as JSON.
type visit struct {
	InstanceID string            `json:"instanceId"`
	SKUCode    string            `json:"skuCode"`
	Identity   map[string]string `json:"identity"`
	// Visits counts the lines of the visits file, this visit included.
	Visits int `json:"visits"`
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /ready", a.ready)
	mux.HandleFunc("GET /{$}", a.visit)
	mux.HandleFunc("GET /whoami", a.whoami)
	return mux
}

// whoamiPage shows who the request comes from, as the login gateway in
// front of the tenant (kooper's spec.workload.sso.gateway) says, with a
// link to its logout. html/template escapes the values.
var whoamiPage = template.Must(template.New("whoami").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Who am I</title></head>
<body><h1>Signed in as <span id="user">{{.User}}</span></h1>
<p>E-mail: <span id="email">{{.Email}}</span></p><p>Tenant: <span id="tenant">{{.Tenant}}</span></p>
<p><a id="logout" href="/oauth2/logout">Sign out</a></p></body></html>
`))

// whoami echoes the identity headers as a page: X-Forwarded-User,
// X-Forwarded-Email and X-Forwarded-Tenant ("-" when absent).
func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	orDash := func(name string) string {
		if v := r.Header.Get(name); v != "" {
			return v
		}
		return "-"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = whoamiPage.Execute(w, struct{ User, Email, Tenant string }{orDash("X-Forwarded-User"), orDash("X-Forwarded-Email"), orDash("X-Forwarded-Tenant")})
}

// ready answers 200 once the data directory takes writes: a tenant whose
// volume is missing or read-only is not ready for its buyer.
func (a *app) ready(w http.ResponseWriter, _ *http.Request) {
	probe := filepath.Join(a.dataDir, ".ready")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		http.Error(w, "data directory not writable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// visit records the caller in the visits file and echoes its identity.
func (a *app) visit(w http.ResponseWriter, r *http.Request) {
	identity := identityHeaders(r.Header)
	visits, err := a.record(time.Now().UTC(), identity["X-Forwarded-User"])
	if err != nil {
		http.Error(w, "failed to record the visit: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(visit{InstanceID: a.instanceID, SKUCode: a.skuCode, Identity: identity, Visits: visits})
}

// identityHeaders picks the identity headers out of h, one value each.
func identityHeaders(h http.Header) map[string]string {
	identity := map[string]string{}
	for name, values := range h {
		for _, prefix := range identityHeaderPrefixes {
			if strings.HasPrefix(name, prefix) && len(values) > 0 {
				identity[name] = values[0]
			}
		}
	}
	return identity
}

// record appends "<time> <user>" to the visits file ("-" for an anonymous
// user) and returns how many lines the file then has.
func (a *app) record(at time.Time, user string) (int, error) {
	if user == "" {
		user = "-"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	path := filepath.Join(a.dataDir, visitsFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", at.Format(time.RFC3339), strings.Join(strings.Fields(user), "_"))
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return 0, err
	}
	return countLines(path)
}

func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := 0
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		lines++
	}
	return lines, scanner.Err()
}
