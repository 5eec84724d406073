package orders

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The zone Query Order's times were read in is recorded with them, one
// name a zone, so that a change of --query-order-time-zone (spec §8 item
// 18) finds what was read in another.
func TestResolvedRecordsTheZoneItsTimesWereReadIn(t *testing.T) {
	for _, tc := range []struct{ flag, recorded string }{
		{"UTC", "UTC"}, {"+00:00", "UTC"}, {"+08:00", "+08:00"}, {"-05:30", "-05:30"}, {"+14:00", "+14:00"}, {"-12:00", "-12:00"},
	} {
		g := NewWithT(t)
		zone, err := ParseTimeZone(tc.flag)
		g.Expect(err).NotTo(HaveOccurred())
		resolved, err := ResolvedIn(mockOrder(), &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"}, zone)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resolved.TimeZone).To(Equal(tc.recorded), tc.flag)
		g.Expect(ReadInZone(tc.recorded, zone)).To(BeTrue(), tc.flag)
	}
	g := NewWithT(t)
	g.Expect(ZoneName(nil)).To(Equal("UTC"), "nil is UTC")
	none, err := ResolvedIn(mockOrder(), &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none.TimeZone).To(Equal("UTC"))
}

// What needs reading again: times recorded in another zone than the
// flag's. A record without a zone (from before kooper kept it) counts as
// UTC, the flag's default; an order without times, or a debug order that
// no Query Order answered, never needs it.
func TestReadInAnotherZone(t *testing.T) {
	beijing, err := ParseTimeZone("+08:00")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	expiry := &metav1.Time{Time: time.Date(2025, 11, 21, 15, 59, 59, 0, time.UTC)}
	for _, tc := range []struct {
		name     string
		resolved saasv1alpha1.ResolvedOrder
		zone     *time.Location
		want     bool
	}{
		{"read in the flag's zone", saasv1alpha1.ResolvedOrder{ExpireTime: expiry, TimeZone: "+08:00"}, beijing, false},
		{"read in another zone", saasv1alpha1.ResolvedOrder{ExpireTime: expiry, TimeZone: "+08:00"}, time.UTC, true},
		{"only a createTime, read in another zone", saasv1alpha1.ResolvedOrder{CreateTime: expiry, TimeZone: "UTC"}, beijing, true},
		{"no zone recorded, flag UTC", saasv1alpha1.ResolvedOrder{ExpireTime: expiry}, time.UTC, false},
		{"no zone recorded, flag +08:00", saasv1alpha1.ResolvedOrder{ExpireTime: expiry}, beijing, true},
		{"no times", saasv1alpha1.ResolvedOrder{TimeZone: "UTC"}, beijing, false},
		{"a debug order with an expiry kept from a real one", saasv1alpha1.ResolvedOrder{OrderType: debugOrderType, ExpireTime: expiry, TimeZone: "UTC"}, beijing, false},
	} {
		NewWithT(t).Expect(ReadInAnotherZone(&tc.resolved, tc.zone)).To(Equal(tc.want), tc.name)
	}
}

// KeepExpiry carries the previous order's expiry over as Query Order wrote
// it, read in the zone of the order it is carried to: an upgrade resolved
// after the zone changed does not keep an expiry read in the old zone.
func TestKeepExpiryReadsTheExpiryInTheNewOrdersZone(t *testing.T) {
	readInBeijing := &metav1.Time{Time: time.Date(2025, 11, 21, 15, 59, 59, 0, time.UTC)} // 20251121235959 at +08:00
	readInUTC := time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)
	for _, tc := range []struct {
		name               string
		previous, resolved saasv1alpha1.ResolvedOrder
		want               time.Time
		wantZone           string
	}{
		{"same zone", saasv1alpha1.ResolvedOrder{ExpireTime: readInBeijing, TimeZone: "+08:00"}, saasv1alpha1.ResolvedOrder{TimeZone: "+08:00"},
			readInBeijing.Time, "+08:00"},
		{"read in +08:00, carried to UTC", saasv1alpha1.ResolvedOrder{ExpireTime: readInBeijing, TimeZone: "+08:00"}, saasv1alpha1.ResolvedOrder{TimeZone: "UTC"},
			readInUTC, "UTC"},
		{"read in UTC (no zone recorded), carried to +08:00", saasv1alpha1.ResolvedOrder{ExpireTime: &metav1.Time{Time: readInUTC}}, saasv1alpha1.ResolvedOrder{TimeZone: "+08:00"},
			readInBeijing.Time, "+08:00"},
		{"carried to a debug order, which read no times: the zone with it", saasv1alpha1.ResolvedOrder{ExpireTime: readInBeijing, TimeZone: "+08:00"},
			saasv1alpha1.ResolvedOrder{OrderType: debugOrderType}, readInBeijing.Time, "+08:00"},
	} {
		g := NewWithT(t)
		KeepExpiry(&tc.resolved, &tc.previous)
		g.Expect(tc.resolved.ExpireTime).NotTo(BeNil(), tc.name)
		g.Expect(tc.resolved.ExpireTime.Time).To(BeTemporally("==", tc.want), tc.name)
		g.Expect(tc.resolved.TimeZone).To(Equal(tc.wantZone), tc.name)
	}
}
