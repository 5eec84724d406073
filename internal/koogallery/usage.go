package koogallery

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// UsageDataPath is the path of the new usage push (§6.4).
const UsageDataPath = "/api/mkp-openapi-public/global/v1/isv/usage-data"

// MaxUsageRecords is the most records one usage push may carry by the API
// page (§6.4, MKT.9003): the upper bound of the configured limit, and what
// PushUsage refuses to exceed.
const MaxUsageRecords = 1000

// DefaultUsagePushMaxRecords is how many records kooper puts in one usage
// push unless configured otherwise. The API page says 1000, one error-code
// description says 100 (§8 item 19); 100 is within both readings, so a
// backlog is never refused as a whole on every retry (MKT.9003) until the
// 21-day cut drops its hours.
const DefaultUsagePushMaxRecords = 100

// CheckUsagePushMaxRecords reports whether n is a usable per-push record
// limit: 1 to MaxUsageRecords.
func CheckUsagePushMaxRecords(n int) error {
	if n < 1 || n > MaxUsageRecords {
		return fmt.Errorf("the records per usage push must be 1 to %d, not %d", MaxUsageRecords, n)
	}
	return nil
}

// ParseUsagePushMaxRecords reads a per-push record limit, 1 to
// MaxUsageRecords, written in decimal.
func ParseUsagePushMaxRecords(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%.32q is not a whole number", s)
	}
	return n, CheckUsagePushMaxRecords(n)
}

// UsageWindow is how far back a record's begin_time may lie (§6.4, MKT.9004).
const UsageWindow = 21 * 24 * time.Hour

// UsageTimeLayout is the records' time format: UTC yyyyMMdd'T'HHmmss'Z'.
const UsageTimeLayout = "20060102T150405Z"

// Record-level result codes of the usage push (§6.4) that mean the
// marketplace already holds the record: a repeat push of it succeeded.
const (
	UsageDuplicateSN     = "005"
	UsageDuplicateRecord = "010"
)

// UsageRecord is one UsagePushData (§6.4). Field order is the sorted key
// order, so encoding/json writes the "natural sort" body the signature covers.
type UsageRecord struct {
	BeginTime         string `json:"begin_time"`
	EndTime           string `json:"end_time"`
	InstanceID        string `json:"instance_id"`
	MeteringSN        string `json:"metering_sn"`
	RecordTime        string `json:"record_time"`
	RelatePkgInstance string `json:"relate_pkg_instance,omitempty"`
	UsageValue        string `json:"usage_value"`
}

// UsageRecordError is a record the marketplace refused. The spec lists the
// codes (001–013) but not the JSON that carries them (§8 item 19); this
// shape, failed_records[{metering_sn, result_code, result_msg}], is the one
// the simulator answers with and an assumption to confirm on the real API.
// ResultCode holds a numeric code in its three-digit form, however it was
// written (UnmarshalJSON).
type UsageRecordError struct {
	MeteringSN string `json:"metering_sn"`
	ResultCode string `json:"result_code"`
	ResultMsg  string `json:"result_msg"`
}

// UnmarshalJSON reads a refused record as loosely as Query Order's answer
// is read: each field by answerString, so a number where the simulator
// sends a string ("result_code":5, "metering_sn":123) does not fail the
// whole answer, and with it a push whose in-flight records would then be
// sent again until the 21-day cut; an object or array in a field still
// does. A result code of one to three digits, written as a number or a
// string, spaces trimmed, reads in the spec's three-digit form (5, "5"
// and " 005 " as "005"), which Duplicate and the callers compare with;
// any other code is kept as sent.
func (e *UsageRecordError) UnmarshalJSON(raw []byte) error {
	var wire struct {
		MeteringSN answerString `json:"metering_sn"`
		ResultCode answerString `json:"result_code"`
		ResultMsg  answerString `json:"result_msg"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*e = UsageRecordError{MeteringSN: string(wire.MeteringSN), ResultCode: usageResultCode(string(wire.ResultCode)), ResultMsg: string(wire.ResultMsg)}
	return nil
}

// usageResultCode is code in the three-digit form of §6.4's codes
// (001–013) when it is one to three digits, spaces trimmed; code as sent
// otherwise.
func usageResultCode(code string) string {
	digits := strings.TrimSpace(code)
	if digits == "" || len(digits) > 3 || strings.Trim(digits, "0123456789") != "" {
		return code
	}
	return strings.Repeat("0", 3-len(digits)) + digits
}

// Duplicate reports whether the marketplace refused the record only because
// it already holds it, which for an idempotent pusher is success.
func (e UsageRecordError) Duplicate() bool {
	return e.ResultCode == UsageDuplicateSN || e.ResultCode == UsageDuplicateRecord
}

// usagePushAnswer is the body of a usage push answer.
type usagePushAnswer struct {
	FailedRecords []UsageRecordError `json:"failed_records"`
}

// SignUsagePush returns the signature header of the new usage push (§6.4):
// Base64 of HMAC-SHA256 keyed with the interface key over
// "ts=<ts>&nonce=<nonce>&body=<body>". body must be the exact bytes sent.
func SignUsagePush(key, ts, nonce string, body []byte) string {
	msg := make([]byte, 0, len(ts)+len(nonce)+len(body)+16)
	msg = append(msg, "ts="+ts+"&nonce="+nonce+"&body="...)
	msg = append(msg, body...)
	return base64.StdEncoding.EncodeToString(hmacSHA256([]byte(key), msg))
}

// PushUsage sends up to MaxUsageRecords records with the signature header
// keyed by key (and the client's AK/SK signature). It returns the records the
// marketplace refused, duplicates included; an error means the push as a
// whole failed and none of the records can be taken as accepted.
func (c *Client) PushUsage(ctx context.Context, key string, records []UsageRecord) ([]UsageRecordError, error) {
	if len(records) == 0 || len(records) > MaxUsageRecords {
		return nil, fmt.Errorf("a usage push carries 1 to %d records, not %d", MaxUsageRecords, len(records))
	}
	if key == "" {
		return nil, errors.New("the usage push needs the interface key")
	}
	body, err := json.Marshal(struct {
		UsageRecords []UsageRecord `json:"usage_records"`
	}{records})
	if err != nil {
		return nil, fmt.Errorf("failed to encode usage records: %w", err)
	}
	nonce, err := usageNonce()
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	header := http.Header{"ts": {ts}, "nonce": {nonce}, "signature": {SignUsagePush(key, ts, nonce, body)}}
	call := apiCall{method: http.MethodPost, path: UsageDataPath, contentType: "application/json;charset=UTF-8", body: body, header: header}
	var answer usagePushAnswer
	if err := c.do(ctx, call, &answer); err != nil {
		return nil, fmt.Errorf("failed to push %d usage records: %w", len(records), err)
	}
	return answer.FailedRecords, nil
}

// usageNonce is a 128-bit random hex string.
func usageNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to make a nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// UsageUnits is a usage value in ten-thousandths: the four decimals the
// marketplace takes (§6.4 usage_value, §3.3 usageValue). Integer units keep
// cumulative totals exact.
type UsageUnits int64

// UnitsPerOne is 10^4.
const UnitsPerOne = 10_000

// String writes the value with at most four decimals and no trailing zeros.
func (u UsageUnits) String() string {
	sign := ""
	if u < 0 {
		sign, u = "-", -u
	}
	whole, frac := int64(u)/UnitsPerOne, int64(u)%UnitsPerOne
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	return sign + strings.TrimRight(fmt.Sprintf("%d.%04d", whole, frac), "0")
}

// MaxUsageUnits is the largest value ParseUsageUnits reads,
// 461168601842738.9999: a whole part up to (1<<62)/10^4, about half of
// int64's range. A stored total must not go beyond it, or it no longer
// reads back.
const MaxUsageUnits UsageUnits = (1<<62)/UnitsPerOne*UnitsPerOne + UnitsPerOne - 1

// ParseUsageUnits reads a non-negative decimal with at most four decimals,
// up to MaxUsageUnits. It fails for anything else, saying "is not a
// decimal with at most 4 decimals", or, for a decimal of that form whose
// whole part is beyond MaxUsageUnits', "is too large" with the largest.
func ParseUsageUnits(s string) (UsageUnits, error) {
	whole, frac, _ := strings.Cut(s, ".")
	bad := fmt.Errorf("%.32q is not a decimal with at most 4 decimals", s)
	if whole == "" || len(frac) > 4 || strings.HasPrefix(whole, "+") || strings.HasPrefix(whole, "-") {
		return 0, bad
	}
	f := int64(0)
	if frac != "" {
		var err error
		if f, err = strconv.ParseInt((frac + "000")[:4], 10, 64); err != nil || strings.ContainsAny(frac, "+-") {
			return 0, bad
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && w > int64(MaxUsageUnits/UnitsPerOne) {
		return 0, fmt.Errorf("%.32q is too large: a usage value is at most %s", s, MaxUsageUnits)
	}
	if err != nil {
		return 0, bad
	}
	return UsageUnits(w*UnitsPerOne + f), nil
}
