package controllers

import (
	"bytes"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/chartrender"
)

// The archives Charts keeps are bounded by their bytes: an archive heavier
// than the budget is fetched again when needed, lighter ones are kept, the
// least recently used going first.
func TestChartsKeepArchivesWithinTheirBytes(t *testing.T) {
	g := NewWithT(t)
	c := &Charts{CacheBytes: 100}
	archive := func(b byte, n int) chartrender.Archive {
		return chartrender.ArchiveFromBytes(bytes.Repeat([]byte{b}, n))
	}
	heavy, a, b := archive('h', 101), archive('a', 60), archive('b', 60)
	for _, x := range []chartrender.Archive{heavy, a, b} {
		c.keep(x)
	}
	_, ok := c.cache().Get(heavy.Digest())
	g.Expect(ok).To(BeFalse(), "an archive over the budget is not kept")
	_, ok = c.cache().Get(a.Digest())
	g.Expect(ok).To(BeFalse(), "the older archive made room for the newer")
	kept, ok := c.cache().Get(b.Digest())
	g.Expect(ok).To(BeTrue())
	g.Expect(kept.Bytes()).To(Equal(b.Bytes()))
	g.Expect(c.cache().Bytes()).To(Equal(int64(60)))

	defaults := &Charts{}
	for i := range 6 {
		defaults.keep(archive(byte('m'+i), chartrender.MaxArchiveBytes))
	}
	g.Expect(defaults.cache().Len()).To(Equal(6), "by default six of the largest archives fit")
}
