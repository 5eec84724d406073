package controllers

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// fakeUsage is the fake marketplace's usage-data endpoint: it checks the
// AK/SK and the header signature, keeps each metering_sn once (a repeat is
// refused as 005, as the marketplace does), and refuses records of an
// instance with an injected code.
type fakeUsage struct {
	mu       sync.Mutex
	key      string
	records  map[string]koogallery.UsageRecord // by metering_sn
	pushes   int
	failNext map[string][]string // instance -> codes for its next records
	dups     map[string]int      // instance -> records answered as duplicates
	// lose is, per instance, how many of its next pushes are stored and then
	// answered 503, as when the answer is lost on the way back.
	lose map[string]int
}

func newFakeUsage(key string) *fakeUsage {
	return &fakeUsage{key: key, records: map[string]koogallery.UsageRecord{}, failNext: map[string][]string{}, dups: map[string]int{}, lose: map[string]int{}}
}

// refuse makes the next records of instance fail with codes, in turn.
func (u *fakeUsage) refuse(instance string, codes ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failNext[instance] = append(u.failNext[instance], codes...)
}

// loseAnswers makes the next n pushes that carry a record of instance be
// stored, and then answered 503: the marketplace holds the records, kooper
// does not know it.
func (u *fakeUsage) loseAnswers(instance string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lose[instance] += n
}

// answerLost reports whether the answer to a push of records is to be
// lost, and counts it.
func (u *fakeUsage) answerLost(records []koogallery.UsageRecord) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, rec := range records {
		if u.lose[rec.InstanceID] > 0 {
			u.lose[rec.InstanceID]--
			return true
		}
	}
	return false
}

// duplicatesOf returns how many of an instance's records were answered as
// duplicates: unlike kooper's duplicate counter, no other tenant adds to it.
func (u *fakeUsage) duplicatesOf(instance string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dups[instance]
}

// of returns the accepted records of an instance by meter-independent sn.
func (u *fakeUsage) of(instance string) []koogallery.UsageRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []koogallery.UsageRecord
	for _, r := range u.records {
		if r.InstanceID == instance {
			out = append(out, r)
		}
	}
	return out
}

func (u *fakeUsage) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	lookup := func(ak string) (string, bool) { return testSecretAccessKey, ak == testAccessKeyID }
	if err != nil || koogallery.VerifyAPIGSignature(r, body, lookup, time.Now(), 15*time.Minute) != nil {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "APIG.0301", "error_msg": "incorrect signature"})
		return
	}
	want, _ := base64.StdEncoding.DecodeString(koogallery.SignUsagePush(u.key, r.Header.Get("ts"), r.Header.Get("nonce"), body))
	got, err := base64.StdEncoding.DecodeString(r.Header.Get("signature"))
	var push struct {
		UsageRecords []koogallery.UsageRecord `json:"usage_records"`
	}
	if err != nil || !hmac.Equal(want, got) || json.Unmarshal(body, &push) != nil || len(push.UsageRecords) > koogallery.MaxUsageRecords {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.0102", "error_msg": "invalid body signature"})
		return
	}
	oldest := time.Now().Add(-koogallery.UsageWindow)
	for _, rec := range push.UsageRecords {
		if begin, err := time.Parse(koogallery.UsageTimeLayout, rec.BeginTime); err == nil && begin.Before(oldest) {
			// The whole request is refused, as the marketplace and the simulator do.
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.9004", "error_msg": "begin_time is more than 21 days ago"})
			return
		}
	}
	failed := u.accept(push.UsageRecords)
	if u.answerLost(push.UsageRecords) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "APIG.0201", "error_msg": "injected: the answer was lost"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": koogallery.OpenAPISuccess, "error_msg": "ok", "failed_records": failed})
}

func (u *fakeUsage) accept(records []koogallery.UsageRecord) []koogallery.UsageRecordError {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pushes++
	failed := []koogallery.UsageRecordError{}
	for _, rec := range records {
		if codes := u.failNext[rec.InstanceID]; len(codes) > 0 {
			u.failNext[rec.InstanceID] = codes[1:]
			failed = append(failed, koogallery.UsageRecordError{MeteringSN: rec.MeteringSN, ResultCode: codes[0], ResultMsg: "injected"})
			continue
		}
		if _, dup := u.records[rec.MeteringSN]; dup {
			u.dups[rec.InstanceID]++
			failed = append(failed, koogallery.UsageRecordError{MeteringSN: rec.MeteringSN, ResultCode: "005", ResultMsg: "duplicate metering_sn"})
			continue
		}
		u.records[rec.MeteringSN] = rec
	}
	return failed
}

// usageKey is the key the fake checks usage signatures with: the test
// products' basicKey.
func usageKey() string { return completeKeys[saasv1alpha1.BasicKeySecretKey] }
