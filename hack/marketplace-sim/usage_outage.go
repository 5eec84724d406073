package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// outageCode is how the usage push fails while the marketplace is down:
// HTTP 500 with the generic server-side error (§6.7, MKT.0999), which a
// client must retry, as it must a gateway timeout.
const outageCode = "MKT.0999"

// maxOutage bounds an outage, so a harness that dies mid-fault leaves a
// simulator that recovers by itself.
const maxOutage = time.Hour

// usageOutage is the state of an injected outage of the usage push, as
// POST and GET /sim/usage/outage carry it.
type usageOutage struct {
	// Seconds is, in a request, how long the outage lasts from now (0 ends
	// it); in an answer, how long it has still to run.
	Seconds float64 `json:"seconds"`
	// Active reports whether pushes are refused now.
	Active bool `json:"active"`
	// RefusedPushes and RefusedRecords count the pushes, and the records
	// they carried, refused by every outage since the simulator started.
	RefusedPushes  int `json:"refusedPushes"`
	RefusedRecords int `json:"refusedRecords"`
}

// outageState is the simulator's side of usageOutage. Its fields are
// guarded by simServer.mu.
type outageState struct {
	until                         time.Time
	refusedPushes, refusedRecords int
}

// setOutage serves POST /sim/usage/outage: {"seconds": 90} makes every
// usage push fail with HTTP 500 MKT.0999 for 90 s from now, storing
// nothing; {"seconds": 0} ends it at once.
func (s *simServer) setOutage(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, maxRegistrationBody)
	if !ok {
		return
	}
	var req usageOutage
	if err := json.Unmarshal(body, &req); err != nil || req.Seconds < 0 || req.Seconds > maxOutage.Seconds() {
		s.replyError(w, r, http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf(`the body must be {"seconds": N}, 0 ≤ N ≤ %.0f`, maxOutage.Seconds()))
		return
	}
	s.mu.Lock()
	s.outage.until = s.cfg.now().Add(time.Duration(req.Seconds * float64(time.Second)))
	state := s.outageNow()
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, state, fmt.Sprintf("usage push outage for %.1f s", req.Seconds))
}

// getOutage serves GET /sim/usage/outage: the outage's state and counts.
func (s *simServer) getOutage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	state := s.outageNow()
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, state, "")
}

// outageNow is the outage's state now. The caller holds s.mu.
func (s *simServer) outageNow() usageOutage {
	left := s.outage.until.Sub(s.cfg.now())
	return usageOutage{Seconds: max(left, 0).Seconds(), Active: left > 0,
		RefusedPushes: s.outage.refusedPushes, RefusedRecords: s.outage.refusedRecords}
}

// refuseInOutage answers a usage push with HTTP 500 MKT.0999 and counts it,
// when an outage runs; body is the push, for counting its records.
func (s *simServer) refuseInOutage(w http.ResponseWriter, r *http.Request, body []byte) bool {
	var push usagePush
	_ = json.Unmarshal(body, &push) // a body that does not parse counts no records
	s.mu.Lock()
	active := s.outageNow().Active
	if active {
		s.outage.refusedPushes++
		s.outage.refusedRecords += len(push.UsageRecords)
	}
	s.mu.Unlock()
	if active {
		s.replyError(w, r, http.StatusInternalServerError, outageCode, "the usage service is unavailable (injected outage)")
	}
	return active
}

// usageWindowReport is one metering window of an instance as GET
// /sim/usage/windows lists it: a [beginTime, endTime) the marketplace
// stored records for, from the earliest begin_time to the latest end_time
// of the instance's records that begin in one clock hour. kooper's windows
// follow clock hours (only the first and the last may be shorter), and
// its records of a window, one per meter or package part, each take a
// period of it (spec §6.4: no two of an instance overlap).
type usageWindowReport struct {
	BeginTime string `json:"beginTime"`
	EndTime   string `json:"endTime"`
	// Records counts the records stored for the window (distinct
	// metering_sn; one per meter, or per package that paid for a part).
	Records int `json:"records"`
	// Duplicates counts the pushes of a record already stored (answered
	// 005): the marketplace keeps one, but the window was pushed again.
	Duplicates int `json:"duplicates"`
	// Units is the sum of the records' usage_value, in ten-thousandths.
	Units int64 `json:"units"`
}

// instanceWindows are an instance's windows, oldest first.
type instanceWindows struct {
	InstanceID string              `json:"instanceId"`
	Windows    []usageWindowReport `json:"windows"`
}

// listWindows serves GET /sim/usage/windows[?instanceId=…]: per instance,
// the windows received, each with its records and the duplicate pushes.
func (s *simServer) listWindows(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("instanceId")
	s.mu.Lock()
	byInstance := map[string]map[string]*usageWindowReport{}
	for _, rec := range s.usage {
		if only != "" && rec.InstanceID != only {
			continue
		}
		windows := byInstance[rec.InstanceID]
		if windows == nil {
			windows = map[string]*usageWindowReport{}
			byInstance[rec.InstanceID] = windows
		}
		// yyyyMMddTHH: the clock hour the record begins in (checkRecord
		// let only well-formed times in). The times sort as strings.
		hour := rec.BeginTime[:len("20060102T15")]
		win := windows[hour]
		if win == nil {
			win = &usageWindowReport{BeginTime: rec.BeginTime, EndTime: rec.EndTime}
			windows[hour] = win
		}
		win.BeginTime, win.EndTime = min(win.BeginTime, rec.BeginTime), max(win.EndTime, rec.EndTime)
		win.Records++
		win.Duplicates += s.duplicates[rec.MeteringSN]
		units, _ := koogallery.ParseUsageUnits(rec.UsageValue) // checkRecord let only decimals in
		win.Units += int64(units)
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, koogallery.OpenAPISuccess, struct {
		Instances []instanceWindows `json:"instances"`
	}{sortedWindows(byInstance)}, "")
}

// sortedWindows orders instances by ID and each one's windows by start.
func sortedWindows(byInstance map[string]map[string]*usageWindowReport) []instanceWindows {
	out := make([]instanceWindows, 0, len(byInstance))
	for id, windows := range byInstance {
		iw := instanceWindows{InstanceID: id}
		for _, win := range windows {
			iw.Windows = append(iw.Windows, *win)
		}
		// yyyyMMddTHHmmssZ sorts as the time does.
		slices.SortFunc(iw.Windows, func(a, b usageWindowReport) int {
			if a.BeginTime != b.BeginTime {
				return strings.Compare(a.BeginTime, b.BeginTime)
			}
			return strings.Compare(a.EndTime, b.EndTime)
		})
		out = append(out, iw)
	}
	slices.SortFunc(out, func(a, b instanceWindows) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return out
}
