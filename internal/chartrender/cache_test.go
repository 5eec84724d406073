package chartrender

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// The input: a chart with a 256 KiB ConfigMap, rendered for 300 tenants.
// A cache bounded by its number of results (1024) kept all 300, about
// 300 × 0.29 MiB of the controllers' heap; bounded by bytes, the renderer
// keeps at most ResultCacheBytes of them, whatever the chart's size.
func TestTheRenderCacheHoldsAtMostItsBytes(t *testing.T) {
	g := NewWithT(t)
	archive := ArchiveFromBytes(packageChart(t, testChartDir, withConfigMapOf(256<<10)))
	r := &Renderer{}
	before := liveHeap()
	for i := range 300 {
		opts := testOptions()
		opts.ReleaseName, opts.Namespace = fmt.Sprintf("t%d", i), fmt.Sprintf("tenant-t%d", i)
		_, err := r.Render(context.Background(), archive, kooperValues(), opts)
		g.Expect(err).NotTo(HaveOccurred())
	}
	held := int64(liveHeap()) - int64(before)
	runtime.KeepAlive(r)
	t.Logf("the renderer holds %d MiB after 300 renders", held>>20)
	// The budget, and room for the loaded chart and the heap's noise.
	g.Expect(held).To(BeNumerically("<", DefaultResultCacheBytes+8<<20),
		"the results held are bounded by bytes, not by their number")
	g.Expect(r.results.Bytes()).To(BeNumerically("<=", DefaultResultCacheBytes))
	g.Expect(r.results.Len()).To(BeNumerically(">", 30), "the budget still holds many renders of this chart")
}

// A chart heavier than the chart cache's budget is loaded for each render;
// lighter ones are loaded once.
func TestTheChartCacheHoldsAtMostItsBytes(t *testing.T) {
	g := NewWithT(t)
	small := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	big := ArchiveFromBytes(packageChart(t, testChartDir, withConfigMapOf(64<<10)))
	bigChart, bigUnpacked, err := load(big.Bytes())
	g.Expect(err).NotTo(HaveOccurred())
	bigWeight := weight(bigChart, bigUnpacked)
	r := &Renderer{ChartCacheBytes: bigWeight - 1}
	for i := range 3 {
		opts := testOptions()
		opts.ReleaseName = fmt.Sprintf("t%d", i)
		for _, archive := range []Archive{small, big} {
			_, err := r.Render(context.Background(), archive, kooperValues(), opts)
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
	g.Expect(r.loads.Load()).To(Equal(int64(1+3)), "the small chart once, the big one for each of its 3 renders")
	g.Expect(r.charts.Bytes()).To(BeNumerically("<", bigWeight))
}

// A loaded chart is weighed at about the heap it holds, its parsed values
// included: a values.yaml of 1 MiB of small keys took 9 MB loaded, which
// its unpacked bytes alone would weigh at 1 MiB.
func TestALoadedChartIsWeighedAtWhatItHolds(t *testing.T) {
	g := NewWithT(t)
	var values strings.Builder
	for i := 0; values.Len() < 1<<20; i++ {
		fmt.Fprintf(&values, "key%d: v%d\n", i, i)
	}
	data := packageChart(t, testChartDir, func(c *chart.Chart) {
		for _, f := range c.Raw {
			if f.Name == chartutil.ValuesfileName {
				f.Data = append(f.Data, values.String()...)
			}
		}
		parsed, err := chartutil.ReadValues([]byte(values.String()))
		g.Expect(err).NotTo(HaveOccurred())
		maps.Copy(c.Values, parsed)
	})
	before := liveHeap()
	c, unpacked, err := load(data)
	held := int64(liveHeap()) - int64(before)
	g.Expect(err).NotTo(HaveOccurred())
	w := weight(c, unpacked)
	runtime.KeepAlive(c)
	t.Logf("held %d B, unpacked %d B, weighed %d B", held, unpacked, w)
	g.Expect(w).To(BeNumerically(">=", held*2/3), "weighed at no less than two thirds of what it holds")
	g.Expect(w).To(BeNumerically("<=", held*3/2), "weighed at no more than half again what it holds")
}
