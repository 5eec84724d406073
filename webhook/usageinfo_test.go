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
