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

// usageRecords are n one-hour records of instance, starting an hour ago,
// with metering_sn prefix-<i>.
func usageRecords(instance, prefix string, n int) []koogallery.UsageRecord {
	begin := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	records := make([]koogallery.UsageRecord, n)
	for i := range records {
		records[i] = koogallery.UsageRecord{
			InstanceID: instance, BeginTime: begin.Format(koogallery.UsageTimeLayout),
			EndTime: begin.Add(time.Hour).Format(koogallery.UsageTimeLayout), RecordTime: begin.Add(time.Hour).Format(koogallery.UsageTimeLayout),
			UsageValue: "1.25", MeteringSN: fmt.Sprintf("%s-%d", prefix, i),
		}
	}
	return records
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
