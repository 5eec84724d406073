package ocitest_test

import (
	"testing"

	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// The registry's charts are the ones kooper's fetcher reads.
func TestMediaTypesAreTheFetchers(t *testing.T) {
	if string(ocitest.ChartLayerMediaType) != chartrender.ChartLayerMediaType || string(ocitest.ConfigMediaType) != chartrender.ChartConfigMediaType {
		t.Errorf("ocitest pushes %s and %s; chartrender reads %s and %s", ocitest.ConfigMediaType, ocitest.ChartLayerMediaType,
			chartrender.ChartConfigMediaType, chartrender.ChartLayerMediaType)
	}
}
