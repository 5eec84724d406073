package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
)

// TestTheDefaultGatewayImageIsTheBuildsOwnVersion: the API reference says
// a product's gateway image defaults to the image the controllers were
// started with; only the chart passed it, and a plain binary ran
// ghcr.io/kooper-io/kooper:latest, another release than its own (or an
// image an air-gapped cluster cannot pull).
func TestTheDefaultGatewayImageIsTheBuildsOwnVersion(t *testing.T) {
	g := NewWithT(t)
	g.Expect(GatewayImageOfVersion("0.1.0")).To(Equal("ghcr.io/kooper-io/kooper:0.1.0"))
	g.Expect(GatewayImageOfVersion("v0.2.0-rc.1")).To(Equal("ghcr.io/kooper-io/kooper:v0.2.0-rc.1"))
	for _, v := range []string{"", "(devel)", "0.1.0+dirty", "has space"} {
		g.Expect(GatewayImageOfVersion(v)).To(Equal(DefaultGatewayImage), "version %q is no image tag", v)
	}
}
