// Package promquery evaluates the PromQL query of a pay-per-use meter
// (SaaSProduct spec.metering.meters[].query) for one tenant and one window,
// through the Prometheus HTTP API (GET /api/v1/query), which Prometheus,
// Thanos, Mimir and VictoriaMetrics all serve. The HTTP API client is
// github.com/prometheus/client_golang/api.
package promquery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Timeout bounds one query, connection and answer included.
const Timeout = 30 * time.Second

// Client evaluates instant queries. The zero value is ready to use.
type Client struct {
	// RoundTripper sends the requests; nil means client_golang's default
	// (http.DefaultTransport's settings).
	RoundTripper http.RoundTripper
}

// Query evaluates query at the instant at against the Prometheus at
// baseURL and returns its one value: the scalar, the only sample of a
// vector, or 0 for an empty vector (no usage). It fails on more than one
// series (the meter would be ambiguous), on any other result type, and on
// an answer that is not a query result; its errors never carry the query's
// URL, which holds the tenant's namespace.
func (c Client) Query(ctx context.Context, baseURL, query string, at time.Time) (float64, error) {
	client, err := api.NewClient(api.Config{Address: baseURL, RoundTripper: c.RoundTripper})
	if err != nil {
		return 0, fmt.Errorf("bad Prometheus URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	value, _, _, err := promv1.NewAPI(client).Query(ctx, query, at)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the URL carries the query; keep only the cause
		}
		return 0, fmt.Errorf("prometheus query failed: %w", err)
	}
	return OneValue(value)
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

// Render fills in a meter's query template (Go text/template; an unknown
// key is an error) for one tenant and window.
func Render(text string, data Data) (string, error) {
	tmpl, err := template.New("query").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("bad query template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("bad query template: %w", err)
	}
	return buf.String(), nil
}

// Duration writes d as whole seconds, which PromQL always accepts.
func Duration(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
