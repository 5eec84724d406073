package promquery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Each answer is served by a real HTTP server and read through the
// Prometheus HTTP API client, as in production.
func TestQueryReadsOneValue(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       float64
		wantErr    string
		// partial says the answer's warnings fail it: wantErr is
		// ErrPartialAnswer, naming them.
		partial bool
	}{
		{name: "vector", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2.5"]}]}}`, want: 2.5},
		{name: "empty vector is no usage", body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{name: "scalar", body: `{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`, want: 7},
		{name: "two series", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}`,
			wantErr: "wrap it in sum()"},
		{name: "a matrix", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, wantErr: "a meter needs a scalar or a one-sample vector"},
		{name: "error", status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, wantErr: "parse error"},
		{name: "not json", status: http.StatusBadGateway, body: `<html>`, wantErr: "prometheus query failed"},
		// A Thanos querier with partial responses on (its default) answers
		// success while a store is down: fewer series, or none, and warnings.
		// Before, the empty vector was 0 units with no error: the hour was
		// pushed as no usage, for good.
		{name: "an empty vector with a warning is a failed measurement", partial: true,
			body:    `{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["receive series from store-1:10901: rpc error: code = Unavailable desc = connection refused"]}`,
			wantErr: "code = Unavailable desc = connection refused"},
		{name: "a one-sample vector with a warning is a failed measurement", partial: true,
			body:    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2.5"]}]},"warnings":["No StoreAPIs matched for this query"]}`,
			wantErr: "No StoreAPIs matched for this query"},
		{name: "a scalar with a PromQL warning is a failed measurement", partial: true,
			body:    `{"status":"success","data":{"resultType":"scalar","result":[1,"7"]},"warnings":["PromQL warning: encountered a mix of histograms and floats for metric name \"x\""]}`,
			wantErr: "encountered a mix of histograms and floats"},
		{name: "a warning is named even among info annotations", partial: true,
			body:    `{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["PromQL info: metric might not be a counter","store-2 timed out"]}`,
			wantErr: "1 warning: store-2 timed out"},
		// Info annotations may be false positives (Prometheus's own words): a
		// counter not named *_total must not stop a meter from billing.
		{name: "infos are no failure",
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2.5"]}]},"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"calls\""]}`,
			want: 2.5},
		// Thanos, and Prometheus before infos had a field of their own, send
		// info annotations among the warnings.
		{name: "an info annotation among the warnings is no failure",
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2.5"]}]},"warnings":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"calls\""]}`,
			want: 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotQuery, gotTime string
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				gotQuery, gotTime = r.Form.Get("query"), r.Form.Get("time")
				w.Header().Set("Content-Type", "application/json")
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				_, _ = w.Write([]byte(tt.body))
			}))
			defer server.Close()
			at := time.Unix(1700000000, 0)
			v, err := Client{}.Query(context.Background(), server.URL, `sum(up{namespace="tenant-a"})`, at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "tenant-a") {
					t.Errorf("error %q carries the query", err)
				}
				if tt.partial && (v != 0 || !errors.Is(err, ErrPartialAnswer)) {
					t.Errorf("Query = %v, %v; want 0 and ErrPartialAnswer", v, err)
				}
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("Query = %v, %v; want %v", v, err, tt.want)
			}
			if gotQuery != `sum(up{namespace="tenant-a"})` || !strings.HasPrefix(gotTime, "1700000000") {
				t.Errorf("sent query %q at %q", gotQuery, gotTime)
			}
		})
	}
}

// Thanos sends a warning per store that did not answer, and a warning
// quotes a store's error: the failure names how many there were and quotes
// them up to maxWarningsBytes, whole characters only, however many and
// long they are.
func TestAPartialAnswersFailureQuotesItsWarningsCut(t *testing.T) {
	warnings := make([]string, 50)
	for i := range warnings {
		warnings[i] = fmt.Sprintf("store-%d 不可用: %s", i, strings.Repeat("x", 200))
	}
	answer, err := json.Marshal(map[string]any{
		"status": "success", "data": map[string]any{"resultType": "vector", "result": []any{}}, "warnings": warnings,
	})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer server.Close()
	_, err = Client{}.Query(context.Background(), server.URL, `sum(up{namespace="tenant-a"})`, time.Now())
	if !errors.Is(err, ErrPartialAnswer) {
		t.Fatalf("Query error %v; want ErrPartialAnswer", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "50 warnings: store-0 不可用") || !utf8.ValidString(msg) {
		t.Errorf("error %q: want the count and the first warning, in valid UTF-8", msg)
	}
	if len(msg) > maxWarningsBytes+len(ErrPartialAnswer.Error())+100 {
		t.Errorf("error is %d bytes; want the warnings cut at %d", len(msg), maxWarningsBytes)
	}
}

func TestQueryOfAnUnreachablePrometheusFailsWithoutTheURL(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	base := server.URL
	server.Close()
	_, err := Client{}.Query(context.Background(), base, `sum(up{namespace="tenant-a"})`, time.Now())
	if err == nil || strings.Contains(err.Error(), "tenant-a") {
		t.Fatalf("error %v: want one, without the query", err)
	}
}

func TestRender(t *testing.T) {
	data := Data{Namespace: "tenant-a", InstanceID: "i-1", Window: Duration(time.Hour)}
	got, err := Render(`sum(increase(x{namespace="{{.Namespace}}",id="{{.InstanceID}}"}[{{.Window}}]))`, data)
	if want := `sum(increase(x{namespace="tenant-a",id="i-1"}[3600s]))`; err != nil || got != want {
		t.Fatalf("Render = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`{{.Nope}}`, `{{`} {
		if _, err := Render(bad, data); err == nil {
			t.Errorf("Render(%q) succeeded; want an error", bad)
		}
	}
}

// An answer longer than MaxAnswerBytes is refused with a clear error, not
// read into memory nor failed as truncated JSON.
func TestQueryRefusesAnAnswerLongerThanOneMiB(t *testing.T) {
	answer := `{"status":"success","data":{"resultType":"vector","result":[` +
		strings.Repeat(`{"metric":{"pad":"xxxxxxxxxxxxxxxx"},"value":[1,"1"]},`, 2<<20/50) + `{"metric":{},"value":[1,"1"]}]}}`
	if len(answer) < 2<<20 {
		t.Fatalf("the answer is %d bytes; want 2 MiB", len(answer))
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	defer server.Close()
	_, err := Client{}.Query(context.Background(), server.URL, `sum(up{namespace="tenant-a"})`, time.Now())
	if !errors.Is(err, ErrAnswerTooLarge) || !strings.Contains(err.Error(), "longer than 1048576 bytes") {
		t.Fatalf("Query error %v; want the answer refused as longer than 1 MiB", err)
	}
}

func TestLimitedBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{name: "empty", size: 0},
		{name: "exactly the cap", size: MaxAnswerBytes},
		{name: "one byte more", size: MaxAnswerBytes + 1, wantErr: true},
		{name: "2 MiB", size: 2 << 20, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &limitedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", tt.size))), left: MaxAnswerBytes}
			got, err := io.ReadAll(body)
			if tt.wantErr {
				if !errors.Is(err, ErrAnswerTooLarge) || len(got) != MaxAnswerBytes {
					t.Fatalf("read %d bytes, error %v; want %d bytes, then ErrAnswerTooLarge", len(got), err, MaxAnswerBytes)
				}
				if _, err := body.Read(make([]byte, 1)); !errors.Is(err, ErrAnswerTooLarge) {
					t.Errorf("a read after the error: %v; want ErrAnswerTooLarge again", err)
				}
				return
			}
			if err != nil || len(got) != tt.size {
				t.Fatalf("read %d bytes, error %v; want %d bytes", len(got), err, tt.size)
			}
		})
	}
}

// The credentials a configuration file names reach Prometheus, and are
// read again on every request: a rotated Secret (its mounted file
// rewritten) is used at the next query, without a restart.
func TestNewClientFromFileSendsCredentialsFromFilesAndFollowsRotation(t *testing.T) {
	tests := []struct {
		name, config, file string
		want               func(secret string) string
	}{
		{name: "authorization credentials_file", file: "token",
			config: "authorization:\n  type: Bearer\n  credentials_file: token\n",
			want:   func(s string) string { return "Bearer " + s }},
		{name: "bearer_token_file", file: "token",
			config: "bearer_token_file: token\n",
			want:   func(s string) string { return "Bearer " + s }},
		{name: "basic_auth password_file", file: "password",
			config: "basic_auth:\n  username: kooper\n  password_file: password\n",
			want:   func(s string) string { return basicAuth("kooper", s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`))
			}))
			defer server.Close()
			dir := t.TempDir()
			write(t, filepath.Join(dir, tt.file), "first-secret\n")
			path := filepath.Join(dir, "http-config.yaml")
			write(t, path, tt.config)
			client, err := NewClientFromFile(path, server.URL)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"first-secret", "rotated-secret"} {
				write(t, filepath.Join(dir, tt.file), secret+"\n")
				if v, err := client.Query(context.Background(), server.URL, "vector(7)", time.Now()); err != nil || v != 7 {
					t.Fatalf("Query = %v, %v", v, err)
				}
				if want := tt.want(secret); got != want {
					t.Errorf("Authorization %q, want %q", got, want)
				}
			}
		})
	}
}

// The file's credentials go only to the origins kooper is told to trust
// (--prometheus-url and --prometheus-credentials-urls): a product whose
// spec.metering.prometheusUrl names another host gets its queries answered
// without them. Before, any product editor could read the installation's
// access code by naming a host of their own.
func TestNewClientFromFileSendsCredentialsOnlyToItsOrigins(t *testing.T) {
	var trustedAuth, otherAuth string
	answer := func(auth *string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			*auth = r.Header.Get("Authorization") + "|" + r.Header.Get("X-Scope")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`))
		}
	}
	trusted := httptest.NewServer(answer(&trustedAuth))
	defer trusted.Close()
	other := httptest.NewServer(answer(&otherAuth))
	defer other.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "token"), "access-code\n")
	path := filepath.Join(dir, "http-config.yaml")
	write(t, path, "bearer_token_file: token\nhttp_headers:\n  X-Scope:\n    values: [tenant-a]\n")
	client, err := NewClientFromFile(path, strings.ToUpper(trusted.URL[:4])+trusted.URL[4:]+"/v1/project")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		url  string
		got  *string
		want string
	}{
		{trusted.URL, &trustedAuth, "Bearer access-code|tenant-a"},
		{trusted.URL + "/another/path", &trustedAuth, "Bearer access-code|tenant-a"},
		{other.URL, &otherAuth, "|"},
		{strings.Replace(trusted.URL, "127.0.0.1", "localhost", 1), &trustedAuth, "|"},
	} {
		*q.got = "not asked"
		if v, err := client.Query(context.Background(), q.url, "vector(7)", time.Now()); err != nil || v != 7 {
			t.Fatalf("Query(%s) = %v, %v", q.url, v, err)
		}
		if *q.got != q.want {
			t.Errorf("Query(%s) sent Authorization|X-Scope %q, want %q", q.url, *q.got, q.want)
		}
	}
	if _, err := NewClientFromFile(path, "prometheus.monitoring:9090"); err == nil {
		t.Error("a credentialed URL without a scheme is accepted")
	}
}

func TestOriginNormalisesTheDefaultPortAndCase(t *testing.T) {
	for in, want := range map[string]string{
		"https://AOM.example.com/v1/p": "https://aom.example.com:443",
		"https://aom.example.com:443":  "https://aom.example.com:443",
		"http://prometheus:9090/":      "http://prometheus:9090",
		"http://[::1]/x":               "http://[::1]:80",
	} {
		if got, err := Origin(in); err != nil || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "prometheus:9090", "ftp://x", "https://", "http://%zz"} {
		if got, err := Origin(bad); err == nil {
			t.Errorf("Origin(%q) = %q; want an error", bad, got)
		}
	}
}

func TestNewClientFromFileRefusesABadFile(t *testing.T) {
	tests := []struct {
		name, config, wantErr string
	}{
		{name: "an unknown key", config: "bearer_tokn_file: token\n", wantErr: "field bearer_tokn_file not found"},
		{name: "two kinds of credentials", config: "bearer_token: a\nbasic_auth:\n  username: b\n", wantErr: "at most one of"},
		{name: "not YAML", config: "authorization: [\n", wantErr: "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "http-config.yaml")
			write(t, path, tt.config)
			_, err := NewClientFromFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("NewClientFromFile error %v; want one naming %s and containing %q", err, path, tt.wantErr)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := NewClientFromFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("NewClientFromFile of a missing file: %v; want an error naming it", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// basicAuth is the Authorization header of HTTP basic authentication
// (RFC 7617).
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// AOM's shape (docs/operations.md, "Prometheus meters on AOM"): the base URL
// carries /v1/<project_id>, which every query keeps before /api/v1/query, and
// the access code goes as a bearer token read from the file the chart mounts
// (prometheusHTTPConfig.tokenSecretName), or as the password of the basic-auth
// user aom_access_code.
func TestQueryReachesAOMsProjectPathWithTheAccessCode(t *testing.T) {
	tests := []struct {
		name, config string
		want         string
	}{
		{name: "bearer", config: "authorization:\n  type: Bearer\n  credentials_file: token\n", want: "Bearer aom-access-code"},
		{name: "basic", config: "basic_auth:\n  username: aom_access_code\n  password_file: token\n", want: basicAuth("aom_access_code", "aom-access-code")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, auth string
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, auth = r.URL.Path, r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`))
			}))
			defer server.Close()
			dir := t.TempDir()
			write(t, filepath.Join(dir, "token"), "aom-access-code\n")
			config := filepath.Join(dir, "http-config.yaml")
			write(t, config, strings.ReplaceAll(tt.config, "file: token", "file: "+filepath.Join(dir, "token")))
			client, err := NewClientFromFile(config, server.URL+"/v1/whatever")
			if err != nil {
				t.Fatal(err)
			}
			const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
			v, err := client.Query(context.Background(), server.URL+"/v1/"+project, `sum(rate(http_requests_total[1h]))`, time.Now())
			if err != nil || v != 3 {
				t.Fatalf("Query = %v, %v; want 3", v, err)
			}
			if want := "/v1/" + project + "/api/v1/query"; path != want {
				t.Errorf("path %q, want %q", path, want)
			}
			if auth != tt.want {
				t.Errorf("Authorization %q, want %q", auth, tt.want)
			}
		})
	}
}
