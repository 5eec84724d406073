package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An exposition of apfWaitMetric as kube-apiserver writes it: two flow
// schemas into one priority level, the rejected requests (execute="false")
// beside them.
const apfWaitExposition = `# HELP apiserver_flowcontrol_request_wait_duration_seconds [BETA] Length of time a request spent waiting in its queue
# TYPE apiserver_flowcontrol_request_wait_duration_seconds histogram
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="true",flow_schema="service-accounts",priority_level="workload-low",le="0.1"} %d
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="true",flow_schema="service-accounts",priority_level="workload-low",le="+Inf"} %d
apiserver_flowcontrol_request_wait_duration_seconds_sum{execute="true",flow_schema="service-accounts",priority_level="workload-low"} %g
apiserver_flowcontrol_request_wait_duration_seconds_count{execute="true",flow_schema="service-accounts",priority_level="workload-low"} %d
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="false",flow_schema="service-accounts",priority_level="workload-low",le="0.1"} 0
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="false",flow_schema="service-accounts",priority_level="workload-low",le="+Inf"} 7
apiserver_flowcontrol_request_wait_duration_seconds_sum{execute="false",flow_schema="service-accounts",priority_level="workload-low"} 70
apiserver_flowcontrol_request_wait_duration_seconds_count{execute="false",flow_schema="service-accounts",priority_level="workload-low"} 7
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="true",flow_schema="exempt",priority_level="exempt",le="0.1"} 5
apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute="true",flow_schema="exempt",priority_level="exempt",le="+Inf"} 5
apiserver_flowcontrol_request_wait_duration_seconds_sum{execute="true",flow_schema="exempt",priority_level="exempt"} 0
apiserver_flowcontrol_request_wait_duration_seconds_count{execute="true",flow_schema="exempt",priority_level="exempt"} 5
`

// TestQueueWaitsAreTheRequestsThatRanSinceTheFirstReading reads the
// metric twice and checks the difference: only the flow whose requests
// ran in between, rejected requests left out, its mean wait and the share
// over 0.1 s.
func TestQueueWaitsAreTheRequestsThatRanSinceTheFirstReading(t *testing.T) {
	// Before: 10 requests, all under 0.1 s, 0.2 s of waits in all. After:
	// 40 more, 10 of them over 0.1 s, 8 s more of waits.
	readings := []string{
		fmt.Sprintf(apfWaitExposition, 10, 10, 0.2, 10),
		fmt.Sprintf(apfWaitExposition, 40, 50, 8.2, 50),
	}
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(readings[served]))
		served++
	}))
	defer srv.Close()

	before, err := readQueueWaits(t.Context(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	after, err := readQueueWaits(t.Context(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	since := after.minus(before)
	if len(since) != 1 {
		t.Fatalf("flows with requests since the first reading: %v, want only service-accounts / workload-low", since)
	}
	w, ok := since["service-accounts / workload-low"]
	if !ok {
		t.Fatalf("no service-accounts / workload-low in %v", since)
	}
	if w.Count != 40 {
		t.Errorf("requests that ran: %v, want 40 (the 7 rejected are not among them)", w.Count)
	}
	if got, want := w.Mean().Round(time.Millisecond), 200*time.Millisecond; got != want {
		t.Errorf("mean wait %s, want %s", got, want)
	}
	if got := w.Over(0.1); got != 0.25 {
		t.Errorf("share over 0.1 s: %v, want 0.25", got)
	}
}
