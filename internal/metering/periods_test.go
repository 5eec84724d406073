package metering

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

func TestPeriodsTileTheWindowInEqualWholeSeconds(t *testing.T) {
	hour := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	at := hour.Add
	tests := []struct {
		name    string
		w       Window
		n       int
		lengths []int64
	}{
		{"one record: the whole window", Window{hour, at(time.Hour)}, 1, []int64{3600}},
		{"three meters", Window{hour, at(time.Hour)}, 3, []int64{1200, 1200, 1200}},
		{"the seconds left over go to the first ones", Window{hour, at(time.Hour)}, 7, []int64{515, 515, 514, 514, 514, 514, 514}},
		{"a partial first window", Window{at(20 * time.Minute), at(time.Hour)}, 2, []int64{1200, 1200}},
		{"as many seconds as records", Window{at(time.Hour - 3*time.Second), at(time.Hour)}, 3, []int64{1, 1, 1}},
		{"fewer seconds than records: one a second", Window{at(time.Hour - 2*time.Second), at(time.Hour)}, 3, []int64{1, 1}},
		{"no record", Window{hour, at(time.Hour)}, 0, nil},
		{"a window within a second", Window{at(time.Second + time.Millisecond), at(time.Second + 900*time.Millisecond)}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			periods := Periods(tt.w, tt.n)
			var lengths []int64
			for _, p := range periods {
				lengths = append(lengths, p.End.Unix()-p.Start.Unix())
			}
			g.Expect(lengths).To(Equal(tt.lengths))
			if len(periods) > 0 {
				g.Expect(periods[0].Start).To(BeTemporally("==", tt.w.Start.Truncate(time.Second)))
			}
		})
	}
}

// Periods is a pure function of the window and the count: a push rebuilt
// from its stored window (whole seconds, after the API server's round
// trip) gets the same periods; a window stored in another time zone too.
func TestPeriodsDependOnTheWindowAndCountAlone(t *testing.T) {
	g := NewWithT(t)
	w := Window{Start: time.Date(2026, 12, 1, 7, 13, 20, 0, time.UTC), End: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	cst := time.FixedZone("CST", 8*3600)
	g.Expect(Periods(Window{Start: w.Start.In(cst), End: w.End.In(cst)}, 5)).To(Equal(Periods(w, 5)))
	g.Expect(Periods(Window{Start: w.Start.Add(400 * time.Millisecond), End: w.End.Add(999 * time.Millisecond)}, 5)).To(Equal(Periods(w, 5)),
		"begin_time and end_time count from the second a time is in")
}

func TestInPeriodSetsBeginAndEndOnly(t *testing.T) {
	g := NewWithT(t)
	hour := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	w := Window{Start: hour, End: hour.Add(time.Hour)}
	t0 := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-1"}}
	rec := Record(t0, "cpu", w, 12500)
	got := InPeriod(rec, Periods(w, 3)[1])
	g.Expect(got.BeginTime).To(Equal("20261201T072000Z"))
	g.Expect(got.EndTime).To(Equal("20261201T074000Z"))
	got.BeginTime, got.EndTime = rec.BeginTime, rec.EndTime
	g.Expect(got).To(Equal(rec), "record_time, metering_sn and the value stay the window's")
}

// FuzzPeriods checks the tiling for any window and count: periods of at
// least a second, in order, without gap or overlap, from the window's
// first second to its last, min(n, seconds) of them, the longest at most
// a second longer than the shortest.
func FuzzPeriods(f *testing.F) {
	f.Add(int64(1796634000), int64(3600), 3)
	f.Add(int64(1796634000), int64(2), 8)
	f.Add(int64(1796634017), int64(2383), 73)
	f.Add(int64(0), int64(0), 1)
	f.Fuzz(func(t *testing.T, start, seconds int64, n int) {
		if start < 0 || start > 1<<40 || seconds < 0 || seconds > 1<<20 || n < 0 || n > 1<<12 {
			t.Skip()
		}
		w := Window{Start: time.Unix(start, 0), End: time.Unix(start+seconds, 0)}
		periods := Periods(w, n)
		if int64(len(periods)) != min(int64(n), seconds) {
			t.Fatalf("%d periods for %d records over %d s", len(periods), n, seconds)
		}
		at, shortest, longest := start, seconds, int64(0)
		for i, p := range periods {
			length := p.End.Unix() - p.Start.Unix()
			if p.Start.Unix() != at || length < 1 {
				t.Fatalf("period %d %v–%v does not follow %d", i, p.Start, p.End, at)
			}
			shortest, longest, at = min(shortest, length), max(longest, length), p.End.Unix()
		}
		if len(periods) > 0 && (at != start+seconds || longest-shortest > 1) {
			t.Fatalf("periods end at %d, not %d, or differ by more than a second (%d–%d)", at, start+seconds, shortest, longest)
		}
		for _, p := range periods {
			if rec := InPeriod(koogallery.UsageRecord{}, p); len(rec.BeginTime) != len(koogallery.UsageTimeLayout) {
				t.Fatalf("begin_time %q", rec.BeginTime)
			}
		}
	})
}
