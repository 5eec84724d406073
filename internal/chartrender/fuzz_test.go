package chartrender

import (
	"testing"
)

// FuzzLoad loads arbitrary bytes as a chart archive: it must never panic,
// and what loads must be a chart with a name.
func FuzzLoad(f *testing.F) {
	good := packageChart(f, testChartDir, nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte("apiVersion: v2\nname: x\nversion: 1.0.0\n"))
	f.Add(gzipped(f, []byte("not a tar")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, unpacked, err := load(data)
		if err == nil && (c == nil || c.Name() == "" || unpacked <= 0 || unpacked > MaxUnpackedBytes) {
			t.Fatalf("load gave no error, chart %v and %d bytes unpacked", c, unpacked)
		}
	})
}
