package metering

import (
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Periods cuts window w into the periods of the n records kooper pushes
// for one instance over it, in the records' order. Spec §6.4 asks for
// records "per instance and period without overlaps", and the marketplace
// answers a record of an instance for a period it already holds with 010
// (duplicate record) and bills it no more; so the records of a window
// (one per meter, one per package that pays for a part of it) never share
// a period: their periods follow each other without gap or overlap and
// tile the window, [Start, End), in whole seconds (begin_time and end_time
// carry seconds; a Start or End within a second counts from that second,
// as its begin_time or end_time would).
//
// The periods are of equal length, the seconds left over going one each
// to the first ones. Equal, not in proportion to the records' values: a
// period then follows from the window and the number of records alone,
// so a push rebuilt from status.metering.inFlight gets the very periods
// it was built with; the marketplace bills usage_value, not the length of
// the period; and a tiny value would still need its whole second.
//
// A window of fewer whole seconds than n (a first window that begins
// seconds before a clock hour, a last one that ends seconds after one)
// has one period a second: fewer than n, and the records without one are
// not pushed. Any other choice makes two records share a period, or one
// reach into a neighbouring window's, which the marketplace would take
// for a duplicate of a record it holds: billed by kooper's ledger, not by
// the marketplace. It returns nil for n ≤ 0.
func Periods(w Window, n int) []Window {
	begin, end := w.Start.Unix(), w.End.Unix()
	seconds := end - begin
	if n <= 0 || seconds <= 0 {
		return nil
	}
	parts := min(int64(n), seconds)
	length, longer := seconds/parts, seconds%parts
	out := make([]Window, parts)
	for i := range out {
		next := begin + length
		if int64(i) < longer {
			next++
		}
		out[i] = Window{Start: time.Unix(begin, 0).UTC(), End: time.Unix(next, 0).UTC()}
		begin = next
	}
	return out
}

// InPeriod is record rec with period p as its begin_time and end_time.
// Its record_time stays the end of its window, and its metering_sn the
// window's (SN, PackageSN): a retry sends the same key for the same record.
func InPeriod(rec koogallery.UsageRecord, p Window) koogallery.UsageRecord {
	rec.BeginTime = p.Start.UTC().Format(koogallery.UsageTimeLayout)
	rec.EndTime = p.End.UTC().Format(koogallery.UsageTimeLayout)
	return rec
}
