package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// steppedClock is a clock the test moves; the handlers read it from their
// own goroutines.
type steppedClock struct{ nanos atomic.Int64 }

func newSteppedClock(t time.Time) *steppedClock {
	c := &steppedClock{}
	c.nanos.Store(t.UnixNano())
	return c
}

func (c *steppedClock) now() time.Time       { return time.Unix(0, c.nanos.Load()) }
func (c *steppedClock) step(d time.Duration) { c.nanos.Add(int64(d)) }

// outageBody is a POST /sim/usage/outage body.
func outageBody(seconds float64) []byte {
	b, _ := json.Marshal(usageOutage{Seconds: seconds})
	return b
}

// decodeInto decodes a JSON answer.
func decodeInto[T any](t *testing.T, data []byte) T {
	var v T
	NewWithT(t).Expect(json.Unmarshal(data, &v)).To(Succeed())
	return v
}

func TestOutageRefusesEveryPushWithMKT0999UntilItEnds(t *testing.T) {
	g := NewWithT(t)
	clk := newSteppedClock(time.Now())
	cfg := defaultServerConfig()
	cfg.now = clk.now
	srv := startSim(t, cfg)
	c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)

	resp := signedDo(t, http.MethodPost, srv.URL+simOutagePath, "application/json", outageBody(60))
	g.Expect(resp.status).To(Equal(http.StatusOK), string(resp.body))
	g.Expect(decodeInto[usageOutage](t, resp.body).Active).To(BeTrue())

	_, err := c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-1", "a", 3))
	g.Expect(apiError(err)).To(HaveValue(Equal(koogallery.APIError{HTTPStatus: http.StatusInternalServerError, Code: outageCode,
		Message: "the usage service is unavailable (injected outage)"})), "an outage is a server-side error, which the client retries")
	resp = signedDo(t, http.MethodGet, srv.URL+simUsagePath, "", nil)
	g.Expect(string(resp.body)).To(MatchJSON(`{"records":[]}`), "nothing refused is stored")

	clk.step(59 * time.Second)
	_, err = c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-1", "a", 2))
	g.Expect(err).To(HaveOccurred(), "the outage lasts its 60 s")
	resp = signedDo(t, http.MethodGet, srv.URL+simOutagePath, "", nil)
	g.Expect(decodeInto[usageOutage](t, resp.body)).To(Equal(usageOutage{Seconds: 1, Active: true, RefusedPushes: 2, RefusedRecords: 5}))

	clk.step(time.Second)
	failed, err := c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-1", "a", 3))
	g.Expect(err).NotTo(HaveOccurred(), "and ends by itself")
	g.Expect(failed).To(BeEmpty())

	// An outage can be ended early.
	signedDo(t, http.MethodPost, srv.URL+simOutagePath, "application/json", outageBody(600))
	resp = signedDo(t, http.MethodPost, srv.URL+simOutagePath, "application/json", outageBody(0))
	g.Expect(decodeInto[usageOutage](t, resp.body).Active).To(BeFalse())
	failed, err = c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-2", "b", 1))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(BeEmpty())
}

func TestOutageRequestsAreChecked(t *testing.T) {
	srv := startSim(t, defaultServerConfig())
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"seconds", `{"seconds":90}`, http.StatusOK},
		{"fractions", `{"seconds":1.5}`, http.StatusOK},
		{"end", `{"seconds":0}`, http.StatusOK},
		{"negative", `{"seconds":-1}`, http.StatusBadRequest},
		{"over an hour", `{"seconds":3601}`, http.StatusBadRequest},
		{"not JSON", `90`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := signedDo(t, http.MethodPost, srv.URL+simOutagePath, "application/json", []byte(tc.body))
			NewWithT(t).Expect(resp.status).To(Equal(tc.status), string(resp.body))
		})
	}
}

// The windows list groups records by instance and window (the clock hour
// they begin in; a window's records each take a period of it) and counts
// the pushes of a stored record again, which the marketplace answers 005.
func TestWindowsListEachWindowWithItsRecordsAndRepeatedPushes(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	record := func(instance, sn string, begin time.Time, length time.Duration, value string) koogallery.UsageRecord {
		end := begin.Add(length).Format(koogallery.UsageTimeLayout)
		return koogallery.UsageRecord{InstanceID: instance, BeginTime: begin.Format(koogallery.UsageTimeLayout), EndTime: end,
			RecordTime: end, UsageValue: value, MeteringSN: sn}
	}
	first := []koogallery.UsageRecord{
		record("i-2", "i2-h0-duration", hour.Add(-20*time.Minute), 20*time.Minute, "0.3333"),
		record("i-1", "i1-h0-duration", hour, 30*time.Minute, "1"),
		record("i-1", "i1-h0-cpu", hour.Add(30*time.Minute), 30*time.Minute, "0.25"),
	}
	failed, err := c.PushUsage(context.Background(), defaultUsageKey, first)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(BeEmpty())
	// The first hour again (twice), and the next one.
	failed, err = c.PushUsage(context.Background(), defaultUsageKey, append(first[1:2], first[1],
		record("i-1", "i1-h1-duration", hour.Add(time.Hour), time.Hour, "1")))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(HaveLen(2))

	h0, h1, h2 := hour.Format(koogallery.UsageTimeLayout), hour.Add(time.Hour).Format(koogallery.UsageTimeLayout),
		hour.Add(2*time.Hour).Format(koogallery.UsageTimeLayout)
	resp := signedDo(t, http.MethodGet, srv.URL+simWindowsPath, "", nil)
	g.Expect(resp.status).To(Equal(http.StatusOK))
	type list struct {
		Instances []instanceWindows `json:"instances"`
	}
	g.Expect(decodeInto[list](t, resp.body).Instances).To(Equal([]instanceWindows{
		{InstanceID: "i-1", Windows: []usageWindowReport{
			{BeginTime: h0, EndTime: h1, Records: 2, Duplicates: 2, Units: 12_500},
			{BeginTime: h1, EndTime: h2, Records: 1, Units: 10_000},
		}},
		{InstanceID: "i-2", Windows: []usageWindowReport{
			{BeginTime: hour.Add(-20 * time.Minute).Format(koogallery.UsageTimeLayout), EndTime: h0, Records: 1, Units: 3_333},
		}},
	}))
	resp = signedDo(t, http.MethodGet, srv.URL+simWindowsPath+"?instanceId=i-2", "", nil)
	g.Expect(decodeInto[list](t, resp.body).Instances).To(HaveLen(1))
}
