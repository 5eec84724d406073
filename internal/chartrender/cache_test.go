package chartrender

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The input: a chart with a 256 KiB ConfigMap, rendered for 300 tenants.
// A cache bounded by its number of results (1024) kept all 300, about
// 300 × 0.6 MiB of the controllers' heap; bounded by bytes, the renderer
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
	g.Expect(held).To(BeNumerically("<", DefaultResultCacheBytes+DefaultChartCacheBytes/4),
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
	_, bigUnpacked, err := load(big.Bytes())
	g.Expect(err).NotTo(HaveOccurred())
	r := &Renderer{ChartCacheBytes: bigUnpacked - 1}
	for i := range 3 {
		opts := testOptions()
		opts.ReleaseName = fmt.Sprintf("t%d", i)
		for _, archive := range []Archive{small, big} {
			_, err := r.Render(context.Background(), archive, kooperValues(), opts)
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
	g.Expect(r.loads.Load()).To(Equal(int64(1+3)), "the small chart once, the big one for each of its 3 renders")
	g.Expect(r.charts.Bytes()).To(BeNumerically("<", bigUnpacked))
}

// renderBytes is what the results cache weighs objs at.
func renderBytes(objs []*unstructured.Unstructured) int64 {
	var n int64
	for _, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			panic(err)
		}
		n += int64(len(j))
	}
	return n
}
