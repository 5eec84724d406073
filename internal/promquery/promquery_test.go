package promquery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Each answer is served by a real HTTP server and read through the
// Prometheus HTTP API client, as in production.
func TestQueryReadsOneValue(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       float64
		wantErr    string
	}{
		{name: "vector", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2.5"]}]}}`, want: 2.5},
		{name: "empty vector is no usage", body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{name: "scalar", body: `{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`, want: 7},
		{name: "two series", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}`,
			wantErr: "wrap it in sum()"},
		{name: "a matrix", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, wantErr: "a meter needs a scalar or a one-sample vector"},
		{name: "error", status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, wantErr: "parse error"},
		{name: "not json", status: http.StatusBadGateway, body: `<html>`, wantErr: "prometheus query failed"},
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
