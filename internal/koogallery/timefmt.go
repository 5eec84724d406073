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
// instant, in UTC.
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
	return t, nil
}

// FormatTimestamp17 formats t as UTC yyyyMMddHHmmssSSS, the format of
// usageInfo.statisticalTime (§3.3).
func FormatTimestamp17(t time.Time) string {
	t = t.UTC()
	return t.Format(layout14) + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
}

// ParseLicenseTime parses getLicenseAsync's effectiveTime and expireTime.
// The only documented form is the example "2023-10-27 10:30:15 z" (UTC), so
// the zone letter may be z or Z or missing, and RFC 3339 is accepted too in
// case the marketplace sends a standard format.
func ParseLicenseTime(s string) (time.Time, error) {
	trimmed := strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, trimmed); err == nil {
		return t.UTC(), nil
	}
	local := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(trimmed, "z"), "Z"))
	if t, err := time.ParseInLocation(time.DateTime, local, time.UTC); err == nil {
		return t, nil
	}
	if s == "" {
		return time.Time{}, errors.New("licence time is empty")
	}
	return time.Time{}, fmt.Errorf("licence time %.40q is neither \"yyyy-MM-dd HH:mm:ss z\" nor RFC 3339", s)
}
