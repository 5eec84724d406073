package koogallery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	. "github.com/onsi/gomega"
)

// TestPushUsageBodyIsVectorU1 checks that PushUsage sends the sorted-key
// body of vector U1 byte for byte, signs exactly what it sends, and returns
// the refused records.
func TestPushUsageBodyIsVectorU1(t *testing.T) {
	g := NewWithT(t)
	const u1 = `{"usage_records":[{"begin_time":"20220809T080000Z","end_time":"20220809T090000Z","instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","metering_sn":"a1b2c3d4e5f6","record_time":"20220809T091000Z","usage_value":"99"}]}`
	var gotBody []byte
	var gotSig, gotTS, gotNonce string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotSig, gotTS, gotNonce = r.Header.Get("signature"), r.Header.Get("ts"), r.Header.Get("nonce")
		_ = json.NewEncoder(w).Encode(map[string]any{"error_code": OpenAPISuccess, "error_msg": "ok",
			"failed_records": []UsageRecordError{{MeteringSN: "a1b2c3d4e5f6", ResultCode: "005", ResultMsg: "duplicate"}}})
	}))
	defer srv.Close()
	c := NewClient("ak", "sk", srv.URL)
	failed, err := c.PushUsage(context.Background(), "test-access-key", []UsageRecord{{
		InstanceID: "7f141bf1-aec8-4859-8323-fb3a8ad50721", RecordTime: "20220809T091000Z", BeginTime: "20220809T080000Z",
		EndTime: "20220809T090000Z", UsageValue: "99", MeteringSN: "a1b2c3d4e5f6",
	}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(gotBody)).To(Equal(u1))
	g.Expect(gotSig).To(Equal(SignUsagePush("test-access-key", gotTS, gotNonce, gotBody)))
	g.Expect(failed).To(HaveLen(1))
	g.Expect(failed[0].Duplicate()).To(BeTrue())
}

func TestPushUsageLimits(t *testing.T) {
	g := NewWithT(t)
	c := NewClient("ak", "sk", "http://127.0.0.1:1")
	_, err := c.PushUsage(context.Background(), "k", nil)
	g.Expect(err).To(HaveOccurred())
	_, err = c.PushUsage(context.Background(), "k", make([]UsageRecord, MaxUsageRecords+1))
	g.Expect(err).To(HaveOccurred())
	_, err = c.PushUsage(context.Background(), "", make([]UsageRecord, 1))
	g.Expect(err).To(HaveOccurred())
}

// TestUsagePushMaxRecordsIs1To1000: the limit is 100 by default (§8 item
// 19 gives 100 and 1000) and may be set from 1 to the API page's 1000.
func TestUsagePushMaxRecordsIs1To1000(t *testing.T) {
	g := NewWithT(t)
	g.Expect(DefaultUsagePushMaxRecords).To(Equal(100))
	for _, good := range []string{"1", "100", "1000"} {
		_, err := ParseUsagePushMaxRecords(good)
		g.Expect(err).NotTo(HaveOccurred(), good)
	}
	for _, bad := range []string{"0", "-1", "1001", "ten", "", "100.5"} {
		_, err := ParseUsagePushMaxRecords(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
}

// TestMaxUsageUnitsIsTheLargestThatParses: stored totals saturate at
// MaxUsageUnits, so it must read back and nothing above it may.
func TestMaxUsageUnitsIsTheLargestThatParses(t *testing.T) {
	g := NewWithT(t)
	g.Expect(MaxUsageUnits.String()).To(Equal("461168601842738.9999"))
	u, err := ParseUsageUnits(MaxUsageUnits.String())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(u).To(Equal(MaxUsageUnits))
	for _, above := range []string{(MaxUsageUnits + 1).String(), "900000000000000", "922337203685477.5807"} {
		_, err := ParseUsageUnits(above)
		g.Expect(err).To(HaveOccurred(), above)
	}
}
