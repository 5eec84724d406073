package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// usageRecords are n records of instance over one-second periods, one
// after the other from the clock hour an hour ago (records of an instance
// must not overlap, spec §6.4), with metering_sn prefix-<i>. The same n and
// instance give the same periods.
func usageRecords(instance, prefix string, n int) []koogallery.UsageRecord {
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	records := make([]koogallery.UsageRecord, n)
	for i := range records {
		begin := hour.Add(time.Duration(i) * time.Second)
		records[i] = koogallery.UsageRecord{
			InstanceID: instance, BeginTime: begin.Format(koogallery.UsageTimeLayout),
			EndTime: begin.Add(time.Second).Format(koogallery.UsageTimeLayout), RecordTime: hour.Add(time.Hour).Format(koogallery.UsageTimeLayout),
			UsageValue: "1.25", MeteringSN: fmt.Sprintf("%s-%d", prefix, i),
		}
	}
	return records
}

// periodRecord is a record of instance with metering_sn sn over [begin,
// begin+length).
func periodRecord(instance, sn string, begin time.Time, length time.Duration) koogallery.UsageRecord {
	end := begin.Add(length).Format(koogallery.UsageTimeLayout)
	return koogallery.UsageRecord{InstanceID: instance, BeginTime: begin.Format(koogallery.UsageTimeLayout), EndTime: end,
		RecordTime: end, UsageValue: "1", MeteringSN: sn}
}

// Spec §6.4: "Push records per instance and period without overlaps". A
// record of a new metering_sn for a period an instance's stored record
// shares time with is refused as a duplicate record (010), within a push
// and across pushes; periods that only touch do not overlap; another
// instance's periods do not count; a repeated metering_sn stays 005.
func TestARecordOverlappingAStoredPeriodOfItsInstanceIsADuplicateRecord(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)
	h := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)

	failed, err := c.PushUsage(context.Background(), defaultUsageKey, []koogallery.UsageRecord{
		periodRecord("i-1", "h0-duration", h, time.Hour),
		periodRecord("i-1", "h0-cpu", h, time.Hour), // kooper's records of one window before they had periods of their own
		periodRecord("i-1", "h1-first-half", h.Add(time.Hour), 30*time.Minute),
		periodRecord("i-1", "h1-second-half", h.Add(90*time.Minute), 30*time.Minute),
		periodRecord("i-2", "other-instance", h, time.Hour),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(HaveLen(1))
	g.Expect(failed[0].MeteringSN).To(Equal("h0-cpu"))
	g.Expect(failed[0].ResultCode).To(Equal("010"))
	g.Expect(failed[0].Duplicate()).To(BeTrue(), "which a client counts as held: it bills the record no more")

	failed, err = c.PushUsage(context.Background(), defaultUsageKey, []koogallery.UsageRecord{
		periodRecord("i-1", "h0-duration", h, time.Hour),                     // a retry
		periodRecord("i-1", "h0-late", h.Add(59*time.Minute), 2*time.Minute), // one minute in each of two stored periods
		periodRecord("i-1", "h2", h.Add(2*time.Hour), time.Hour),             // touches the last stored one
	})
	g.Expect(err).NotTo(HaveOccurred())
	codes := map[string]string{}
	for _, f := range failed {
		codes[f.MeteringSN] = f.ResultCode
	}
	g.Expect(codes).To(Equal(map[string]string{"h0-duration": "005", "h0-late": "010"}))
	g.Expect(listedUsage(t, srv.URL, "i-1")).To(HaveLen(4))
}

// A push the simulator has no room left for is refused whole, at the
// request level: stored records' codes (010 among them) keep their meaning.
func TestAPushOverTheSimulatorsCapacityIsRefusedWhole(t *testing.T) {
	g := NewWithT(t)
	s := &simServer{cfg: defaultServerConfig(), metering: map[string]bool{}, duplicates: map[string]int{}, periods: map[string][]usagePeriod{},
		usage: make([]usageRecord, maxUsageRecords-1)}
	s.cfg.now = time.Now
	two := []usagePushRecord{}
	for _, rec := range usageRecords("i-full", "full", 2) {
		two = append(two, usagePushRecord{InstanceID: rec.InstanceID, RecordTime: rec.RecordTime, BeginTime: rec.BeginTime,
			EndTime: rec.EndTime, UsageValue: rec.UsageValue, MeteringSN: rec.MeteringSN})
	}
	failed, stored := s.acceptRecords(two)
	g.Expect(stored).To(BeFalse())
	g.Expect(failed).To(BeEmpty())
	g.Expect(s.usage).To(HaveLen(maxUsageRecords-1), "nothing of it is stored")
	failed, stored = s.acceptRecords(two[:1])
	g.Expect(stored).To(BeTrue())
	g.Expect(failed).To(BeEmpty())
	g.Expect(s.usage).To(HaveLen(maxUsageRecords))
}

func TestInjectedRefusalsComeBackAsRecordErrors(t *testing.T) {
	g := NewWithT(t)
	srv := startSim(t, defaultServerConfig())
	c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)

	resp := signedDo(t, http.MethodPost, srv.URL+simRefusalsPath, "application/json", []byte(`{"instanceId":"i-1","code":"013","count":2}`))
	g.Expect(resp.status).To(Equal(http.StatusCreated), string(resp.body))
	resp = signedDo(t, http.MethodPost, srv.URL+simRefusalsPath, "application/json", []byte(`{"code":"008"}`))
	g.Expect(resp.status).To(Equal(http.StatusBadRequest), "008 is not a documented code")

	failed, err := c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-1", "a", 3))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(HaveLen(2))
	g.Expect(failed[0].ResultCode).To(Equal("013"))
	g.Expect(failed[1].MeteringSN).To(Equal("a-1"))

	// The refused records were not stored: pushed again, they are accepted,
	// and the one accepted before is a duplicate.
	failed, err = c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-1", "a", 3))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(failed).To(HaveLen(1))
	g.Expect(failed[0].MeteringSN).To(Equal("a-2"))
	g.Expect(failed[0].Duplicate()).To(BeTrue())
}

// BenchmarkUsagePushThroughput pushes batches of 1000 records through the
// real client (AK/SK and header signatures, JSON) into the simulator, which
// verifies both signatures and checks every metering_sn for uniqueness.
func BenchmarkUsagePushThroughput(b *testing.B) {
	const batch = koogallery.MaxUsageRecords
	records := usageRecords("i-bench", "warm", batch)
	var srv *httptest.Server
	defer func() { srv.Close() }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%90 == 0 { // the simulator keeps at most 100,000 records
			b.StopTimer()
			if srv != nil {
				srv.Close()
			}
			srv = httptest.NewServer(newSimServer(defaultServerConfig()))
			b.StartTimer()
		}
		for j := range records {
			// An instance per push: the periods repeat, and an instance's
			// records must not overlap.
			records[j].InstanceID = fmt.Sprintf("i-bench-%d", i)
			records[j].MeteringSN = fmt.Sprintf("b%d-%d", i, j)
		}
		c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)
		failed, err := c.PushUsage(context.Background(), defaultUsageKey, records)
		if err != nil || len(failed) != 0 {
			b.Fatalf("push %d: %v, %d refused", i, err, len(failed))
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
