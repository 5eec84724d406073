package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkQueryInstanceUnderMadeUpNames measures a signed queryInstance's
// p99 while 16 clients send 2,000 unsigned callbacks a second in all, each
// naming a product that does not exist: anyone can, and each misses the
// cache. It reports the ratio to the p99 of the same receiver idle,
// measured first in the same run, and the API-server reads of a product
// the flood cost a second (the query reads none: its product is cached).
// "no-budget" confirms every name with the API server (as before
// 2026-12-05, late evening); "budget" is today's receiver
// (Options.UnauthenticatedReadsPerSecond).
func BenchmarkQueryInstanceUnderMadeUpNames(b *testing.B) {
	for _, tc := range []struct {
		name      string
		perSecond float64
	}{{"no-budget", 1e9}, {"budget", DefaultOptions().UnauthenticatedReadsPerSecond}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := DefaultOptions()
			opts.Namespace, opts.UnauthenticatedReadsPerSecond = operatorNamespace, tc.perSecond
			reads := &countingReader{Reader: receiver.reader}
			r, err := NewReceiver(receiver.client, reads, opts)
			if err != nil {
				b.Fatal(err)
			}
			query := newFloodQuery(b, r)
			idle := p99(query.times(b, 200))
			body := `{"activity":"queryInstance","instanceId":"i-1"}`
			before, start := reads.productGets.Load(), time.Now()
			flood := pace(r, 16, 2000, func(n int64) *http.Request {
				return httptest.NewRequest(http.MethodPost, fmt.Sprintf("%smade-up-%d", CallbackPathPrefix, n), strings.NewReader(body))
			})
			b.ResetTimer()
			loaded := p99(query.times(b, b.N))
			b.StopTimer()
			flood.stop()
			reportP99(b, loaded, idle)
			b.ReportMetric(float64(reads.productGets.Load()-before)/time.Since(start).Seconds(), "apireads/s")
		})
	}
}
