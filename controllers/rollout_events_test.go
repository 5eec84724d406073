package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A burst of tenant events brings each product's rollout back once, a
// moment later, not once per event: each step reads every tenant of the
// product, so a step per purchase cost the controllers work in the square
// of the tenants.
func TestABurstOfTenantEventsSharesOneRolloutStepPerProduct(t *testing.T) {
	g := NewWithT(t)
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	h := productAfter(50 * time.Millisecond)
	ctx := context.Background()
	tenant := func(product string, i int) client.Object {
		return &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", product, i)},
			Spec: saasv1alpha1.SaaSTenantSpec{ProductName: product}}
	}
	for i := range 1000 {
		h.Create(ctx, event.CreateEvent{Object: tenant("crm", i)}, q)
		h.Update(ctx, event.UpdateEvent{ObjectOld: tenant("crm", i), ObjectNew: tenant("crm", i)}, q)
	}
	h.Delete(ctx, event.DeleteEvent{Object: tenant("erp", 0)}, q)
	h.Generic(ctx, event.GenericEvent{Object: tenant("erp", 1)}, q)
	h.Create(ctx, event.CreateEvent{Object: &saasv1alpha1.SaaSTenant{}}, q) // no product: nothing to queue

	g.Expect(q.Len()).To(BeZero(), "the product waits for the delay")
	g.Eventually(q.Len).Should(Equal(2), "one step for each product, however many events")
	got := map[string]bool{}
	for range 2 {
		req, _ := q.Get()
		got[req.Name] = true
		q.Done(req)
	}
	g.Expect(got).To(Equal(map[string]bool{"crm": true, "erp": true}))
	g.Consistently(q.Len, 200*time.Millisecond).Should(BeZero(), "no step left over from the burst")
}
