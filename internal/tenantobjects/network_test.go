package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseCIDRs(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "172.16.0.0/16", want: []string{"172.16.0.0/16"}},
		{in: " 172.16.0.0/16, fd00:10::/56 ,", want: []string{"172.16.0.0/16", "fd00:10::/56"}},
		{in: "172.16.0.1/16", wantErr: `"172.16.0.1/16": has address bits past the prefix length; write 172.16.0.0/16`},
		{in: "0.0.0.0/0", wantErr: `"0.0.0.0/0" is every address, not the cluster's`},
		{in: "::/0", wantErr: "is every address"},
		{in: "::ffff:172.16.0.0/112", wantErr: "an IPv4 range written as IPv6; write 172.16.0.0/16"},
		{in: "172.16.0.0", wantErr: "not an address range"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseCIDRs(tc.in)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			var strs []string
			for _, p := range got {
				strs = append(strs, p.String())
			}
			g.Expect(strs).To(Equal(tc.want))
		})
	}
}

