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

// TestAUsageValueTooLargeSaysSo: a value beyond MaxUsageUnits is refused
// as too large, naming the largest, not as a malformed decimal (a plan's
// package quota of "999999999999999" once stalled a paid package with
// "is not a decimal with at most 4 decimals").
func TestAUsageValueTooLargeSaysSo(t *testing.T) {
	for _, tc := range []struct {
		value, want string
	}{
		{"999999999999999", "is too large: a usage value is at most 461168601842738.9999"},
		{"461168601842739", "is too large: a usage value is at most 461168601842738.9999"},
		{"99999999999999999999.5", "is too large: a usage value is at most 461168601842738.9999"},
		{"12.34567", "is not a decimal with at most 4 decimals"},
		{"ten", "is not a decimal with at most 4 decimals"},
		{"-5", "is not a decimal with at most 4 decimals"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			_, err := ParseUsageUnits(tc.value)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}

// TestARefusedRecordsResultCodeReadsInEitherShape: the spec never showed
// the JSON of a refused record (§8 item 19), so its result_code may come as
// a string or a number, padded or not. Each reads in the spec's 3-digit
// form, so a duplicate (005, 010) still counts as accepted and 001/013 are
// still retried; a numeric code no longer fails the whole answer.
func TestARefusedRecordsResultCodeReadsInEitherShape(t *testing.T) {
	for _, tc := range []struct {
		name, record string
		want         UsageRecordError
		duplicate    bool
	}{
		{"the simulator's shape", `{"metering_sn":"kp1","result_code":"005","result_msg":"dup"}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "005", ResultMsg: "dup"}, true},
		{"a number", `{"metering_sn":"kp1","result_code":5,"result_msg":"dup"}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "005", ResultMsg: "dup"}, true},
		{"an unpadded string", `{"metering_sn":"kp1","result_code":"10"}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "010"}, true},
		{"a padded string with spaces", `{"metering_sn":"kp1","result_code":" 010 "}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "010"}, true},
		{"a retryable number", `{"metering_sn":"kp1","result_code":13}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "013"}, false},
		{"a refusal for good", `{"metering_sn":"kp1","result_code":3,"result_msg":"usage value abnormal"}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "003", ResultMsg: "usage value abnormal"}, false},
		{"a numeric metering_sn", `{"metering_sn":123,"result_code":"006"}`,
			UsageRecordError{MeteringSN: "123", ResultCode: "006"}, false},
		{"a code of another form is kept as sent", `{"metering_sn":"kp1","result_code":"MKT.9003"}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "MKT.9003"}, false},
		{"a decimal is no code", `{"metering_sn":"kp1","result_code":5.5}`,
			UsageRecordError{MeteringSN: "kp1", ResultCode: "5.5"}, false},
		{"null", `{"metering_sn":"kp1","result_code":null}`,
			UsageRecordError{MeteringSN: "kp1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"error_code":"MKT.0000","error_msg":"ok","failed_records":[`+tc.record+`]}`)
			}))
			defer srv.Close()
			failed, err := NewClient("ak", "sk", srv.URL).PushUsage(context.Background(), "test-access-key",
				[]UsageRecord{{InstanceID: "i", MeteringSN: "kp1", UsageValue: "1"}})
			g.Expect(err).NotTo(HaveOccurred(), "one field of another JSON type must not fail the whole push")
			g.Expect(failed).To(Equal([]UsageRecordError{tc.want}))
			g.Expect(failed[0].Duplicate()).To(Equal(tc.duplicate))
		})
	}
}

// TestARefusedRecordOfAnotherKindStillFailsTheAnswer: an object or array
// where a field's text belongs is no answer kooper can read: the push
// fails, and is sent again.
func TestARefusedRecordOfAnotherKindStillFailsTheAnswer(t *testing.T) {
	for _, record := range []string{`{"metering_sn":"kp1","result_code":{"code":"005"}}`, `{"metering_sn":["kp1"]}`, `1`} {
		var answer usagePushAnswer
		err := json.Unmarshal([]byte(`{"failed_records":[`+record+`]}`), &answer)
		NewWithT(t).Expect(err).To(HaveOccurred(), record)
	}
}
