package webhook

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// licenseWindowBody is a getLicenseAsync of instance id for the window given.
func licenseWindowBody(id, eventID, effective, expire string) string {
	return fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":%q,"effectiveTime":%q,"expireTime":%q}`, id, eventID, effective, expire)
}

// TestGetLicenseAsyncRefusesAWindowThatEndsBeforeItStarts: a licence
// window whose end is not after its start, at the whole seconds a License
// stores, is a bad request (000002, naming the fields), not a failure the
// marketplace retries for two hours (000005: the API server refuses the
// License). Half a second across a second's boundary is a window of one
// stored second, and is accepted.
func TestGetLicenseAsyncRefusesAWindowThatEndsBeforeItStarts(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := f.buy(t)
	cases := []struct{ name, effective, expire, code string }{
		{"earlier", "2026-11-22 10:30:15 z", "2026-11-22 10:30:14 z", "000002"},
		{"equal", "2026-11-22 10:30:15 z", "2026-11-22 10:30:15 z", "000002"},
		{"equal, spelled otherwise", "2026-11-22 10:30:15 z", "2026-11-22T18:30:15+08:00", "000002"},
		{"less than a second later, within one second", "2026-11-22T10:30:15.1Z", "2026-11-22T10:30:15.9Z", "000002"},
		{"less than a second later, across a second", "2026-11-22T10:30:15.9Z", "2026-11-22T10:30:16.1Z", "000000"},
		{"a second later", "2026-11-22 10:30:15 z", "2026-11-22 10:30:16 z", "000000"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := f.call(t, licenseWindowBody(id, fmt.Sprintf("evt-window-%d-%s", i, newOrderID()), tc.effective, tc.expire))
			g.Expect(a.Code).To(Equal(tc.code), a.Msg)
			if tc.code == "000002" {
				g.Expect(a.Msg).To(ContainSubstring("expireTime must be later than effectiveTime"))
				g.Expect(a.Msg).NotTo(ContainSubstring("2026"))
			}
		})
	}
}

// TestGetLicenseAsyncRefusesATimeALicenseCannotStore: a time whose UTC year
// is before 1 or after 9999 is no date-time to the API server (422, which
// would be answered 000005), and 0001-01-01 00:00:00 is the zero time, which
// a License stores as no time at all. Each is a bad request, naming the field.
func TestGetLicenseAsyncRefusesATimeALicenseCannotStore(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := f.buy(t)
	cases := []struct{ name, effective, expire, says string }{
		{"a start before the year 1 in UTC", "0000-01-01T00:00:00+01:00", "2027-01-01 00:00:00 z", "effectiveTime must be"},
		{"a start at the zero time", "0001-01-01 00:00:00 z", "2027-01-01 00:00:00 z", "effectiveTime must be"},
		{"an end after the year 9999 in UTC", "2026-01-01 00:00:00 z", "9999-12-31T23:59:59-05:00", "expireTime must be"},
		// Every licence window ends by 9999-12-31 23:59:59 z: one that
		// starts then is empty, and was answered 000000, then stalled
		// Expired, never uploaded.
		{"a start at the last instant, without an end", "9999-12-31 23:59:59 z", "", "effectiveTime must be before 9999-12-31 23:59:59 z"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := f.call(t, licenseWindowBody(id, fmt.Sprintf("evt-range-%d-%s", i, newOrderID()), tc.effective, tc.expire))
			g.Expect(a.Code).To(Equal("000002"), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tc.says))
		})
	}
	g := NewWithT(t)
	a := f.call(t, licenseWindowBody(id, "evt-range-ok-"+newOrderID(), "0001-01-01 00:00:01 z", "9999-12-31 23:59:59 z"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
}
