package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Scenario 9's product: the chaos product's light copy, pay-per-use with
// one tenant-hours meter, whose packages fund the buyer's pay-per-use
// tenant and freeze it when used up (docs/packages.md): plan pkg-1.5h
// holds 1.5 hours, pkg-hours one hour per unit of the order's linearValue.
const (
	packagesScenarioName = "9. packages used up across hours"
	packagesProduct      = "chaos-packages"
	packagesProductID    = "CHAOSPACKAGES000001"
	packagesBuyer        = "chaos-package-buyer"
	pkgFixedSKU          = "pkg-1.5h"
	pkgHoursSKU          = "pkg-hours"
	// packagesPushSpread is the controllers' push spread in this scenario:
	// each jump of the clock pushes at once on start anyway.
	packagesPushSpread = 2 * time.Second
	// packagesStep bounds each wait of the scenario: a link, a push, a
	// freeze.
	packagesStep = time.Minute
	// meterSlack is what the checks of frozen time allow for the metering
	// controller to see a freeze or an unfreeze after the tenant
	// controller applied it, and the 1 s resolution of conditions.
	meterSlack = 30 * time.Second
)

// packagesRun is scenario 9's state from step to step.
type packagesRun struct {
	h *harness
	r *row
	// drivers bought the orders, one each.
	drivers []*driver
	// ppu is the pay-per-use instance; packages are the packages bought,
	// by instance ID, with their quota and expiry (since is filled from
	// the ledger).
	ppu      string
	packages []ledgerPackage
	// hour is the metering clock's hour in which the pay-per-use tenant's
	// metering started; offset the metering clock's current offset.
	hour   time.Time
	offset time.Duration
	// closed counts the windows the jumps of the clock closed; jumps their
	// restarts of the controllers.
	closed int
	jumps  []time.Duration
}

// packagesUsedUp is scenario 9: a buyer's pay-per-use tenant funded by
// packages bought from the simulator (ON_DEMAND_PKG, same customerId) has
// its metering clock run ahead (the controllers restarted with a larger
// --metering-clock-offset) until the packages are used up. The usage the
// simulator receives must be the pay-per-use instance's, each record
// naming the package that pays, soonest expiry first, one hour split over
// two packages, the uncovered rest held back; the tenant must then be
// frozen (FrozenByExhaustion) and accrue nothing while frozen, and a
// third package must lift the freeze and pay for what runs after.
func packagesUsedUp(ctx context.Context, h *harness) row {
	r := row{name: packagesScenarioName, setup: "a pay-per-use tenant and, from the same buyer, packages of 2 h (bought first, expiring in 20 days) " +
		"and 1.5 h (expiring in 10); one tenant-hours meter, onExhausted Freeze; the metering clock run ahead 4 h, then 1 h while frozen, " +
		"then, after a third package (1.5 h, 30 days), 1 h more"}
	s := &packagesRun{h: h, r: &r}
	started := time.Now()
	if err := s.run(ctx); err != nil {
		r.injectionErr = err.Error()
	}
	r.notes = append(r.notes, fmt.Sprintf("the metering clock was restarted %d times (%s), closing %d windows; the scenario took %.1f s",
		len(s.jumps), roundAll(s.jumps), s.closed, time.Since(started).Seconds()))
	s.finish(ctx)
	return r
}

func (s *packagesRun) run(ctx context.Context) error {
	h := s.h
	if err := h.stack.CreateLightProduct(ctx, packagesProduct, packagesProductID, func(p *saasv1alpha1.SaaSProductSpec) {
		p.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: meterName, Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
		p.Packages = &saasv1alpha1.PackagesSpec{OnExhausted: saasv1alpha1.ExhaustedFreeze}
		p.Plans = append(p.Plans,
			saasv1alpha1.Plan{SKUCode: pkgFixedSKU, Package: &saasv1alpha1.PackageTerms{Quota: "1.5"}},
			saasv1alpha1.Plan{SKUCode: pkgHoursSKU, Package: &saasv1alpha1.PackageTerms{QuotaPerLinearValue: "1"}})
	}); err != nil {
		return fmt.Errorf("creating the packages product: %w", err)
	}
	// A quarter past the hour on the metering clock: metering starts 45
	// minutes before its first window closes, however long buying takes.
	now := time.Now()
	if err := s.setClock(ctx, now.Truncate(time.Hour).Add(15*time.Minute)); err != nil {
		return err
	}

	// The pay-per-use specification, then two packages: the longer-lived
	// first, so that the order of payment is the expiry's, not the purchase's.
	var err error
	if s.ppu, _, err = s.buy(ctx, "CHAOSPKGPAYG", basicSKU, koogallery.ChargingOnDemand, 0, time.Time{}); err != nil {
		return err
	}
	ppu, err := s.waitTenant(ctx, s.ppu, "its order resolved and metering started", func(t *saasv1alpha1.SaaSTenant) bool {
		return t.Status.Order != nil && t.Status.Order.CustomerID == packagesBuyer && t.Status.Metering != nil
	})
	if err != nil {
		return err
	}
	s.hour = ppu.Status.Metering.Since.Truncate(time.Hour)
	logf("Pay-per-use tenant %s metered since %s (metering clock)", s.ppu, stamp(ppu.Status.Metering.Since.Time))
	if _, err := s.buyPackage(ctx, "CHAOSPKGLATE", pkgHoursSKU, 2, 20); err != nil {
		return err
	}
	if _, err := s.buyPackage(ctx, "CHAOSPKGSOON", pkgFixedSKU, 0, 10); err != nil {
		return err
	}
	if _, err := s.waitLedger(ctx, 2, metav1.ConditionFalse, false); err != nil {
		return err
	}

	// Four hours pass: the first window, about 0.75 h, and three whole ones,
	// 3.75 h for 3.5 h of packages.
	if err := s.setClock(ctx, s.hour.Add(4*time.Hour+5*time.Minute)); err != nil {
		return err
	}
	s.r.inFlight.windowsOpen = len(hourWindows(ppu.Status.Metering.Since.Time, s.hour.Add(4*time.Hour)))
	s.closed += s.r.inFlight.windowsOpen
	faultStart := time.Now()
	if _, err := s.waitPushed(ctx, s.hour.Add(4*time.Hour)); err != nil {
		return err
	}
	used, err := s.waitLedger(ctx, 2, metav1.ConditionTrue, true)
	if err != nil {
		return err
	}
	if c := apimeta.FindStatusCondition(used.Status.Metering.Conditions, saasv1alpha1.PackagesExhaustedCondition); c.Reason != saasv1alpha1.PackagesUsedUpReason {
		s.r.violations = append(s.r.violations, fmt.Sprintf("PackagesExhausted=True with reason %s, not %s: %s", c.Reason, saasv1alpha1.PackagesUsedUpReason, c.Message))
	}
	frozen := apimeta.FindStatusCondition(used.Status.Conditions, saasv1alpha1.FrozenCondition)
	frozenAt := frozen.LastTransitionTime.Add(time.Second + s.offset) // on the metering clock, at the latest
	s.r.notes = append(s.r.notes, fmt.Sprintf("packages used up: PackagesExhausted=True (%s), Frozen=True (%s) at %s on the metering clock; uncovered %s",
		saasv1alpha1.PackagesUsedUpReason, saasv1alpha1.FrozenByExhaustionReason, stamp(frozenAt), uncoveredOf(used)))
	s.checkFrozenReplicas(ctx, used)
	if !s.waitMeteredAs(ctx, saasv1alpha1.StateFrozen, meterSlack) {
		s.r.violations = append(s.r.violations, fmt.Sprintf("frozen by exhaustion, %s was still metered as running %s later (its last usage segment is not Frozen)", s.ppu, meterSlack))
	}

	// An hour passes frozen: the tenant runs nothing, so it uses nothing.
	if err := s.setClock(ctx, s.hour.Add(5*time.Hour+5*time.Minute)); err != nil {
		return err
	}
	s.closed++
	stillFrozen, err := s.waitPushed(ctx, s.hour.Add(5*time.Hour))
	if err != nil {
		return err
	}
	s.checkFrozenHour(used, stillFrozen, s.hour.Add(4*time.Hour), frozenAt)

	// A third package lifts the freeze, and pays for what runs after.
	bought, err := s.buyPackage(ctx, "CHAOSPKGMORE", pkgFixedSKU, 0, 30)
	if err != nil {
		return err
	}
	lifted, err := s.waitLedger(ctx, 3, metav1.ConditionFalse, false)
	if err != nil {
		return err
	}
	s.r.recovery = time.Since(bought.at)
	s.r.notes = append(s.r.notes, fmt.Sprintf("a third package lifted the freeze %.1f s after it was acknowledged (PackagesExhausted=False: %s)",
		s.r.recovery.Seconds(), conditionMessage(lifted)))
	unfrozenAt := bought.sent.Add(s.offset) // on the metering clock, at the earliest
	// The hour must close on what the tenant runs now: metered as running
	// again before the clock moves.
	if !s.waitMeteredAs(ctx, saasv1alpha1.StateActive, packagesStep) {
		return fmt.Errorf("unfrozen, %s was not metered as running within %s", s.ppu, packagesStep)
	}
	if err := s.setClock(ctx, s.hour.Add(6*time.Hour+5*time.Minute)); err != nil {
		return err
	}
	s.closed++
	final, err := s.waitPushed(ctx, s.hour.Add(6*time.Hour))
	if err != nil {
		return err
	}
	logf("Every push landed %.1f s after the first jump of the clock", time.Since(faultStart).Seconds())
	return s.checkUsage(ctx, final, unfrozenAt)
}

// setClock restarts the controllers with the metering clock reading at
// now.
func (s *packagesRun) setClock(ctx context.Context, at time.Time) error {
	s.offset = time.Until(at).Round(time.Second)
	start := time.Now()
	if err := s.h.stack.SetMeteringClock(ctx, localstack.MeteringClock{Offset: s.offset, PushSpread: packagesPushSpread}); err != nil {
		return fmt.Errorf("restarting the controllers with the metering clock at %s: %w", stamp(at), err)
	}
	s.jumps = append(s.jumps, time.Since(start))
	logf("The metering clock reads %s (offset %s); the controllers restarted in %.1f s", stamp(at), s.offset, time.Since(start).Seconds())
	return nil
}

// buy buys one order of the packages product as the marketplace does
// (registered with the simulator, then newInstance, retried until
// acknowledged) and returns the instance ID answered and the
// acknowledging answer.
func (s *packagesRun) buy(ctx context.Context, orderID, sku, mode string, linearValue int, expire time.Time) (string, answer, error) {
	d := s.h.newDriver()
	d.receivers, d.productID, d.skuCode, d.chargingMode = s.h.productURLs(packagesProduct), packagesProductID, sku, mode
	d.customer, d.linearValue = packagesBuyer, linearValue
	if !expire.IsZero() {
		d.expireTime = expire.UTC().Format("20060102150405")
	}
	s.drivers = append(s.drivers, d)
	o := d.newOrder(orderID)
	ctx, cancel := context.WithTimeout(ctx, packagesStep)
	defer cancel()
	d.buy(ctx, o)
	a, ok := o.ack()
	if !ok || a.instanceID == "" {
		return "", a, fmt.Errorf("order %s (%s, %s) was not acknowledged with an instance ID within %s", orderID, mode, sku, packagesStep)
	}
	return a.instanceID, a, nil
}

// buyPackage buys a package of plan sku expiring in days, waits until it
// funds the pay-per-use tenant, with no namespace of its own, and returns
// the answer that acknowledged it.
func (s *packagesRun) buyPackage(ctx context.Context, orderID, sku string, linearValue, days int) (answer, error) {
	expire := time.Now().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
	id, ack, err := s.buy(ctx, orderID, sku, koogallery.ChargingOnDemandPackage, linearValue, expire)
	if err != nil {
		return ack, err
	}
	pkg, err := s.waitTenant(ctx, id, "funding "+s.ppu+" and Ready", func(t *saasv1alpha1.SaaSTenant) bool {
		return t.Status.Package != nil && t.Status.Package.FundsInstanceID != "" &&
			apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	})
	if err != nil {
		return ack, err
	}
	quota, _ := koogallery.ParseUsageUnits(pkg.Status.Package.Quota)
	s.packages = append(s.packages, ledgerPackage{instanceID: id, quota: quota, expire: expire})
	logf("Package %s (%s, quota %s, expiring %s) funds %s", id, sku, pkg.Status.Package.Quota, expire.UTC().Format(time.DateOnly), pkg.Status.Package.FundsInstanceID)
	if got := pkg.Status.Package.FundsInstanceID; got != s.ppu {
		s.r.violations = append(s.r.violations, fmt.Sprintf("package %s funds %s, not the buyer's pay-per-use instance %s", id, got, s.ppu))
	}
	if pkg.Status.Namespace != "" {
		s.r.violations = append(s.r.violations, fmt.Sprintf("package %s has namespace %s: a package is a record only", id, pkg.Status.Namespace))
	}
	product := &saasv1alpha1.SaaSProduct{}
	if err := s.h.stack.Client.Get(ctx, client.ObjectKey{Name: packagesProduct}, product); err != nil {
		return ack, err
	}
	ns := tenantobjects.NamespaceName(product, id)
	if err := s.h.stack.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		s.r.violations = append(s.r.violations, fmt.Sprintf("package %s: namespace %s exists or cannot be read (%v)", id, ns, err))
	}
	return ack, nil
}

// waitTenant polls the tenant name until ok, for up to packagesStep.
func (s *packagesRun) waitTenant(ctx context.Context, name, what string, ok func(*saasv1alpha1.SaaSTenant) bool) (*saasv1alpha1.SaaSTenant, error) {
	t := &saasv1alpha1.SaaSTenant{}
	var err error
	if waitUntil(ctx, packagesStep, func() bool {
		err = s.h.stack.Client.Get(ctx, client.ObjectKey{Name: name}, t)
		return err == nil && ok(t)
	}) {
		return t, nil
	}
	return t, fmt.Errorf("tenant %s was not %s within %s (last read: %v; conditions %s)", name, what, packagesStep, err, conditionsOf(t))
}

// waitLedger waits until the pay-per-use tenant's ledger lists n packages,
// PackagesExhausted has status exhausted, and the tenant is frozen by
// exhaustion or not as frozen says (Ready again when not).
func (s *packagesRun) waitLedger(ctx context.Context, n int, exhausted metav1.ConditionStatus, frozen bool) (*saasv1alpha1.SaaSTenant, error) {
	what := fmt.Sprintf("with %d packages in its ledger, PackagesExhausted=%s and ", n, exhausted)
	if frozen {
		what += "Frozen=True (" + saasv1alpha1.FrozenByExhaustionReason + ")"
	} else {
		what += "not frozen, Ready"
	}
	t, err := s.waitTenant(ctx, s.ppu, what, func(t *saasv1alpha1.SaaSTenant) bool {
		m := t.Status.Metering
		if m == nil || len(m.Packages) != n || !conditionIs(m.Conditions, saasv1alpha1.PackagesExhaustedCondition, exhausted) {
			return false
		}
		f := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.FrozenCondition)
		if frozen {
			return f != nil && f.Status == metav1.ConditionTrue && f.Reason == saasv1alpha1.FrozenByExhaustionReason
		}
		return f == nil && apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	})
	if err != nil {
		return t, err
	}
	for _, b := range t.Status.Metering.Packages {
		for i := range s.packages {
			if s.packages[i].instanceID == b.InstanceID {
				s.packages[i].since = b.Since.Time
			}
		}
	}
	return t, nil
}

// waitPushed waits until the pay-per-use tenant's usage is pushed up to
// until (status.metering.pushedUntil, moved once the marketplace accepted).
func (s *packagesRun) waitPushed(ctx context.Context, until time.Time) (*saasv1alpha1.SaaSTenant, error) {
	return s.waitTenant(ctx, s.ppu, "pushed up to "+stamp(until), func(t *saasv1alpha1.SaaSTenant) bool {
		m := t.Status.Metering
		return m != nil && m.PushedUntil != nil && !m.PushedUntil.Time.Before(until)
	})
}

// waitMeteredAs waits up to timeout until the metering controller has seen
// the pay-per-use tenant in state: its last usage segment's.
func (s *packagesRun) waitMeteredAs(ctx context.Context, state saasv1alpha1.SubscriptionState, timeout time.Duration) bool {
	return waitUntil(ctx, timeout, func() bool {
		t := &saasv1alpha1.SaaSTenant{}
		if s.h.stack.Client.Get(ctx, client.ObjectKey{Name: s.ppu}, t) != nil || t.Status.Metering == nil || len(t.Status.Metering.Segments) == 0 {
			return false
		}
		segments := t.Status.Metering.Segments
		return segments[len(segments)-1].State == state
	})
}

// checkFrozenReplicas checks that the freeze stopped the workload.
func (s *packagesRun) checkFrozenReplicas(ctx context.Context, t *saasv1alpha1.SaaSTenant) {
	if t.Status.Namespace == "" {
		return
	}
	if !waitUntil(ctx, packagesStep, func() bool {
		list := &appsv1.DeploymentList{}
		if s.h.stack.Client.List(ctx, list, client.InNamespace(t.Status.Namespace)) != nil || len(list.Items) == 0 {
			return false
		}
		for _, d := range list.Items {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
				return false
			}
		}
		return true
	}) {
		s.r.violations = append(s.r.violations, fmt.Sprintf("%s is frozen by exhaustion but its Deployments in %s still run replicas", s.ppu, t.Status.Namespace))
	}
}

// checkFrozenHour checks the window [from, from+1h), in which the tenant
// was frozen by exhaustion from frozenAt (metering clock, at the latest):
// only what ran before the freeze is usage, and none of it is covered.
func (s *packagesRun) checkFrozenHour(before, after *saasv1alpha1.SaaSTenant, from, frozenAt time.Time) {
	grew := uncoveredOf(after) - uncoveredOf(before)
	ran := frozenAt.Add(meterSlack).Sub(from)
	limit := koogallery.UsageUnits(ran.Hours() * koogallery.UnitsPerOne)
	s.r.notes = append(s.r.notes, fmt.Sprintf("the hour %s, frozen from %s: %s hours uncovered (held back), at most %s expected for the %s it ran",
		windowName([2]time.Time{from, from.Add(time.Hour)}), stamp(frozenAt), grew, limit, ran.Round(time.Second)))
	if grew > limit {
		s.r.violations = append(s.r.violations, fmt.Sprintf("frozen by exhaustion from %s, the tenant was metered %s hours in %s: a stopped tenant was billed as running",
			stamp(frozenAt), grew, windowName([2]time.Time{from, from.Add(time.Hour)})))
	}
	if !apimeta.IsStatusConditionTrue(after.Status.Conditions, saasv1alpha1.FrozenCondition) {
		s.r.violations = append(s.r.violations, "the tenant was unfrozen without a new package")
	}
}

// checkUsage reads what the simulator received and checks it against the
// packages and the tenant's ledger; unfrozenAt is when the third package
// could lift the freeze at the earliest (metering clock).
func (s *packagesRun) checkUsage(ctx context.Context, t *saasv1alpha1.SaaSTenant, unfrozenAt time.Time) error {
	records, err := s.usageOf(ctx, s.ppu)
	if err != nil {
		return err
	}
	s.r.answeredInFault = len(records)
	for _, p := range s.packages {
		own, err := s.usageOf(ctx, p.instanceID)
		if err != nil {
			return err
		}
		for _, rec := range own {
			s.r.violations = append(s.r.violations, fmt.Sprintf("record %s names package %s as its instance_id", rec.MeteringSN, rec.InstanceID))
		}
	}
	v := checkPackageRecords(s.ppu, meterName, s.packages, records)
	s.r.violations = append(s.r.violations, v.problems...)
	s.r.notes = append(s.r.notes, fmt.Sprintf("the simulator received %d records, all for %s: %v", len(records), s.ppu, v.byWindow))
	late, soon, more := s.packages[0], s.packages[1], s.packages[2]
	var split []string
	for _, w := range v.splits {
		if slices.Contains(w.packages, soon.instanceID) && slices.Contains(w.packages, late.instanceID) {
			split = append(split, w.name)
		}
	}
	if len(split) != 1 {
		s.r.violations = append(s.r.violations, fmt.Sprintf("%d windows were split over %s and %s, one expected: %v", len(split), soon.instanceID, late.instanceID, split))
	}
	for _, p := range []ledgerPackage{soon, late} {
		if v.paid[p.instanceID] != p.quota {
			s.r.violations = append(s.r.violations, fmt.Sprintf("package %s paid for %s of its %s before the freeze", p.instanceID, v.paid[p.instanceID], p.quota))
		}
	}
	// The third package pays for the hour after it lifted the freeze, and
	// only for what ran of it.
	last := s.hour.Add(5 * time.Hour)
	ran := last.Add(time.Hour).Sub(unfrozenAt) + 2*time.Second // segments start on whole seconds
	limit := koogallery.UsageUnits(ran.Hours() * koogallery.UnitsPerOne)
	if got := v.paid[more.instanceID]; got <= 0 || got > limit {
		s.r.violations = append(s.r.violations, fmt.Sprintf("package %s paid for %s in %s, where the tenant ran at most %s after the freeze was lifted",
			more.instanceID, got, windowName([2]time.Time{last, last.Add(time.Hour)}), limit))
	}
	ledger := map[string]string{}
	for _, b := range t.Status.Metering.Packages {
		ledger[b.InstanceID] = b.Consumed
	}
	for _, p := range s.packages {
		if want := v.paid[p.instanceID].String(); ledger[p.instanceID] != want {
			s.r.violations = append(s.r.violations, fmt.Sprintf("the ledger says %s consumed %q, the marketplace holds %s", p.instanceID, ledger[p.instanceID], want))
		}
	}
	if u := uncoveredOf(t); u <= 0 {
		s.r.violations = append(s.r.violations, "no uncovered usage counted, though the packages ran out within an hour")
	}
	s.r.notes = append(s.r.notes, fmt.Sprintf("ledger (consumed): %v; uncovered, held back: %s hours", ledger, uncoveredOf(t)))
	return nil
}

// usageOf reads the records the simulator accepted for an instance.
func (s *packagesRun) usageOf(ctx context.Context, instanceID string) ([]simUsageRecord, error) {
	var answer struct {
		Records []simUsageRecord `json:"records"`
	}
	err := s.h.simCall(ctx, http.MethodGet, "/sim/usage?instanceId="+url.QueryEscape(instanceID), "", http.StatusOK, &answer)
	return answer.Records, err
}

// finish checks the purchases: each acknowledged order is one tenant, as
// the lifecycle model says (all Active and Ready by now).
func (s *packagesRun) finish(ctx context.Context) {
	var orders []order
	for _, d := range s.drivers {
		orders = append(orders, d.snapshot()...)
	}
	tenants, market, err := settle(ctx, s.h, packagesProduct, orders, time.Minute)
	if err != nil && s.r.injectionErr == "" {
		s.r.injectionErr = "reading the tenants: " + err.Error()
	}
	// The scenario sends no FREEZE or UNFREEZE: the freezes and unfreezes
	// are the packages', checked above, not the model's transitions.
	for _, ts := range tenants {
		for i := range ts {
			ts[i].freezes, ts[i].unfreezes = 0, 0
		}
	}
	s.r.verdict = check(orders, tenants, market)
	for _, o := range orders {
		if _, ok := o.ack(); !ok {
			s.r.unacknowledged++
		}
	}
	s.r.notes = append(s.r.notes, fmt.Sprintf("the checker found %d of %d acknowledged orders as the lifecycle model says",
		s.r.verdict.applied, s.r.verdict.acknowledged))
	if restarts := s.h.takeRestarts(); len(restarts) > 0 {
		s.r.notes = append(s.r.notes, fmt.Sprintf("replicas that exited and were restarted (as the kubelet would): %v", restarts))
	}
}

func uncoveredOf(t *saasv1alpha1.SaaSTenant) koogallery.UsageUnits {
	if t.Status.Metering == nil {
		return 0
	}
	for _, u := range t.Status.Metering.Uncovered {
		if u.Name == meterName {
			units, _ := koogallery.ParseUsageUnits(u.Total)
			return units
		}
	}
	return 0
}

func conditionIs(conditions []metav1.Condition, kind string, status metav1.ConditionStatus) bool {
	c := apimeta.FindStatusCondition(conditions, kind)
	return c != nil && c.Status == status
}

func conditionMessage(t *saasv1alpha1.SaaSTenant) string {
	if t.Status.Metering == nil {
		return ""
	}
	if c := apimeta.FindStatusCondition(t.Status.Metering.Conditions, saasv1alpha1.PackagesExhaustedCondition); c != nil {
		return c.Message
	}
	return ""
}

func conditionsOf(t *saasv1alpha1.SaaSTenant) string {
	out := ""
	all := t.Status.Conditions
	if t.Status.Metering != nil {
		all = append(append([]metav1.Condition(nil), all...), t.Status.Metering.Conditions...)
	}
	for _, c := range all {
		out += fmt.Sprintf("%s=%s(%s) ", c.Type, c.Status, c.Reason)
	}
	return out
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.1f s", d.Seconds()))
	}
	return out
}
