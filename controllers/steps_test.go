package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestRunStepsStopsAtTheFirstStepThatDoesNotProceed(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		second  outcome
		ran     []string
		result  ctrl.Result
		wantErr error
	}{
		{name: "every step proceeds", second: proceed(), ran: []string{"first", "second", "third"}, result: ctrl.Result{RequeueAfter: time.Hour}},
		{name: "done ends with success", second: done(), ran: []string{"first", "second"}, result: ctrl.Result{RequeueAfter: time.Hour}},
		{name: "stalled ends without a retry", second: stalled("PlanNotFound"), ran: []string{"first", "second"}, result: ctrl.Result{RequeueAfter: time.Hour}},
		{name: "waitFor comes back sooner than the wake-up", second: waitFor(time.Minute), ran: []string{"first", "second"}, result: ctrl.Result{RequeueAfter: time.Minute}},
		{name: "waitFor never delays the wake-up", second: waitFor(2 * time.Hour), ran: []string{"first", "second"}, result: ctrl.Result{RequeueAfter: time.Hour}},
		{name: "failed returns the error", second: failed(boom), ran: []string{"first", "second"}, wantErr: boom},
		{name: "failed(nil) proceeds", second: failed(nil), ran: []string{"first", "second", "third"}, result: ctrl.Result{RequeueAfter: time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var ran []string
			record := func(name string, o outcome) step[*[]string] {
				return func(_ context.Context, s *[]string) outcome { *s = append(*s, name); return o }
			}
			o := runSteps(context.Background(), &ran, record("first", proceed()), record("second", tc.second), record("third", proceed()))
			g.Expect(ran).To(Equal(tc.ran))
			result, err := o.result(ctrl.Result{RequeueAfter: time.Hour})
			if tc.wantErr != nil {
				g.Expect(err).To(MatchError(tc.wantErr))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(result).To(Equal(tc.result))
		})
	}
}

func TestWaitForWithoutAWakeUpComesBackAfterItsDelay(t *testing.T) {
	g := NewWithT(t)
	result, err := waitFor(time.Minute).result(ctrl.Result{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result).To(Equal(ctrl.Result{RequeueAfter: time.Minute}))
	g.Expect(stalled("ProductNotFound").isStalled()).To(BeTrue())
	g.Expect(done().proceeds()).To(BeFalse())
}
