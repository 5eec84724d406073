package controllers

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// The in-flight push (status.metering.inFlight): a usage push as it was
// built, written before it is sent. A metering_sn is taken once (spec
// §6.4), so whatever was sent under it must be what is sent again: the
// value measured then, and the package that paid then.

// inFlightOf records windows and their records as status.metering.inFlight.
func inFlightOf(windows []metering.Window, pending []pendingRecord) *saasv1alpha1.InFlightPush {
	push := &saasv1alpha1.InFlightPush{
		Windows: make([]saasv1alpha1.UsageWindow, len(windows)),
		Records: make([]saasv1alpha1.InFlightRecord, len(pending)),
	}
	for i, w := range windows {
		push.Windows[i] = saasv1alpha1.UsageWindow{Start: metav1.NewTime(w.Start), End: metav1.NewTime(w.End)}
	}
	for i, rec := range pending {
		push.Records[i] = saasv1alpha1.InFlightRecord{
			Window: int32(rec.window), Meter: rec.meter, Value: rec.units.String(),
			Package: rec.part.Package, Uncovered: rec.uncovered,
		}
	}
	return push
}

// inFlightAfter is what stays in flight once the first done windows are
// settled: the later windows and their records, to be sent again as they
// are, or nil when nothing after them is sent.
func inFlightAfter(windows []metering.Window, pending []pendingRecord, done int) *saasv1alpha1.InFlightPush {
	var rest []pendingRecord
	for _, rec := range pending {
		if rec.window >= done {
			rec.window -= done
			rest = append(rest, rec)
		}
	}
	if !slices.ContainsFunc(rest, sendable) {
		return nil
	}
	return inFlightOf(windows[done:], rest)
}

// pendingOf rebuilds the windows and records of the in-flight push, as
// they were built. It fails only on a status that the CRD's validation
// would have refused.
func pendingOf(t *saasv1alpha1.SaaSTenant, push *saasv1alpha1.InFlightPush) ([]metering.Window, []pendingRecord, error) {
	windows := make([]metering.Window, len(push.Windows))
	for i, w := range push.Windows {
		windows[i] = metering.Window{Start: w.Start.Time, End: w.End.Time}
	}
	pending := make([]pendingRecord, 0, len(push.Records))
	for _, rec := range push.Records {
		units, err := koogallery.ParseUsageUnits(rec.Value)
		if err == nil && units <= 0 {
			err = fmt.Errorf("not above zero")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("status.metering.inFlight: record of meter %s: %w", rec.Meter, err)
		}
		i := int(rec.Window)
		if i < 0 || i >= len(windows) {
			return nil, nil, fmt.Errorf("status.metering.inFlight: record of meter %s names window %d of %d", rec.Meter, i, len(windows))
		}
		pending = append(pending, newPendingRecord(t, rec.Meter, windows[i], i, units, rec.Package, rec.Uncovered))
	}
	return windows, pending, nil
}

// inFlightFrom is what stays of the in-flight push once the 21-day cut
// moved the cursor to from: the windows from there on, or nil. The windows
// before it may have reached the marketplace with their answer lost; it
// no longer takes them either way (MKT.9004), and skipExpired's Event
// names the hours. A push that no longer reads (pendingOf) goes whole.
func inFlightFrom(t *saasv1alpha1.SaaSTenant, push *saasv1alpha1.InFlightPush, from time.Time) *saasv1alpha1.InFlightPush {
	if push == nil {
		return nil
	}
	windows, pending, err := pendingOf(t, push)
	if err != nil {
		return nil
	}
	done := 0
	for done < len(windows) && windows[done].Start.Before(from) {
		done++
	}
	return inFlightAfter(windows, pending, done)
}
