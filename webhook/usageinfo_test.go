package webhook

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestQueryInstanceReportsThePushedUsageOfAPackage(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	query := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)
	a := f.call(t, query)
	g.Expect(a.Info).To(HaveLen(1))
	g.Expect(a.Info[0].UsageInfo).To(BeEmpty(), "nothing pushed yet")

	pushed := metav1.NewTime(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	tenant := getTenant(t, id)
	tenant.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: tenant.Spec.OrderID, ProductID: "p", SKUCode: "s",
		ChargingMode: saasv1alpha1.ChargingOnDemandPackage}
	tenant.Status.Metering = &saasv1alpha1.TenantMetering{Since: pushed, PushedUntil: &pushed,
		Meters: []saasv1alpha1.MeterUsage{{Name: "duration", Total: "12.5"}}}
	g.Expect(k8sClient.Status().Update(ctxFor(t), tenant)).To(Succeed())

	g.Eventually(func() []koogallery.UsageInfo {
		a = f.call(t, query)
		if len(a.Info) == 0 {
			return nil
		}
		return a.Info[0].UsageInfo
	}).Should(Equal([]koogallery.UsageInfo{{RelatedInstanceID: id, UsageValue: json.Number("12.5"), StatisticalTime: "20261122100000000"}}))
	g.Expect(string(a.raw)).To(ContainSubstring(`"usageValue":12.5`), "a JSON number, as the spec's Double")
}

// Issue 31: a pay-per-use tenant funded by packages reports, beside its
// meters' totals, what each package paid for; a package reports its own
// part from that tenant's ledger, and is never "being provisioned".
func TestQueryInstanceReportsWhatEachPackagePaidFor(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	ppu, _ := f.buy(t)
	pkg, _ := f.buy(t)
	pushed := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))

	funded := getTenant(t, ppu)
	funded.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: funded.Spec.OrderID, ProductID: "p", SKUCode: "payg",
		ChargingMode: saasv1alpha1.ChargingOnDemand}
	funded.Status.Metering = &saasv1alpha1.TenantMetering{Since: pushed, PushedUntil: &pushed,
		Meters: []saasv1alpha1.MeterUsage{{Name: "duration", Total: "4.5"}},
		// 1 of the 2.5 was paid for a tenant of the buyer's since released.
		Packages: []saasv1alpha1.PackageBalance{{InstanceID: pkg, Quota: "3", Consumed: "2.5", Carried: "1", Since: pushed}}}
	g.Expect(k8sClient.Status().Update(ctxFor(t), funded)).To(Succeed())

	pack := getTenant(t, pkg)
	pack.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: pack.Spec.OrderID, ProductID: "p", SKUCode: "pkg",
		ChargingMode: saasv1alpha1.ChargingOnDemandPackage}
	pack.Status.Package = &saasv1alpha1.TenantPackage{Quota: "3", FundsInstanceID: ppu}
	g.Expect(k8sClient.Status().Update(ctxFor(t), pack)).To(Succeed())

	usage := func(id string) func(g Gomega) []koogallery.UsageInfo {
		return func(g Gomega) []koogallery.UsageInfo {
			a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			g.Expect(a.Info).To(HaveLen(1))
			return a.Info[0].UsageInfo
		}
	}
	const at = "20261201100000000"
	g.Eventually(usage(ppu)).Should(Equal([]koogallery.UsageInfo{
		{UsageValue: json.Number("4.5"), StatisticalTime: at},
		{RelatedInstanceID: pkg, UsageValue: json.Number("1.5"), StatisticalTime: at},
	}), "what this instance used of the package")
	g.Eventually(usage(pkg)).Should(Equal([]koogallery.UsageInfo{{RelatedInstanceID: pkg, UsageValue: json.Number("2.5"), StatisticalTime: at}}),
		"all the package paid for")

	// A trial saw a package that moved on from a released tenant report
	// nothing until its new tenant pushed a window: it reports what it
	// had paid for until it moved.
	moved := metav1.NewTime(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	pack = getTenant(t, pkg)
	pack.Status.Package = &saasv1alpha1.TenantPackage{Quota: "3", ConsumedBefore: "2.5", ConsumedUntil: &moved}
	g.Expect(k8sClient.Status().Update(ctxFor(t), pack)).To(Succeed())
	g.Eventually(usage(pkg)).Should(Equal([]koogallery.UsageInfo{{RelatedInstanceID: pkg, UsageValue: json.Number("2.5"), StatisticalTime: "20261201090000000"}}))
}
