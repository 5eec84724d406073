package webhook

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/orders"
)

// TestAFullOrderListKeepsThePlanAndTheExpiry records, one by one as the
// handlers do, a purchase, the orders that decide the plan or the expiry,
// then 255 renewals: more orders than spec.orders holds (maxOrders). The
// plan (docs/lifecycle.md rule P) and the expiry (rule E) of the list kept
// must be those of every order received, with status.orderTimes trimmed by
// orders.KeepRecorded as the controller trims it. Before, a full list
// dropped orders[1]: the TRIAL_TO_FORMAL, upgrade or RENEWAL_CHANGE that
// selected the plan, so the tenant or licence went back to the purchase's
// (trial) SKU; and a long prepaid renewal holding the latest expiry went
// too, moving the expiry back.
func TestAFullOrderListKeepsThePlanAndTheExpiry(t *testing.T) {
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	month := func(n int) *metav1.Time {
		at := metav1.NewTime(start.AddDate(0, n, 0))
		return &at
	}
	refresh := func(id string, scene saasv1alpha1.RefreshScene, expiry *metav1.Time) saasv1alpha1.AppliedOrder {
		return saasv1alpha1.AppliedOrder{OrderID: id, Activity: saasv1alpha1.ActivityRefreshInstance, Scene: scene, ExpireTime: expiry}
	}
	purchase := saasv1alpha1.AppliedOrder{OrderID: "purchase", Activity: saasv1alpha1.ActivityNewInstance}
	upgrade := saasv1alpha1.AppliedOrder{OrderID: "upgrade", Activity: saasv1alpha1.ActivityUpgradeInstance}
	convert := refresh("convert", saasv1alpha1.SceneTrialToFormal, month(1))
	var renewals []saasv1alpha1.AppliedOrder
	for i := range maxOrders - 1 {
		renewals = append(renewals, refresh(fmt.Sprintf("renewal-%03d", i), saasv1alpha1.SceneRenewal, month(2+i)))
	}

	cases := []struct {
		name        string
		productType saasv1alpha1.ProductType
		// first are the orders received before the renewals.
		first []saasv1alpha1.AppliedOrder
		// createTimes are status.orderTimes: Query Order's createTime.
		createTimes map[string]time.Time
	}{
		{name: "a trial converted (tenant)", productType: saasv1alpha1.ProductTypeSaaS,
			first: []saasv1alpha1.AppliedOrder{purchase, convert}},
		{name: "a trial converted (licence)", productType: saasv1alpha1.ProductTypeLicense,
			first: []saasv1alpha1.AppliedOrder{purchase, convert}},
		{name: "an upgrade", productType: saasv1alpha1.ProductTypeSaaS,
			first: []saasv1alpha1.AppliedOrder{purchase, upgrade}},
		{name: "a downgrade (renewal with a change of plan)", productType: saasv1alpha1.ProductTypeLicense,
			first: []saasv1alpha1.AppliedOrder{purchase, refresh("change", saasv1alpha1.SceneRenewalChange, month(1))}},
		{name: "a refunded renewal change: the conversion before it selects the plan", productType: saasv1alpha1.ProductTypeSaaS,
			first: []saasv1alpha1.AppliedOrder{purchase, convert, refresh("change", saasv1alpha1.SceneRenewalChange, month(2)),
				refresh("refund", saasv1alpha1.SceneUnsubscribeRenewalPeriod, month(1))}},
		{name: "an upgrade received after the conversion but created before it", productType: saasv1alpha1.ProductTypeSaaS,
			first:       []saasv1alpha1.AppliedOrder{purchase, convert, upgrade},
			createTimes: map[string]time.Time{"convert": start.Add(2 * time.Hour), "upgrade": start.Add(time.Hour)}},
		{name: "a long prepaid renewal holds the latest expiry", productType: saasv1alpha1.ProductTypeSaaS,
			first: []saasv1alpha1.AppliedOrder{purchase, refresh("prepaid", saasv1alpha1.SceneRenewal, month(1200))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := newSubscription(&saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{Type: tc.productType}})
			recorded := statusOrderTimes(s.object)
			for id, at := range tc.createTimes {
				*recorded = append(*recorded, saasv1alpha1.OrderTime{OrderID: id, CreateTime: metav1.NewTime(at)})
			}
			received := slices.Concat(tc.first, renewals)
			for _, o := range received {
				s.addOrder(o)
			}

			kept := *s.orders
			g.Expect(kept).To(HaveLen(maxOrders))
			g.Expect(kept[0].OrderID).To(Equal(purchase.OrderID), "the purchase is kept")
			g.Expect(kept[len(kept)-1].OrderID).To(Equal(received[len(received)-1].OrderID), "the order just received is kept")
			orders.KeepRecorded(recorded, kept)
			times, allTimes := orders.RecordedTimes(*recorded), tc.createTimes
			wantPlan := orders.PlanOrder(received, "", "", allTimes).OrderID
			g.Expect(orders.PlanOrder(kept, "", "", times).OrderID).To(Equal(wantPlan), "the plan")
			wantExpiry := orders.ExpiryInForce(nil, nil, received, allTimes)
			gotExpiry := orders.ExpiryInForce(nil, nil, kept, times)
			g.Expect(gotExpiry).NotTo(BeNil())
			g.Expect(gotExpiry.Time).To(BeTemporally("==", wantExpiry.Time), "the expiry")
		})
	}
}

// statusOrderTimes is status.orderTimes of a SaaSTenant or License.
func statusOrderTimes(obj client.Object) *[]saasv1alpha1.OrderTime {
	switch o := obj.(type) {
	case *saasv1alpha1.SaaSTenant:
		return &o.Status.OrderTimes
	case *saasv1alpha1.License:
		return &o.Status.OrderTimes
	}
	panic(fmt.Sprintf("%T has no status.orderTimes", obj))
}
