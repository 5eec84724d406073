package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReadyFrom(t *testing.T) {
	inputs := []readyInput{
		{condType: "Frozen", abnormal: true},
		{condType: "Provisioned", waiting: "Waiting for the objects"},
		{condType: "Available", waiting: "Waiting for the workload"},
	}
	cond := func(condType string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: condType, Status: status, Reason: reason, Message: reason + " message"}
	}
	healthy := []metav1.Condition{cond("Provisioned", "True", "Succeeded"), cond("Available", "True", "Succeeded")}
	cases := []struct {
		name       string
		conds      []metav1.Condition
		observed   int64
		wantStatus metav1.ConditionStatus
		wantReason string
		wantMsg    string
	}{
		{name: "every input healthy", conds: healthy, observed: 2, wantStatus: "True", wantReason: "Succeeded", wantMsg: "serving"},
		{name: "an abnormal condition False is healthy", conds: append([]metav1.Condition{cond("Frozen", "False", "Unfrozen")}, healthy...),
			observed: 2, wantStatus: "True", wantReason: "Succeeded", wantMsg: "serving"},
		{name: "an abnormal condition True comes first",
			conds:    []metav1.Condition{cond("Provisioned", "False", "Provisioning"), cond("Frozen", "True", "FrozenByMarketplace")},
			observed: 2, wantStatus: "False", wantReason: "FrozenByMarketplace", wantMsg: "FrozenByMarketplace message"},
		{name: "the first normal condition not True", conds: []metav1.Condition{cond("Provisioned", "False", "Provisioning"), cond("Available", "False", "WorkloadUnavailable")},
			observed: 2, wantStatus: "False", wantReason: "Provisioning", wantMsg: "Provisioning message"},
		{name: "a normal condition not set yet", conds: []metav1.Condition{cond("Provisioned", "True", "Succeeded")},
			observed: 2, wantStatus: "False", wantReason: "Progressing", wantMsg: "Waiting for the workload"},
		{name: "the current generation's reconcile failed", conds: healthy,
			observed: 1, wantStatus: "False", wantReason: "Progressing", wantMsg: "Generation 2 is not reconciled yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := readyFrom(tc.conds, inputs, 2, tc.observed, "serving")
			g.Expect(got.Type).To(Equal("Ready"))
			g.Expect(got.Status).To(Equal(tc.wantStatus))
			g.Expect(got.Reason).To(Equal(tc.wantReason))
			g.Expect(got.Message).To(Equal(tc.wantMsg))
			g.Expect(got.ObservedGeneration).To(Equal(int64(2)))
		})
	}
}
