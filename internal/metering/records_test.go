package metering

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestRoundUsage(t *testing.T) {
	tests := []struct {
		v        float64
		decimals int32
		mode     saasv1alpha1.MeterRounding
		want     string
	}{
		{2.0 / 3, 4, saasv1alpha1.RoundHalfUp, "0.6667"},
		{2.0 / 3, 4, saasv1alpha1.RoundDown, "0.6666"},
		{0.1 + 0.2, 1, saasv1alpha1.RoundUp, "0.3"},
		{0.00004, 4, saasv1alpha1.RoundHalfUp, "0"},
		{0.00004, 4, saasv1alpha1.RoundUp, "0.0001"},
		{1.5, 0, saasv1alpha1.RoundHalfUp, "2"},
		{-3, 4, saasv1alpha1.RoundUp, "0"},
		{99, 4, saasv1alpha1.RoundHalfUp, "99"},
	}
	for _, tt := range tests {
		NewWithT(t).Expect(Round(tt.v, tt.decimals, tt.mode).String()).To(Equal(tt.want), "%v %d %s", tt.v, tt.decimals, tt.mode)
	}
}

// Each rounding mode at each of the decimals the marketplace takes (0 to 4).
func TestRoundEachModeAtEachDecimals(t *testing.T) {
	const v = 1.23456
	want := map[saasv1alpha1.MeterRounding][5]string{
		saasv1alpha1.RoundHalfUp: {"1", "1.2", "1.23", "1.235", "1.2346"},
		"":                       {"1", "1.2", "1.23", "1.235", "1.2346"}, // HalfUp is the default
		saasv1alpha1.RoundUp:     {"2", "1.3", "1.24", "1.235", "1.2346"},
		saasv1alpha1.RoundDown:   {"1", "1.2", "1.23", "1.234", "1.2345"},
	}
	// A value exactly halfway at each decimals: HalfUp goes up, Down down, Up up.
	half := [5]float64{2.5, 0.25, 0.125, 0.0625, 0.00005}
	wantHalf := map[saasv1alpha1.MeterRounding][5]string{
		saasv1alpha1.RoundHalfUp: {"3", "0.3", "0.13", "0.063", "0.0001"},
		saasv1alpha1.RoundUp:     {"3", "0.3", "0.13", "0.063", "0.0001"},
		saasv1alpha1.RoundDown:   {"2", "0.2", "0.12", "0.062", "0"},
	}
	// An exact value at each decimals stays as it is in every mode.
	exact := [5]float64{7, 0.7, 0.07, 0.007, 0.0007}
	for mode, byDecimals := range want {
		for d := range int32(5) {
			t.Run(fmt.Sprintf("%q/%d", mode, d), func(t *testing.T) {
				g := NewWithT(t)
				g.Expect(Round(v, d, mode).String()).To(Equal(byDecimals[d]))
				if h, ok := wantHalf[mode]; ok {
					g.Expect(Round(half[d], d, mode).String()).To(Equal(h[d]), "half %v", half[d])
				}
				g.Expect(Round(exact[d], d, mode).String()).To(Equal(strings.TrimSuffix(fmt.Sprintf("%.*f", d, exact[d]), ".")))
			})
		}
	}
}

func TestRoundEdges(t *testing.T) {
	tests := []struct {
		name     string
		v        float64
		decimals int32
		mode     saasv1alpha1.MeterRounding
		want     koogallery.UsageUnits
	}{
		{"decimals below 0 count as 0", 1.4, -2, saasv1alpha1.RoundUp, 2 * koogallery.UnitsPerOne},
		{"decimals above 4 count as 4", 0.123456, 9, saasv1alpha1.RoundDown, 1234},
		{"zero makes no record", 0, 4, saasv1alpha1.RoundUp, 0},
		{"NaN makes no record", math.NaN(), 4, saasv1alpha1.RoundUp, 0},
		{"+Inf makes no record", math.Inf(1), 4, saasv1alpha1.RoundUp, 0},
		{"beyond what the marketplace takes makes no record", 1e16, 0, saasv1alpha1.RoundHalfUp, 0},
		{"a large value within it", 1e11, 0, saasv1alpha1.RoundHalfUp, 1e11 * koogallery.UnitsPerOne},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(Round(tt.v, tt.decimals, tt.mode)).To(Equal(tt.want))
		})
	}
}

func TestMeteringSNIsDeterministicAndDistinct(t *testing.T) {
	g := NewWithT(t)
	a := SN("i-1", "duration", h0)
	g.Expect(SN("i-1", "duration", h0)).To(Equal(a))
	g.Expect(len(a)).To(BeNumerically("<=", 64))
	g.Expect(SN("i-1", "duration", h0.Add(time.Hour))).NotTo(Equal(a))
	g.Expect(SN("i-1", "cpu", h0)).NotTo(Equal(a))
	g.Expect(SN("i-2", "duration", h0)).NotTo(Equal(a))
}

// One metering_sn per instance, meter and hour: the same for the same
// three (in any time zone), a different one for any other, never longer
// than the marketplace's 64 characters.
func TestSNIsStableAndUniquePerInstanceMeterAndHour(t *testing.T) {
	snShape := regexp.MustCompile(`^kp[0-9a-f]{30}$`) // 32 characters, within the 64 of spec §6.4
	cst := time.FixedZone("CST", 8*3600)
	seen := map[string]string{}
	for _, instance := range []string{"7f141bf1-aec8-4859-8323-fb3a8ad50721", "7f141bf1-aec8-4859-8323-fb3a8ad50722", "i", "i\x00cpu"} {
		for _, meter := range []string{"duration", "cpu", "cpu_hours", ""} {
			for hour := range 24 * 21 {
				start := h0.Add(time.Duration(hour) * time.Hour)
				sn := SN(instance, meter, start)
				key := fmt.Sprintf("%q %q %d", instance, meter, hour)
				if other, dup := seen[sn]; dup {
					t.Fatalf("%s and %s share metering_sn %s", key, other, sn)
				}
				seen[sn] = key
				if !snShape.MatchString(sn) {
					t.Fatalf("%s: metering_sn %q is not kp and 30 hex digits", key, sn)
				}
				if again := SN(instance, meter, start.In(cst)); again != sn {
					t.Fatalf("%s: %s in another zone, %s here: the instant counts, not its zone", key, again, sn)
				}
			}
		}
	}
}

func TestRecord(t *testing.T) {
	w := Window{Start: h0.Add(20 * time.Minute), End: h0.Add(time.Hour)}
	tenant := func(mode saasv1alpha1.ChargingMode) *saasv1alpha1.SaaSTenant {
		tn := &saasv1alpha1.SaaSTenant{}
		tn.Spec.InstanceID = "i-1"
		if mode != "" {
			tn.Status.Order = &saasv1alpha1.ResolvedOrder{ChargingMode: mode}
		}
		return tn
	}
	want := koogallery.UsageRecord{
		InstanceID: "i-1", BeginTime: "20261122T102000Z", EndTime: "20261122T110000Z", RecordTime: "20261122T110000Z",
		UsageValue: "1.25", MeteringSN: SN("i-1", "cpu", w.Start),
	}
	tests := []struct {
		name   string
		tenant *saasv1alpha1.SaaSTenant
		pkg    string
	}{
		{"pay-per-use", tenant(saasv1alpha1.ChargingOnDemand), ""},
		{"no resolved order", tenant(""), ""},
		{"a pay-per-use package is deducted from its own instance", tenant(saasv1alpha1.ChargingOnDemandPackage), "i-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := want
			want.RelatePkgInstance = tt.pkg
			NewWithT(t).Expect(Record(tt.tenant, "cpu", w, 12500)).To(Equal(want))
		})
	}
	t.Run("times are UTC whatever the window's zone", func(t *testing.T) {
		cst := time.FixedZone("CST", 8*3600)
		got := Record(tenant(saasv1alpha1.ChargingOnDemand), "cpu", Window{Start: w.Start.In(cst), End: w.End.In(cst)}, 12500)
		NewWithT(t).Expect(got).To(Equal(want))
	})
}

func TestRetryable(t *testing.T) {
	// The record-level codes of spec §6.4.
	for code, retry := range map[string]bool{
		"001": true, "002": false, "003": false, "004": false, "005": false, "006": false,
		"007": false, "009": false, "010": false, "011": false, "012": false, "013": true, "": false, "MKT.9004": false,
	} {
		NewWithT(t).Expect(Retryable(code)).To(Equal(retry), code)
	}
}

func TestMetered(t *testing.T) {
	meters := &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Source: saasv1alpha1.MeterTenantHours}}}
	tests := []struct {
		name     string
		metering *saasv1alpha1.MeteringSpec
		order    *saasv1alpha1.ResolvedOrder
		want     bool
	}{
		{"pay-per-use", meters, &saasv1alpha1.ResolvedOrder{ChargingMode: saasv1alpha1.ChargingOnDemand}, true},
		{"a pay-per-use package", meters, &saasv1alpha1.ResolvedOrder{ChargingMode: saasv1alpha1.ChargingOnDemandPackage}, true},
		{"periodic", meters, &saasv1alpha1.ResolvedOrder{ChargingMode: "Period"}, false},
		{"order not resolved yet", meters, nil, false},
		{"product without metering", nil, &saasv1alpha1.ResolvedOrder{ChargingMode: saasv1alpha1.ChargingOnDemand}, false},
		{"product without meters", &saasv1alpha1.MeteringSpec{}, &saasv1alpha1.ResolvedOrder{ChargingMode: saasv1alpha1.ChargingOnDemand}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			product := &saasv1alpha1.SaaSProduct{}
			product.Spec.Metering = tt.metering
			tenant := &saasv1alpha1.SaaSTenant{}
			tenant.Status.Order = tt.order
			NewWithT(t).Expect(Metered(tenant, product)).To(Equal(tt.want))
		})
	}
}

func TestAddTotal(t *testing.T) {
	tests := []struct {
		name   string
		meters []saasv1alpha1.MeterUsage
		add    koogallery.UsageUnits
		want   []saasv1alpha1.MeterUsage
	}{
		{"a first total", nil, 12500,
			[]saasv1alpha1.MeterUsage{{Name: "cpu", Total: "1.25"}}},
		{"added to its own meter only", []saasv1alpha1.MeterUsage{{Name: "duration", Total: "3"}, {Name: "cpu", Total: "0.75"}}, 12500,
			[]saasv1alpha1.MeterUsage{{Name: "duration", Total: "3"}, {Name: "cpu", Total: "2"}}},
		{"an unparsable total restarts at zero", []saasv1alpha1.MeterUsage{{Name: "cpu", Total: "x"}}, 1,
			[]saasv1alpha1.MeterUsage{{Name: "cpu", Total: "0.0001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &saasv1alpha1.TenantMetering{Meters: tt.meters}
			AddTotal(m, "cpu", tt.add)
			NewWithT(t).Expect(m.Meters).To(Equal(tt.want))
		})
	}
}

func TestAddBoundedUsage(t *testing.T) {
	usages := func(names ...string) []saasv1alpha1.MeterUsage {
		out := make([]saasv1alpha1.MeterUsage, len(names))
		for i, name := range names {
			out[i] = saasv1alpha1.MeterUsage{Name: name, Total: "1"}
		}
		return out
	}
	meters := func(names ...string) []saasv1alpha1.Meter {
		out := make([]saasv1alpha1.Meter, len(names))
		for i, name := range names {
			out[i] = saasv1alpha1.Meter{Name: name}
		}
		return out
	}
	grown := func(list []saasv1alpha1.MeterUsage, name, total string) []saasv1alpha1.MeterUsage {
		return append(slices.Clone(list), saasv1alpha1.MeterUsage{Name: name, Total: total})
	}
	eight := usages("a", "b", "c", "d", "e", "f", "g", "h")
	tests := []struct {
		name        string
		usages      []saasv1alpha1.MeterUsage
		meter       string
		declared    []saasv1alpha1.Meter
		want        []saasv1alpha1.MeterUsage
		wantDropped []saasv1alpha1.MeterUsage
	}{
		{"a meter held adds to its total, however full the list", eight, "h", meters("i"),
			append(usages("a", "b", "c", "d", "e", "f", "g"), saasv1alpha1.MeterUsage{Name: "h", Total: "2"}), nil},
		{"a new meter with room is added, nothing dropped", usages("a", "b"), "i", meters("i"),
			grown(usages("a", "b"), "i", "1"), nil},
		{"a full list drops the oldest meter no longer declared", eight, "i", meters("i"),
			grown(usages("b", "c", "d", "e", "f", "g", "h"), "i", "1"), usages("a")},
		{"declared meters are kept, an undeclared one goes", eight, "i", meters("a", "b", "c", "d", "e", "f", "g", "i"),
			grown(usages("a", "b", "c", "d", "e", "f", "g"), "i", "1"), usages("h")},
		{"an undeclared meter's units are dropped when every entry is declared", eight, "x",
			meters("a", "b", "c", "d", "e", "f", "g", "h"), eight, usages("x")},
		{"a list over its bound is brought back within it", grown(eight, "y", "1"), "i", meters("i"),
			grown(usages("c", "d", "e", "f", "g", "h", "y"), "i", "1"), usages("a", "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, dropped := AddBoundedUsage(slices.Clone(tt.usages), tt.meter, 10000, tt.declared)
			g.Expect(got).To(Equal(tt.want))
			g.Expect(dropped).To(Equal(tt.wantDropped))
			g.Expect(len(got)).To(BeNumerically("<=", MaxMeterUsages))
		})
	}
}

func TestAddBoundedTotalReturnsWhatItDropped(t *testing.T) {
	g := NewWithT(t)
	m := &saasv1alpha1.TenantMetering{Meters: []saasv1alpha1.MeterUsage{{Name: "old", Total: "42.5"}}}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		g.Expect(AddBoundedTotal(m, name, 10000, nil)).To(BeEmpty())
	}
	g.Expect(AddBoundedTotal(m, "i", 10000, []saasv1alpha1.Meter{{Name: "i"}})).To(Equal([]saasv1alpha1.MeterUsage{{Name: "old", Total: "42.5"}}))
	g.Expect(m.Meters).To(HaveLen(MaxMeterUsages))
	g.Expect(m.Meters[len(m.Meters)-1]).To(Equal(saasv1alpha1.MeterUsage{Name: "i", Total: "1"}))
}

func TestRefusalSummary(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		name    string
		refused []koogallery.UsageRecordError
		want    string
	}{
		{"one", []koogallery.UsageRecordError{{MeteringSN: "a", ResultCode: "003", ResultMsg: "usage value abnormal"}},
			"The marketplace refused 1 usage record(s), which are not retried: 003 ×1 (usage value abnormal)"},
		{"by code, in code order, the first message of each", []koogallery.UsageRecordError{
			{MeteringSN: "a", ResultCode: "006", ResultMsg: "delisted"},
			{MeteringSN: "b", ResultCode: "003", ResultMsg: "usage value abnormal"},
			{MeteringSN: "c", ResultCode: "003", ResultMsg: "another wording"},
		}, "The marketplace refused 3 usage record(s), which are not retried: 003 ×2 (usage value abnormal); 006 ×1 (delisted)"},
		{"a message is cut to 128 bytes", []koogallery.UsageRecordError{{MeteringSN: "a", ResultCode: "011", ResultMsg: long}},
			"The marketplace refused 1 usage record(s), which are not retried: 011 ×1 (" + long[:128] + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(RefusalSummary(tt.refused)).To(Equal(tt.want))
		})
	}
}
