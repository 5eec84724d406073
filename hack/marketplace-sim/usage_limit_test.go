package main

import (
	"context"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// TestTheSimulatorEnforcesAConfiguredRecordLimit: the usage push's record
// limit is 1000 on its API page and 100 in one error-code description (§8
// item 19). Set to 100, the simulator refuses a push of 101 whole with
// MKT.9003, storing nothing, and takes a 120-record backlog of 2 meters
// split as kooper splits it by default: 100, then 20.
func TestTheSimulatorEnforcesAConfiguredRecordLimit(t *testing.T) {
	g := NewWithT(t)
	cfg := defaultServerConfig()
	cfg.usageMaxRecords = 100
	srv := startSim(t, cfg)
	c := koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)

	_, err := c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-limit", "over", 101))
	g.Expect(err).To(MatchError(ContainSubstring("MKT.9003")))
	g.Expect(listedUsage(t, srv.URL, "i-limit")).To(BeEmpty(), "a refused push stores nothing")

	backlog := usageRecords("i-limit", "backlog", 120)
	perPush := metering.WindowsPerPush(2, koogallery.DefaultUsagePushMaxRecords) * 2
	pushes := 0
	for len(backlog) > 0 {
		n := min(perPush, len(backlog))
		failed, err := c.PushUsage(context.Background(), defaultUsageKey, backlog[:n])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(failed).To(BeEmpty())
		backlog, pushes = backlog[n:], pushes+1
	}
	g.Expect(pushes).To(Equal(2))
	g.Expect(listedUsage(t, srv.URL, "i-limit")).To(HaveLen(120), "the backlog is stored whole")

	// Unset, the limit is the API page's 1000.
	srv = startSim(t, defaultServerConfig())
	c = koogallery.NewClient(defaultAccessKeyID, defaultSecretAccessKey, srv.URL)
	_, err = c.PushUsage(context.Background(), defaultUsageKey, usageRecords("i-limit", "page", koogallery.MaxUsageRecords))
	g.Expect(err).NotTo(HaveOccurred())
}

// listedUsage is GET /sim/usage?instanceId=instance: the stored records.
func listedUsage(t *testing.T, base, instance string) []usageRecord {
	t.Helper()
	resp := signedDo(t, http.MethodGet, base+simUsagePath+"?instanceId="+instance, "", nil)
	return decodeInto[struct {
		Records []usageRecord `json:"records"`
	}](t, resp.body).Records
}
