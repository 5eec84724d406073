package controllers

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/orders"
)

// The times of the orders of TestAQueryOrderTimeZoneChangeReresolvesStoredOrders:
// Query Order's expireTime of every order, and its instant read in each zone.
const zoneChangeExpiry = "20991121235959"

var (
	expiryReadInUTC     = time.Date(2099, 11, 21, 23, 59, 59, 0, time.UTC)
	expiryReadInBeijing = time.Date(2099, 11, 21, 15, 59, 59, 0, time.UTC)
)

// TestAQueryOrderTimeZoneChangeReresolvesStoredOrders: Query Order's
// expireTime and createTime are read in the zone --query-order-time-zone
// names (spec §6.3, §8 item 18). An operator who changes it (restarts
// kooper with another zone) changes how the orders already resolved must
// be read: each is asked again once and read in the new zone, so the
// expiry the safety net and the notices go by, the licence key's end and
// the sequence of the orders all follow the new zone; an order read in the
// zone of the flag is not asked again.
func TestAQueryOrderTimeZoneChangeReresolvesStoredOrders(t *testing.T) {
	beijing, err := orders.ParseTimeZone("+08:00")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())

	t.Run("a licence's order: its expiry and its key's end", func(t *testing.T) {
		g := NewWithT(t)
		product, _ := newLicenseProduct(t, true)
		l := zoneChangeLicence(product, []saasv1alpha1.AppliedOrder{zoneChangeOrder(t, product, "P", saasv1alpha1.ActivityNewInstance, "basic", "20260101080000")})
		s := zoneChangeLicenceState(t, product, l, "basic")
		r := zoneChangeLicenceReconciler(beijing)

		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		g.Expect(l.Status.Order.ExpireTime.Time).To(BeTemporally("==", expiryReadInBeijing), "read as Beijing time")
		queried := marketplace.queries(l.Spec.OrderID)

		// The operator learns the marketplace's times are UTC, and restarts
		// kooper with --query-order-time-zone=UTC.
		r.Orders = MarketplaceOrderClientsWith(time.UTC, marketplace.server.URL)
		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		g.Expect(l.Status.Order.ExpireTime.Time).To(BeTemporally("==", expiryReadInUTC), "status.order.expireTime read as UTC")
		g.Expect(marketplace.queries(l.Spec.OrderID)).To(Equal(queried+1), "Query Order asked again, neither the status nor the memo answers")
		g.Expect(l.Status.Order.TimeZone).To(Equal("UTC"))
		g.Expect(licenseEnd(l, nil, s.orderTimes).Time).To(BeTemporally("==", expiryReadInUTC), "the licence's end")
		claims, err := r.desiredClaims(s)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(claims.NotAfter).To(Equal(expiryReadInUTC.Unix()), "the key's end, not 8 hours early")

		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		g.Expect(marketplace.queries(l.Spec.OrderID)).To(Equal(queried+1), "once: an order read in the flag's zone is not asked again")
	})

	t.Run("a tenant's order: the expiry the safety net and the notices go by", func(t *testing.T) {
		g := NewWithT(t)
		product := newTenantProduct(t, nil)
		purchase := zoneChangeOrder(t, product, "P", saasv1alpha1.ActivityNewInstance, "basic", "20260101080000")
		tenant := &saasv1alpha1.SaaSTenant{
			ObjectMeta: metav1.ObjectMeta{Name: "zone-" + purchase.OrderID},
			Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "zone-" + purchase.OrderID, ProductName: product.Name,
				OrderID: purchase.OrderID, OrderLineID: purchase.OrderLineID, Orders: []saasv1alpha1.AppliedOrder{purchase}},
		}
		s := &tenantState{tenant: tenant, stored: tenant.DeepCopy(), product: product, lifecycle: &product.Spec.Lifecycle}
		r := &SaaSTenantReconciler{Client: k8sClient, Reader: k8sClient, Scheme: k8sClient.Scheme(), Recorder: events.NewFakeRecorder(10),
			Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL), Options: TenantOptions{SecretNamespace: operatorNamespace}}

		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		r.applyExpiry(s, s.orderTimes)
		g.Expect(tenant.Status.ExpireTime.Time).To(BeTemporally("==", expiryReadInUTC), "read as UTC, the default")
		queried := marketplace.queries(purchase.OrderID)

		// The other way: the operator sets +08:00.
		r.Orders = MarketplaceOrderClientsWith(beijing, marketplace.server.URL)
		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		r.applyExpiry(s, s.orderTimes)
		g.Expect(tenant.Status.ExpireTime.Time).To(BeTemporally("==", expiryReadInBeijing), "status.expireTime, the safety net's and the notices' expiry")
		g.Expect(tenant.Status.Order.ExpireTime.Time).To(BeTemporally("==", expiryReadInBeijing), "status.order.expireTime read as Beijing time")
		g.Expect(tenant.Status.Order.TimeZone).To(Equal("+08:00"))
		g.Expect(marketplace.queries(purchase.OrderID)).To(Equal(queried+1), "Query Order asked again")

		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		g.Expect(marketplace.queries(purchase.OrderID)).To(Equal(queried+1), "once")
	})

	t.Run("orders timed before and after the change are sequenced in one zone", func(t *testing.T) {
		g := NewWithT(t)
		product, _ := newLicenseProduct(t, true)
		// Created, in Query Order's text, in this order: the purchase, then
		// U1 (pro), U2 (basic) and, after the change, U3 (pro).
		applied := []saasv1alpha1.AppliedOrder{
			zoneChangeOrder(t, product, "P", saasv1alpha1.ActivityNewInstance, "basic", "20260101080000"),
			zoneChangeOrder(t, product, "U1", saasv1alpha1.ActivityUpgradeInstance, "pro", "20260101100000"),
			zoneChangeOrder(t, product, "U2", saasv1alpha1.ActivityUpgradeInstance, "basic", "20260101110000"),
		}
		l := zoneChangeLicence(product, applied)
		s := zoneChangeLicenceState(t, product, l, "basic")
		r := zoneChangeLicenceReconciler(time.UTC)
		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		g.Expect(l.Status.Order.OrderID).To(Equal(applied[2].OrderID))
		g.Expect(l.Status.OrderTimes).To(HaveLen(2))

		r.Orders = MarketplaceOrderClientsWith(beijing, marketplace.server.URL)
		u3 := zoneChangeOrder(t, product, "U3", saasv1alpha1.ActivityUpgradeInstance, "pro", "20260101120000")
		l.Spec.Orders = append(l.Spec.Orders, u3)
		g.Expect(r.resolveOrder(testContext(t), s).err).NotTo(HaveOccurred())
		// Read in one zone, U3 (04:00Z) is the latest; U1 and U2 as read in
		// UTC (10:00Z, 11:00Z) would sort after it, and U2 would keep the plan.
		g.Expect(l.Status.Order.OrderID).To(Equal(u3.OrderID), "the latest plan change selects the plan")
		g.Expect(l.Status.Order.SKUCode).To(Equal("pro"))
		g.Expect(l.Status.OrderTimes).To(HaveLen(3))
		for _, recorded := range l.Status.OrderTimes {
			g.Expect(recorded.TimeZone).To(Equal("+08:00"), recorded.OrderID)
		}
		i := slices.IndexFunc(l.Status.OrderTimes, func(o saasv1alpha1.OrderTime) bool { return o.OrderID == applied[1].OrderID })
		g.Expect(l.Status.OrderTimes[i].CreateTime.Time).To(BeTemporally("==", time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)), "U1 read again")
		g.Expect(l.Status.Order.ExpireTime.Time).To(BeTemporally("==", expiryReadInBeijing))
	})
}

// zoneChangeOrder makes an order of product, named after the test and
// suffix, known to the fake marketplace (sku, created at createText in
// Query Order's format, expiring at zoneChangeExpiry), and returns it as
// the receiver applies it.
func zoneChangeOrder(t *testing.T, product *saasv1alpha1.SaaSProduct, suffix string, activity saasv1alpha1.OrderActivity, sku, createText string) saasv1alpha1.AppliedOrder {
	t.Helper()
	id := fmt.Sprintf("CS%dZ%s", tenantSeq.Add(1), suffix)
	created, err := time.Parse("20060102150405", createText)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	marketplace.addOrderCreated(id, product.Spec.ProductID, sku, zoneChangeExpiry, created)
	return saasv1alpha1.AppliedOrder{OrderID: id, OrderLineID: id + "-000001", Activity: activity, ReceivedTime: metav1.Now()}
}

// zoneChangeLicence is a licence of product bought with the first of
// applied, held in memory only: the test runs the reconciler's steps on
// it, so the manager's controller does not.
func zoneChangeLicence(product *saasv1alpha1.SaaSProduct, applied []saasv1alpha1.AppliedOrder) *saasv1alpha1.License {
	id := "zone-" + applied[0].OrderID
	return &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: id, CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC))},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: product.Name,
			OrderID: applied[0].OrderID, OrderLineID: applied[0].OrderLineID, Orders: applied},
	}
}

// zoneChangeLicenceState is the state of a pass over l, its plan sku and
// a signer of its own.
func zoneChangeLicenceState(t *testing.T, product *saasv1alpha1.SaaSProduct, l *saasv1alpha1.License, sku string) *licenseState {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	signer, err := licenseissue.New(priv)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	i := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == sku })
	return &licenseState{license: l, instance: l, product: product, plan: &product.Spec.Plans[i], signer: signer}
}

// zoneChangeLicenceReconciler is a licence reconciler reading Query
// Order's times in zone.
func zoneChangeLicenceReconciler(zone *time.Location) *LicenseReconciler {
	return &LicenseReconciler{Client: k8sClient, Reader: k8sClient, Scheme: k8sClient.Scheme(), Recorder: events.NewFakeRecorder(10),
		Clock: fakeClock, Orders: MarketplaceOrderClientsWith(zone, marketplace.server.URL), Options: LicenseOptions{SecretNamespace: operatorNamespace}}
}
