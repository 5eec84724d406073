package controllers

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// Spec §6.4: "Push records per instance and period without overlaps"; the
// marketplace answers a second record of an instance for a period it
// holds with 010 (duplicate record) and bills it no more. kooper makes
// several records for one window (one per meter, one per package that
// pays for a part of it): each gets a period of its own, and together
// they tile the window.

// pushedPeriod is one record the fake marketplace holds, its period in
// Unix seconds.
type pushedPeriod struct {
	begin, end int64
	// windowEnd is record_time, the end of the window the record is of.
	windowEnd int64
	pkg       string
	value     string
}

// pushedPeriods are the records the fake marketplace holds for instance,
// by begin_time.
func pushedPeriods(t *testing.T, instance string) []pushedPeriod {
	t.Helper()
	g := NewWithT(t)
	var out []pushedPeriod
	for _, rec := range marketplace.usage.of(instance) {
		begin, err1 := time.Parse(koogallery.UsageTimeLayout, rec.BeginTime)
		end, err2 := time.Parse(koogallery.UsageTimeLayout, rec.EndTime)
		recorded, err3 := time.Parse(koogallery.UsageTimeLayout, rec.RecordTime)
		g.Expect([]error{err1, err2, err3}).To(HaveEach(BeNil()))
		out = append(out, pushedPeriod{begin: begin.Unix(), end: end.Unix(), windowEnd: recorded.Unix(), pkg: rec.RelatePkgInstance, value: rec.UsageValue})
	}
	slices.SortFunc(out, func(a, b pushedPeriod) int { return int(a.begin - b.begin) })
	return out
}

// expectTiling checks that periods, sorted by begin, are each at least a
// second long, pairwise disjoint and without gap from from to to, and
// each within its window (ending at record_time).
func expectTiling(g Gomega, periods []pushedPeriod, from, to time.Time) {
	g.Expect(periods).NotTo(BeEmpty())
	at := from.Unix()
	for i, p := range periods {
		g.Expect(p.begin).To(Equal(at), "record %d (%+v) begins where the one before ends: no overlap, no gap", i, p)
		g.Expect(p.end).To(BeNumerically(">", p.begin), "record %d lasts at least a second", i)
		g.Expect(p.end).To(BeNumerically("<=", p.windowEnd), "record %d lies within its window", i)
		at = p.end
	}
	g.Expect(at).To(Equal(to.Unix()), "the records cover the windows whole")
}

func TestSeveralMetersPushDisjointPeriods(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(4)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	since := h.Add(20 * time.Minute)
	_, err := meterAt(t, r, since, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(2*time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	periods := pushedPeriods(t, tenant.Name)
	g.Expect(periods).To(HaveLen(6), "three meters, two windows")
	expectTiling(g, periods, since, h.Add(2*time.Hour))
	// Equal parts in the meters' order: 40 minutes of the first window in
	// three parts of 800 s, the second hour in three of 1200 s.
	lengths := make([]int64, len(periods))
	for i, p := range periods {
		lengths[i] = p.end - p.begin
	}
	g.Expect(lengths).To(Equal([]int64{800, 800, 800, 1200, 1200, 1200}))
	m := storedMetering(t, tenant.Name)
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "1.6667", "replicas": "1.6667", "cpu": "0.1667"}),
		"every record was accepted: none was taken for a duplicate of another")
}

func TestAWindowSplitOverTwoPackagesPushesDisjointPeriods(t *testing.T) {
	g := NewWithT(t)
	product := packagesProduct(t, saasv1alpha1.ExhaustedReport)
	customer := fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
	ppu := buyPayPerUse(t, product, customer)
	late := buyPackage(t, product, customer, "pkg-hours", "20991231235959", 3, ppu)
	soon := buyPackage(t, product, customer, "pkg-1.5h", "20990101000000", 0, ppu)
	h := hourAgo(6)
	r, _ := packageMetering(clocktesting.NewFakeClock(h))
	meterUntilLedger(t, r, h, ppu.Name, 2)
	_, err := meterAt(t, r, h.Add(2*time.Hour), ppu.Name)
	g.Expect(err).NotTo(HaveOccurred())

	periods := pushedPeriods(t, ppu.Spec.InstanceID)
	expectTiling(g, periods, h, h.Add(2*time.Hour))
	second := h.Add(time.Hour).Unix()
	g.Expect(periods).To(Equal([]pushedPeriod{
		{begin: h.Unix(), end: second, windowEnd: second, pkg: soon.Name, value: "1"},
		// The second hour, split over two packages in paying order: the
		// first half is the soonest expiring one's, the second the other's.
		{begin: second, end: second + 1800, windowEnd: second + 3600, pkg: soon.Name, value: "0.5"},
		{begin: second + 1800, end: second + 3600, windowEnd: second + 3600, pkg: late.Name, value: "0.5"},
	}))
	g.Expect(ledgerConsumed(storedMetering(t, ppu.Name))).To(Equal(map[string]string{soon.Name: "1.5", late.Name: "0.5"}))
}

// A window shorter in whole seconds than its records cannot give each a
// period of its own: one record a second, in the records' order, and the
// rest are not pushed (nor counted), said in a Warning Event.
func TestAWindowTooShortForItsRecordsPushesOnePerSecondAndSaysSo(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters)
	h := hourAgo(4)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	recorder := events.NewFakeRecorder(32)
	r.Recorder = recorder
	since := h.Add(time.Hour - 2*time.Second)
	_, err := meterAt(t, r, since, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, r, h.Add(time.Hour+5*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	periods := pushedPeriods(t, tenant.Name)
	g.Expect(periods).To(HaveLen(2), "two seconds, two records: duration and replicas")
	expectTiling(g, periods, since, h.Add(time.Hour))
	m := storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)), "the window is done")
	g.Expect(totals(m)).NotTo(HaveKey("cpu"), "what was not pushed is not counted")
	g.Expect(drain(recorder)).To(ContainElement(And(HavePrefix("Warning "+usageWindowTooShortReason), ContainSubstring("cpu"))))
}

// A push rebuilt from status.metering.inFlight, after a round trip
// through JSON as the API server stores it, sends the very periods it was
// first built with.
func TestAPushRetriedFromInFlightSendsTheSamePeriods(t *testing.T) {
	g := NewWithT(t)
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-periods"}}
	start := time.Date(2026, 12, 1, 7, 40, 0, 0, time.UTC)
	windows := []metering.Window{
		{Start: start, End: start.Add(20 * time.Minute)},
		{Start: start.Add(20 * time.Minute), End: start.Add(80 * time.Minute)},
		{Start: start.Add(80 * time.Minute), End: start.Add(80*time.Minute + 2*time.Second)},
	}
	built := tilePeriods(windows, []pendingRecord{
		newPendingRecord(tenant, "cpu", windows[0], 0, 42_000, "", ""),
		newPendingRecord(tenant, "memory", windows[0], 0, 1_000, "", ""),
		newPendingRecord(tenant, "disk", windows[0], 0, 7, "", ""),
		newPendingRecord(tenant, "duration", windows[1], 1, 3_000, "pkg-a", ""),
		newPendingRecord(tenant, "duration", windows[1], 1, 7_000, "pkg-b", ""),
		newPendingRecord(tenant, "duration", windows[1], 1, 2_833, "", saasv1alpha1.UncoveredDrop),
		newPendingRecord(tenant, "cpu", windows[2], 2, 1, "", ""),
		newPendingRecord(tenant, "memory", windows[2], 2, 2, "", ""),
		newPendingRecord(tenant, "disk", windows[2], 2, 3, "", ""),
	})
	stored := &saasv1alpha1.InFlightPush{}
	raw, err := json.Marshal(inFlightOf(windows, built))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(raw, stored)).To(Succeed())

	_, rebuilt, err := inFlightRecords(tenant, stored)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rebuilt).To(Equal(built))
	g.Expect(rebuilt[3].record.EndTime).To(Equal(rebuilt[4].record.BeginTime), "the package parts follow each other")
	g.Expect(rebuilt[4].record.EndTime).To(Equal("20261201T090000Z"), "the held record takes no period")
	g.Expect(sendable(rebuilt[8])).To(BeFalse(), "two seconds, three records: the third has none")

	// The windows after the first ones done are renumbered; their periods
	// stay.
	_, rest, err := inFlightRecords(tenant, inFlightAfter(windows, built, 1))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rest).To(HaveLen(len(built) - 3))
	for i, rec := range rest {
		g.Expect(rec.record).To(Equal(built[i+3].record))
	}
}
