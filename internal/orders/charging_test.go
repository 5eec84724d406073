package orders

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A chargingMode outside the four spec §6.3 lists is left unset by
// Resolved (nothing meters the tenant, nothing makes it a package), and
// UnknownChargingMode keeps the raw value for the controller to report:
// before, nothing said the order's mode was not understood.
func TestUnknownChargingModeKeepsTheRawValue(t *testing.T) {
	order := &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "MOCKPERIODYEARNEW-000001"}
	for _, tc := range []struct {
		name        string
		mode        string
		wantUnknown bool
		wantRaw     string
	}{
		{name: "periodic", mode: koogallery.ChargingPeriod},
		{name: "one-time", mode: koogallery.ChargingOneTime},
		{name: "pay-per-use", mode: koogallery.ChargingOnDemand},
		{name: "a pay-per-use package", mode: koogallery.ChargingOnDemandPackage},
		{name: "a mode the spec does not list", mode: "ON_DEMAND_V2", wantUnknown: true, wantRaw: "ON_DEMAND_V2"},
		{name: "another case of a known mode", mode: "on_demand", wantUnknown: true, wantRaw: "on_demand"},
		{name: "none at all", mode: "", wantUnknown: true, wantRaw: ""},
		{name: "a long one, cut to 32 characters", mode: strings.Repeat("模", 40), wantUnknown: true,
			wantRaw: strings.Repeat("模", 32) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			info := mockOrder()
			info.OrderLine[0].ChargingMode = tc.mode
			raw, unknown := UnknownChargingMode(info, order)
			g.Expect(unknown).To(Equal(tc.wantUnknown))
			g.Expect(raw).To(Equal(tc.wantRaw))
			resolved, err := Resolved(info, order)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.wantUnknown {
				g.Expect(resolved.ChargingMode).To(BeEmpty(), "the safest known mode: none, so neither metered nor a package")
			} else {
				g.Expect(resolved.ChargingMode).NotTo(BeEmpty())
			}
		})
	}
}

// Without the order's line there is no mode to report: Resolved refuses
// the answer, and says so itself.
func TestUnknownChargingModeOfAnAnswerWithoutTheLine(t *testing.T) {
	raw, unknown := UnknownChargingMode(mockOrder(), &saasv1alpha1.AppliedOrder{OrderID: "MOCKPERIODYEARNEW", OrderLineID: "OTHER"})
	NewWithT(t).Expect(unknown).To(BeFalse())
	NewWithT(t).Expect(raw).To(BeEmpty())
}
