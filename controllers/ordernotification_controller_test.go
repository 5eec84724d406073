package controllers

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/webhook"
)

// notifyingProduct is a SaaS product with complete keys, for orderNotify.
func notifyingProduct(t *testing.T) *saasv1alpha1.SaaSProduct {
	t.Helper()
	name := fmt.Sprintf("notified-%d", tenantSeq.Add(1))
	NewWithT(t).Expect(k8sClient.Create(testContext(t), keysSecret(operatorNamespace, name+"-keys", completeKeys))).To(Succeed())
	return newProduct(t, name+"-keys")
}

func notify(t *testing.T, product *saasv1alpha1.SaaSProduct, orderID string) {
	t.Helper()
	a := callback(t, product, fmt.Sprintf(`{"activity":"orderNotify","orderId":%q,"orderLineId":"%s-000001","testFlag":"0"}`, orderID, orderID))
	NewWithT(t).Expect(a.Code).To(Equal("000000"), a.Msg)
}

func notificationKey(product *saasv1alpha1.SaaSProduct, orderID string) client.ObjectKey {
	return client.ObjectKey{Name: webhook.OrderNotificationName(product.Name, orderID, orderID+"-000001")}
}

func eventuallyNotification(t *testing.T, product *saasv1alpha1.SaaSProduct, orderID string, check func(Gomega, *saasv1alpha1.OrderNotification)) *saasv1alpha1.OrderNotification {
	t.Helper()
	n := &saasv1alpha1.OrderNotification{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), notificationKey(product, orderID), n)).To(Succeed())
		check(g, n)
	}).Should(Succeed())
	return n
}

func eventuallySummary(t *testing.T, product *saasv1alpha1.SaaSProduct, check func(Gomega, *saasv1alpha1.OrderNotificationsSummary)) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		got := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), got)).To(Succeed())
		check(g, got.Status.OrderNotifications)
	}).Should(Succeed())
}

func resolvedCondition(status metav1.ConditionStatus, reason string) func(Gomega, *saasv1alpha1.OrderNotification) {
	return func(g Gomega, n *saasv1alpha1.OrderNotification) {
		cond := apimeta.FindStatusCondition(n.Status.Conditions, saasv1alpha1.OrderResolvedCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(status))
		g.Expect(cond.Reason).To(Equal(reason))
	}
}

// TestOrderNotificationIsResolvedSummarisedAndDeletedAfterItsRetention:
// a notification is resolved with Query Order once (not in the callback
// path), summarised in the product's status, and deleted 7 days after it
// was resolved, leaving the summary.
func TestOrderNotificationIsResolvedSummarisedAndDeletedAfterItsRetention(t *testing.T) {
	restoreClockAfter(t)
	g := NewWithT(t)
	product := notifyingProduct(t)
	orderID := fmt.Sprintf("CSON%d", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", "20991231235959")
	resolved := testutil.ToFloat64(orderQueries.WithLabelValues(orderOutcomeResolved))

	notify(t, product, orderID)
	n := eventuallyNotification(t, product, orderID, resolvedCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(n.Status.Order).NotTo(BeNil())
	g.Expect(n.Status.Order.OrderType).To(Equal("NEW"))
	g.Expect(n.Status.Order.SKUCode).To(Equal("basic"))
	g.Expect(n.Status.ResolvedTime).NotTo(BeNil())
	g.Expect(marketplace.queries(orderID)).To(Equal(1))
	g.Expect(testutil.ToFloat64(orderQueries.WithLabelValues(orderOutcomeResolved))).To(BeNumerically(">=", resolved+1))
	raw, err := json.Marshal(n)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(ContainSubstring(`"skuCode":"basic"`))
	for _, buyer := range []string{"18688888888", "mock_user_01", "459bbbec25d24749b2eb83be37b602a8"} {
		g.Expect(string(raw)).NotTo(ContainSubstring(buyer), "no buyer details in the record")
	}

	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s).NotTo(BeNil())
		g.Expect(s.Total).To(BeEquivalentTo(1))
		g.Expect(s.Unresolved).To(BeEquivalentTo(0))
		g.Expect(s.ByOrderType).To(ConsistOf(saasv1alpha1.OrderTypeCount{OrderType: "NEW", Count: 1}))
		g.Expect(s.Recent).To(HaveLen(1))
		g.Expect(s.Recent[0]).To(And(HaveField("OrderID", orderID), HaveField("OrderType", "NEW"), HaveField("SKUCode", "basic")))
	})
	expectEventSaying(t, product.Name, saasv1alpha1.OrderNotifiedReason, orderID)

	// A repeat is answered 000000 and changes nothing: no second record,
	// no second Query Order.
	notify(t, product, orderID)
	g.Consistently(func(g Gomega) {
		again := &saasv1alpha1.OrderNotification{}
		g.Expect(k8sClient.Get(testContext(t), notificationKey(product, orderID), again)).To(Succeed())
		g.Expect(again.UID).To(Equal(n.UID))
		g.Expect(marketplace.queries(orderID)).To(Equal(1))
	}, 2*time.Second).Should(Succeed())

	// Six days on, the record is kept; past seven, it is deleted and the
	// summary no longer counts it.
	touch := func() {
		current := &saasv1alpha1.OrderNotification{}
		g.Expect(k8sClient.Get(testContext(t), notificationKey(product, orderID), current)).To(Succeed())
		patch := client.MergeFrom(current.DeepCopy())
		metav1.SetMetaDataAnnotation(&current.ObjectMeta, "test.kooper.io/touched", fakeClock.Now().Format(time.RFC3339Nano))
		g.Expect(k8sClient.Patch(testContext(t), current, patch)).To(Succeed())
	}
	fakeClock.SetTime(n.Status.ResolvedTime.Add(6 * 24 * time.Hour))
	touch()
	g.Consistently(func() error {
		return k8sClient.Get(testContext(t), notificationKey(product, orderID), &saasv1alpha1.OrderNotification{})
	}, 2*time.Second).Should(Succeed())
	fakeClock.SetTime(n.Status.ResolvedTime.Add(7*24*time.Hour + time.Minute))
	touch()
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), notificationKey(product, orderID), &saasv1alpha1.OrderNotification{}))
	}).Should(BeTrue())
	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s).To(BeNil())
	})
}

// TestOrderNotificationRetriesQueryOrderWithBackoff: while Query Order
// fails, OrderResolved is False with OrderQueryFailed and the summary counts
// the notification as unresolved; once it answers, the record resolves.
func TestOrderNotificationRetriesQueryOrderWithBackoff(t *testing.T) {
	product := notifyingProduct(t)
	orderID := fmt.Sprintf("CSON%d", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", "20991231235959")
	marketplace.setDown(orderID, true)
	failed := testutil.ToFloat64(orderQueries.WithLabelValues(orderOutcomeFailed))

	notify(t, product, orderID)
	eventuallyNotification(t, product, orderID, resolvedCondition(metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))
	NewWithT(t).Expect(testutil.ToFloat64(orderQueries.WithLabelValues(orderOutcomeFailed))).To(BeNumerically(">", failed))
	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s).NotTo(BeNil())
		g.Expect(s.Unresolved).To(BeEquivalentTo(1))
		g.Expect(s.Recent).To(ConsistOf(And(HaveField("OrderID", orderID), HaveField("OrderType", ""))))
	})

	marketplace.setDown(orderID, false)
	eventuallyNotification(t, product, orderID, resolvedCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s.Unresolved).To(BeEquivalentTo(0))
		g.Expect(s.ByOrderType).To(ConsistOf(saasv1alpha1.OrderTypeCount{OrderType: "NEW", Count: 1}))
	})
}

// TestANotificationRepeatedAcrossTheUpgradeIsSummarisedOnce: a
// notification recorded under the name kooper gave before the product was
// part of it (the order line's alone), repeated after the upgrade, makes a
// second record of the same order line; the product's summary counts the
// order line once.
func TestANotificationRepeatedAcrossTheUpgradeIsSummarisedOnce(t *testing.T) {
	g := NewWithT(t)
	product := notifyingProduct(t)
	orderID := fmt.Sprintf("CSON%d", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", "20991231235959")
	before := &saasv1alpha1.OrderNotification{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n-before-upgrade-%d", tenantSeq.Add(1)),
			Labels: map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001",
			Mode: saasv1alpha1.ModeProduction, ReceivedTime: metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))},
	}
	g.Expect(k8sClient.Create(testContext(t), before)).To(Succeed())

	notify(t, product, orderID)
	eventuallyNotification(t, product, orderID, resolvedCondition(metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s).NotTo(BeNil())
		g.Expect(s.Total).To(BeEquivalentTo(1))
		g.Expect(s.Unresolved).To(BeEquivalentTo(0))
		g.Expect(s.Recent).To(ConsistOf(And(HaveField("OrderID", orderID), HaveField("ReceivedTime", before.Spec.ReceivedTime))))
	})
}

// TestOncePerOrderLineKeepsTheFirstReceivedAndResolved is oncePerOrderLine's
// table.
func TestOncePerOrderLineKeepsTheFirstReceivedAndResolved(t *testing.T) {
	at := func(minute int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 1, 0, minute, 0, 0, time.UTC)) }
	record := func(name, orderID string, minute int, resolved bool) saasv1alpha1.OrderNotification {
		n := saasv1alpha1.OrderNotification{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: saasv1alpha1.OrderNotificationSpec{OrderID: orderID, OrderLineID: orderID + "-000001", ReceivedTime: at(minute)}}
		if resolved {
			n.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: orderID}
		}
		return n
	}
	tests := []struct {
		name  string
		items []saasv1alpha1.OrderNotification
		want  []string
	}{
		{"none", nil, nil},
		{"distinct order lines all kept, in order",
			[]saasv1alpha1.OrderNotification{record("a", "O1", 1, true), record("b", "O2", 0, false)}, []string{"a", "b"}},
		{"the first received of two resolved",
			[]saasv1alpha1.OrderNotification{record("new", "O1", 5, true), record("old", "O1", 1, true)}, []string{"old"}},
		{"a resolved one before an earlier unresolved one",
			[]saasv1alpha1.OrderNotification{record("old", "O1", 1, false), record("new", "O1", 5, true)}, []string{"new"}},
		{"an unresolved one never replaces a resolved one",
			[]saasv1alpha1.OrderNotification{record("new", "O1", 5, true), record("old", "O1", 1, false)}, []string{"new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, n := range oncePerOrderLine(tt.items) {
				got = append(got, n.Name)
			}
			NewWithT(t).Expect(got).To(Equal(tt.want))
		})
	}
}

// TestOrderNotificationSummaryIsBounded: whatever the number of records and
// order types, the summary holds at most 10 recent entries and 17 types.
func TestOrderNotificationSummaryIsBounded(t *testing.T) {
	g := NewWithT(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var items []saasv1alpha1.OrderNotification
	for i := range 40 {
		n := saasv1alpha1.OrderNotification{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n-%02d", i)},
			Spec: saasv1alpha1.OrderNotificationSpec{OrderID: fmt.Sprintf("CS%02d", i), OrderLineID: fmt.Sprintf("CS%02d-000001", i),
				ReceivedTime: metav1.NewTime(base.Add(time.Duration(i) * time.Minute))}}
		if i%10 != 0 {
			n.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: n.Spec.OrderID, OrderType: fmt.Sprintf("TYPE%02d", i%20), SKUCode: "basic"}
		}
		items = append(items, n)
	}
	s := summarise(items)
	g.Expect(s.Total).To(BeEquivalentTo(40))
	g.Expect(s.Unresolved).To(BeEquivalentTo(4))
	g.Expect(s.Recent).To(HaveLen(maxRecentNotifications))
	g.Expect(s.Recent[0].OrderID).To(Equal("CS39"), "newest first")
	g.Expect(s.ByOrderType).To(HaveLen(maxOrderTypes + 1))
	g.Expect(s.ByOrderType).To(ContainElement(HaveField("OrderType", otherOrderType)))
	total := int32(0)
	for _, c := range s.ByOrderType {
		total += c.Count
		g.Expect(len(c.OrderType)).To(BeNumerically("<=", 32))
	}
	g.Expect(total).To(BeEquivalentTo(36), "every resolved notification is counted once")
	g.Expect(summarise(nil)).To(BeNil())
}

// TestUnresolvedOrderNotificationIsDeletedAfterItsRetentionWithAWarning:
// an order Query Order never describes (here unknown to it) is retried
// until 7 days after it was received, then the record is deleted with a
// Warning on the product.
func TestUnresolvedOrderNotificationIsDeletedAfterItsRetentionWithAWarning(t *testing.T) {
	restoreClockAfter(t)
	g := NewWithT(t)
	product := notifyingProduct(t)
	orderID := fmt.Sprintf("CSON%d", tenantSeq.Add(1))
	notify(t, product, orderID)
	n := eventuallyNotification(t, product, orderID, resolvedCondition(metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))
	g.Expect(n.Status.ResolvedTime).To(BeNil())

	fakeClock.SetTime(n.Spec.ReceivedTime.Add(7*24*time.Hour + time.Minute))
	patch := client.MergeFrom(n.DeepCopy())
	metav1.SetMetaDataAnnotation(&n.ObjectMeta, "test.kooper.io/touched", "true")
	g.Expect(k8sClient.Patch(testContext(t), n, patch)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), notificationKey(product, orderID), &saasv1alpha1.OrderNotification{}))
	}).Should(BeTrue())
	expectEventSaying(t, product.Name, saasv1alpha1.OrderNotificationUnresolvedReason, orderID)
	eventuallySummary(t, product, func(g Gomega, s *saasv1alpha1.OrderNotificationsSummary) {
		g.Expect(s).To(BeNil())
	})
}
