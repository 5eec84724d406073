package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// A status decided on a stale read must not overwrite a newer one: the
// write is refused with a Conflict, and the newer status stays. A Namespace
// stands in for our kinds, as no controller here writes its status.
func TestPatchStatusIfChangedRefusesAStaleRead(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "status-lock-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	stale := ns.DeepCopy()

	withCondition := func(read *corev1.Namespace, condType string) *corev1.Namespace {
		after := read.DeepCopy()
		after.Status.Conditions = append(after.Status.Conditions, corev1.NamespaceCondition{
			Type: corev1.NamespaceConditionType(condType), Status: corev1.ConditionTrue, Reason: "Test"})
		return after
	}
	newer := withCondition(ns, "Newer")
	written, err := patchStatusIfChanged(ctx, k8sClient, ns, newer, ns.Status, newer.Status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(written).To(BeTrue())

	late := withCondition(stale, "DecidedOnAStaleRead")
	written, err = patchStatusIfChanged(ctx, k8sClient, stale, late, stale.Status, late.Status)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "want a Conflict, got %v", err)
	g.Expect(written).To(BeFalse())

	stored := &corev1.Namespace{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ns), stored)).To(Succeed())
	types := []corev1.NamespaceConditionType{}
	for _, c := range stored.Status.Conditions {
		types = append(types, c.Type)
	}
	g.Expect(types).To(ConsistOf(corev1.NamespaceConditionType("Newer")))

	// Read again, decide again: the write goes through.
	retry := withCondition(stored, "DecidedOnAFreshRead")
	written, err = patchStatusIfChanged(ctx, k8sClient, stored, retry, stored.Status, retry.Status)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(written).To(BeTrue())
}

func TestFoldStatusError(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "saastenants"}, "t", errors.New("changed"))
	failure := errors.New("failed to apply")
	cases := []struct {
		name              string
		reconcile, status error
		wantErr           bool
		wantRequeue       time.Duration
	}{
		{name: "no error", wantRequeue: 0},
		{name: "a status conflict requeues quietly", status: conflict, wantRequeue: conflictRequeueDelay},
		{name: "a reconcile conflict requeues quietly", reconcile: conflict, wantRequeue: conflictRequeueDelay},
		{name: "both conflicts", reconcile: conflict, status: conflict, wantRequeue: conflictRequeueDelay},
		{name: "a failure and a conflict is a failure", reconcile: failure, status: conflict, wantErr: true},
		{name: "a status failure is a failure", status: failure, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var result ctrl.Result
			err := foldStatusError(&result, tc.reconcile, tc.status)
			g.Expect(err != nil).To(Equal(tc.wantErr))
			g.Expect(result.RequeueAfter).To(Equal(tc.wantRequeue))
		})
	}
}
