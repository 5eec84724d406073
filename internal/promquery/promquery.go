// Package promquery evaluates the PromQL query of a pay-per-use meter
// (SaaSProduct spec.metering.meters[].query) for one tenant and one window,
// through the Prometheus HTTP API (GET /api/v1/query), which Prometheus,
// Thanos, Mimir, VictoriaMetrics and Huawei Cloud AOM all serve. The HTTP
// API client is github.com/prometheus/client_golang/api; its HTTP settings
// (authorization, basic auth, TLS, proxy) are Prometheus's own
// http_config, read by github.com/prometheus/common/config.
//
// Its rules: no Kubernetes; an answer is read up to MaxAnswerBytes and no
// further; an error never carries the query's URL, which holds the tenant's
// namespace.
package promquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/kooper-io/kooper/internal/templatebound"
	"github.com/kooper-io/kooper/internal/textcut"
)

// Timeout bounds one query, connection and answer included.
const Timeout = 30 * time.Second

// MaxAnswerBytes caps the body of one answer: a meter's answer is one
// sample, so anything near this size is a wrong query or a wrong server,
// and reading on would only cost memory.
const MaxAnswerBytes = 1 << 20

// ErrAnswerTooLarge is the error of a query whose answer is longer than
// MaxAnswerBytes.
var ErrAnswerTooLarge = fmt.Errorf("the Prometheus answer is longer than %d bytes; a meter's query must return one sample (wrap it in sum())", MaxAnswerBytes)

// ErrPartialAnswer is the error of a query whose answer carries warnings
// (the API's "warnings", not its info annotations): a Thanos querier with
// partial responses on, its default, answers success with the series of the
// stores that answered, or none, and a warning per store that did not; a
// PromQL warning means series were left out. Such a value may be short, and
// a window billed short is billed so for good, so it is no measurement: the
// window is measured again later.
var ErrPartialAnswer = errors.New("the Prometheus answer carries warnings, so its value may be partial " +
	"(a Thanos store or remote-read endpoint that did not answer, or series PromQL left out)")

// maxWarningsBytes bounds the warnings' text an ErrPartialAnswer quotes:
// Thanos sends one per store that did not answer, each quoting its error.
// It leaves room, within the 1 KiB of the metering controller's Warning
// Event, for the meter's name, the window and the error's own text.
const maxWarningsBytes = 512

// Client evaluates instant queries. The zero value is ready to use.
type Client struct {
	// RoundTripper sends the requests; nil means client_golang's default
	// (http.DefaultTransport's settings). Query caps what it reads of each
	// answer at MaxAnswerBytes whatever RoundTripper is.
	RoundTripper http.RoundTripper
	// Credentialed, when not nil, is the set of origins (scheme://host:port,
	// lower case; see Origin) RoundTripper serves: it carries credentials
	// meant for them. A query to any other origin goes through Anonymous.
	// Nil means RoundTripper serves every origin.
	Credentialed map[string]bool
	// Anonymous sends the queries to the origins not in Credentialed: the
	// same TLS and proxy settings, no credentials. Nil means client_golang's
	// default.
	Anonymous http.RoundTripper
}

// NewClientFromFile is a Client whose requests follow the Prometheus HTTP
// client configuration in the YAML file at path (Prometheus's http_config:
// authorization, bearer_token_file, basic_auth, tls_config, proxy_url...;
// https://prometheus.io/docs/prometheus/latest/configuration/configuration/#http_config).
// The file is read once, here; an unknown key or an invalid setting is an
// error. Relative file names in it are relative to its directory. A
// credentials file it names (authorization.credentials_file,
// bearer_token_file, basic_auth.password_file) is read again on every
// request, so a rotated token is used as soon as its file changes.
//
// The credentials (authorization, bearer token, basic auth, OAuth 2.0 and
// extra headers) go only to the origins of credentialed, base URLs such
// as --prometheus-url: a product's spec.metering.prometheusUrl, which
// whoever may edit products sets, must not receive the installation's
// access code by naming its own host. Queries elsewhere keep the file's
// TLS and proxy settings. A credentialed URL that does not parse is an
// error.
func NewClientFromFile(path string, credentialed ...string) (Client, error) {
	cfg, _, err := config.LoadHTTPConfigFile(path)
	if err != nil {
		return Client{}, fmt.Errorf("failed to read the Prometheus HTTP client configuration %s: %w", path, err)
	}
	rt, err := config.NewRoundTripperFromConfig(*cfg, "kooper")
	if err != nil {
		return Client{}, fmt.Errorf("bad Prometheus HTTP client configuration %s: %w", path, err)
	}
	anonymous, err := config.NewRoundTripperFromConfig(withoutCredentials(*cfg), "kooper")
	if err != nil {
		return Client{}, fmt.Errorf("bad Prometheus HTTP client configuration %s: %w", path, err)
	}
	origins := map[string]bool{}
	for _, u := range credentialed {
		o, err := Origin(u)
		if err != nil {
			return Client{}, err
		}
		origins[o] = true
	}
	return Client{RoundTripper: rt, Credentialed: origins, Anonymous: anonymous}, nil
}

// withoutCredentials is cfg with every setting that sends a credential
// cleared: what is left (TLS, proxy, redirects, HTTP/2) is not secret.
func withoutCredentials(cfg config.HTTPClientConfig) config.HTTPClientConfig {
	cfg.BasicAuth, cfg.Authorization, cfg.OAuth2, cfg.HTTPHeaders = nil, nil, nil, nil
	cfg.BearerToken, cfg.BearerTokenFile = "", ""
	return cfg
}

// Origin is the origin of base URL u: scheme://host:port in lower case,
// with the scheme's default port when u gives none. It fails on a URL
// without an http or https scheme, or without a host.
func Origin(u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Hostname() == "" {
		return "", fmt.Errorf("bad Prometheus URL %q: want http(s)://host[:port][/path]", u)
	}
	port := parsed.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[parsed.Scheme]
	}
	return strings.ToLower(parsed.Scheme + "://" + net.JoinHostPort(parsed.Hostname(), port)), nil
}

// roundTripper is the round tripper for queries to baseURL.
func (c Client) roundTripper(baseURL string) http.RoundTripper {
	rt := c.RoundTripper
	if c.Credentialed != nil {
		if o, err := Origin(baseURL); err != nil || !c.Credentialed[o] {
			rt = c.Anonymous
		}
	}
	if rt == nil {
		rt = api.DefaultRoundTripper
	}
	return rt
}

// Query evaluates query at the instant at against the Prometheus at
// baseURL and returns its one value: the scalar, the only sample of a
// vector, or 0 for an empty vector (no usage). It fails on more than one
// series (the meter would be ambiguous), on any other result type, on an
// answer that is not a query result, and with ErrPartialAnswer on an answer
// that carries warnings (info annotations are no failure); its errors never
// carry the query's URL, which holds the tenant's namespace.
func (c Client) Query(ctx context.Context, baseURL, query string, at time.Time) (float64, error) {
	client, err := api.NewClient(api.Config{Address: baseURL, RoundTripper: limitAnswers{next: c.roundTripper(baseURL)}})
	if err != nil {
		return 0, fmt.Errorf("bad Prometheus URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	value, warnings, _, err := promv1.NewAPI(client).Query(ctx, query, at)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the URL carries the query; keep only the cause
		}
		return 0, fmt.Errorf("prometheus query failed: %w", err)
	}
	if err := partial(warnings); err != nil {
		return 0, fmt.Errorf("prometheus query failed: %w", err)
	}
	return OneValue(value)
}

// promQLInfoPrefix starts the text of a PromQL info annotation. Prometheus
// sends these in the answer's "infos" now, but Thanos, and Prometheus
// before the split, send them among the "warnings".
const promQLInfoPrefix = "PromQL info:"

// partial is an ErrPartialAnswer quoting warnings, or nil when they are
// none or only info annotations. Info annotations may be false positives
// (a counter whose name does not end in _total): no series was left out
// for them, and failing on one would stop such a meter billing at all.
func partial(warnings promv1.Warnings) error {
	var actual []string
	for _, w := range warnings {
		if !strings.HasPrefix(w, promQLInfoPrefix) {
			actual = append(actual, w)
		}
	}
	if len(actual) == 0 {
		return nil
	}
	noun := "warnings"
	if len(actual) == 1 {
		noun = "warning"
	}
	return fmt.Errorf("%w; %d %s: %s", ErrPartialAnswer, len(actual), noun,
		textcut.Bytes(strings.Join(actual, "; "), maxWarningsBytes))
}

// limitAnswers caps the body of every answer next returns at
// MaxAnswerBytes.
type limitAnswers struct{ next http.RoundTripper }

func (l limitAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxAnswerBytes}
	return resp, nil
}

// limitedBody reads up to left more bytes, then fails with
// ErrAnswerTooLarge if the body has any more (unlike io.LimitReader, which
// would end it quietly, leaving a truncated answer to fail as bad JSON).
type limitedBody struct {
	io.ReadCloser
	left int64
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed tells a long body from one of exactly the cap
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left, b.err = int(b.left), 0, ErrAnswerTooLarge
	return n, b.err
}

// OneValue is the one value of a query result: a scalar's, a one-sample
// vector's, or 0 for an empty vector.
func OneValue(v model.Value) (float64, error) {
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, nil
		case 1:
			return float64(v[0].Value), nil
		}
		return 0, fmt.Errorf("the query returned %d series; a meter needs one (wrap it in sum())", len(v))
	case nil:
		return 0, errors.New("the query returned no result")
	}
	return 0, fmt.Errorf("the query returned a %s; a meter needs a scalar or a one-sample vector", v.Type())
}

// Data is what a meter's query template may use.
type Data struct {
	// Namespace is the tenant's namespace.
	Namespace string
	// InstanceID is the tenant's instance ID (spec §3.2).
	InstanceID string
	// Window is the window's length as a PromQL duration, e.g. 3600s.
	Window string
}

// maxQueryBytes caps a rendered query: sixteen times the 4096 characters
// of its template, far more than a query of one tenant's series needs.
const maxQueryBytes = 1 << 16

// Render fills in a meter's query template (Go text/template; an unknown
// key is an error) for one tenant and window. A template whose run is not
// bounded (a {{range}}, templatebound) is refused before it runs, and one
// that renders past maxQueryBytes is refused: no deadline reaches a
// template's run.
func Render(text string, data Data) (string, error) {
	tmpl, err := templatebound.Parse("query", "a meter's query template", text)
	if err != nil {
		return "", fmt.Errorf("bad query template: %w", err)
	}
	query, err := templatebound.Execute(tmpl, data, maxQueryBytes)
	if err != nil {
		return "", fmt.Errorf("bad query template: %w", err)
	}
	return query, nil
}

// Duration writes d as whole seconds, which PromQL always accepts.
func Duration(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
