package koogallery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// layout14 is yyyyMMddHHmmss in Go's notation.
const layout14 = "20060102150405"

// ParseExpireTime parses refreshInstance's expireTime, UTC. The table
// documents yyyyMMddHHmmss but the docs' example has milliseconds
// (yyyyMMddHHmmssSSS), so both are accepted (§8 item 10). A time not after
// 0001-01-01 00:00:00 is refused: it is Go's zero time (or before it),
// which a Kubernetes object stores as no time at all.
func ParseExpireTime(s string) (time.Time, error) {
	return ParseExpireTimeIn(s, time.UTC)
}

// ParseExpireTimeIn is ParseExpireTime with s read as a wall-clock time in
// zone: for Query Order's createTime and expireTime, whose zone the spec
// does not state (§8 item 18); a nil zone is UTC. The result is the
// instant, in UTC, but never after LatestStorableTime: 99991231235959 (a
// far-future "never" some orders carry) read in a zone west of UTC falls
// in the year 10000, which no Kubernetes object can store (a status write
// holding it would be refused on every pass), and is taken as that last
// second instead.
func ParseExpireTimeIn(s string, zone *time.Location) (time.Time, error) {
	if zone == nil {
		zone = time.UTC // time.ParseInLocation panics on a nil Location
	}
	if (len(s) != 14 && len(s) != 17) || !isDigits(s) {
		return time.Time{}, fmt.Errorf("expireTime %.32q is not 14 or 17 digits", s)
	}
	t, err := time.ParseInLocation(layout14, s[:14], zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("expireTime %q is not a valid date and time: %w", s, err)
	}
	if len(s) == 17 {
		ms, _ := strconv.Atoi(s[14:]) // three digits, checked above
		t = t.Add(time.Duration(ms) * time.Millisecond)
	}
	t = t.UTC()
	if !t.Truncate(time.Second).After(time.Time{}) {
		return time.Time{}, errors.New("expireTime is not after 0001-01-01 00:00:00")
	}
	if t.After(LatestStorableTime) {
		return LatestStorableTime, nil
	}
	return t, nil
}

// LatestStorableTime is the last second an RFC 3339 date-time, as
// Kubernetes objects store times, can hold: 9999-12-31T23:59:59Z.
var LatestStorableTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// FormatTimestamp17 formats t as UTC yyyyMMddHHmmssSSS, the format of
// usageInfo.statisticalTime (§3.3).
func FormatTimestamp17(t time.Time) string {
	t = t.UTC()
	return t.Format(layout14) + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
}

// ParseLicenseTime parses getLicenseAsync's effectiveTime and expireTime.
// The only documented form is the example "2023-10-27 10:30:15 z" (UTC,
// spec §8 item 26). It reads as Java's "yyyy-MM-dd HH:mm:ss z", whose z
// prints a zone name (UTC, GMT) or GMT+hh:mm, so every spelling that names
// one instant is accepted: no zone, z or Z (UTC); UTC, GMT or UT in any
// case, alone or followed by a numeric offset; a numeric offset +hh:mm,
// +hhmm or +hh after a space; or RFC 3339. Zone abbreviations such as CST
// or IST name several zones, so they are refused, as is anything else.
func ParseLicenseTime(s string) (time.Time, error) {
	trimmed := strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, trimmed); err == nil {
		return t.UTC(), nil
	}
	if t, ok := parseDateTimeZone(strings.Fields(trimmed)); ok {
		return t.UTC(), nil
	}
	if s == "" {
		return time.Time{}, errors.New("licence time is empty")
	}
	return time.Time{}, fmt.Errorf("licence time %.40q is neither \"yyyy-MM-dd HH:mm:ss\" with no zone, z, UTC, GMT, UT, "+
		"GMT+hh:mm, +hh:mm or +hhmm, nor RFC 3339", s)
}

// offsetLayouts are the numeric offsets accepted after the time and a
// space: Java's XXX (+08:00), Z (+0800) and X (+08).
var offsetLayouts = []string{time.DateTime + " -07:00", time.DateTime + " -0700", time.DateTime + " -07"}

// parseDateTimeZone parses the fields of "yyyy-MM-dd HH:mm:ss[.fff] zone",
// the zone missing, run on to the time as z or Z, or a field of its own.
func parseDateTimeZone(fields []string) (time.Time, bool) {
	if len(fields) != 2 && len(fields) != 3 {
		return time.Time{}, false
	}
	date, clock, zone := fields[0], fields[1], "Z"
	if len(fields) == 3 {
		zone = fields[2]
	} else if last := clock[len(clock)-1]; last == 'z' || last == 'Z' {
		clock = clock[:len(clock)-1] // "10:30:15Z", as in RFC 3339
	}
	offset := numericOffset(zone)
	for _, layout := range offsetLayouts {
		if t, err := time.Parse(layout, date+" "+clock+" "+offset); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// numericOffset rewrites zone's names of UTC (z, and UTC, GMT or UT, in any
// case) to +00:00, and a name followed by an offset (Java's GMT+08:00) to
// the offset; anything else is returned as it is, for the layouts to take
// as an offset or refuse.
func numericOffset(zone string) string {
	upper := strings.ToUpper(zone)
	if upper == "Z" {
		return "+00:00"
	}
	for _, name := range []string{"UTC", "GMT", "UT"} { // UTC before its prefix UT
		if offset, ok := strings.CutPrefix(upper, name); ok {
			if offset == "" {
				return "+00:00"
			}
			return offset
		}
	}
	return zone
}
