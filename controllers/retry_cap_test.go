package controllers

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kooper-io/kooper/internal/restmapping"
)

// runnableRecorder is a manager that keeps what is added to it, so that a
// test can see the controllers Setup builds without starting any.
type runnableRecorder struct {
	ctrl.Manager
	added []manager.Runnable
}

func (m *runnableRecorder) Add(r manager.Runnable) error {
	m.added = append(m.added, r)
	return m.Manager.Add(r)
}

// registeredLimiters returns the retry rate limiter of every controller
// added to m, by controller name. controller-runtime does not export its
// controller type, so its Name and RateLimiter fields are read by
// reflection; a runnable without them (IssuedInstances) is no controller.
func registeredLimiters(m *runnableRecorder) map[string]workqueue.TypedRateLimiter[reconcile.Request] {
	limiterType := reflect.TypeFor[workqueue.TypedRateLimiter[reconcile.Request]]()
	limiters := map[string]workqueue.TypedRateLimiter[reconcile.Request]{}
	for _, r := range m.added {
		v := reflect.ValueOf(r)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			continue
		}
		name, limiter := v.Elem().FieldByName("Name"), v.Elem().FieldByName("RateLimiter")
		if !name.IsValid() || name.Kind() != reflect.String || !limiter.IsValid() || limiter.Type() != limiterType {
			continue
		}
		if l, ok := limiter.Interface().(workqueue.TypedRateLimiter[reconcile.Request]); ok && l != nil {
			limiters[name.String()] = l
		}
	}
	return limiters
}

// Every controller retries a failing object at least once a retryMaxDelay:
// controller-runtime's default limiter doubles up to 1000 s, so that a
// failure through an outage of half an hour (a chart registry, a delivery,
// a namespace deletion, a missing keys Secret) left the object up to
// 16m40s late after the outage ended, and every buyer of a new chart
// product waiting on it.
func TestEveryControllerCapsItsRetries(t *testing.T) {
	g := NewWithT(t)
	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme: testEnv.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: CacheOptions(operatorNamespace), MapperProvider: restmapping.Provider,
		// The suite's manager in this process registered the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	recorder := &runnableRecorder{Manager: mgr}
	// Never started: only the controllers Setup builds are looked at.
	g.Expect(Setup(recorder, Config{
		Namespace: operatorNamespace, DirectoryNamespace: directoryNamespace, IngressNamespace: "ingress-nginx",
		ProductsConfigMap: productsConfigMap, MonitoringNamespace: monitoringNamespace,
		MaxConcurrentReconciles: 2, Clock: clocktesting.NewFakeClock(time.Now()),
		Orders:  MarketplaceOrderClients(marketplace.server.URL),
		Uploads: MarketplaceUploadClients(marketplace.server.URL),
		Usage:   MarketplaceUsageClients(marketplace.server.URL),
	})).To(Succeed())

	limiters := registeredLimiters(recorder)
	// The controllers known today must be found, so that a change in how
	// controller-runtime holds its limiter fails here rather than passing
	// with nothing checked; a controller added later is checked as well.
	g.Expect(slices.Sorted(maps.Keys(limiters))).To(ContainElements("keyssecret", "license", "metering", "ordernotification", "ordernotification-summary",
		"productconfig", "saasdirectory", "saasproduct", "saasproduct-rollout", "saastenant", "retention"))
	// Each controller's wait after its 40th failure in a row: a failure
	// every minute or less through an outage of half an hour or more.
	waits := map[string]time.Duration{}
	for name, limiter := range limiters {
		failing := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: operatorNamespace, Name: "failing-" + name}}
		for range 40 {
			waits[name] = limiter.When(failing)
		}
	}
	late := maps.Collect(func(yield func(string, time.Duration) bool) {
		for name, wait := range waits {
			if wait > retryMaxDelay && !yield(name, wait) {
				return
			}
		}
	})
	g.Expect(late).To(BeEmpty(), "controllers that wait longer than %s after 40 failures in a row", retryMaxDelay)
}
