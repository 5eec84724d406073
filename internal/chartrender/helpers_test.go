package chartrender

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// testChartDir is the multi-part test chart: a web Deployment, Service and
// Ingress, a worker Deployment, a Redis StatefulSet, a ConfigMap, a
// pre-install Job, a test Pod, NOTES.txt and extraObjects.
const testChartDir = "testdata/crm"

// packageChart packages the chart of dir as a .tgz with Helm's own writer,
// after edit (if not nil) changed the loaded chart.
func packageChart(tb testing.TB, dir string, edit func(*chart.Chart)) []byte {
	tb.Helper()
	c, err := loader.LoadDir(dir)
	if err != nil {
		tb.Fatalf("loading %s: %v", dir, err)
	}
	if edit != nil {
		edit(c)
	}
	path, err := chartutil.Save(c, tb.TempDir())
	if err != nil {
		tb.Fatalf("packaging %s: %v", dir, err)
	}
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// testOptions are the options of tenant t1.
func testOptions() Options {
	return Options{ReleaseName: "t1", Namespace: "tenant-t1", KubeVersion: "v1.37.2"}
}

// ids gives "Kind/name" of each object, in order.
func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetKind() + "/" + o.GetName()
	}
	return out
}

// find returns the object of kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// nested reads a field of obj by path, failing the test when it is absent.
func nested(tb testing.TB, obj *unstructured.Unstructured, path ...string) any {
	tb.Helper()
	if obj == nil {
		tb.Fatalf("no object to read %v from", path)
	}
	v, ok, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if err != nil || !ok {
		tb.Fatalf("%s/%s has no %v (%v)", obj.GetKind(), obj.GetName(), path, err)
	}
	return v
}

// withConfigMapOf adds to the test chart a ConfigMap whose data is n bytes,
// as a chart carrying a dashboard or a configuration file does.
func withConfigMapOf(n int) func(*chart.Chart) {
	return func(c *chart.Chart) {
		tmpl := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-dashboard\ndata:\n  dashboard.json: " +
			strings.Repeat("x", n) + "\n"
		c.Templates = append(c.Templates, &chart.File{Name: "templates/dashboard.yaml", Data: []byte(tmpl)})
	}
}

// liveHeap is the bytes of the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
