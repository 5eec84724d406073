package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestOutageRequestEnd(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		req     outageRequest
		want    time.Time
		wantErr string
	}{
		{name: "seconds from now", req: outageRequest{Seconds: 120}, want: now.Add(2 * time.Minute)},
		{name: "until a time", req: outageRequest{Until: "2026-12-01T10:02:00Z"}, want: now.Add(2 * time.Minute)},
		{name: "until with an offset", req: outageRequest{Until: "2026-12-01T18:02:00+08:00"}, want: now.Add(2 * time.Minute)},
		{name: "neither", req: outageRequest{}, wantErr: "is required"},
		{name: "negative seconds", req: outageRequest{Seconds: -5}, wantErr: "is required"},
		{name: "both", req: outageRequest{Seconds: 5, Until: "2026-12-01T10:02:00Z"}, wantErr: "not both"},
		{name: "until not RFC 3339", req: outageRequest{Until: "20261201100200"}, wantErr: "RFC 3339"},
		{name: "until in the past", req: outageRequest{Until: "2026-12-01T09:59:59Z"}, wantErr: "in the future"},
		{name: "longer than a day", req: outageRequest{Seconds: 86401}, wantErr: "within 24h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := tc.req.end(now)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Equal(tc.want)).To(BeTrue(), "got %s", got)
		})
	}
}

func TestQueryOrderOutageAnswers500UntilItEndsOrIsCleared(t *testing.T) {
	g := NewWithT(t)
	clock := newSteppedClock(time.Now())
	cfg := defaultServerConfig()
	cfg.now = clock.now
	srv := startSim(t, cfg)
	client := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey)
	query := func() error {
		_, err := client.QueryOrder(ctxFor(t), "MOCKPERIODYEARNEW", "")
		return err
	}

	resp := signedDo(t, http.MethodPost, srv.URL+simQueryOrderOutagePath, "application/json", []byte(`{"seconds":60}`))
	g.Expect(resp.status).To(Equal(http.StatusCreated), string(resp.body))
	err := query()
	g.Expect(apiError(err)).NotTo(BeNil(), "%v", err)
	g.Expect(apiError(err).HTTPStatus).To(Equal(http.StatusInternalServerError))
	g.Expect(apiError(err).Code).To(Equal(codeSystemError))

	clock.step(61 * time.Second)
	g.Expect(query()).To(Succeed(), "the outage ends by itself")
	resp = signedDo(t, http.MethodGet, srv.URL+simQueryOrderOutagePath, "", nil)
	g.Expect(string(resp.body)).To(MatchJSON(`{"until":""}`))

	resp = signedDo(t, http.MethodPost, srv.URL+simQueryOrderOutagePath, "application/json", []byte(`{"seconds":600}`))
	g.Expect(resp.status).To(Equal(http.StatusCreated), string(resp.body))
	g.Expect(apiError(query())).NotTo(BeNil())
	resp = signedDo(t, http.MethodDelete, srv.URL+simQueryOrderOutagePath, "", nil)
	g.Expect(resp.status).To(Equal(http.StatusOK))
	g.Expect(query()).To(Succeed(), "a cleared outage ends at once")

	resp = signedDo(t, http.MethodPost, srv.URL+simQueryOrderOutagePath, "application/json", []byte(`{"seconds":"soon"}`))
	g.Expect(resp.status).To(Equal(http.StatusBadRequest))
}

func TestQueryOrderCallsAreCountedPerOrderWithinAWindow(t *testing.T) {
	g := NewWithT(t)
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := newSteppedClock(start)
	cfg := defaultServerConfig()
	cfg.now = clock.now
	srv := startSim(t, cfg)
	client := orderClient(srv.URL, defaultAccessKeyID, defaultSecretAccessKey)
	// Calls are counted whether or not they pass the AK/SK check, which
	// this clock, far from the signature's, fails.
	calls := func(orderID string, n int) {
		for range n {
			_, _ = client.QueryOrder(ctxFor(t), orderID, "")
		}
	}
	calls("MOCKONETIMENEW", 2) // before the window
	clock.step(time.Minute)
	resp := signedDo(t, http.MethodPost, srv.URL+simQueryOrderOutagePath, "application/json", []byte(`{"seconds":60}`))
	g.Expect(resp.status).To(Equal(http.StatusCreated), string(resp.body))
	calls("MOCKONETIMENEW", 3)
	calls("UNKNOWN-ORDER", 1)
	clock.step(time.Minute) // the outage is over
	calls("MOCKONETIMENEW", 1)
	clock.step(time.Minute)
	calls("MOCKPERIODYEARNEW", 4) // after the window

	cases := []struct {
		name         string
		since, until string
		want         callCounts
	}{
		{name: "everything", want: callCounts{Total: 11,
			Calls:  map[string]int{"MOCKONETIMENEW": 6, "UNKNOWN-ORDER": 1, "MOCKPERIODYEARNEW": 4},
			Failed: map[string]int{"MOCKONETIMENEW": 3, "UNKNOWN-ORDER": 1}}},
		{name: "the outage's two minutes", since: "2026-12-01T10:01:00Z", until: "2026-12-01T10:03:00Z", want: callCounts{Total: 5,
			Calls:  map[string]int{"MOCKONETIMENEW": 4, "UNKNOWN-ORDER": 1},
			Failed: map[string]int{"MOCKONETIMENEW": 3, "UNKNOWN-ORDER": 1},
			First:  map[string]string{"MOCKONETIMENEW": "2026-12-01T10:01:00Z"}}},
		{name: "the first call after the outage", since: "2026-12-01T10:02:00Z", want: callCounts{Total: 5,
			Calls:  map[string]int{"MOCKONETIMENEW": 1, "MOCKPERIODYEARNEW": 4},
			Failed: map[string]int{},
			First:  map[string]string{"MOCKONETIMENEW": "2026-12-01T10:02:00Z", "MOCKPERIODYEARNEW": "2026-12-01T10:03:00Z"}}},
		{name: "since only", since: "2026-12-01T10:03:00Z", want: callCounts{Total: 4,
			Calls: map[string]int{"MOCKPERIODYEARNEW": 4}, Failed: map[string]int{}}},
		{name: "until is exclusive", until: "2026-12-01T10:00:00Z", want: callCounts{Total: 0,
			Calls: map[string]int{}, Failed: map[string]int{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			q := url.Values{}
			if tc.since != "" {
				q.Set("since", tc.since)
			}
			if tc.until != "" {
				q.Set("until", tc.until)
			}
			resp := signedDo(t, http.MethodGet, srv.URL+simQueryOrderCallsPath+"?"+q.Encode(), "", nil)
			g.Expect(resp.status).To(Equal(http.StatusOK), string(resp.body))
			var got callCounts
			g.Expect(json.Unmarshal(resp.body, &got)).To(Succeed())
			g.Expect(got.Total).To(Equal(tc.want.Total))
			g.Expect(got.Calls).To(Equal(tc.want.Calls))
			g.Expect(got.Failed).To(Equal(tc.want.Failed))
			g.Expect(got.First).To(HaveLen(len(tc.want.Calls)))
			for id, first := range tc.want.First {
				g.Expect(got.First).To(HaveKeyWithValue(id, first))
			}
		})
	}

	resp = signedDo(t, http.MethodGet, srv.URL+simQueryOrderCallsPath+"?since=yesterday", "", nil)
	g.Expect(resp.status).To(Equal(http.StatusBadRequest))
}

// The client the controllers use turns the outage into an error that
// names the order and the marketplace's answer.
func TestQueryOrderOutageErrorNamesTheOrder(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	resp := signedDo(t, http.MethodPost, srv.URL+simQueryOrderOutagePath, "application/json", []byte(`{"seconds":60}`))
	g.Expect(resp.status).To(Equal(http.StatusCreated))
	_, err := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL).QueryOrder(ctxFor(t), "MOCKMONTYRENEW", "")
	g.Expect(err).To(MatchError(And(ContainSubstring("MOCKMONTYRENEW"), ContainSubstring("HTTP 500"), ContainSubstring(codeSystemError))))
}
