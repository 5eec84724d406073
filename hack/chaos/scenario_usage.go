package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/localstack"
)

// Scenario 6's product: the chaos product's light copy, pay-per-use, with
// one built-in meter (tenant-hours, which needs no Prometheus), so that
// every window of a tenant yields exactly one record.
const (
	usageScenarioName = "6. usage API down across an hour boundary"
	meteredProduct    = "chaos-metered"
	meteredProductID  = "CHAOSMETERED0000001"
	meterName         = "duration"
)

// usageConfig sizes scenario 6.
type usageConfig struct {
	// tenants are the pay-per-use purchases metered.
	tenants int
	// hourIn is how long after the scenario starts the metering clock's
	// hour falls: time to restart the controllers, buy, and start metering.
	hourIn time.Duration
	// before and after place the usage API's outage around the hour.
	before, after time.Duration
	// pushSpread is the controllers' push spread after each hour (5 min
	// in production): every tenant's first push must fall in the outage.
	pushSpread time.Duration
	// settle bounds the wait, after the outage, for every window to be
	// pushed.
	settle time.Duration
}

// sized fills in the defaults: 20 tenants (10 with -short), an outage from
// 10 s before the hour to 30 s after it, pushes spread over 20 s: every
// tenant's first push falls in the outage, and is retried with the
// controllers' backoff (5 ms doubling) about ten times before it ends.
func (u usageConfig) sized(short bool) usageConfig {
	u.hourIn, u.before, u.after, u.pushSpread, u.settle = 50*time.Second, 10*time.Second, 30*time.Second, 20*time.Second, 3*time.Minute
	if u.tenants == 0 {
		u.tenants = 20
		if short {
			u.tenants = 10
		}
	}
	return u
}

// meteringHour is the hour the scenario meters across: on the metering
// clock, and when it falls on the real one.
type meteringHour struct {
	metered, real time.Time
	offset        time.Duration
}

// usageOutageAcrossTheHour is scenario 6: pay-per-use tenants are metered,
// the usage API fails from a little before an hour boundary of the
// metering clock until after it (HTTP 500 MKT.0999, nothing stored), then
// recovers; every window each tenant closed must then be pushed exactly
// once, and its status must agree.
func usageOutageAcrossTheHour(ctx context.Context, h *harness) row {
	u := h.cfg.usage
	r := row{name: usageScenarioName, setup: fmt.Sprintf("%d pay-per-use tenants, one tenant-hours meter; usage API down from %s before "+
		"the metering clock's hour to %s after it; pushes spread over %s after the hour", u.tenants, u.before, u.after, u.pushSpread)}
	if err := h.stack.CreateLightProduct(ctx, meteredProduct, meteredProductID, func(p *saasv1alpha1.SaaSProductSpec) {
		p.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: meterName, Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
	}); err != nil {
		r.injectionErr = "creating the metered product: " + err.Error()
		return r
	}
	hour, err := h.placeMeteringHour(ctx, u)
	if err != nil {
		r.injectionErr = "restarting the controllers with the metering clock: " + err.Error()
		return r
	}
	logf("The metering clock's %s falls at %s (offset %s)", hour.metered.Format("15:04"), hour.real.Format("15:04:05"), hour.offset)
	t := h.buyMetered(ctx, u)

	// Strike before the hour with every acknowledged tenant metered.
	faultAt := hour.real.Add(-u.before)
	if waitUntil(ctx, time.Until(faultAt), func() bool {
		tenants, err := h.meteredTenants(ctx)
		return err == nil && t.driver.acknowledgedCount() == u.tenants && startedBefore(tenants, hour.metered) == u.tenants
	}) {
		logf("Every tenant is metered, %.1f s before the outage", time.Until(faultAt).Seconds())
	}
	pause(ctx, time.Until(faultAt))
	leader, _, _ := h.leader(ctx)
	r.inFlight = h.measureInFlight(ctx, t.driver, leader)
	tenants, _ := h.meteredTenants(ctx)
	r.inFlight.windowsOpen = startedBefore(tenants, hour.metered)
	before, err := h.usageOutage(ctx, u.before+u.after)
	if err != nil {
		r.injectionErr = "starting the usage API's outage: " + err.Error()
	}
	faultStart := time.Now()
	logf("Usage API down for %s with %s in flight", u.before+u.after, r.inFlight)
	pause(ctx, time.Until(hour.real.Add(u.after)))
	waitUntil(ctx, 5*time.Second, func() bool {
		state, err := h.outageState(ctx)
		return err == nil && !state.Active
	})
	faultEnd := time.Now()
	after, err := h.outageState(ctx)
	if err != nil {
		r.injectionErr = "reading the outage's counts: " + err.Error()
	}
	refused := after.RefusedPushes - before.RefusedPushes
	r.answeredInFault, r.failedInFault = refused, refused
	r.notes = append(r.notes, fmt.Sprintf("the metering clock was moved by %s, so its %s fell at %s; the usage API was down %.1f s",
		hour.offset.Round(time.Second), hour.metered.Format("15:04"), hour.real.Format("15:04:05"), faultEnd.Sub(faultStart).Seconds()),
		fmt.Sprintf("pushes refused during the outage (HTTP 500 MKT.0999): %d, carrying %d records; the columns' callbacks are these pushes",
			refused, after.RefusedRecords-before.RefusedRecords))

	pushedAt, pushed := h.waitAllPushed(ctx, hour.metered, faultEnd.Add(u.settle))
	orders := t.wait()
	r.finishUsage(ctx, h, orders, hour.metered)
	if pushed && pushedAt.After(faultStart) {
		r.recovery = pushedAt.Sub(faultStart)
	}
	return r
}

// placeMeteringHour restarts the controllers with the metering clock moved
// so that an hour of it falls u.hourIn from now (the nearest whole hour,
// so the offset stays within ±30 min).
func (h *harness) placeMeteringHour(ctx context.Context, u usageConfig) (meteringHour, error) {
	actual := time.Now().Add(u.hourIn).Truncate(time.Second)
	metered := actual.Round(time.Hour)
	hour := meteringHour{metered: metered, real: actual, offset: metered.Sub(actual)}
	return hour, h.stack.SetMeteringClock(ctx, localstack.MeteringClock{Offset: hour.offset, PushSpread: u.pushSpread})
}

// buyMetered buys u.tenants pay-per-use orders of the metered product at
// 20/s, retried as the other scenarios' purchases are.
func (h *harness) buyMetered(ctx context.Context, u usageConfig) *traffic {
	ctx, cancel := context.WithTimeout(ctx, u.hourIn+u.after+u.settle)
	d := h.newDriver()
	d.receivers, d.productID, d.chargingMode = h.productURLs(meteredProduct), meteredProductID, koogallery.ChargingOnDemand
	t := &traffic{driver: d, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(t.done)
		d.run(ctx, "CHAOSUSAGE", u.tenants, 20)
	}()
	return t
}

// productURLs are a product's production URLs on each receiver replica.
func (h *harness) productURLs(product string) []string {
	var urls []string
	for _, u := range h.stack.ReceiverURLs() {
		urls = append(urls, strings.TrimSuffix(u, localstack.Product)+product)
	}
	return urls
}

// meteredTenants reads the metered product's tenants and their metering.
func (h *harness) meteredTenants(ctx context.Context) ([]meteredTenant, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := h.stack.Client.List(ctx, list); err != nil {
		return nil, err
	}
	var out []meteredTenant
	for _, t := range list.Items {
		if t.Spec.ProductName != meteredProduct {
			continue
		}
		mt := meteredTenant{name: t.Name, instanceID: t.Spec.InstanceID}
		if m := t.Status.Metering; m != nil {
			mt.since = m.Since.Time
			if m.PushedUntil != nil {
				mt.pushedUntil = m.PushedUntil.Time
			}
			for _, total := range m.Meters {
				if total.Name == meterName {
					units, _ := koogallery.ParseUsageUnits(total.Total)
					mt.totalUnits = int64(units)
				}
			}
		}
		out = append(out, mt)
	}
	return out, nil
}

// startedBefore counts the tenants whose metering started before hour.
func startedBefore(tenants []meteredTenant, hour time.Time) int {
	n := 0
	for _, t := range tenants {
		if !t.since.IsZero() && t.since.Before(hour) {
			n++
		}
	}
	return n
}

// waitAllPushed polls until every tenant metered before hour has pushed up
// to it, or deadline; it returns when that was seen (1 s resolution).
func (h *harness) waitAllPushed(ctx context.Context, hour, deadline time.Time) (time.Time, bool) {
	done := waitUntil(ctx, time.Until(deadline), func() bool {
		tenants, err := h.meteredTenants(ctx)
		if err != nil {
			return false
		}
		for _, t := range tenants {
			if !t.since.IsZero() && t.since.Before(hour) && t.pushedUntil.Before(hour) {
				return false
			}
		}
		return true
	})
	return time.Now(), done
}

// finishUsage checks the purchases (each acknowledged one a Ready tenant)
// and the usage (each window closed before hour pushed exactly once), and
// fills the row.
func (r *row) finishUsage(ctx context.Context, h *harness, orders []order, hour time.Time) {
	tenants, market, err := settle(ctx, h, meteredProduct, orders, time.Minute)
	if err != nil {
		r.injectionErr = "reading the tenants: " + err.Error()
	}
	r.verdict = check(orders, tenants, market)
	for _, o := range orders {
		if _, ok := o.ack(); !ok {
			r.unacknowledged++
		}
	}
	metered, err := h.meteredTenants(ctx)
	if err == nil {
		var received map[string][]receivedWindow
		if received, err = h.receivedWindows(ctx); err == nil {
			v := checkUsage(metered, received, hour)
			r.verdict.lost = append(r.verdict.lost, v.lost...)
			r.verdict.duplicated = append(r.verdict.duplicated, v.duplicated...)
			r.notes = append(r.notes, fmt.Sprintf("metering windows closed by the hour: %d, pushed exactly once: %d", v.windows, v.once))
			if v.notMetered > 0 { // too slow to start: only the others' windows are checked
				r.notes = append(r.notes, fmt.Sprintf("%d tenants' metering started after the hour: no window of theirs to push", v.notMetered))
			}
			if v.windows == 0 {
				r.injectionErr = "no tenant had a metering window close during the outage"
			}
		}
	}
	if err != nil {
		r.injectionErr = "reading the usage: " + err.Error()
	}
	if restarts := h.takeRestarts(); len(restarts) > 0 {
		r.notes = append(r.notes, fmt.Sprintf("replicas that exited and were restarted (as the kubelet would): %v", restarts))
	}
}

// usageOutageState is the simulator's GET /sim/usage/outage.
type usageOutageState struct {
	Active         bool `json:"active"`
	RefusedPushes  int  `json:"refusedPushes"`
	RefusedRecords int  `json:"refusedRecords"`
}

// usageOutage starts an outage of the usage API for d and returns the
// counts before it.
func (h *harness) usageOutage(ctx context.Context, d time.Duration) (usageOutageState, error) {
	before, err := h.outageState(ctx)
	if err != nil {
		return before, err
	}
	body, _ := json.Marshal(map[string]float64{"seconds": d.Seconds()})
	return before, h.simCall(ctx, http.MethodPost, "/sim/usage/outage", string(body), http.StatusOK, nil)
}

func (h *harness) outageState(ctx context.Context) (usageOutageState, error) {
	var s usageOutageState
	return s, h.simCall(ctx, http.MethodGet, "/sim/usage/outage", "", http.StatusOK, &s)
}

// receivedWindows reads the simulator's windows, by instance.
func (h *harness) receivedWindows(ctx context.Context) (map[string][]receivedWindow, error) {
	var answer struct {
		Instances []struct {
			InstanceID string `json:"instanceId"`
			Windows    []struct {
				BeginTime, EndTime  string
				Records, Duplicates int
				Units               int64
			} `json:"windows"`
		} `json:"instances"`
	}
	if err := h.simCall(ctx, http.MethodGet, "/sim/usage/windows", "", http.StatusOK, &answer); err != nil {
		return nil, err
	}
	out := map[string][]receivedWindow{}
	for _, in := range answer.Instances {
		for _, w := range in.Windows {
			begin, err1 := time.Parse(koogallery.UsageTimeLayout, w.BeginTime)
			end, err2 := time.Parse(koogallery.UsageTimeLayout, w.EndTime)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("the simulator lists a window %s–%s it should have refused", w.BeginTime, w.EndTime)
			}
			out[in.InstanceID] = append(out[in.InstanceID], receivedWindow{begin: begin, end: end,
				records: w.Records, duplicates: w.Duplicates, units: w.Units})
		}
	}
	return out, nil
}
