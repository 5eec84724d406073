package controllers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// Tests of docs/lifecycle.md rules B (an issued instance is remembered when
// its record is deleted), E and P (changes ordered by the marketplace's
// createTime, not by arrival), each from an input that failed before.

// issuedID is an id shaped like those the receiver issues, which have tombstones.
func issuedID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "i-" + hex.EncodeToString(b)
}

func withIssuedID(tn *saasv1alpha1.SaaSTenant) {
	tn.Name = issuedID()
	tn.Spec.InstanceID = tn.Name
}

func appliedOrder(orderID string, activity saasv1alpha1.OrderActivity, scene saasv1alpha1.RefreshScene, expiry *time.Time) saasv1alpha1.AppliedOrder {
	o := saasv1alpha1.AppliedOrder{OrderID: orderID, OrderLineID: orderID + "-000001", Activity: activity, Scene: scene, ReceivedTime: metav1.Now()}
	if expiry != nil {
		o.ExpireTime = &metav1.Time{Time: *expiry}
	}
	return o
}

func TestThePlanComesFromTheNewestPlanChangeNotTheLastArrival(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	created := time.Now()
	newer, older := fmt.Sprintf("CS%dNEWER", tenantSeq.Add(1)), fmt.Sprintf("CS%dOLDER", tenantSeq.Add(1))
	marketplace.addOrderCreated(newer, product.Spec.ProductID, "pro", "20991231235959", created.Add(2*time.Hour))
	marketplace.addOrderCreated(older, product.Spec.ProductID, "basic", "20991231235959", created.Add(time.Hour))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, appliedOrder(newer, saasv1alpha1.ActivityUpgradeInstance, "", nil))
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) { g.Expect(tn.Status.SKUCode).To(Equal("pro")) })
	// The marketplace's retry of the older upgrade arrives last.
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, appliedOrder(older, saasv1alpha1.ActivityUpgradeInstance, "", nil))
	})
	settled := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation))
		g.Expect(tn.Status.OrderTimes).To(HaveLen(2))
	})
	g.Expect(settled.Status.SKUCode).To(Equal("pro"), "the older upgrade must not take the plan back")
	g.Expect(settled.Status.Order.OrderID).To(Equal(newer))
}

// TestARefundQueryOrderGivesWithoutAProductBlocksNothing: a renewal, then a
// refund (UNSUBSCRIBE_RENEWAL_PERIOD) whose Query Order line carries no
// product, then a paid upgrade. The refund is only sequenced (its
// createTime against the renewal's), and createTime is the order's. Before,
// its line was "unusable", the creation times failed, and neither the
// upgrade's plan nor the expiry was ever applied (OrderResolved=False for
// good). Now the upgrade's plan runs and the refund cuts the renewal.
func TestARefundQueryOrderGivesWithoutAProductBlocksNothing(t *testing.T) {
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	renewal, refund, upgrade := fmt.Sprintf("CS%dRENEW", tenantSeq.Add(1)), fmt.Sprintf("CS%dREFUND", tenantSeq.Add(1)), fmt.Sprintf("CS%dUP", tenantSeq.Add(1))
	renewalEnd, refundEnd := time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2029, 1, 15, 0, 0, 0, 0, time.UTC)
	base := time.Now()
	marketplace.addOrderCreated(renewal, product.Spec.ProductID, "basic", "20290301000000", base)
	marketplace.addOrderCreated(refund, product.Spec.ProductID, "basic", "20290115000000", base.Add(time.Hour))
	marketplace.dropProducts(refund)
	marketplace.addOrderCreated(upgrade, product.Spec.ProductID, "pro", "20290115000000", base.Add(2*time.Hour))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders,
			appliedOrder(renewal, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewal, &renewalEnd),
			appliedOrder(refund, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneUnsubscribeRenewalPeriod, &refundEnd),
			appliedOrder(upgrade, saasv1alpha1.ActivityUpgradeInstance, "", nil))
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, tn)
		g.Expect(tn.Status.SKUCode).To(Equal("pro"))
		g.Expect(tn.Status.ExpireTime).NotTo(BeNil())
		g.Expect(tn.Status.ExpireTime.Time).To(BeTemporally("==", refundEnd))
	})
}

// TestAnUpgradeWithoutAnExpiryKeepsThePeriodsEnd: Query Order gives the
// upgrade's line no expireTime (spec §8 item 18: what it holds is open).
// Before, the upgrade became the order in force and the tenant had no
// expiry at all: the safety net and the expiry notices stopped. The period
// the buyer paid for still ends when the purchase said.
func TestAnUpgradeWithoutAnExpiryKeepsThePeriodsEnd(t *testing.T) {
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	purchased := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.ExpireTime).NotTo(BeNil())
	})
	upgrade := fmt.Sprintf("CS%dUP", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", "")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, appliedOrder(upgrade, saasv1alpha1.ActivityUpgradeInstance, "", nil))
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.SKUCode).To(Equal("pro"))
		g.Expect(tn.Status.ExpireTime).NotTo(BeNil(), "the period still ends")
		g.Expect(tn.Status.ExpireTime.Time).To(BeTemporally("==", purchased.Status.ExpireTime.Time))
	})
}

func TestAShorteningOrderAppliesOnlyWhenNewerThanTheRenewalsItCuts(t *testing.T) {
	renewalEnd := time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC)
	cutEnd := time.Date(2029, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		cutIsNewer    bool
		wantExpiresAt time.Time
	}{
		{"the cut is newer: it applies", true, cutEnd},
		{"the renewal is newer: the cut was overtaken", false, renewalEnd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			product := newTenantProduct(t, nil)
			tenant := newTenant(t, product, "basic", nil)
			eventuallyTenant(t, tenant.Name, provisioned)
			renewal, cut := fmt.Sprintf("CS%dRENEW", tenantSeq.Add(1)), fmt.Sprintf("CS%dCUT", tenantSeq.Add(1))
			base := time.Now()
			renewalCreated, cutCreated := base, base.Add(time.Hour)
			if !tc.cutIsNewer {
				renewalCreated, cutCreated = cutCreated, renewalCreated
			}
			marketplace.addOrderCreated(renewal, product.Spec.ProductID, "basic", "20290301000000", renewalCreated)
			marketplace.addOrderCreated(cut, product.Spec.ProductID, "basic", "20290115000000", cutCreated)
			// Whatever the arrival order, the creation order decides.
			updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
				tn.Spec.Orders = append(tn.Spec.Orders,
					appliedOrder(cut, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneUnsubscribeRenewalPeriod, &cutEnd),
					appliedOrder(renewal, saasv1alpha1.ActivityRefreshInstance, saasv1alpha1.SceneRenewal, &renewalEnd))
			})
			eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
				g.Expect(tn.Status.ExpireTime).NotTo(BeNil())
				g.Expect(tn.Status.ExpireTime.Time).To(BeTemporally("==", tc.wantExpiresAt))
			})
		})
	}
}

func TestADeletedTenantIsRememberedAndNeverProvisionedAgain(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", withIssuedID)
	eventuallyTenant(t, tenant.Name, provisioned)

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())
	entry, ok, err := tombstone.Lookup(testContext(t), k8sClient, operatorNamespace, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue(), "the finalizer records the tombstone before it lets the record go")
	g.Expect(entry).To(Equal(tombstone.Entry{Product: product.Name, Kind: tombstone.KindTenant}))
	expectTenantEvent(t, tenant.Name, corev1.EventTypeNormal, saasv1alpha1.TombstoneRecordedReason)

	// A record of the same instance created again (a newInstance retry
	// whose receiver's cache had not yet seen the tombstone) is deleted
	// before anything is provisioned for it.
	again := tenant.DeepCopy()
	again.ResourceVersion, again.Finalizers, again.DeletionTimestamp, again.UID = "", nil, nil, ""
	g.Expect(k8sClient.Create(testContext(t), again)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())
}

func TestADeletedLicenceInstanceIsRemembered(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	id := issuedID()
	orderID := fmt.Sprintf("CS%dLIC", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", orderExpiry.Format("20060102150405"))
	l := &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: id, Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name}},
		Spec: saasv1alpha1.LicenseSpec{InstanceID: id, ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001",
			Orders: []saasv1alpha1.AppliedOrder{appliedOrder(orderID, saasv1alpha1.ActivityNewInstance, "", nil)}},
	}
	g.Expect(k8sClient.Create(testContext(t), l)).To(Succeed())
	eventuallyLicense(t, id, func(g Gomega, l *saasv1alpha1.License) {
		g.Expect(l.Finalizers).To(ContainElement(saasv1alpha1.Finalizer))
	})

	g.Expect(k8sClient.Delete(testContext(t), l)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(l), &saasv1alpha1.License{}))
	}).Should(BeTrue())
	entry, ok, err := tombstone.Lookup(testContext(t), k8sClient, operatorNamespace, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(entry).To(Equal(tombstone.Entry{Product: product.Name, Kind: tombstone.KindLicense}))

	// Created again from a receiver cache that missed the tombstone: deleted
	// before a key is issued.
	again := l.DeepCopy()
	again.ResourceVersion, again.Finalizers, again.DeletionTimestamp, again.UID = "", nil, nil, ""
	g.Expect(k8sClient.Create(testContext(t), again)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(l), &saasv1alpha1.License{}))
	}).Should(BeTrue())
}
