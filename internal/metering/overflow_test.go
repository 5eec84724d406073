package metering

import (
	"math"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// totalPattern is the CRD's pattern of status.metering.meters[].total and
// .uncovered[].total: a total that misses it makes the API server refuse
// the whole metering status patch, cursor move included.
var totalPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,4})?$`)

// saturated is the largest total koogallery.ParseUsageUnits reads back
// (whole part (1<<62)/10^4, four nines): a total beyond it would restart
// at zero on the next add.
const saturated = "461168601842738.9999"

// Windows measured from outside input (a Prometheus query over the tenant
// app's own metrics) at decimals 0, added as advance adds them: the first
// fills the total to the brink, the second alone is beyond what a total
// can hold, the third overflows the sum. Every total must stay one the API
// server takes, never go down, and end saturated.
func TestHugeWindowsNeverWrapTheTotal(t *testing.T) {
	g := NewWithT(t)
	m := &saasv1alpha1.TenantMetering{}
	var before koogallery.UsageUnits
	for _, v := range []float64{461168601842738, 900000000000000, 461168601842738, 1} {
		if units := Round(v, 0, saasv1alpha1.RoundHalfUp); units > 0 {
			AddTotal(m, "cpu", units) // buildRecords makes no record of 0
		}
		g.Expect(m.Meters).To(HaveLen(1))
		total := m.Meters[0].Total
		g.Expect(total).To(MatchRegexp(totalPattern.String()), "after window %v", v)
		g.Expect(len(total)).To(BeNumerically("<=", 32), "the CRD's MaxLength, after window %v", v)
		after, err := koogallery.ParseUsageUnits(total)
		g.Expect(err).NotTo(HaveOccurred(), "the next add reads %q back, after window %v", total, v)
		g.Expect(after).To(BeNumerically(">=", before), "a total never goes down, after window %v", v)
		before = after
	}
	g.Expect(m.Meters[0].Total).To(Equal(saturated))
}

func TestAddUsageSaturates(t *testing.T) {
	tests := []struct {
		name  string
		total string
		add   koogallery.UsageUnits
		want  string
	}{
		{"a sum beyond int64 saturates instead of wrapping negative", "461168601842738", 9_000_000_000_000_000_000, saturated},
		{"a sum within int64 but beyond what reads back saturates", "461168601842738", 4_611_686_018_427_380_000, saturated},
		{"one add of the largest units saturates", "0", math.MaxInt64, saturated},
		{"up to the brink is exact", "461168601842738", 9999, saturated},
		{"a saturated total stays saturated", saturated, 1, saturated},
		{"a total left beyond the bound (by an older kooper) counts as saturated, not as zero", "900000000000000", 1, saturated},
		{"a negative add never makes a negative total", "1", -20_000, "0"},
		{"an ordinary add is exact", "461168601842737", 10_000, "461168601842738"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := AddUsage([]saasv1alpha1.MeterUsage{{Name: "cpu", Total: tt.total}}, "cpu", tt.add)
			g.Expect(got).To(Equal([]saasv1alpha1.MeterUsage{{Name: "cpu", Total: tt.want}}))
			g.Expect(got[0].Total).To(MatchRegexp(totalPattern.String()))
		})
	}
}

// A window whose units the total could not hold is beyond what Round
// takes: it makes no record, as NaN or a negative value does, rather than
// a record whose value the in-flight push and the total cannot read back.
func TestRoundRefusesUnitsATotalCannotHold(t *testing.T) {
	tests := []struct {
		name     string
		v        float64
		decimals int32
		want     koogallery.UsageUnits
	}{
		{"the largest whole value a total holds", 461168601842738, 0, 4_611_686_018_427_380_000},
		{"one more is refused", 461168601842739, 0, 0},
		{"the reviewer's window is refused", 900000000000000, 0, 0},
		{"below MaxInt64/10^4 at 0 decimals but beyond the total: refused", 922337203685476, 0, 0},
		{"at 4 decimals the old bound still holds", 92233720368.5476, 4, 922_337_203_685_476},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := Round(tt.v, tt.decimals, saasv1alpha1.RoundHalfUp)
			g.Expect(got).To(Equal(tt.want))
			if got > 0 {
				back, err := koogallery.ParseUsageUnits(got.String())
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(back).To(Equal(got))
			}
		})
	}
}

// FuzzAddUsage: whatever total the status holds and whatever units are
// added, the new total is one the API server takes and the next add reads
// back; from a total that reads, a non-negative add never lowers it.
func FuzzAddUsage(f *testing.F) {
	f.Add("0", int64(12500))
	f.Add("461168601842738", int64(9_000_000_000_000_000_000))
	f.Add("461168601842738", int64(4_611_686_018_427_380_000))
	f.Add(saturated, int64(1))
	f.Add("900000000000000", int64(1))
	f.Add("922337203685477.5807", int64(math.MaxInt64))
	f.Add("1.5", int64(-1))
	f.Add("x", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, total string, add int64) {
		got := AddUsage([]saasv1alpha1.MeterUsage{{Name: "cpu", Total: total}}, "cpu", koogallery.UsageUnits(add))
		out := got[0].Total
		if !totalPattern.MatchString(out) || len(out) > 32 {
			t.Fatalf("%q + %d wrote %q, which the API server refuses", total, add, out)
		}
		after, err := koogallery.ParseUsageUnits(out)
		if err != nil {
			t.Fatalf("%q + %d wrote %q, which does not read back: %v", total, add, out, err)
		}
		if before, err := koogallery.ParseUsageUnits(total); err == nil && add >= 0 && after < before {
			t.Fatalf("%q + %d went down to %q", total, add, out)
		}
	})
}
