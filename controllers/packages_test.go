package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// Stop-when-used-up packages (docs/packages.md) against envtest: the real
// tenant controller links packages and applies the freeze; the metering
// reconciler runs by hand on a fake clock, so hours pass in an instant.

// packagesProduct is a pay-per-use product metered in hours whose packages
// fund its tenants: plan pkg-1.5h holds 1.5 hours, pkg-hours one hour per
// unit of the order's linearValue.
func packagesProduct(t *testing.T, onExhausted saasv1alpha1.PackageExhaustedAction) *saasv1alpha1.SaaSProduct {
	t.Helper()
	return newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
		p.Spec.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: onExhausted}
		p.Spec.Plans = append(p.Spec.Plans,
			saasv1alpha1.Plan{SKUCode: "pkg-1.5h", Package: &saasv1alpha1.PackageTerms{Quota: "1.5"}},
			saasv1alpha1.Plan{SKUCode: "pkg-hours", Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "1"}})
	})
}

// buyPayPerUse buys the pay-per-use plan for customer, metered by hand, and
// waits for its order to be resolved and its first pass to end (see
// newPayPerUseTenant).
func buyPayPerUse(t *testing.T, product *saasv1alpha1.SaaSProduct, customer string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		tn.Labels = map[string]string{meteredByHandLabel: "true"}
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "basic", "20991231235959", koogallery.ChargingOnDemand)
		marketplace.setBuyer(tn.Spec.OrderID, customer, 0)
	})
	return eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Order).NotTo(BeNil())
		g.Expect(tn.Status.Order.CustomerID).To(Equal(customer))
		provisioned(g, tn)
	})
}

// buyPackage buys package plan sku for customer, expiring at expire
// (yyyyMMddHHmmss), and waits until it funds the tenant funded.
func buyPackage(t *testing.T, product *saasv1alpha1.SaaSProduct, customer, sku, expire string, linearValue int64, funded *saasv1alpha1.SaaSTenant) *saasv1alpha1.SaaSTenant {
	t.Helper()
	pkg := newTenant(t, product, sku, func(tn *saasv1alpha1.SaaSTenant) {
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, sku, expire, koogallery.ChargingOnDemandPackage)
		marketplace.setBuyer(tn.Spec.OrderID, customer, linearValue)
	})
	return eventuallyTenant(t, pkg.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Package).NotTo(BeNil())
		g.Expect(tn.Status.Package.FundsInstanceID).To(Equal(funded.Spec.InstanceID))
		hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, tn)
		g.Expect(tn.Status.Namespace).To(BeEmpty(), "a package has no namespace")
	})
}

// packageMetering is a metering reconciler on a fake clock that finds
// packages through the manager's cache (their index) and reads the tenant
// around it before a push, as in production.
func packageMetering(clk *clocktesting.FakeClock) (*MeteringReconciler, *events.FakeRecorder) {
	r := meteringAt(k8sClient, clk)
	r.Client = cachedClient
	recorder := events.NewFakeRecorder(32)
	r.Recorder = recorder
	return r, recorder
}

// meterUntil reconciles at the given time until check passes on the
// tenant's stored metering (the cache may lag a package's link, a freeze
// or an unfreeze).
func meterUntil(t *testing.T, r *MeteringReconciler, at time.Time, name string, check func(g Gomega, m *saasv1alpha1.TenantMetering)) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		_, err := meterAt(t, r, at, name)
		g.Expect(err).NotTo(HaveOccurred())
		m := storedMetering(t, name)
		g.Expect(m).NotTo(BeNil())
		check(g, m)
	}).Should(Succeed())
}

// meterUntilLedger meters until the tenant's ledger lists n packages.
func meterUntilLedger(t *testing.T, r *MeteringReconciler, at time.Time, name string, n int) {
	t.Helper()
	meterUntil(t, r, at, name, func(g Gomega, m *saasv1alpha1.TenantMetering) { g.Expect(m.Packages).To(HaveLen(n)) })
}

// meterUntilState meters until the tenant's last usage segment is in state.
func meterUntilState(t *testing.T, r *MeteringReconciler, at time.Time, name string, state saasv1alpha1.SubscriptionState) {
	t.Helper()
	meterUntil(t, r, at, name, func(g Gomega, m *saasv1alpha1.TenantMetering) {
		g.Expect(m.Segments).NotTo(BeEmpty())
		g.Expect(m.Segments[len(m.Segments)-1].State).To(Equal(state))
	})
}

// recordsByPackage maps "window-begin package" to usage_value for the
// instance's records (window-begin as HHmm); an uncovered record has
// package "-".
func recordsByPackage(instance string) map[string]string {
	out := map[string]string{}
	records := marketplace.usage.of(instance)
	for _, rec := range records {
		pkg := rec.RelatePkgInstance
		if pkg == "" {
			pkg = "-"
		}
		out[windowBegin(records, rec).UTC().Format("1504")+" "+pkg] = rec.UsageValue
	}
	return out
}

func ledgerConsumed(m *saasv1alpha1.TenantMetering) map[string]string {
	out := map[string]string{}
	for _, b := range m.Packages {
		out[b.InstanceID] = b.Consumed
	}
	return out
}

func exhaustedCondition(g Gomega, m *saasv1alpha1.TenantMetering, status metav1.ConditionStatus, reason string) {
	g.Expect(m.Conditions).To(ContainElement(And(
		HaveField("Type", saasv1alpha1.PackagesExhaustedCondition), HaveField("Status", status), HaveField("Reason", reason))))
}

func TestPackagesPaySoonestExpiringFirstThenRunOutThenANewOneCovers(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	id := ppu.Spec.InstanceID
	late := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 3, ppu)
	soon := buyPackage(t, product, customer, "pkg-1.5h", "20990101000000", 0, ppu)
	g.Expect(late.Status.Package.Quota).To(Equal("3"), "quotaPerLinearValue × linearValue")
	g.Expect(soon.Status.Package.Quota).To(Equal("1.5"))

	h := hourAgo(8)
	r, recorder := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 2)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason)

	for hour := 1; hour <= 5; hour++ {
		_, err := meterAt(t, r, h.Add(time.Duration(hour)*time.Hour), ppu.Name)
		g.Expect(err).NotTo(HaveOccurred())
	}
	hh := func(n int) string { return h.Add(time.Duration(n) * time.Hour).UTC().Format("1504") }
	g.Expect(recordsByPackage(id)).To(Equal(map[string]string{
		hh(0) + " " + soon.Name: "1",
		hh(1) + " " + soon.Name: "0.5", hh(1) + " " + late.Name: "0.5", // one hour split over two packages
		hh(2) + " " + late.Name: "1",
		hh(3) + " " + late.Name: "1",
		hh(4) + " " + late.Name: "0.5", // the rest of that hour is uncovered, and not pushed
	}))
	m := storedMetering(t, ppu.Name)
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{soon.Name: "1.5", late.Name: "3"}))
	g.Expect(m.Uncovered).To(ConsistOf(saasv1alpha1.MeterUsage{Name: "duration", Total: "0.5"}))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "4.5"}), "what the marketplace accepted")
	exhaustedCondition(g, m, metav1.ConditionTrue, saasv1alpha1.PackagesUsedUpReason)
	g.Expect(drain(recorder)).To(ContainElement(HavePrefix("Warning PackagesExhausted")))
	frozen := eventuallyTenant(t, ppu.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.FrozenCondition)), "Report does not freeze")
	})
	g.Expect(frozen.Spec.State).To(Equal(saasv1alpha1.StateActive))

	// A new package: quota again from the moment kooper enters it.
	fresh := buyPackage(t, product, customer, "pkg-1.5h", "20990601000000", 0, ppu)
	meterUntilLedger(t, r, h.Add(5*time.Hour+10*time.Minute), ppu.Name, 3)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason)
	g.Expect(drain(recorder)).To(ContainElement(HavePrefix("Normal QuotaLeft")))
	_, err := meterAt(t, r, h.Add(6*time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recordsByPackage(id)).To(HaveKeyWithValue(hh(5)+" "+fresh.Name, "1"))
	g.Expect(ledgerConsumed(storedMetering(t, ppu.Name))).To(HaveKeyWithValue(fresh.Name, "1"))
	g.Expect(marketplace.usage.of(id)).To(HaveEach(HaveField("InstanceID", id)), "every record is the pay-per-use instance's")
}

func TestUsedUpPackagesFreezeWhenTheProductSaysSoAndANewPackageUnfreezes(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedFreeze)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	eventuallyTenant(t, ppu.Name, provisioned)
	ns := "tenant-" + ppu.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))

	h := hourAgo(3)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 0)
	exhaustedCondition(g, storedMetering(t, ppu.Name), metav1.ConditionTrue, saasv1alpha1.NoPackageReason)
	frozen := eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExhaustionReason))
	// A trial read the same message as any freeze's: it says why now.
	g.Expect(apimeta.FindStatusCondition(frozen.Status.Conditions, saasv1alpha1.ReadyCondition).Message).To(ContainSubstring("no package that funds this tenant has any left"))
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	meterUntilState(t, r, h.Add(time.Minute), ppu.Name, saasv1alpha1.StateFrozen)

	pkg := buyPackage(t, product, customer, "pkg-1.5h", "20991231235959", 0, ppu)
	meterUntilLedger(t, r, h.Add(2*time.Minute), ppu.Name, 1)
	eventuallyTenant(t, ppu.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.FrozenCondition)))
	})
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))

	// Frozen, the tenant ran nothing and is billed nothing: the hour is the
	// minute before the freeze and the half hour after it was lifted.
	meterUntilState(t, r, h.Add(30*time.Minute), ppu.Name, saasv1alpha1.StateActive)
	_, err := meterAt(t, r, h.Add(time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(map[string]string{h.UTC().Format("1504") + " " + pkg.Name: "0.5167"}))

	// A marketplace freeze is not the packages' to lift.
	updateTenant(t, ppu.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, ppu.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
}

// drain returns the events recorded so far.
func drain(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, strings.TrimSpace(e))
		default:
			return out
		}
	}
}

// A package bought before the buyer's pay-per-use tenant waits for it,
// and links the moment that tenant's order is resolved (not at its next
// look, minutes later).
func TestAPackageBoughtFirstWaitsThenFundsTheBuyersFirstPayPerUseTenant(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	early := newTenant(t, product, "pkg-1.5h", func(tn *saasv1alpha1.SaaSTenant) {
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "pkg-1.5h", "20991231235959", koogallery.ChargingOnDemandPackage)
		marketplace.setBuyer(tn.Spec.OrderID, customer, 0)
	})
	waiting := eventuallyTenant(t, early.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.WaitingForPayPerUseTenantReason))
	g.Expect(waiting.Status.Package.FundsInstanceID).To(BeEmpty())
	g.Expect(waiting.Status.Namespace).To(BeEmpty())

	other := buyPayPerUse(t, product, fmt.Sprintf("buyer-%d", tenantSeq.Add(1)))
	ppu := buyPayPerUse(t, product, customer)
	g.Eventually(func(g Gomega) {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: early.Name}, tn)).To(Succeed())
		g.Expect(tn.Status.Package.FundsInstanceID).To(Equal(ppu.Spec.InstanceID), "another buyer's tenant %s is not funded", other.Name)
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// With spec.packages.uncovered Push, usage no package covers is pushed as
// plain pay-per-use usage (no relate_pkg_instance) and not held back.
func TestUncoveredUsageIsPushedWithoutAPackageWhenTheProductSaysSo(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
		p.Spec.Packages = &saasv1alpha1.PackagesSpec{Uncovered: saasv1alpha1.UncoveredPush}
	})
	ppu := buyPayPerUse(t, product, fmt.Sprintf("buyer-%d", tenantSeq.Add(1)))
	h := hourAgo(4)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 0)
	_, err := meterAt(t, r, h.Add(2*time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	hh := func(n int) string { return h.Add(time.Duration(n) * time.Hour).UTC().Format("1504") }
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(map[string]string{hh(0) + " -": "1", hh(1) + " -": "1"}))
	m := storedMetering(t, ppu.Name)
	g.Expect(m.Uncovered).To(BeEmpty())
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "2"}))
	exhaustedCondition(g, m, metav1.ConditionTrue, saasv1alpha1.NoPackageReason)
}

// A push the marketplace accepted but whose status write was lost (a crash
// between the two) is pushed again with the same records, even when a
// package that would pay first arrived meanwhile: it pays only for windows
// that end after kooper entered it (docs/packages.md decision 6).
func TestAPushRepeatedAfterACrashSplitsAsTheFirstDidWhenAPackageArrivedBetween(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	first := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 10, ppu)
	h := hourAgo(5)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 1)
	beforePush := storedMetering(t, ppu.Name)

	_, err := meterAt(t, r, h.Add(time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	pushed := recordsByPackage(ppu.Spec.InstanceID)
	g.Expect(pushed).To(HaveLen(1))

	// The crash: the status is as it was before the push.
	g.Eventually(func() error {
		tn := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: ppu.Name}, tn); err != nil {
			return err
		}
		tn.Status.Metering = beforePush.DeepCopy()
		return k8sClient.Status().Update(testContext(t), tn)
	}).Should(Succeed())
	sooner := buyPackage(t, product, customer, "pkg-1.5h", "20980101000000", 0, ppu)

	meterUntilLedger(t, r, h.Add(time.Hour+5*time.Minute), ppu.Name, 2)
	g.Expect(recordsByPackage(ppu.Spec.InstanceID)).To(Equal(pushed), "the same record again, answered as a duplicate")
	g.Expect(ledgerConsumed(storedMetering(t, ppu.Name))).To(Equal(map[string]string{first.Name: "1", sooner.Name: "0"}))

	_, err = meterAt(t, r, h.Add(2*time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ledgerConsumed(storedMetering(t, ppu.Name))).To(Equal(map[string]string{first.Name: "1", sooner.Name: "1"}),
		"from the next window on, the package expiring sooner pays first")
}

// A package order whose plan holds nothing stalls with a reason that says
// so, and provisions nothing.
func TestAPackageOnAPlanWithoutPackageTermsStalls(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	pkg := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) {
		marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "basic", "20991231235959", koogallery.ChargingOnDemandPackage)
	})
	stalled := eventuallyTenant(t, pkg.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.NoPackageTermsReason))
	g.Expect(stalled.Status.Namespace).To(BeEmpty())
	g.Expect(stalled.Status.Package).To(BeNil())
}

// A package runs nothing: a trial's rollout of a new image put package
// records in its waves, where they never became healthy, and paused. A
// rollout covers the pay-per-use tenants alone and completes.
func TestARolloutSkipsPackages(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromInt32(1)), ProgressDeadlineSeconds: ptr.To(int32(600))}
	})
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	eventuallyTenant(t, ppu.Name, provisioned)
	markAvailable(t, "tenant-"+ppu.Name)
	pkg := buyPackage(t, product, customer, "pkg-1.5h", "20991231235959", 0, ppu)
	g.Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.Progress).To(Equal("1/1"), "the package is not a tenant to roll out")
	}).Should(Succeed())

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.0" })
	g.Eventually(func(g Gomega) {
		g.Expect(imageOf(g, t, ppu.Name)).To(Equal("registry.example.com/crm:2.0"))
		markAvailableIfNot(t, g, "tenant-"+ppu.Name)
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.Progress).To(Equal("1/1"))
		g.Expect(c.Message).NotTo(ContainSubstring(pkg.Name))
	}).Should(Succeed())
}

// A trial released the buyer's pay-per-use tenant and bought another: the
// package stayed with the released one, and the new one froze for want of
// a package. Once the released tenant's last usage is pushed, its packages
// fund the buyer's next pay-per-use tenant with what they have left.
func TestPackagesMoveToTheBuyersNextTenantWhenTheirsIsReleased(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	first := buyPayPerUse(t, product, customer)
	pkg := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 3, first)
	h := hourAgo(5)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, first.Name, 1)
	_, err := meterAt(t, r, h.Add(time.Hour), first.Name)
	g.Expect(err).NotTo(HaveOccurred())

	updateTenant(t, first.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	meterUntil(t, r, h.Add(90*time.Minute), first.Name, func(g Gomega, m *saasv1alpha1.TenantMetering) {
		g.Expect(metering.Done(m)).To(BeTrue(), "released, its last half hour pushed")
	})
	g.Expect(ledgerConsumed(storedMetering(t, first.Name))).To(Equal(map[string]string{pkg.Name: "1.5"}))

	second := buyPayPerUse(t, product, customer)
	moved := eventuallyTenant(t, pkg.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Package.FundsInstanceID).To(Equal(second.Spec.InstanceID))
	})
	g.Expect(moved.Status.Package.ConsumedBefore).To(Equal("1.5"))
	g.Expect(moved.Status.Package.ConsumedUntil).NotTo(BeNil())
	meterUntilLedger(t, r, h.Add(2*time.Hour), second.Name, 1)
	m := storedMetering(t, second.Name)
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{pkg.Name: "1.5"}), "what it paid for before stays paid")
	g.Expect(m.Packages[0].Carried).To(Equal("1.5"), "paid for by the released tenant, not this one")
	exhaustedCondition(g, m, metav1.ConditionFalse, saasv1alpha1.QuotaLeftReason)
	g.Expect(storedMetering(t, first.Name).Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.PackagesExhaustedCondition)),
		"a released tenant's packages moved on: it reports none")
}

// A backlog (500 hours of two meters: 1,000 records) holding the hour
// where one package runs out and the next takes over makes 1,001 records,
// and the push holding that hour one more than its windows' meters: the
// push client refused such a batch before sending it, on every retry,
// until the 21-day cut dropped the hours (at a limit of 1,000 records, a
// single push of 1,001). The batch is cut to the windows that fit the
// limit (100 records by default), and the rest is pushed next, split from
// what the earlier pushes left in the ledger.
func TestAPushWhereAPackageRunsOutStaysWithinTheLimit(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{
			{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours},
			{Name: "replicas", Unit: "replica-hour", Source: saasv1alpha1.MeterReplicaHours},
		}}
		p.Spec.Packages = &saasv1alpha1.PackagesSpec{Meter: "duration"}
		p.Spec.Plans = append(p.Spec.Plans,
			saasv1alpha1.Plan{SKUCode: "pkg-1.5h", Package: &saasv1alpha1.PackageTerms{Quota: "1.5"}},
			saasv1alpha1.Plan{SKUCode: "pkg-hours", Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "1"}})
	})
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	// 499 hours: with the first package's 1.5, half an hour to spare.
	late := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 499, ppu)
	soon := buyPackage(t, product, customer, "pkg-1.5h", "20990101000000", 0, ppu)

	// The current hour is read once: 500 hours from h to end whatever hour
	// boundary passes while they are pushed.
	end := hourAgo(0)
	h := end.Add(-500 * time.Hour)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 2)
	_, err := meterAt(t, r, end.Add(time.Minute), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())

	m := storedMetering(t, ppu.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", end), "every closed hour pushed")
	g.Expect(marketplace.usage.of(ppu.Spec.InstanceID)).To(HaveLen(1001))
	g.Expect(ledgerConsumed(m)).To(Equal(map[string]string{soon.Name: "1.5", late.Name: "498.5"}))
	g.Expect(m.Uncovered).To(BeEmpty(), "the last hour split from what the first push left, not from what building it deducted")
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "500", "replicas": "500"}))
}
