package kubectlkooper

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
)

// TestLicenseIssueDaysAreWholeDaysInADaylightSavingZone: --days counts
// days of 24 hours, UTC days as the controller's validityDays and the
// spec's licence times (§3.10), whatever zone the operator's machine is
// in. The start, now or a --not-before whose offset is the local zone's,
// is a time in the local zone; calendar days there made a 30-day key
// spanning the spring change an hour short.
func TestLicenseIssueDaysAreWholeDaysInADaylightSavingZone(t *testing.T) {
	g := NewWithT(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	g.Expect(err).NotTo(HaveOccurred())
	local := time.Local
	time.Local = berlin
	t.Cleanup(func() { time.Local = local })

	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "public.pem")
	g.Expect(cli("", "license", "keygen", "--private", priv, "--public", pub).code).To(Equal(ExitOK))
	// Berlin moves to summer time on 2026-03-29.
	start := time.Date(2026, 3, 20, 0, 0, 0, 0, berlin)
	for name, args := range map[string][]string{
		"from now":          nil,
		"from --not-before": {"--not-before", start.Format(time.RFC3339)},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := kooperWith(func() time.Time { return start }, "", append([]string{"license", "issue", "--private", priv,
				"--product", "OFFL1", "--instance", "i-1", "--days", "30"}, args...)...)
			g.Expect(r.code).To(Equal(ExitOK), r.output())
			key, err := licensekey.Parse(strings.TrimSpace(r.out))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(key.Claims.NotBefore).To(Equal(start.Unix()))
			g.Expect(key.Claims.NotAfter-key.Claims.NotBefore).To(Equal(int64(30*24*3600)), "30 days of 24 hours")
		})
	}
}
