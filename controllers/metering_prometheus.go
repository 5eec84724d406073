package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// PromQuerier evaluates an instant PromQL query.
type PromQuerier interface {
	Query(ctx context.Context, baseURL, query string, at time.Time) (float64, error)
}

// PromHTTPClient queries the Prometheus HTTP API (GET /api/v1/query), which
// Prometheus, Thanos, Mimir and VictoriaMetrics all serve.
type PromHTTPClient struct {
	// HTTP sends the requests; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

// maxPromAnswer caps a query answer: one sample is a few hundred bytes.
const maxPromAnswer = 1 << 20

// promAnswer is the envelope of /api/v1/query.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query evaluates query at the given instant and returns its one value:
// the scalar, the only sample of a vector, or 0 for an empty vector (no
// usage). More than one sample is an error: the meter would be ambiguous.
func (c PromHTTPClient) Query(ctx context.Context, baseURL, query string, at time.Time) (float64, error) {
	form := url.Values{"query": {query}, "time": {strconv.FormatInt(at.Unix(), 10)}}
	target := strings.TrimSuffix(baseURL, "/") + "/api/v1/query?" + form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, fmt.Errorf("failed to build the Prometheus query: %w", err)
	}
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the URL carries the query; keep only the cause
		}
		return 0, fmt.Errorf("prometheus query failed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPromAnswer))
	if err != nil {
		return 0, fmt.Errorf("failed to read the Prometheus answer: %w", err)
	}
	return promValue(resp.StatusCode, body)
}

// promValue extracts the one value of a query answer.
func promValue(status int, body []byte) (float64, error) {
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("prometheus answered HTTP %d without a query result", status)
	}
	if a.Status != "success" {
		return 0, fmt.Errorf("prometheus answered %s: %s", a.ErrorType, truncate(a.Error, 256))
	}
	switch a.Data.ResultType {
	case "scalar":
		var sample [2]json.RawMessage
		if err := json.Unmarshal(a.Data.Result, &sample); err != nil {
			return 0, fmt.Errorf("bad scalar result: %w", err)
		}
		return sampleValue(sample)
	case "vector":
		var vector []struct {
			Value [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(a.Data.Result, &vector); err != nil {
			return 0, fmt.Errorf("bad vector result: %w", err)
		}
		switch len(vector) {
		case 0:
			return 0, nil
		case 1:
			return sampleValue(vector[0].Value)
		}
		return 0, fmt.Errorf("the query returned %d series; a meter needs one (wrap it in sum())", len(vector))
	}
	return 0, fmt.Errorf("the query returned a %s; a meter needs a scalar or a one-sample vector", a.Data.ResultType)
}

// sampleValue reads the value half of a [time, "value"] pair.
func sampleValue(sample [2]json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(sample[1], &s); err != nil {
		return 0, fmt.Errorf("bad sample value: %w", err)
	}
	return strconv.ParseFloat(s, 64)
}

// promQueryData is what a meter's query template may use.
type promQueryData struct {
	Namespace  string
	InstanceID string
	// Window is the window's length as a PromQL duration, e.g. 3600s.
	Window string
}

// renderPromQuery fills in a meter's query for one tenant and window.
func renderPromQuery(text string, data promQueryData) (string, error) {
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

// promDuration writes d as whole seconds, which PromQL always accepts.
func promDuration(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
