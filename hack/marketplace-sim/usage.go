package main

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Usage-push limits and formats (§6.4).
const (
	// maxRecordsPerPush is the API page's limit; one error code's
	// description says 100 (§8 item 19): serve --usage-max-records.
	maxRecordsPerPush = 1000
	usageWindow       = 21 * 24 * time.Hour
	// usageTimeLayout is yyyyMMdd'T'HHmmss'Z', UTC.
	usageTimeLayout = "20060102T150405Z"
)

// usageValuePattern is a positive decimal with at most four decimals.
var usageValuePattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,15})(\.[0-9]{1,4})?$`)

// usagePush is the usage push's body.
type usagePush struct {
	UsageRecords []usagePushRecord `json:"usage_records"`
}

// usagePushRecord is one UsagePushData (§6.4).
type usagePushRecord struct {
	InstanceID        string `json:"instance_id"`
	RecordTime        string `json:"record_time"`
	BeginTime         string `json:"begin_time"`
	EndTime           string `json:"end_time"`
	UsageValue        string `json:"usage_value"`
	MeteringSN        string `json:"metering_sn"`
	RelatePkgInstance string `json:"relate_pkg_instance,omitempty"`
}

// usageRecord is an accepted record as GET /sim/usage lists it.
type usageRecord struct {
	usagePushRecord
	// ReceivedAt is when the simulator accepted it, RFC 3339.
	ReceivedAt string `json:"receivedAt"`
}

// recordResult reports a refused record. The docs list the codes (001–013)
// but not the JSON that carries them (§8 item 19), so this shape is the
// simulator's own.
type recordResult struct {
	MeteringSN string `json:"metering_sn"`
	ResultCode string `json:"result_code"`
	ResultMsg  string `json:"result_msg"`
}

// usagePushAnswer is the usage push's answer.
type usagePushAnswer struct {
	openAPIError
	FailedRecords []recordResult `json:"failed_records"`
}

// usageData serves POST .../isv/usage-data: the header signature (and the
// AK/SK signature when one is sent), the limits, then each record. During
// an injected outage (/sim/usage/outage) it refuses every push first.
func (s *simServer) usageData(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxUsageBody)
	if !ok || s.refuseInOutage(w, r, body) {
		return
	}
	if r.Header.Get("Authorization") != "" && !s.authenticate(w, r, body) {
		return
	}
	if !s.checkUsageSignature(w, r, body) {
		return
	}
	records, ok := s.decodeUsage(w, r, body)
	if !ok {
		return
	}
	failed, stored := s.acceptRecords(records)
	if !stored {
		// A request-level error, not a record code: 010 means an
		// overlapping period, which a client takes for a record it holds.
		s.replyError(w, r, http.StatusInsufficientStorage, "MKT.0999", "the simulator holds too many records; restart it")
		return
	}
	msg := fmt.Sprintf("%d records accepted, %d refused", len(records)-len(failed), len(failed))
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, usagePushAnswer{
		openAPIError:  openAPIError{ErrorCode: koogallery.OpenAPISuccess, ErrorMsg: msg},
		FailedRecords: failed,
	}, msg)
}

// checkUsageSignature verifies the signature, ts and nonce headers:
// Base64 HMAC-SHA256 of "ts=…&nonce=…&body=<the bytes sent>" (§6.4).
func (s *simServer) checkUsageSignature(w http.ResponseWriter, r *http.Request, body []byte) bool {
	sig, ts, nonce := r.Header.Get("signature"), r.Header.Get("ts"), r.Header.Get("nonce")
	if sig == "" || ts == "" || nonce == "" {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "the signature, ts and nonce headers are required")
		return false
	}
	want, _ := base64.StdEncoding.DecodeString(koogallery.SignUsagePush(s.cfg.usageKey, ts, nonce, body))
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) {
		s.replyError(w, r, http.StatusBadRequest, "MKT.0102", "invalid body signature")
		return false
	}
	return true
}

// decodeUsage parses the body and applies the request-wide limits: at most
// usagePushLimit records (MKT.9003) and none beginning more than 21 days
// ago (MKT.9004).
func (s *simServer) decodeUsage(w http.ResponseWriter, r *http.Request, body []byte) ([]usagePushRecord, bool) {
	var push usagePush
	if err := json.Unmarshal(body, &push); err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "the body is not a usage push: "+err.Error())
		return nil, false
	}
	switch n := len(push.UsageRecords); {
	case n == 0:
		s.replyError(w, r, http.StatusBadRequest, "MKT.9002", "usage_records is empty")
		return nil, false
	case n > s.cfg.usagePushLimit():
		s.replyError(w, r, http.StatusBadRequest, "MKT.9003", fmt.Sprintf("%d records; at most %d per request", n, s.cfg.usagePushLimit()))
		return nil, false
	}
	oldest := s.cfg.now().Add(-usageWindow)
	for _, rec := range push.UsageRecords {
		if begin, err := time.Parse(usageTimeLayout, rec.BeginTime); err == nil && begin.Before(oldest) {
			s.replyError(w, r, http.StatusBadRequest, "MKT.9004",
				fmt.Sprintf("begin_time %s of metering_sn %.64q is more than 21 days ago", rec.BeginTime, rec.MeteringSN))
			return nil, false
		}
	}
	return push.UsageRecords, true
}

// usagePushLimit is the most records one usage push may carry: the
// configured limit, else the API page's 1000.
func (c serverConfig) usagePushLimit() int {
	if c.usageMaxRecords > 0 {
		return c.usageMaxRecords
	}
	return maxRecordsPerPush
}

// acceptRecords stores every valid record and returns the refused ones.
// metering_sn is the deduplication key, across pushes and within one; a
// record of a new metering_sn whose period overlaps one the instance holds
// is a duplicate record (010: §6.4 asks for records "per instance and
// period without overlaps"). It stores nothing and reports false when the
// records could take the simulator over maxUsageRecords.
func (s *simServer) acceptRecords(records []usagePushRecord) ([]recordResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.usage)+len(records) > maxUsageRecords {
		return nil, false
	}
	failed := []recordResult{}
	received := s.cfg.now().UTC().Format(time.RFC3339)
	for _, rec := range records {
		code, msg := checkRecord(rec)
		var period usagePeriod
		switch {
		case code != "":
		case s.takeRefusal(rec.InstanceID, &code, &msg):
		case s.metering[rec.MeteringSN]:
			code, msg = "005", "duplicate metering_sn"
			s.duplicates[rec.MeteringSN]++
		default:
			period = periodOf(rec) // checkRecord read both times
			if other, overlaps := s.overlapping(rec.InstanceID, period); overlaps {
				code, msg = "010", fmt.Sprintf("duplicate record: the instance holds a record for %s–%s", other.begin, other.end)
			}
		}
		if code != "" {
			failed = append(failed, recordResult{MeteringSN: rec.MeteringSN, ResultCode: code, ResultMsg: msg})
			continue
		}
		s.metering[rec.MeteringSN] = true
		s.usage = append(s.usage, usageRecord{usagePushRecord: rec, ReceivedAt: received})
		s.holdPeriod(rec.InstanceID, period)
	}
	return failed, true
}

// usagePeriod is a stored record's [begin, end), in its own
// yyyyMMddTHHmmssZ strings, which sort as the times do.
type usagePeriod struct{ begin, end string }

// periodOf is rec's period, from times checkRecord found well formed.
func periodOf(rec usagePushRecord) usagePeriod {
	return usagePeriod{begin: rec.BeginTime, end: rec.EndTime}
}

// overlapping returns a period of instance's stored records that shares
// time with p, and whether there is one: the first stored period that ends
// after p begins, when it begins before p ends (they are sorted and
// disjoint). Periods that only touch ([08:00, 09:00) and [09:00, 10:00))
// do not overlap. The caller holds s.mu.
func (s *simServer) overlapping(instance string, p usagePeriod) (usagePeriod, bool) {
	held := s.periods[instance]
	i := sort.Search(len(held), func(i int) bool { return held[i].end > p.begin })
	if i < len(held) && held[i].begin < p.end {
		return held[i], true
	}
	return usagePeriod{}, false
}

// holdPeriod adds p, which overlaps none, to instance's stored periods, in
// order. The caller holds s.mu.
func (s *simServer) holdPeriod(instance string, p usagePeriod) {
	held := s.periods[instance]
	i := sort.Search(len(held), func(i int) bool { return held[i].begin >= p.begin })
	s.periods[instance] = slices.Insert(held, i, p)
}

// checkRecord applies the per-record rules of §6.4 and returns the
// record-level code and message of the first that fails, or "".
func checkRecord(rec usagePushRecord) (string, string) {
	if rec.MeteringSN == "" {
		return "004", "metering_sn is missing"
	}
	if rec.InstanceID == "" {
		return "001", "instance_id is missing"
	}
	names := []string{"record_time", "begin_time", "end_time"}
	parsed := make([]time.Time, len(names))
	for i, value := range []string{rec.RecordTime, rec.BeginTime, rec.EndTime} {
		t, err := time.Parse(usageTimeLayout, value)
		if err != nil {
			return "002", names[i] + " is not yyyyMMddTHHmmssZ"
		}
		parsed[i] = t
	}
	if !parsed[1].Before(parsed[2]) {
		return "011", "begin_time must be before end_time"
	}
	if !usageValuePattern.MatchString(rec.UsageValue) || isZero(rec.UsageValue) {
		return "003", "usage_value must be a decimal above 0 with at most 4 decimals"
	}
	return "", ""
}

// isZero reports whether a decimal matched by usageValuePattern is zero.
func isZero(v string) bool {
	for _, c := range v {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// listUsage serves GET /sim/usage[?instanceId=…]: the accepted records.
func (s *simServer) listUsage(w http.ResponseWriter, r *http.Request) {
	instance := r.URL.Query().Get("instanceId")
	s.mu.Lock()
	records := []usageRecord{}
	for _, rec := range s.usage {
		if instance == "" || rec.InstanceID == instance {
			records = append(records, rec)
		}
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, struct {
		Records []usageRecord `json:"records"`
	}{records}, "")
}

// recordCodes are the documented record-level codes of the usage push
// (§6.4) and what they mean.
var recordCodes = map[string]string{
	"001": "instance does not exist", "002": "time format error", "003": "usage value abnormal",
	"004": "metering_sn missing", "005": "duplicate metering_sn", "006": "product delisted",
	"007": "record expired", "009": "instance does not belong to this ISV", "010": "duplicate record",
	"011": "invalid time range", "012": "not a pay-per-use instance", "013": "abnormal instance status",
}

// maxRefusals bounds the injected refusals a simulator holds.
const maxRefusals = 1000

// usageRefusal makes the next count records of an instance (any instance
// when empty) fail with code, as the marketplace would for that reason.
type usageRefusal struct {
	InstanceID string `json:"instanceId,omitempty"`
	Code       string `json:"code"`
	Count      int    `json:"count,omitempty"`
}

// registerRefusal serves POST /sim/usage/refusals: {"instanceId", "code",
// "count"} injects a documented per-record error for the next records.
func (s *simServer) registerRefusal(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxRegistrationBody)
	if !ok {
		return
	}
	var ref usageRefusal
	if err := json.Unmarshal(body, &ref); err != nil {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "the body is not a refusal: "+err.Error())
		return
	}
	if _, known := recordCodes[ref.Code]; !known {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest, "code must be one of the documented record codes 001-013 (008 is not documented)")
		return
	}
	ref.Count = max(ref.Count, 1)
	s.mu.Lock()
	full := len(s.refusals) >= maxRefusals
	if !full {
		s.refusals = append(s.refusals, ref)
	}
	s.mu.Unlock()
	if full {
		s.replyError(w, r, http.StatusInsufficientStorage, "MKT.0999", "the simulator holds too many refusals; restart it")
		return
	}
	s.reply(w, r, http.StatusCreated, koogallery.OpenAPISuccess, ref, fmt.Sprintf("refusing %d record(s) with %s", ref.Count, ref.Code))
}

// takeRefusal consumes the first refusal that applies to instance and sets
// code and msg from it. The caller holds s.mu.
func (s *simServer) takeRefusal(instance string, code, msg *string) bool {
	for i := range s.refusals {
		ref := &s.refusals[i]
		if ref.InstanceID != "" && ref.InstanceID != instance {
			continue
		}
		*code, *msg = ref.Code, recordCodes[ref.Code]+" (injected)"
		if ref.Count--; ref.Count == 0 {
			s.refusals = append(s.refusals[:i], s.refusals[i+1:]...)
		}
		return true
	}
	return false
}
