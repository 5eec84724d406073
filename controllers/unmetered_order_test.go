package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// What a tenant's resolved order leaves unsaid was silent before: a
// pay-per-use tenant of a product that meters nothing, a chargingMode
// kooper does not know, an order whose createTime does not parse. Each is
// now a reason of OrderResolved=True, with a Warning Event when it
// appears; none keeps the tenant from being served.

// expectTenantWarningSaying waits for a Warning Event about the tenant with
// reason whose note holds every text.
func expectTenantWarningSaying(t *testing.T, name, reason string, texts ...string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
		matchers := []types.GomegaMatcher{HaveField("Regarding.Name", name), HaveField("Type", corev1.EventTypeWarning), HaveField("Reason", reason)}
		for _, text := range texts {
			matchers = append(matchers, HaveField("Note", ContainSubstring(text)))
		}
		g.Expect(list.Items).To(ContainElement(SatisfyAll(matchers...)))
	}).Should(Succeed())
}

// orderResolvedMessage is the message of the tenant's OrderResolved condition.
func orderResolvedMessage(tn *saasv1alpha1.SaaSTenant) string {
	if c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.OrderResolvedCondition); c != nil {
		return c.Message
	}
	return ""
}

// setCreateTime makes Query Order give orderID the createTime text as it
// is, one that may not parse.
func setCreateTime(orderID, text string) {
	marketplace.mu.Lock()
	defer marketplace.mu.Unlock()
	o := marketplace.orders[orderID]
	o.CreateTime = text
	marketplace.orders[orderID] = o
}

// An ISV adds a pay-per-use plan and forgets the meters: the tenant is
// served (the buyer paid), and says its usage is not billed until the
// product meters it. Before, OrderResolved said Succeeded and nothing
// else told anyone.
func TestAPayPerUseTenantOfAProductThatMetersNothingIsServedAndSaysItIsNotMetered(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Labels = map[string]string{meteredByHandLabel: "true"} // the suite's metering controller leaves it alone
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "basic", "20991231235959", koogallery.ChargingOnDemand)
	})
	got := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.NotMeteredReason)(g, tn)
	})
	g.Expect(orderResolvedMessage(got)).To(ContainSubstring("SaaSProduct %s meters nothing", product.Name))
	expectTenantWarningSaying(t, tenant.Name, saasv1alpha1.NotMeteredReason, tenant.Spec.OrderID, "meters nothing")

	markAvailable(t, "tenant-"+tenant.Name)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	// The ISV adds the meters: the tenant is metered, and the note goes.
	g.Eventually(func() error {
		p := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), p); err != nil {
			return err
		}
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: threeMeters[:1]}
		return k8sClient.Update(testContext(t), p)
	}).Should(Succeed())
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
}

// Query Order says a chargingMode none of the four the spec lists: the raw
// value is in the condition and a Warning Event naming the order, and the
// tenant is served, neither metered nor a package. Before, the value was
// dropped without a word.
func TestAnUnknownChargingModeIsReportedAndTheTenantServed(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: threeMeters[:1]}
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Labels = map[string]string{meteredByHandLabel: "true"}
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "basic", "20991231235959", "ON_DEMAND_V2")
	})
	got := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.ChargingModeUnknownReason)(g, tn)
	})
	g.Expect(got.Status.Order.ChargingMode).To(BeEmpty(), "not metered, not a package")
	g.Expect(orderResolvedMessage(got)).To(ContainSubstring(`chargingMode "ON_DEMAND_V2"`))
	expectTenantWarningSaying(t, tenant.Name, saasv1alpha1.ChargingModeUnknownReason, tenant.Spec.OrderID, `"ON_DEMAND_V2"`)
}

// One upgrade's createTime does not parse: the two whose times are known
// are still sequenced by them, so the late retry of the older one does
// not take the plan back, and the order without a time is named. Before,
// every order went by arrival and the older upgrade's plan ran, silently.
func TestAnOrderWithoutACreateTimeIsNamedAndTheOthersStillSequenced(t *testing.T) {
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	base := time.Now()
	newer, untimed, older := fmt.Sprintf("CS%dNEWER", tenantSeq.Add(1)), fmt.Sprintf("CS%dUNTIMED", tenantSeq.Add(1)), fmt.Sprintf("CS%dOLDER", tenantSeq.Add(1))
	marketplace.addOrderCreated(newer, product.Spec.ProductID, "pro", "20991231235959", base.Add(2*time.Hour))
	marketplace.addOrder(untimed, product.Spec.ProductID, "basic", "20991231235959")
	setCreateTime(untimed, "2026-01-01 10:00")
	marketplace.addOrderCreated(older, product.Spec.ProductID, "basic", "20991231235959", base.Add(time.Hour))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders,
			appliedOrder(newer, saasv1alpha1.ActivityUpgradeInstance, "", nil),
			appliedOrder(untimed, saasv1alpha1.ActivityUpgradeInstance, "", nil),
			appliedOrder(older, saasv1alpha1.ActivityUpgradeInstance, "", nil)) // the older one's retry arrives last
	})
	got := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation))
		g.Expect(tn.Status.OrderTimes).To(HaveLen(2))
		hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.CreateTimeUnknownReason)(g, tn)
	})
	g := NewWithT(t)
	g.Expect(got.Status.SKUCode).To(Equal("pro"), "the older upgrade must not take the plan back")
	g.Expect(got.Status.Order.OrderID).To(Equal(newer))
	g.Expect(orderResolvedMessage(got)).To(ContainSubstring(untimed))
	g.Expect(orderResolvedMessage(got)).NotTo(ContainSubstring(older))
	expectTenantWarningSaying(t, tenant.Name, saasv1alpha1.CreateTimeUnknownReason, untimed)
}

// noteOrder's rules, one reconcile at a time, without the API server:
// which reason OrderResolved gets, what its message says, and when a
// Warning Event is told.
func TestNoteOrderSaysWhatTheResolvedOrderLeavesUnsaid(t *testing.T) {
	const head = "Order CS1: product OFFI1, SKU basic"
	purchase := saasv1alpha1.AppliedOrder{OrderID: "CS1", OrderLineID: "CS1-000001", Activity: saasv1alpha1.ActivityNewInstance}
	upgrade := func(id string) saasv1alpha1.AppliedOrder {
		return saasv1alpha1.AppliedOrder{OrderID: id, OrderLineID: id + "-000001", Activity: saasv1alpha1.ActivityUpgradeInstance}
	}
	meters := &saasv1alpha1.MeteringSpec{Meters: threeMeters[:1]}
	unknown := "ON_DEMAND_V2"
	storedUnknown := head + `; Query Order's chargingMode "ON_DEMAND_V2" is none of PERIOD, ONE_TIME, ON_DEMAND, ON_DEMAND_PKG: the tenant is served, neither metered nor a package`
	for _, tc := range []struct {
		name     string
		mode     saasv1alpha1.ChargingMode
		metering *saasv1alpha1.MeteringSpec
		packages *saasv1alpha1.PackagesSpec
		// remember puts the order in the memo, with its raw mode when unknown.
		remember    bool
		unknownMode *string
		orders      []saasv1alpha1.AppliedOrder
		times       map[string]time.Time
		debug       bool
		stored      *metav1.Condition
		wantReason  string
		wantMessage []string // substrings; none: exactly head
		wantEvents  []string // reasons of Warning Events
	}{
		{name: "a periodic order says which it is", mode: saasv1alpha1.ChargingPeriod, wantReason: saasv1alpha1.SucceededReason},
		{name: "pay-per-use of a product that meters nothing", mode: saasv1alpha1.ChargingOnDemand,
			wantReason: saasv1alpha1.NotMeteredReason, wantMessage: []string{head + "; pay-per-use (chargingMode OnDemand), but SaaSProduct crm meters nothing"},
			wantEvents: []string{saasv1alpha1.NotMeteredReason}},
		{name: "pay-per-use of a metered product", mode: saasv1alpha1.ChargingOnDemand, metering: meters, wantReason: saasv1alpha1.SucceededReason},
		{name: "a pay-per-use package's own tenant, of a product that meters nothing", mode: saasv1alpha1.ChargingOnDemandPackage,
			wantReason: saasv1alpha1.NotMeteredReason, wantMessage: []string{"pay-per-use (chargingMode OnDemandPackage)"},
			wantEvents: []string{saasv1alpha1.NotMeteredReason}},
		{name: "a package that funds another tenant is not metered itself", mode: saasv1alpha1.ChargingOnDemandPackage,
			packages: &saasv1alpha1.PackagesSpec{}, wantReason: saasv1alpha1.SucceededReason},
		{name: "told once: a note already stored is no new Event", mode: saasv1alpha1.ChargingOnDemand,
			stored: &metav1.Condition{Status: metav1.ConditionTrue, Reason: saasv1alpha1.NotMeteredReason,
				Message: head + "; pay-per-use (chargingMode OnDemand), but SaaSProduct crm meters nothing (no spec.metering.meters): the tenant is served and its usage is not billed"},
			wantReason: saasv1alpha1.NotMeteredReason, wantMessage: []string{"meters nothing"}},
		{name: "an unknown chargingMode Query Order gave is quoted", remember: true, unknownMode: &unknown,
			wantReason: saasv1alpha1.ChargingModeUnknownReason, wantMessage: []string{`chargingMode "ON_DEMAND_V2"`},
			wantEvents: []string{saasv1alpha1.ChargingModeUnknownReason}},
		{name: "after a restart the stored message still quotes it, with no new Event",
			stored:     &metav1.Condition{Status: metav1.ConditionTrue, Reason: saasv1alpha1.ChargingModeUnknownReason, Message: storedUnknown},
			wantReason: saasv1alpha1.ChargingModeUnknownReason, wantMessage: []string{storedUnknown}},
		{name: "another order's stored message carries nothing",
			stored: &metav1.Condition{Status: metav1.ConditionTrue, Reason: saasv1alpha1.ChargingModeUnknownReason,
				Message: strings.Replace(storedUnknown, "CS1", "CS0", 1)},
			wantReason: saasv1alpha1.SucceededReason},
		{name: "an order whose createTime did not parse is named", mode: saasv1alpha1.ChargingPeriod,
			orders: []saasv1alpha1.AppliedOrder{purchase, upgrade("U1"), upgrade("U2")}, times: map[string]time.Time{"U2": time.Now()},
			wantReason: saasv1alpha1.CreateTimeUnknownReason, wantMessage: []string{"no createTime that parses for order U1: each keeps its arrival place"},
			wantEvents: []string{saasv1alpha1.CreateTimeUnknownReason}},
		{name: "a debug tenant's orders go by arrival, as documented", mode: saasv1alpha1.ChargingPeriod, debug: true,
			orders: []saasv1alpha1.AppliedOrder{purchase, upgrade("U1"), upgrade("U2")}, wantReason: saasv1alpha1.SucceededReason},
		{name: "more than five orders without a time: five named, the rest counted", mode: saasv1alpha1.ChargingPeriod,
			orders:     []saasv1alpha1.AppliedOrder{purchase, upgrade("U1"), upgrade("U2"), upgrade("U3"), upgrade("U4"), upgrade("U5"), upgrade("U6"), upgrade("U7")},
			wantReason: saasv1alpha1.CreateTimeUnknownReason, wantMessage: []string{"for order U1, U2, U3, U4, U5 and 2 more:"},
			wantEvents: []string{saasv1alpha1.CreateTimeUnknownReason}},
		{name: "several notes: the first is the reason, each is said and told", mode: saasv1alpha1.ChargingOnDemand,
			orders:     []saasv1alpha1.AppliedOrder{purchase, upgrade("U1"), upgrade("U2")},
			wantReason: saasv1alpha1.NotMeteredReason, wantMessage: []string{"meters nothing", "for order U1, U2:"},
			wantEvents: []string{saasv1alpha1.NotMeteredReason, saasv1alpha1.CreateTimeUnknownReason}},
		{name: "a failure an earlier pass left (a sequencing order's Query Order) ends", mode: saasv1alpha1.ChargingPeriod,
			stored:     &metav1.Condition{Status: metav1.ConditionFalse, Reason: saasv1alpha1.OrderQueryFailedReason, Message: "Query Order failed"},
			wantReason: saasv1alpha1.SucceededReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "crm"},
				Spec: saasv1alpha1.SaaSProductSpec{ProductID: "OFFI1", Metering: tc.metering, Packages: tc.packages}}
			tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "i-1", Generation: 1},
				Spec:   saasv1alpha1.SaaSTenantSpec{OrderID: "CS1", OrderLineID: "CS1-000001", Orders: tc.orders},
				Status: saasv1alpha1.SaaSTenantStatus{Order: &saasv1alpha1.ResolvedOrder{OrderID: "CS1", ProductID: "OFFI1", SKUCode: "basic", ChargingMode: tc.mode}}}
			if tc.debug {
				tenant.Spec.Mode = saasv1alpha1.ModeDebug
			}
			if tc.stored != nil {
				c := *tc.stored
				c.Type, c.LastTransitionTime = saasv1alpha1.OrderResolvedCondition, metav1.Now()
				tenant.Status.Conditions = []metav1.Condition{c}
			}
			recorder := events.NewFakeRecorder(10)
			r := &SaaSTenantReconciler{Recorder: recorder}
			if tc.remember {
				r.resolved.put(orderKey(product, &purchase), tenant.Status.Order, tc.unknownMode)
			}
			s := &tenantState{tenant: tenant, stored: tenant.DeepCopy(), product: product, orderTimes: tc.times}

			r.noteOrder(s, &purchase)

			c := apimeta.FindStatusCondition(tenant.Status.Conditions, saasv1alpha1.OrderResolvedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "Ready does not wait on a note")
			g.Expect(c.Reason).To(Equal(tc.wantReason))
			if len(tc.wantMessage) == 0 {
				g.Expect(c.Message).To(Equal(head))
			}
			for _, want := range tc.wantMessage {
				g.Expect(c.Message).To(ContainSubstring(want))
			}
			close(recorder.Events)
			var told []string
			for e := range recorder.Events {
				g.Expect(e).To(HavePrefix(corev1.EventTypeWarning+" "), "every note is a Warning")
				g.Expect(e).To(ContainSubstring(head), "the Event names the order")
				told = append(told, strings.Fields(e)[1])
			}
			g.Expect(told).To(Equal(tc.wantEvents))
		})
	}
}
