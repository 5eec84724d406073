package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A usage push whose answer is lost is sent again exactly as it was built
// (status.metering.inFlight): the marketplace took its metering_sn once, so
// a retry that measured or split the windows anew would charge what it did
// not send, or send a second charge under new IDs.

// steppedPrometheus answers each query with the next of its values, then
// the last again: a Prometheus whose answer for the same window changes
// (a late scrape, a counter reset extrapolated another way).
type steppedPrometheus struct {
	mu     sync.Mutex
	values []float64
	calls  int
}

func (p *steppedPrometheus) Query(context.Context, string, string, time.Time) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.values[min(p.calls, len(p.values)-1)]
	p.calls++
	return v, nil
}

func TestARetriedPushSendsTheValueFirstMeasuredWhenPrometheusAnswersDifferently(t *testing.T) {
	g := NewWithT(t)
	meters := []saasv1alpha1.Meter{{Name: "requests", Unit: "request", Source: saasv1alpha1.MeterPrometheus,
		Query: `sum(increase(http_requests_total{namespace="{{ .Namespace }}"}[{{ .Window }}]))`}}
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(4)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	r.Options.PrometheusURL = "http://prometheus.invalid:9090"
	r.Prometheus = &steppedPrometheus{values: []float64{4.2, 4.6}}
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	marketplace.usage.loseAnswers(tenant.Name, 1)
	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("the answer was lost")))
	g.Expect(pushedValues(tenant.Name, meters)).To(HaveLen(1))
	inFlight := storedMetering(t, tenant.Name).InFlight
	g.Expect(inFlight).NotTo(BeNil(), "the push was written down before it was sent")
	g.Expect(inFlight.Records).To(ConsistOf(HaveField("Value", "4.2")))

	_, err = meterAt(t, r, h.Add(time.Hour+6*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	hour := h.UTC().Format("1504")
	g.Expect(pushedValues(tenant.Name, meters)).To(Equal(map[string]string{hour + " requests": "4.2"}))
	g.Expect(marketplace.usage.duplicatesOf(tenant.Name)).To(Equal(1), "the retry sent the same record, answered as a duplicate")
	m := storedMetering(t, tenant.Name)
	g.Expect(totals(m)).To(Equal(map[string]string{"requests": "4.2"}), "the total is what the marketplace holds, not a second measure")
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
	g.Expect(m.InFlight).To(BeNil())
}

func TestARetriedPackagePushKeepsItsSplitWhenARenewalChangesWhichPackagePaysFirst(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	later := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 10, ppu)
	sooner := buyPackage(t, product, customer, "pkg-1.5h", "20980101000000", 0, ppu)
	h := hourAgo(5)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 2)

	marketplace.usage.loseAnswers(ppu.Spec.InstanceID, 1)
	_, err := meterAt(t, r, h.Add(time.Hour), ppu.Name)
	g.Expect(err).To(MatchError(ContainSubstring("the answer was lost")))
	hour := h.UTC().Format("1504")
	charged := map[string]string{hour + " " + sooner.Spec.InstanceID: "1"}
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(charged), "the package expiring sooner paid, and the marketplace holds it")

	// The renewal: the package that paid now expires after the other.
	renewed := metav1.NewTime(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	updateTenant(t, sooner.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &renewed })
	g.Eventually(func(g Gomega) {
		cached := &saasv1alpha1.SaaSTenant{}
		g.Expect(cachedClient.Get(testContext(t), client.ObjectKey{Name: sooner.Name}, cached)).To(Succeed())
		g.Expect(cached.Status.ExpireTime).NotTo(BeNil())
		g.Expect(cached.Status.ExpireTime.Time).To(BeTemporally("==", renewed.Time))
	}).Should(Succeed())

	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(charged), "the retry sent what was sent, not a second charge to the other package")
	m := storedMetering(t, ppu.Name)
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{later.Name: "0", sooner.Name: "1"}), "the ledger agrees with the marketplace")
	g.Expect(m.InFlight).To(BeNil())

	_, err = meterAt(t, r, h.Add(2*time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ledgerConsumed(storedMetering(t, ppu.Name))).To(Equal(map[string]string{later.Name: "1", sooner.Name: "1"}),
		"from the next window on, the renewal's order holds: the package now expiring sooner pays first")
}

// An in-flight push whose hours passed the marketplace's 21 days (its
// answer lost, then the controllers down for weeks; here, a push the
// marketplace already finds too old) is cut like any other hours: the
// marketplace refuses a whole push with one such record (MKT.9004), so
// resending it as it was would block every later hour.
func TestAnInFlightPushPastTheTwentyOneDaysIsCutNotResentForEver(t *testing.T) {
	g := NewWithT(t)
	meters := threeMeters[:1]
	tenant := newMeteredTenant(t, meters)
	// The current hour is read once, so an hour boundary passed during the
	// test cannot move the expected PushedUntil away from the hour metered.
	end := hourAgo(0)
	start := end.Add(-22 * 24 * time.Hour)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(start))
	_, err := meterAt(t, r, start, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	// kooper's clock says the hour just ended; the marketplace's says it is
	// 22 days old, and refuses the push.
	_, err = meterAt(t, r, start.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("MKT.9004")))
	g.Expect(storedMetering(t, tenant.Name).InFlight).NotTo(BeNil())

	_, err = meterAt(t, r, end.Add(time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), "the push is not blocked by the expired in-flight hour")
	m := storedMetering(t, tenant.Name)
	g.Expect(m.InFlight).To(BeNil())
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", end))
}
