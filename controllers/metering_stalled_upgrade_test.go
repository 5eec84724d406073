package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A pay-per-use tenant on basic (1 replica of 100m) is upgraded to pro (3
// replicas of 500m) after the merchant set pro's pod quota too small for
// its replicas: the order resolves, status.skuCode says pro, and the tenant
// stalls QuotaTooSmall with basic still running (status.applied). Before,
// the metering pass that status write woke measured pro, and the buyer was
// billed 3 replicas of 500m never provisioned. Now it measures basic until
// pro is applied, and pro from then on.
func TestAStalledUpgradeBillsThePlanThatRuns(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(3)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	proPods := func(pods string) func(*saasv1alpha1.SaaSProduct) {
		return func(p *saasv1alpha1.SaaSProduct) {
			for i := range p.Spec.Plans {
				if p.Spec.Plans[i].SKUCode == "pro" {
					p.Spec.Plans[i].Quota = corev1.ResourceList{corev1.ResourcePods: resource.MustParse(pods)}
				}
			}
		}
	}
	// 2 pods cannot hold pro's 3 replicas (the shared volume's Recreate
	// rollout adds no surge pod).
	changeProduct(t, tenant.Spec.ProductName, proPods("2"))
	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrderCharged(upgrade, tenant.Status.Order.ProductID, "pro", "20991231235959", koogallery.ChargingOnDemand)
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.SKUCode).To(Equal("pro"), "the order resolved")
		g.Expect(tn.Status.Applied).NotTo(BeNil())
		g.Expect(tn.Status.Applied.SKUCode).To(Equal("basic"), "what still runs")
		g.Expect(tn.Status.Conditions).To(ContainElement(And(HaveField("Type", saasv1alpha1.StalledCondition),
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", saasv1alpha1.QuotaTooSmallReason))))
	})
	_, err = meterAt(t, r, h.Add(30*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	// The merchant fixes the quota: pro is applied, and billed from the
	// pass that sees it applied (half of the second hour).
	changeProduct(t, tenant.Spec.ProductName, proPods("15"))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Applied).NotTo(BeNil())
		g.Expect(tn.Status.Applied.SKUCode).To(Equal("pro"))
	})
	_, err = meterAt(t, r, h.Add(90*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(2*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	hhmm := func(d time.Duration) string { return h.Add(d).Format("1504") }
	g.Expect(pushedValues(tenant.Name, threeMeters)).To(Equal(map[string]string{
		// basic (1 replica of 100m) the whole hour, stalled upgrade or not.
		hhmm(0) + " duration": "1", hhmm(0) + " replicas": "1", hhmm(0) + " cpu": "0.1",
		// basic until :30, then pro (3 replicas of 500m).
		hhmm(time.Hour) + " duration": "1", hhmm(time.Hour) + " replicas": "2", hhmm(time.Hour) + " cpu": "0.8",
	}))
}
