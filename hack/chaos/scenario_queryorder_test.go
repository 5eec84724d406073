package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestCheckQueryOrderCalls(t *testing.T) {
	cases := []struct {
		name          string
		counts        queryOrderCounts
		wantViolated  int
		wantInjection string
		wantNote      string
	}{
		{name: "paced calls pass",
			counts:   queryOrderCounts{Calls: map[string]int{"CHAOSQO000001": 8, "CHAOSQO000002": 4}, Failed: map[string]int{"CHAOSQO000001": 8, "CHAOSQO000002": 3}},
			wantNote: "max 8, mean 6.0, over 2 orders (12 calls, 11 answered HTTP 500"},
		{name: "ten calls is the most allowed",
			counts: queryOrderCounts{Calls: map[string]int{"CHAOSQO000001": 10}, Failed: map[string]int{"CHAOSQO000001": 10}}},
		{name: "eleven calls for one order fail the row",
			counts:       queryOrderCounts{Calls: map[string]int{"CHAOSQO000001": 11, "CHAOSQO000002": 3}, Failed: map[string]int{"CHAOSQO000001": 11}},
			wantViolated: 1},
		{name: "other scenarios' orders are not counted",
			counts:   queryOrderCounts{Calls: map[string]int{"CHAOSKILL000001": 50, "CHAOSQO000001": 2}, Failed: map[string]int{"CHAOSQO000001": 2}},
			wantNote: "max 2, mean 2.0, over 1 orders"},
		{name: "an outage no call met is a failed injection",
			counts:        queryOrderCounts{Calls: map[string]int{"CHAOSQO000001": 2}, Failed: map[string]int{}},
			wantInjection: "no Query Order call met the outage"},
		{name: "no call at all is a failed injection",
			counts: queryOrderCounts{Calls: map[string]int{}, Failed: map[string]int{}}, wantInjection: "no Query Order call met the outage"},
		{name: "unreadable counts", counts: queryOrderCounts{err: errors.New("HTTP 404")}, wantInjection: "reading the Query Order calls: HTTP 404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r row
			met := r.checkQueryOrderCalls(tc.counts)
			if tc.wantInjection == "" && len(met) == 0 {
				t.Error("no order met the outage")
			}
			if len(r.violations) != tc.wantViolated {
				t.Errorf("violations = %v, want %d", r.violations, tc.wantViolated)
			}
			if r.injectionErr != tc.wantInjection {
				t.Errorf("injectionErr = %q, want %q", r.injectionErr, tc.wantInjection)
			}
			if tc.wantNote != "" && (len(r.notes) != 1 || !strings.Contains(r.notes[0], tc.wantNote)) {
				t.Errorf("notes = %v, want one containing %q", r.notes, tc.wantNote)
			}
			if tc.wantViolated > 0 && r.pass() {
				t.Error("a row with a violation passed")
			}
		})
	}
}

func TestNoteFirstCallsAfter(t *testing.T) {
	end := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	counts := queryOrderCounts{First: map[string]time.Time{"CHAOSQO000001": end.Add(4 * time.Second), "CHAOSQO000002": end.Add(30 * time.Second)}}
	var r row
	r.noteFirstCallsAfter(counts, end, []string{"CHAOSQO000001", "CHAOSQO000002"})
	if len(r.violations) != 0 || len(r.notes) != 1 || !strings.Contains(r.notes[0], "17.0 s after it on average, 30.0 s at worst") {
		t.Errorf("notes %v, violations %v", r.notes, r.violations)
	}
	r = row{}
	r.noteFirstCallsAfter(counts, end, []string{"CHAOSQO000001", "CHAOSQO000003"})
	if len(r.violations) != 1 {
		t.Errorf("an order never queried again is a violation: %v", r.violations)
	}
}

func TestWaitsOnQueryOrder(t *testing.T) {
	tenant := func(status metav1.ConditionStatus, reason, msg string) *saasv1alpha1.SaaSTenant {
		t := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{OrderID: "CHAOSQO000007"}}
		if reason != "" {
			t.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.ReadyCondition, Status: status, Reason: reason, Message: msg}}
		}
		return t
	}
	const failing = "Query Order failed; retrying at least every 30s: failed to query order CHAOSQO000007: every marketplace host failed: 127.0.0.1:1: marketplace answered MKT.0999 (HTTP 500): system error"
	cases := []struct {
		name   string
		tenant *saasv1alpha1.SaaSTenant
		want   bool
	}{
		{"waiting, and says so", tenant(metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason, failing), true},
		{"no Ready condition yet", tenant("", "", ""), false},
		{"Ready", tenant(metav1.ConditionTrue, saasv1alpha1.SucceededReason, "Serving plan basic"), false},
		{"waiting for something else", tenant(metav1.ConditionFalse, saasv1alpha1.ProgressingReason, "Waiting for the workload"), false},
		{"a message that names another order", tenant(metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason, strings.ReplaceAll(failing, "000007", "000008")), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := waitsOnQueryOrder(tc.tenant); got != tc.want {
				t.Errorf("waitsOnQueryOrder = %v, want %v (%s)", got, tc.want, describeReady(tc.tenant))
			}
		})
	}
}
