package main

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// apfWaitMetric is kube-apiserver's histogram of the time a request waited
// in API Priority and Fairness's queues before it ran, by flow schema and
// priority level (execute="true": the ones that ran).
const apfWaitMetric = "apiserver_flowcontrol_request_wait_duration_seconds"

// queueWait is one priority level's waits over a window: requests that
// ran, their summed wait and the cumulative count at each bucket's upper
// bound (seconds).
type queueWait struct {
	Count   float64
	Sum     float64
	Buckets map[float64]float64
}

// Mean is the average wait of a request that ran.
func (w queueWait) Mean() time.Duration {
	if w.Count == 0 {
		return 0
	}
	return time.Duration(w.Sum / w.Count * float64(time.Second))
}

// Over is the share of the requests (0–1) that waited longer than bound
// seconds; bound must be one of the histogram's bucket bounds.
func (w queueWait) Over(bound float64) float64 {
	if w.Count == 0 {
		return 0
	}
	return 1 - w.Buckets[bound]/w.Count
}

// plus is w and o summed, bucket by bucket.
func (w queueWait) plus(o queueWait) queueWait {
	s := queueWait{Count: w.Count + o.Count, Sum: w.Sum + o.Sum, Buckets: map[float64]float64{}}
	for le, n := range w.Buckets {
		s.Buckets[le] = n
	}
	for le, n := range o.Buckets {
		s.Buckets[le] += n
	}
	return s
}

// minus is w less an earlier reading.
func (w queueWait) minus(before queueWait) queueWait {
	d := queueWait{Count: w.Count - before.Count, Sum: w.Sum - before.Sum, Buckets: map[float64]float64{}}
	for le, n := range w.Buckets {
		d.Buckets[le] = n - before.Buckets[le]
	}
	return d
}

// queueWaits are the waits by "flow schema / priority level".
type queueWaits map[string]queueWait

// sumWaits is several runs' waits as one: each key's counts summed; nil
// when any run's waits could not be read.
func sumWaits(runs ...queueWaits) queueWaits {
	sum := queueWaits{}
	for _, ws := range runs {
		if ws == nil {
			return nil
		}
		for k, w := range ws {
			sum[k] = sum[k].plus(w)
		}
	}
	return sum
}

// minus is ws less an earlier reading, keeping only keys that ran requests.
func (ws queueWaits) minus(before queueWaits) queueWaits {
	d := queueWaits{}
	for k, w := range ws {
		if diff := w.minus(before[k]); diff.Count > 0 {
			d[k] = diff
		}
	}
	return d
}

// apiServerQueueWaits reads apfWaitMetric from kube-apiserver's /metrics as
// the cluster's admin: what a way's requests waited for a seat, which a
// client's own latency includes but the API server's CPU does not show.
func (b *bench) apiServerQueueWaits(ctx context.Context) (queueWaits, error) {
	httpClient, url, err := b.apiServerMetricsClient()
	if err != nil {
		return nil, err
	}
	return readQueueWaits(ctx, httpClient, url)
}

// readQueueWaits reads apfWaitMetric from the exposition at url.
func readQueueWaits(ctx context.Context, client *http.Client, url string) (queueWaits, error) {
	families, err := metricFamilies(ctx, client, url)
	if err != nil {
		return nil, err
	}
	return queueWaitsOf(families[apfWaitMetric]), nil
}

// queueWaitsOf sums a family of apfWaitMetric by flow schema and priority
// level, over the requests that ran.
func queueWaitsOf(family *dto.MetricFamily) queueWaits {
	ws := queueWaits{}
	for _, m := range family.GetMetric() {
		labels := labelsOf(m)
		if labels["execute"] != "true" {
			continue
		}
		key := labels["flow_schema"] + " / " + labels["priority_level"]
		w := ws[key]
		if w.Buckets == nil {
			w.Buckets = map[float64]float64{}
		}
		h := m.GetHistogram()
		w.Count += float64(h.GetSampleCount())
		w.Sum += h.GetSampleSum()
		for _, bucket := range h.GetBucket() {
			w.Buckets[bucket.GetUpperBound()] += float64(bucket.GetCumulativeCount())
		}
		ws[key] = w
	}
	return ws
}

// writeQueueWaits tables each rate's requests by flow schema and priority
// level: how many ran, their mean wait for a seat and the share that
// waited over 0.1 s, for the receiver's run and the raw Create's.
func writeQueueWaits(p func(string, ...any), rates []rateResult) {
	if !slices.ContainsFunc(rates, func(x rateResult) bool { return len(x.ReceiverWaits)+len(x.RawWaits) > 0 }) {
		return
	}
	p("\nWhat the requests of each run waited in API Priority and Fairness's queues before they ran " +
		"(kube-apiserver's `" + apfWaitMetric + "`, every client's, by flow schema / priority level; " +
		"the receiver and the controllers are ServiceAccounts, the raw `Create` is the cluster's admin, exempt from the queues, " +
		"unless made with the receiver's token):\n")
	p("| Rate/s | run | flow schema / priority level | requests | mean wait | waited > 0.1 s |")
	p("|---:|---|---|---:|---:|---:|")
	for _, x := range rates {
		for _, run := range []struct {
			name  string
			waits queueWaits
		}{{"receiver", x.ReceiverWaits}, {"raw Create", x.RawWaits}, {"raw Create, receiver's token", x.RawAsReceiverWaits}} {
			for _, k := range slices.Sorted(maps.Keys(run.waits)) {
				w := run.waits[k]
				p("| %d | %s | %s | %.0f | %s | %.1f%% |", x.Rate, run.name, k, w.Count,
					w.Mean().Round(10*time.Microsecond), 100*w.Over(0.1))
			}
		}
	}
}

// queueWaitsOver reads the API server's queue waits now and returns a
// function that gives the waits since; a failed read is logged and gives
// nil, leaving the run's other figures standing.
func (b *bench) queueWaitsOver(ctx context.Context) func() queueWaits {
	before, err := b.apiServerQueueWaits(ctx)
	if err != nil {
		logf("Could not read kube-apiserver's queue waits: %v", err)
	}
	return func() queueWaits {
		if before == nil {
			return nil
		}
		after, err := b.apiServerQueueWaits(ctx)
		if err != nil {
			logf("Could not read kube-apiserver's queue waits: %v", err)
			return nil
		}
		return after.minus(before)
	}
}
