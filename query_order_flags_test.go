package main

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestQueryOrderTimeZoneFlag: --query-order-time-zone (spec §8 item 18) is
// UTC unless set, takes a fixed offset such as Beijing time's +08:00, and
// refuses anything else at start with the flag named, so that a zone kooper
// cannot read never moves every tenant's expiry silently.
func TestQueryOrderTimeZoneFlag(t *testing.T) {
	g := NewWithT(t)
	o, err := parse()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.queryOrderTimeZone).To(BeIdenticalTo(time.UTC), "the default")

	o, err = parse("--query-order-time-zone=+08:00")
	g.Expect(err).NotTo(HaveOccurred())
	_, offset := time.Date(2025, 11, 21, 23, 59, 59, 0, o.queryOrderTimeZone).Zone()
	g.Expect(offset).To(Equal(8 * 3600))

	for _, bad := range []string{"Asia/Shanghai", "CST", "+8", "+0800", "utc", "", "+24:00"} {
		_, err := parse("--query-order-time-zone=" + bad)
		g.Expect(err).To(MatchError(And(ContainSubstring("-query-order-time-zone"), ContainSubstring("neither UTC nor a fixed offset"))), "%q", bad)
	}
}
