package orders

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// TestQueryOrderTimesInTheConfiguredZone: Query Order's createTime and a
// line's expireTime, whose zone the spec leaves open (§8 item 18), are
// read in the zone --query-order-time-zone gives, 14 or 17 digits alike,
// and kept to the whole second the status stores.
func TestQueryOrderTimesInTheConfiguredZone(t *testing.T) {
	order := &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "MOCKPERIODYEARNEW-000001"}
	for _, tc := range []struct {
		name, zone, text string
		want             time.Time
	}{
		{"14 digits, UTC", "UTC", "20251121235959", time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)},
		{"17 digits, UTC: the milliseconds dropped", "UTC", "20251121235959999", time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)},
		{"14 digits, Beijing time", "+08:00", "20251121235959", time.Date(2025, 11, 21, 15, 59, 59, 0, time.UTC)},
		{"17 digits, Beijing time", "+08:00", "20251121235959999", time.Date(2025, 11, 21, 15, 59, 59, 0, time.UTC)},
		{"Beijing time just after midnight: the day before in UTC", "+08:00", "20251122003000", time.Date(2025, 11, 21, 16, 30, 0, 0, time.UTC)},
		{"a zone west of UTC", "-05:30", "20251121235959", time.Date(2025, 11, 22, 5, 29, 59, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			zone, err := ParseTimeZone(tc.zone)
			g.Expect(err).NotTo(HaveOccurred())
			info := mockOrder()
			info.CreateTime, info.OrderLine[0].ExpireTime = tc.text, tc.text

			resolved, err := ResolvedIn(info, order, zone)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resolved.ExpireTime).NotTo(BeNil())
			g.Expect(resolved.ExpireTime.Time).To(BeTemporally("==", tc.want), "expireTime")
			g.Expect(resolved.CreateTime).NotTo(BeNil())
			g.Expect(resolved.CreateTime.Time).To(BeTemporally("==", tc.want), "createTime")
			created := CreateTimeIn(info, zone)
			g.Expect(created).NotTo(BeNil())
			g.Expect(created.Time).To(BeTemporally("==", tc.want), "CreateTimeIn")
		})
	}
}

// Resolved and CreateTime, which take no zone, read UTC: the default, which
// never ends a paid period early.
func TestQueryOrderTimesWithoutAZoneAreUTC(t *testing.T) {
	g := NewWithT(t)
	info := mockOrder()
	resolved, err := Resolved(info, &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resolved.ExpireTime.Time).To(BeTemporally("==", time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)))
	g.Expect(CreateTime(info).Time).To(BeTemporally("==", time.Date(2024, 11, 21, 9, 8, 46, 0, time.UTC)))
	none, err := ResolvedIn(info, &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(none.ExpireTime.Time).To(BeTemporally("==", resolved.ExpireTime.Time), "a nil zone is UTC")
}

// A 14-digit time whose reading in the zone falls before 0001-01-01 is no
// time, as in UTC: a Kubernetes object stores Go's zero time as none.
func TestQueryOrderTimeBeforeYearOneInTheZoneIsUnset(t *testing.T) {
	g := NewWithT(t)
	zone, err := ParseTimeZone("+08:00")
	g.Expect(err).NotTo(HaveOccurred())
	info := mockOrder()
	info.CreateTime = "00010101070000"
	g.Expect(CreateTimeIn(info, zone)).To(BeNil())
}

func TestParseTimeZone(t *testing.T) {
	for _, tc := range []struct {
		text   string
		offset int // seconds east of UTC
	}{
		{"UTC", 0}, {"+08:00", 8 * 3600}, {"-05:30", -(5*3600 + 30*60)}, {"+00:00", 0}, {"+14:00", 14 * 3600}, {"-12:00", -12 * 3600},
	} {
		zone, err := ParseTimeZone(tc.text)
		NewWithT(t).Expect(err).NotTo(HaveOccurred(), tc.text)
		_, offset := time.Date(2025, 1, 1, 0, 0, 0, 0, zone).Zone()
		NewWithT(t).Expect(offset).To(Equal(tc.offset), tc.text)
	}
	for _, bad := range []string{"", "utc", "Z", "Asia/Shanghai", "Local", "+8", "+08", "+0800", "08:00", "+15:00", "-13:00", "+08:60", "+08:00:00", " +08:00"} {
		_, err := ParseTimeZone(bad)
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("neither UTC nor a fixed offset")), "%q", bad)
	}
}

// statusRoundTrip is what a later pass reads: status.order and
// status.orderTimes written to the API server as JSON and read back.
func statusRoundTrip(g Gomega, resolved *saasv1alpha1.ResolvedOrder, recorded []saasv1alpha1.OrderTime) (*saasv1alpha1.ResolvedOrder, map[string]time.Time) {
	data, err := json.Marshal(saasv1alpha1.SaaSTenantStatus{Order: resolved, OrderTimes: recorded})
	g.Expect(err).NotTo(HaveOccurred())
	var stored saasv1alpha1.SaaSTenantStatus
	g.Expect(json.Unmarshal(data, &stored)).To(Succeed())
	return stored.Order, RecordedTimes(stored.OrderTimes)
}

// TestOrderTimesStableAcrossRoundTrip: the pass that asks Query Order and
// every later pass, which reads the times back from the status (whole
// seconds), sequence the orders alike, even for 17-digit times within one
// second, so the plan and the expiry do not switch once the status is
// written.
func TestOrderTimesStableAcrossRoundTrip(t *testing.T) {
	answer := func(created, expiry string) *koogallery.OrderInfo {
		info := mockOrder()
		info.CreateTime, info.OrderLine[0].ExpireTime = created, expiry
		return info
	}
	for _, tc := range []struct {
		name    string
		orders  []saasv1alpha1.AppliedOrder
		created map[string]string // orderId to Query Order's createTime
	}{
		{"two upgrades created within one second, the later arriving first",
			[]saasv1alpha1.AppliedOrder{purchase, upgrade("A"), upgrade("B")},
			map[string]string{"A": "20260101120000900", "B": "20260101120000100"}},
		{"a renewal and a cut created within one second, the cut arriving first",
			[]saasv1alpha1.AppliedOrder{purchase, cut("C", day(10)), renewal("R", day(20))},
			map[string]string{"C": "20260101120000900", "R": "20260101120000100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			// The pass that asks Query Order: its times as parsed.
			fresh := map[string]time.Time{}
			var recorded []saasv1alpha1.OrderTime
			for _, o := range ToTime(tc.orders) {
				created := CreateTimeIn(answer(tc.created[o.OrderID], ""), time.UTC)
				g.Expect(created).NotTo(BeNil())
				fresh[o.OrderID] = created.Time
				recorded = append(recorded, saasv1alpha1.OrderTime{OrderID: o.OrderID, CreateTime: *created})
			}
			plan := PlanOrder(tc.orders, "SELF", "SELF-1", fresh)
			resolved, err := ResolvedIn(answer("20260101115959500", "20290115235959999"),
				&saasv1alpha1.AppliedOrder{OrderID: plan.OrderID}, time.UTC)
			g.Expect(err).NotTo(HaveOccurred())
			expiry := ExpiryInForce(nil, resolved, tc.orders, fresh)

			// Every later pass: the status read back.
			storedOrder, stored := statusRoundTrip(g, resolved, recorded)
			g.Expect(PlanOrder(tc.orders, "SELF", "SELF-1", stored).OrderID).To(Equal(plan.OrderID), "plan order")
			later := ExpiryInForce(nil, storedOrder, tc.orders, stored)
			g.Expect(later).NotTo(BeNil())
			g.Expect(expiry).NotTo(BeNil())
			g.Expect(later.Time).To(BeTemporally("==", expiry.Time), "expiry in force")
		})
	}
}

// The expiry of the order that selects the plan, alone (no renewal-type
// order), is the same before and after the status round trip.
func TestResolvedExpiryStableAcrossRoundTrip(t *testing.T) {
	g := NewWithT(t)
	info := mockOrder()
	info.OrderLine[0].ExpireTime = "20251121235959999"
	resolved, err := ResolvedIn(info, &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW"}, time.UTC)
	g.Expect(err).NotTo(HaveOccurred())
	fresh := ExpiryInForce(nil, resolved, []saasv1alpha1.AppliedOrder{purchase}, nil)
	storedOrder, _ := statusRoundTrip(g, resolved, nil)
	later := ExpiryInForce(nil, storedOrder, []saasv1alpha1.AppliedOrder{purchase}, nil)
	g.Expect(later.Time).To(BeTemporally("==", fresh.Time))
}
