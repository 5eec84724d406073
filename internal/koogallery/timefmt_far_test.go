package koogallery

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestAFarFutureExpiryInAZoneWestOfUTCIsStorable: Query Order's times are
// read in --query-order-time-zone; 99991231235959 read at -05:00 is
// 10000-01-01T04:59:59Z, which no object's status can store (the API
// server refuses a five-digit year), so the tenant's status write failed
// on every pass and it never became Ready.
func TestAFarFutureExpiryInAZoneWestOfUTCIsStorable(t *testing.T) {
	g := NewWithT(t)
	west := time.FixedZone("-05:00", -5*3600)
	for _, s := range []string{"99991231235959", "99991231235959999"} {
		got, err := ParseExpireTimeIn(s, west)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), s)
		g.Expect(got.Year()).To(BeNumerically("<=", 9999))
	}
	got, err := ParseExpireTimeIn("99991231185959", west)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), "the last storable second itself")
	got, err = ParseExpireTimeIn("20261231235959", west)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(time.Date(2027, 1, 1, 4, 59, 59, 0, time.UTC)), "other times as they were")
}
