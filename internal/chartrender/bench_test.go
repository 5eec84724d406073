package chartrender

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
)

// BenchmarkRenderCacheHit is a reconcile of a tenant whose render is cached:
// what the tenant controller pays on each pass after the first.
func BenchmarkRenderCacheHit(b *testing.B) {
	archive := ArchiveFromBytes(packageChart(b, testChartDir, nil))
	r := &Renderer{}
	ctx := context.Background()
	if _, err := r.Render(ctx, archive, kooperValues(), testOptions()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(ctx, archive, kooperValues(), testOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderCacheHeld reports the heap a Renderer holds per cached
// render, after rendering the test chart for 500 tenants (B-held/tenant).
func BenchmarkRenderCacheHeld(b *testing.B) {
	benchmarkHeld(b, nil)
}

// BenchmarkRenderCacheHeldBigConfigMap is BenchmarkRenderCacheHeld with a
// 256 KiB ConfigMap in the chart: B-held/tenant is the total over 500.
func BenchmarkRenderCacheHeldBigConfigMap(b *testing.B) {
	benchmarkHeld(b, withConfigMapOf(256<<10))
}

func benchmarkHeld(b *testing.B, edit func(*chart.Chart)) {
	const tenants = 500
	archive := ArchiveFromBytes(packageChart(b, testChartDir, edit))
	var held int64
	for b.Loop() {
		r := &Renderer{}
		before := liveHeap()
		for i := range tenants {
			opts := testOptions()
			opts.ReleaseName, opts.Namespace = fmt.Sprintf("t%d", i), fmt.Sprintf("tenant-t%d", i)
			if _, err := r.Render(context.Background(), archive, kooperValues(), opts); err != nil {
				b.Fatal(err)
			}
		}
		held = int64(liveHeap()) - int64(before)
		runtime.KeepAlive(r)
	}
	b.ReportMetric(float64(held)/tenants, "B-held/tenant")
}
