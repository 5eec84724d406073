package webhook

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Callback metrics, on controller-runtime's registry so the manager's
// metrics endpoint serves them. Labels are bounded: product (the name of a
// SaaSProduct kooper holds, or ""), activity (known values or "unknown") and
// result code; never a tenant or order ID.
var (
	callbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_callbacks_total",
		Help: "Marketplace callbacks answered, by product (\"\" when the request named none kooper holds), activity and result code.",
	}, []string{"product", "activity", "result_code"})

	callbackDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kooper_callback_duration_seconds",
		Help:    "Time to answer a marketplace callback, by activity.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"activity"})

	// timestampRejected counts callbacks (basic and kit) whose timestamp lay
	// outside --signature-window (spec §2.1.2 step 3): direction "past" for
	// too old, "future" for too far ahead. The check comes before the
	// signature's, so unsigned requests count too.
	timestampRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_callback_timestamp_rejected_total",
		Help: "Callbacks refused because their timestamp lay outside the signature window, by direction (past or future).",
	}, []string{"direction"})

	// timestampSkew is |now - timestamp| of each callback whose signature
	// verified, in seconds: how close the marketplace's clock and ours are
	// to the window before callbacks start failing.
	timestampSkew = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kooper_callback_timestamp_skew_seconds",
		Help:    "Absolute difference between a verified callback's timestamp and the receiver's clock, in seconds.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300},
	})

	// unauthenticatedReadsTotal counts the API-server reads asked for by
	// requests not yet authenticated (Options.UnauthenticatedReadsPerSecond):
	// result "read" when made, "refused" when the budget was spent and the
	// request answered 000005 (503 on the revocation list). A steady
	// "refused" rate is someone sending made-up product names.
	unauthenticatedReadsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_receiver_unauthenticated_reads_total",
		Help: "API-server reads asked for by requests not yet authenticated (a product or keys Secret missing from the cache, or keys that refused a signature), by result (read or refused).",
	}, []string{"result"})

	// auditLinesNotLogged counts the audit lines not written for requests
	// refused before their signature verified, beyond
	// Options.UnauthenticatedAuditLinesPerSecond; kooper_callbacks_total
	// counts those requests all the same.
	auditLinesNotLogged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kooper_receiver_audit_lines_not_logged_total",
		Help: "Audit lines not written for requests that ended before their signature verified, beyond the receiver's budgets of such lines (refusals, and failures apart).",
	})

	// instancesLeftOut counts the instances a queryInstance about several
	// answered without (an instanceFault): the callback is answered for
	// the others, so kooper_callbacks_total does not show them.
	instancesLeftOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_query_instances_left_out_total",
		Help: "Instances left out of a queryInstance answer about several because their details cannot be built until the merchant repairs them (credentials key unreadable or not the tenant's, licence key Secret unreadable, record lost with its CRD), by product.",
	}, []string{"product"})
)

// Results of kooper_receiver_unauthenticated_reads_total.
const (
	readAllowed = "read"
	readRefused = "refused"
)

// Directions of kooper_callback_timestamp_rejected_total.
const (
	directionPast   = "past"
	directionFuture = "future"
)

// The receiver's metrics are registered in every process that imports
// this package (main.go does in each), but a labelled one is served only
// once it has a series: its series are the receiver's to create
// (createReceiverSeries), so that a process that does not run it serves
// none.
func init() {
	metrics.Registry.MustRegister(callbacksTotal, callbackDuration, timestampRejected, timestampSkew, unauthenticatedReadsTotal, auditLinesNotLogged, instancesLeftOut)
}

// createReceiverSeries creates, at 0, the receiver's series that must exist
// from its start; Setup calls it, and a second call changes nothing. Never
// in init: the controllers' pods import this package too and are scraped
// under the receiver's namespace label, so absent(kooper_callbacks_total)
// in KooperMetricsAbsent would stay false with every receiver down.
func createReceiverSeries() {
	unauthenticatedReadsTotal.WithLabelValues(readAllowed)
	unauthenticatedReadsTotal.WithLabelValues(readRefused)
	// Both directions exist from the start, so a rate() over them is 0, not absent.
	timestampRejected.WithLabelValues(directionPast)
	timestampRejected.WithLabelValues(directionFuture)
	// So is the one series the alerts watch (charts/kooper/templates/prometheusrule.yaml)
	// that names no product: increase() over a series that first appears at
	// N counts 0, and would miss the first failures. A product's come with
	// its first callback (observeCall).
	callbacksTotal.WithLabelValues(noProduct, unknownActivity, string(koogallery.ResultInternalError))
}

// noProduct is the product label of a call that names no SaaSProduct kooper
// holds, or was refused before the product was read (an unknown path, kit
// interface or method, the reads' budget spent): the URL's segment is
// anyone's to choose, and would make a series of each. No SaaSProduct is
// named "", and Prometheus stores it as no label.
const noProduct = ""

// productLabel names a call's product in kooper_callbacks_total: the
// SaaSProduct's name once the receiver has read it, else noProduct.
func productLabel(product *saasv1alpha1.SaaSProduct) string {
	if product == nil {
		return noProduct
	}
	return product.Name
}

// productsSeen holds the products whose alert series exist (see
// seriesOfProduct): names of SaaSProducts kooper holds, so bounded; a
// deleted one is forgotten (forgetProduct).
var productsSeen sync.Map

// forgetProduct deletes every series of product, a SaaSProduct just
// deleted, so that neither the process nor its dashboards keep it, and
// forgets it was seen: one created again under its name gets its alert
// series at 0 again with its first callback. A callback answered for the
// product while it is deleted may count it again; its next deletion, or a
// restart, drops that.
func forgetProduct(product string) {
	if product == noProduct {
		return
	}
	callbacksTotal.DeletePartialMatch(prometheus.Labels{"product": product})
	instancesLeftOut.DeleteLabelValues(product)
	// Last: forgotten first, a callback answered meanwhile would create
	// the alert series again and mark the product seen, and the series
	// deleted next would not come back if it were created again.
	productsSeen.Delete(product)
}

// seriesOfProduct creates, once per product, the series the alerts watch:
// its 000001 (the signature is checked before the activity is read) and
// every activity's 000000 and 000005, at 0, so that increase() counts each
// refusal or failure after the product's first callback.
func seriesOfProduct(product string) {
	if product == noProduct {
		return
	}
	if _, seen := productsSeen.LoadOrStore(product, true); seen {
		return
	}
	callbacksTotal.WithLabelValues(product, unknownActivity, string(koogallery.ResultAuthFailed))
	for activity := range knownActivities {
		callbacksTotal.WithLabelValues(product, string(activity), string(koogallery.ResultSuccess))
		callbacksTotal.WithLabelValues(product, string(activity), string(koogallery.ResultInternalError))
	}
}

var knownActivities = map[koogallery.Activity]bool{
	koogallery.ActivityNewInstance:          true,
	koogallery.ActivityQueryInstance:        true,
	koogallery.ActivityRefreshInstance:      true,
	koogallery.ActivityUpdateInstanceStatus: true,
	koogallery.ActivityReleaseInstance:      true,
	koogallery.ActivityUpgradeInstance:      true,
	koogallery.ActivityChangeInstanceCheck:  true,
	koogallery.ActivityGetLicenseAsync:      true,
	koogallery.ActivityOrderNotify:          true,
}

// activityLabel names a call's activity in its metrics and its log line:
// one kooper handles, or "unknown". The activity field of a body refused
// as unknown may hold anything, a phone number included, and is neither a
// bounded label nor something to log.
func activityLabel(activity koogallery.Activity) string {
	if knownActivities[activity] {
		return string(activity)
	}
	return unknownActivity
}

// unknownActivity labels a call whose activity is not one kooper handles,
// or is not known yet (a body refused before it is read).
const unknownActivity = "unknown"

// observeCall counts one answered call under its product (productLabel),
// activity and result code, and times it by activity.
func observeCall(product *saasv1alpha1.SaaSProduct, activity koogallery.Activity, code koogallery.ResultCode, elapsed time.Duration) {
	label, productName := activityLabel(activity), productLabel(product)
	seriesOfProduct(productName)
	callbacksTotal.WithLabelValues(productName, label, string(code)).Inc()
	callbackDuration.WithLabelValues(label).Observe(elapsed.Seconds())
}

// observeTimestamp records the timestamp check of one call whose
// verification returned err: which way a refused timestamp missed the
// window, or how far a verified one was from the receiver's clock. Other
// refusals (a missing timestamp, a bad signature) record nothing.
func (r *Receiver) observeTimestamp(timestamp string, err error) {
	var stale *koogallery.TimestampError
	switch {
	case errors.As(err, &stale):
		direction := directionPast
		if stale.Future() {
			direction = directionFuture
		}
		timestampRejected.WithLabelValues(direction).Inc()
	case err == nil:
		if skew, skewErr := r.verifier.Skew(timestamp); skewErr == nil {
			timestampSkew.Observe(math.Abs(skew.Seconds()))
		}
	}
}
