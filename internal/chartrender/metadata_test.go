package chartrender

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
)

func TestMetadata(t *testing.T) {
	noAppVersion := packageChart(t, testChartDir, func(c *chart.Chart) {
		c.Metadata.Version, c.Metadata.AppVersion = "2.0.0-rc.1", ""
	})
	library := packageChart(t, testChartDir, func(c *chart.Chart) { c.Metadata.Type = "library" })
	tests := []struct {
		name    string
		archive Archive
		want    ChartMetadata
		wantErr string
		wantIs  error
	}{
		{name: "the test chart", archive: ArchiveFromBytes(packageChart(t, testChartDir, nil)),
			want: ChartMetadata{Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"}},
		{name: "no appVersion", archive: ArchiveFromBytes(noAppVersion), want: ChartMetadata{Name: "crm", Version: "2.0.0-rc.1"}},
		{name: "zero archive", archive: Archive{}, wantErr: "empty chart archive"},
		{name: "empty bytes", archive: ArchiveFromBytes(nil), wantErr: "empty chart archive"},
		{name: "not gzip", archive: ArchiveFromBytes([]byte("name: crm\n")), wantErr: "not a gzipped chart archive"},
		{name: "gzip, not a tar", archive: ArchiveFromBytes(gzipped(t, []byte("hello"))), wantErr: "not a valid chart archive"},
		{name: "oversize", archive: ArchiveFromBytes(make([]byte, MaxArchiveBytes+1)), wantErr: "over 10485760", wantIs: ErrArchiveTooLarge},
		{name: "library chart", archive: ArchiveFromBytes(library), wantErr: "library chart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			got, err := r.Metadata(tt.archive)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				if tt.wantIs != nil {
					g.Expect(err).To(MatchError(tt.wantIs))
				}
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

// TestMetadataSharesRendersCache: the chart Metadata loads is the one
// Render renders, loaded once per digest.
func TestMetadataSharesRendersCache(t *testing.T) {
	g := NewWithT(t)
	var r Renderer
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	_, err := r.Metadata(archive)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = r.Render(context.Background(), archive, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = r.Metadata(archive)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.loads.Load()).To(Equal(int64(1)))
}
