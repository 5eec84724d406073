package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Callback metrics, on controller-runtime's registry so the manager's
// metrics endpoint serves them. Labels are bounded: activity (known values or
// "unknown") and result code; never a tenant or order ID.
var (
	callbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kooper_callbacks_total",
		Help: "Marketplace callbacks answered, by activity and result code.",
	}, []string{"activity", "result_code"})

	callbackDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kooper_callback_duration_seconds",
		Help:    "Time to answer a marketplace callback, by activity.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"activity"})
)

func init() {
	metrics.Registry.MustRegister(callbacksTotal, callbackDuration)
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
}

func observeCall(activity koogallery.Activity, code koogallery.ResultCode, elapsed time.Duration) {
	label := "unknown"
	if knownActivities[activity] {
		label = string(activity)
	}
	callbacksTotal.WithLabelValues(label, string(code)).Inc()
	callbackDuration.WithLabelValues(label).Observe(elapsed.Seconds())
}
