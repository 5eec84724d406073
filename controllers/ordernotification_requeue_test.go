package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// changingFailure is a Query Order that always fails, with a message that
// differs on every call, as a transport error naming the connection's
// local port did, or a gateway answer quoting its request ID does.
type changingFailure struct{ calls atomic.Int32 }

func (f *changingFailure) QueryOrder(context.Context, string, string) (*koogallery.OrderInfo, error) {
	n := f.calls.Add(1)
	return nil, fmt.Errorf("failed to query order: every marketplace host failed: marketplace.example.com: "+
		"request failed: read tcp 10.244.1.7:%d->121.36.53.20:443: read: connection reset by peer", 40000+n)
}

// TestAChangingQueryOrderFailureIsNotAskedAgainBeforeThePacedWait checks
// that the notification's own status write does not rerun its reconcile:
// each failure writes a new OrderResolved message, and were each write to
// requeue the notification at once, Query Order would be called in a hot
// loop instead of after the paced wait (2 s at first, docs/reliability.md
// scenario 5). It runs on a control plane of its own, so that the suite's
// OrderNotification controller does not reconcile the record too.
func TestAChangingQueryOrderFailureIsNotAskedAgainBeforeThePacedWait(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	mgr, c := ownManager(t, ownControlPlane(t))
	failing := &changingFailure{}
	g.Expect((&OrderNotificationReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kooper-ordernotification"),
		Clock: clocktesting.NewFakeClock(time.Now()), SecretNamespace: operatorNamespace,
		Orders: func(string, string) OrderQuerier { return failing },
	}).SetupWithManager(mgr)).To(Succeed())
	startOwnManager(t, mgr)

	product := newTenantProductIn(t, c, nil)
	n := &saasv1alpha1.OrderNotification{
		ObjectMeta: metav1.ObjectMeta{Name: "n-changing-failure", Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: product.Name, OrderID: "CS1", OrderLineID: "CS1-000001",
			Mode: saasv1alpha1.ModeProduction, ReceivedTime: metav1.Now()},
	}
	g.Expect(c.Create(ctx, n)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := &saasv1alpha1.OrderNotification{}
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(n), got)).To(Succeed())
		resolvedCondition(metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason)(g, got)
	}).Should(Succeed())

	// The first failure's write must not bring the next call forward: at
	// most the paced retry, 2 s after the first call, falls in this window.
	first := failing.calls.Load()
	g.Consistently(failing.calls.Load, 1500*time.Millisecond, 50*time.Millisecond).Should(BeNumerically("<=", first+1),
		"Query Order is not asked again before the paced wait")
	// The paced retry still comes.
	g.Eventually(failing.calls.Load, 10*time.Second).Should(BeNumerically(">", first))
}
