package metering

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// A 5000 GiB volume frozen within an hour (storage is billed frozen or
// not) stores 5000 GiB-hours that hour, whatever the minute: split at +1
// minute the two stretches once summed as float hours to
// 4999.999999999999, and at +6 min 7 s to 5000.000000000001, which Down
// and Up rounded to 4999.9999 and 5000.0001 at 4 decimals.
func TestBuiltinUsageOfALargeVolumeSplitWithinAnHourRoundsExactly(t *testing.T) {
	active := saasv1alpha1.UsageSegment{Start: *at(0), State: saasv1alpha1.StateActive, Replicas: 1, StorageBytes: 5000 * gib}
	hour := Window{Start: h0, End: h0.Add(time.Hour)}
	for _, split := range []time.Duration{time.Minute, 6*time.Minute + 7*time.Second} {
		frozen := saasv1alpha1.UsageSegment{Start: *at(split), State: saasv1alpha1.StateFrozen, StorageBytes: 5000 * gib}
		for _, mode := range []saasv1alpha1.MeterRounding{saasv1alpha1.RoundDown, saasv1alpha1.RoundUp, saasv1alpha1.RoundHalfUp} {
			t.Run(fmt.Sprintf("frozen at +%s, %s", split, mode), func(t *testing.T) {
				g := NewWithT(t)
				v := BuiltinUsage(saasv1alpha1.MeterStorageGiBHours, []saasv1alpha1.UsageSegment{active, frozen}, hour)
				g.Expect(Round(v, 4, mode).String()).To(Equal("5000"), "BuiltinUsage measured %v", v)
				g.Expect(v).To(Equal(5000.0))
			})
		}
	}
}

// A value with 4 decimals of its own, large enough that scaling it by
// 10^4 is off by one float step (10000.0004 gives 100000004.00000001,
// 12345.6789 gives 123456789.00000001, 10000.0009 gives
// 100000008.99999999), is that value in every mode: a fixed tolerance of
// 1e-9 is below the step there (7.45e-9 at 5e7, 1.49e-8 at 1e8), and Up
// made 10000.0005 of the first, Down 10000.0008 of the last.
func TestRoundOfALargeValueAtItsOwnDecimalsIsExact(t *testing.T) {
	for _, want := range []string{"10000.0004", "12345.6789", "10000.0009", "10000.0014", "5000.0001"} {
		for _, mode := range []saasv1alpha1.MeterRounding{saasv1alpha1.RoundDown, saasv1alpha1.RoundUp, saasv1alpha1.RoundHalfUp} {
			t.Run(want+" "+string(mode), func(t *testing.T) {
				g := NewWithT(t)
				v, err := strconv.ParseFloat(want, 64)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(Round(v, 4, mode).String()).To(Equal(want))
			})
		}
	}
}
