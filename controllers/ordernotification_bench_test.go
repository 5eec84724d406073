package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// A restart of the OrderNotification controller queues every record. Each
// record's pass used to list (through the cache's scan of every cached
// record), copy, deduplicate and sort all of its product's records to
// write a summary of ten: N² work for N records, minutes of CPU at 10,000.
// These measure it on an informer cache held in memory (no API server):
// the records the passes of one restart read.

// notificationsFleet is N resolved records, recordsPerProduct to a
// product, and their products, each with the summary it already shows (as
// after a restart: nothing to write).
func notificationsFleet(records, recordsPerProduct int, now time.Time) ([]saasv1alpha1.OrderNotification, []saasv1alpha1.SaaSProduct) {
	var items []saasv1alpha1.OrderNotification
	var products []saasv1alpha1.SaaSProduct
	for p := range (records + recordsPerProduct - 1) / recordsPerProduct {
		name := fmt.Sprintf("fleet-%03d", p)
		var own []saasv1alpha1.OrderNotification
		for i := range min(recordsPerProduct, records-len(items)) {
			orderID := fmt.Sprintf("CS%03d%06d", p, i)
			resolved := metav1.NewTime(now.Add(-time.Hour))
			own = append(own, saasv1alpha1.OrderNotification{
				ObjectMeta: metav1.ObjectMeta{Name: name + "-" + orderID, ResourceVersion: "1",
					Labels: map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: name}},
				Spec: saasv1alpha1.OrderNotificationSpec{ProductName: name, OrderID: orderID, OrderLineID: orderID + "-000001",
					Mode: saasv1alpha1.ModeProduction, ReceivedTime: metav1.NewTime(now.Add(-time.Duration(i) * time.Minute))},
				Status: saasv1alpha1.OrderNotificationStatus{ResolvedTime: &resolved,
					Order: &saasv1alpha1.ResolvedOrder{OrderID: orderID, OrderType: []string{"NEW", "RENEW", "UPGRADE"}[i%3], SKUCode: "basic"}},
			})
		}
		product := saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}}
		product.Status.OrderNotifications = summarise(oncePerOrderLine(append([]saasv1alpha1.OrderNotification(nil), own...)))
		items = append(items, own...)
		products = append(products, product)
	}
	return items, products
}

// memoryListWatch serves one list, and a watch that never says anything.
type memoryListWatch struct{ list runtime.Object }

func (m memoryListWatch) List(metav1.ListOptions) (runtime.Object, error) {
	return m.list.DeepCopyObject(), nil
}

func (m memoryListWatch) ListWithContext(context.Context, metav1.ListOptions) (runtime.Object, error) {
	return m.list.DeepCopyObject(), nil
}

func (memoryListWatch) Watch(metav1.ListOptions) (watch.Interface, error) {
	return watch.NewFake(), nil
}

func (memoryListWatch) WatchWithContext(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return watch.NewFake(), nil
}

// IsWatchListSemanticsUnSupported keeps the reflector to list then watch.
func (memoryListWatch) IsWatchListSemanticsUnSupported() bool { return true }

// memoryCache is a controller-runtime informer cache of the records and
// products, filled from memory; index registers its field indexes before
// it starts. It stops with the test.
func memoryCache(tb testing.TB, items []saasv1alpha1.OrderNotification, products []saasv1alpha1.SaaSProduct, index func(client.FieldIndexer) error) (cache.Cache, *runtime.Scheme, apimeta.RESTMapper) {
	tb.Helper()
	scheme, err := testenv.NewScheme()
	if err != nil {
		tb.Fatal(err)
	}
	mapper := apimeta.NewDefaultRESTMapper([]schema.GroupVersion{saasv1alpha1.GroupVersion})
	for _, kind := range []string{"OrderNotification", "SaaSProduct"} {
		mapper.Add(saasv1alpha1.GroupVersion.WithKind(kind), apimeta.RESTScopeRoot)
	}
	lists := map[string]runtime.Object{
		"OrderNotification": &saasv1alpha1.OrderNotificationList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: items},
		"SaaSProduct":       &saasv1alpha1.SaaSProductList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: products},
	}
	c, err := cache.New(&rest.Config{Host: "https://127.0.0.1:1"}, cache.Options{Scheme: scheme, Mapper: mapper,
		NewInformer: func(_ toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
			switch obj.(type) {
			case *saasv1alpha1.OrderNotification:
				return toolscache.NewSharedIndexInformer(memoryListWatch{lists["OrderNotification"]}, obj, resync, indexers)
			case *saasv1alpha1.SaaSProduct:
				return toolscache.NewSharedIndexInformer(memoryListWatch{lists["SaaSProduct"]}, obj, resync, indexers)
			}
			panic(fmt.Sprintf("no %T in memory", obj))
		}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := index(c); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	go func() { _ = c.Start(ctx) }()
	for _, obj := range []client.Object{&saasv1alpha1.OrderNotification{}, &saasv1alpha1.SaaSProduct{}} {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			tb.Fatal(err)
		}
	}
	if !c.WaitForCacheSync(ctx) {
		tb.Fatal("the memory cache did not sync")
	}
	return c, scheme, mapper
}

// countingReads counts the OrderNotifications its Lists return.
type countingReads struct {
	client.Client
	listed int
}

func (c *countingReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := c.Client.List(ctx, list, opts...)
	if l, ok := list.(*saasv1alpha1.OrderNotificationList); ok {
		c.listed += len(l.Items)
	}
	return err
}

// restartFleet builds the controller on a memory cache of the fleet; its
// writes go to an address where nothing answers, so any write fails.
func restartFleet(tb testing.TB, records, recordsPerProduct int) (restart func(context.Context) error, reads *countingReads) {
	tb.Helper()
	now := time.Now()
	items, products := notificationsFleet(records, recordsPerProduct, now)
	c, scheme, mapper := memoryCache(tb, items, products, func(indexer client.FieldIndexer) error {
		return indexer.IndexField(context.Background(), &saasv1alpha1.OrderNotification{}, notificationProductIndex, notificationProductKeys)
	})
	cl, err := client.New(&rest.Config{Host: "https://127.0.0.1:1"}, client.Options{Scheme: scheme, Mapper: mapper,
		Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		tb.Fatal(err)
	}
	reads = &countingReads{Client: cl}
	r := &OrderNotificationReconciler{Client: reads, Clock: clocktesting.NewFakePassiveClock(now)}
	summaries := &orderSummaryReconciler{Client: reads}
	restart = func(ctx context.Context) error {
		for i := range items {
			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])}); err != nil {
				return err
			}
		}
		// The records' events share one summary per product
		// (TestABurstOfOrderNotificationEventsSharesOneSummaryPerProduct).
		for i := range products {
			if _, err := summaries.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&products[i])}); err != nil {
				return err
			}
		}
		return nil
	}
	return restart, reads
}

// TestARestartReadsEachOrderNotificationAFewTimesNotOncePerRecord: the
// passes of a restart read each record of 1,000 (four products of 250) a
// bounded number of times, not once per record of its product.
func TestARestartReadsEachOrderNotificationAFewTimesNotOncePerRecord(t *testing.T) {
	const records = 1000
	restart, reads := restartFleet(t, records, 250)
	NewWithT(t).Expect(restart(t.Context())).To(Succeed())
	t.Logf("one restart of %d records read %d records", records, reads.listed)
	NewWithT(t).Expect(reads.listed).To(BeNumerically("<=", 2*records), "records read by the passes of one restart")
}

// BenchmarkOrderNotificationRestart is one restart's passes over N records
// of products of 250 each: `go test -run='^$' -bench=OrderNotificationRestart
// -benchtime=1x ./controllers`.
func BenchmarkOrderNotificationRestart(b *testing.B) {
	for _, records := range []int{1000, 10_000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			restart, reads := restartFleet(b, records, 250)
			for b.Loop() {
				reads.listed = 0
				if err := restart(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(reads.listed), "records-read/restart")
		})
	}
}

// A burst of OrderNotification events (a restart brings one per record)
// queues each product's summary once, a moment later; a record moved from
// one product to another queues both; a record that names no product by
// both its spec and its label, none.
func TestABurstOfOrderNotificationEventsSharesOneSummaryPerProduct(t *testing.T) {
	g := NewWithT(t)
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	h := summaryAfter(50 * time.Millisecond)
	ctx := context.Background()
	record := func(product string, i int) *saasv1alpha1.OrderNotification {
		return &saasv1alpha1.OrderNotification{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", product, i),
			Labels: map[string]string{saasv1alpha1.ProductLabel: product}}, Spec: saasv1alpha1.OrderNotificationSpec{ProductName: product}}
	}
	for i := range 1000 {
		h.Create(ctx, event.CreateEvent{Object: record("crm", i)}, q)
	}
	h.Update(ctx, event.UpdateEvent{ObjectOld: record("erp", 0), ObjectNew: record("hrm", 0)}, q)
	h.Delete(ctx, event.DeleteEvent{Object: record("crm", 1)}, q)
	unlisted := record("crm", 2)
	unlisted.Labels = nil
	h.Generic(ctx, event.GenericEvent{Object: unlisted}, q)

	g.Expect(q.Len()).To(BeZero(), "the summary waits for the delay")
	g.Eventually(q.Len).Should(Equal(3), "one summary for each product, however many events")
	got := map[string]bool{}
	for range 3 {
		req, _ := q.Get()
		got[req.Name] = true
		q.Done(req)
	}
	g.Expect(got).To(Equal(map[string]bool{"crm": true, "erp": true, "hrm": true}))
	g.Consistently(q.Len, 200*time.Millisecond).Should(BeZero(), "no summary left over from the burst")
}

// A status write that changes no summary field (a new OrderResolved
// message, retried every few seconds while Query Order fails) queues no
// summary; one that resolves the record, or moves it, does.
func TestOnlyWhatASummaryShowsQueuesIt(t *testing.T) {
	g := NewWithT(t)
	base := &saasv1alpha1.OrderNotification{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{saasv1alpha1.ProductLabel: "crm"}},
		Spec: saasv1alpha1.OrderNotificationSpec{ProductName: "crm", OrderID: "CS1", OrderLineID: "CS1-000001", ReceivedTime: metav1.Now()}}
	changed := func(change func(*saasv1alpha1.OrderNotification)) bool {
		n := base.DeepCopy()
		change(n)
		return summaryInputChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n})
	}
	g.Expect(changed(func(n *saasv1alpha1.OrderNotification) {
		n.Status.Conditions = []metav1.Condition{{Type: saasv1alpha1.OrderResolvedCondition, Message: "connection reset (40001)"}}
	})).To(BeFalse(), "a new failure message")
	g.Expect(changed(func(n *saasv1alpha1.OrderNotification) {
		n.Status.Order = &saasv1alpha1.ResolvedOrder{OrderType: "NEW", SKUCode: "basic"}
	})).To(BeTrue(), "resolved")
	g.Expect(changed(func(n *saasv1alpha1.OrderNotification) { n.Labels[saasv1alpha1.ProductLabel] = "erp" })).To(BeTrue(), "moved")
	g.Expect(changed(func(n *saasv1alpha1.OrderNotification) { n.Spec.ReceivedTime = metav1.NewTime(time.Unix(0, 0)) })).To(BeTrue(), "received earlier")
}
