package webhook

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// orderNotificationRequests matches every request of the receiver about
// OrderNotifications.
func orderNotificationRequests(_ string, u *url.URL) bool {
	return strings.Contains(u.Path, "/ordernotifications")
}

func orderNotifyBody(orderID string, extra ...string) string {
	body := fmt.Sprintf(`{"activity":"orderNotify","orderId":%q,"orderLineId":"%s-000001"`, orderID, orderID)
	for _, e := range extra {
		body += "," + e
	}
	return body + "}"
}

func getOrderNotification(t *testing.T, product *saasv1alpha1.SaaSProduct, orderID string) (*saasv1alpha1.OrderNotification, error) {
	t.Helper()
	n := &saasv1alpha1.OrderNotification{}
	err := k8sClient.Get(ctxFor(t), types.NamespacedName{Name: OrderNotificationName(product.Name, orderID, orderID+"-000001")}, n)
	return n, err
}

// TestOrderNotifyIsRecordedOnceAndAnswered000000 follows spec §3.9: the
// record is created before 000000, and a repeat (the marketplace retries for
// 3 hours) hits AlreadyExists and is answered 000000 without a second record.
func TestOrderNotifyIsRecordedOnceAndAnswered000000(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	before := receiverRequests.Requests(orderNotificationRequests)
	a := f.call(t, orderNotifyBody(orderID, `"testFlag":"0"`))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(BeEmpty())

	n, err := getOrderNotification(t, f.product, orderID)
	g.Expect(err).NotTo(HaveOccurred(), "the record exists once 000000 is answered")
	g.Expect(n.Name).To(MatchRegexp(`^n-[0-9a-f]{20}$`))
	g.Expect(n.Spec).To(And(
		HaveField("ProductName", f.product.Name), HaveField("OrderID", orderID),
		HaveField("OrderLineID", orderID+"-000001"), HaveField("Mode", saasv1alpha1.ModeProduction)))
	g.Expect(n.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, f.product.Name))

	repeat := f.call(t, orderNotifyBody(orderID, `"testFlag":"0"`))
	g.Expect(repeat.Code).To(Equal("000000"), repeat.Msg)
	again, err := getOrderNotification(t, f.product, orderID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.ResourceVersion).To(Equal(n.ResourceVersion), "a repeat changes nothing")
	var methods []string
	for _, req := range receiverRequests.Requests(orderNotificationRequests)[len(before):] {
		methods = append(methods, req.Method)
	}
	g.Expect(methods).To(Equal([]string{"POST", "POST"}),
		"one Create each, the second refused with AlreadyExists; never a read, an update or a list")
}

func TestOrderNotifyProtocolRules(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	long := strings.Repeat("x", 65)
	stale := func(t *testing.T, body string) answer {
		canonical, _ := koogallery.CanonicalPayload([]byte(body))
		ts := strconv.FormatInt(time.Now().Add(-10*time.Minute).UnixMilli(), 10)
		nonce := randomNonce()
		q := url.Values{"signature": {koogallery.SignBasic(f.key, nonce, ts, canonical)}, "timestamp": {ts}, "nonce": {nonce}}
		return post(t, f.product.Name, q, body)
	}
	tests := []struct {
		name     string
		body     func(orderID string) string
		send     func(t *testing.T, body string) answer
		want     string
		recorded bool
		mode     saasv1alpha1.RequestMode
	}{
		{name: "debug notification", body: func(id string) string { return orderNotifyBody(id, `"testFlag":"1"`) },
			want: "000000", recorded: true, mode: saasv1alpha1.ModeDebug},
		{name: "testFlag as a number", body: func(id string) string { return orderNotifyBody(id, `"testFlag":1`) },
			want: "000000", recorded: true, mode: saasv1alpha1.ModeDebug},
		{name: "no testFlag reads as production", body: func(id string) string { return orderNotifyBody(id) },
			want: "000000", recorded: true, mode: saasv1alpha1.ModeProduction},
		{name: "keys reordered, an unknown field, a null", body: func(id string) string {
			return fmt.Sprintf(`{"orderLineId":"%s-000001","newField":{"a":1},"instanceId":null,"orderId":%q,"activity":"orderNotify"}`, id, id)
		}, want: "000000", recorded: true, mode: saasv1alpha1.ModeProduction},
		{name: "no orderId", body: func(id string) string {
			return fmt.Sprintf(`{"activity":"orderNotify","orderLineId":"%s-000001"}`, id)
		}, want: "000002"},
		{name: "no orderLineId", body: func(id string) string {
			return fmt.Sprintf(`{"activity":"orderNotify","orderId":%q}`, id)
		}, want: "000002"},
		{name: "orderLineId over 64", body: func(id string) string {
			return fmt.Sprintf(`{"activity":"orderNotify","orderId":%q,"orderLineId":%q}`, id, long)
		}, want: "000002"},
		{name: "testFlag 2", body: func(id string) string { return orderNotifyBody(id, `"testFlag":"2"`) }, want: "000002"},
		{name: "bad signature", body: func(id string) string { return orderNotifyBody(id) },
			send: func(t *testing.T, body string) answer {
				q := signedQuery(t, "another-key", body)
				return post(t, f.product.Name, q, body)
			}, want: "000001"},
		{name: "stale timestamp", body: func(id string) string { return orderNotifyBody(id) }, send: stale, want: "000002"},
		{name: "body changed after signing", body: func(id string) string { return orderNotifyBody(id) },
			send: func(t *testing.T, body string) answer {
				q := signedQuery(t, f.key, body)
				return post(t, f.product.Name, q, strings.Replace(body, "-000001", "-000002", 1))
			}, want: "000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			orderID := newOrderID()
			body := tt.body(orderID)
			send := tt.send
			if send == nil {
				send = f.call
			}
			a := send(t, body)
			g.Expect(a.Code).To(Equal(tt.want), a.Msg)
			g.Expect(a.status).To(Equal(200))
			n, err := getOrderNotification(t, f.product, orderID)
			if !tt.recorded {
				g.Expect(err).To(HaveOccurred(), "nothing is recorded for a refused notification")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n.Spec.Mode).To(Equal(tt.mode))
		})
	}
}

// TestOrderNotificationNameIsTheProductsOrderLine pins the name: a hash of
// the product and both IDs, separated, so ("ab","c") and ("a","bc") differ.
func TestOrderNotificationNameIsTheProductsOrderLine(t *testing.T) {
	g := NewWithT(t)
	g.Expect(OrderNotificationName("crm", "CS2211181819B4LVS", "CS2211181819B4LVS-000001")).To(MatchRegexp(`^n-[0-9a-f]{20}$`))
	g.Expect(OrderNotificationName("p", "ab", "c")).NotTo(Equal(OrderNotificationName("p", "a", "bc")))
	g.Expect(OrderNotificationName("a", "o", "l")).NotTo(Equal(OrderNotificationName("b", "o", "l")))
	g.Expect(OrderNotificationName("p", "o", "l")).NotTo(Equal(productInstanceID("p", "o", "l")))
}

// TestOneOrderLineNotifiedToTwoProductsIsRecordedForEach: the Seller
// Console's debugging tool sends the same mock order (spec §1.9) to every
// product of the merchant. Each product's notification is its own record;
// the second was answered 000000 and lost when the name was the order
// line's alone.
func TestOneOrderLineNotifiedToTwoProductsIsRecordedForEach(t *testing.T) {
	g := NewWithT(t)
	first, second := newProductFixture(t, saasv1alpha1.ProductTypeSaaS), newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	orderID := "MOCKPERIODYEARNEW"
	for range 2 {
		for _, f := range []*fixture{first, second} {
			a := f.call(t, orderNotifyBody(orderID, `"testFlag":"1"`))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
		}
	}
	for _, f := range []*fixture{first, second} {
		n, err := getOrderNotification(t, f.product, orderID)
		g.Expect(err).NotTo(HaveOccurred(), "%s's notification is recorded", f.product.Name)
		g.Expect(n.Spec.ProductName).To(Equal(f.product.Name))
		g.Expect(n.Spec.OrderLineID).To(Equal(orderID + "-000001"))
	}
}
