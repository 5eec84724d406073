package chartrender

import "errors"

// ChartMetadata is what a chart says of itself in its Chart.yaml. Helm
// bounds none of its lengths (a SemVer pre-release may be any length, an
// appVersion is any string): a caller that records them bounds them itself.
type ChartMetadata struct {
	// Name is the chart's name.
	Name string
	// Version is the chart's version (SemVer).
	Version string
	// AppVersion is the version of the app the chart deploys; "" when
	// Chart.yaml has none.
	AppVersion string
}

// Metadata loads archive's chart, as Render does and sharing its cache of
// loaded charts (once per digest), and returns its name, version and
// appVersion. It fails as Render does on an archive that is empty, oversize
// (wrapping ErrArchiveTooLarge), not a valid chart or a library chart.
func (r *Renderer) Metadata(archive Archive) (ChartMetadata, error) {
	r.init()
	if archive.digest == "" {
		return ChartMetadata{}, errors.New("empty chart archive")
	}
	c, err := r.chart(archive)
	if err != nil {
		return ChartMetadata{}, err
	}
	return ChartMetadata{Name: c.Metadata.Name, Version: c.Metadata.Version, AppVersion: c.Metadata.AppVersion}, nil
}
