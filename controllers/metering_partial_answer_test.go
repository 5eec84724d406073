package controllers

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/promquery"
)

// thanosWithAStoreDown answers as a Thanos querier with partial responses
// on (its default) does while one of its stores is down: success, no
// series, and a warning naming the store; once storeBack is set, the
// tenant's 3 units, with no warning.
func thanosWithAStoreDown(t *testing.T, storeBack *atomic.Bool) *httptest.Server {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if storeBack.Load() {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]},` +
			`"warnings":["receive series from store-eu-1:10901: rpc error: code = Unavailable"]}`))
	}))
	t.Cleanup(server.Close)
	return server
}

// A Prometheus meter whose answer carries warnings (a Thanos store down:
// fewer series, or none) fails the hour like a failed query: no record,
// the cursor stays, Metered=False with MeterSourceFailed quoting the
// warning, and the hour is measured again and billed whole once the store
// answers. Before, the empty answer was 0 units: the hour was pushed as no
// usage, for good.
func TestAPrometheusAnswerWithWarningsFailsTheHourUntilItIsWhole(t *testing.T) {
	g := NewWithT(t)
	meter := saasv1alpha1.Meter{Name: "calls", Unit: "call", Source: saasv1alpha1.MeterPrometheus, Query: "sum(calls)"}
	tenant := newMeteredTenant(t, []saasv1alpha1.Meter{meter})
	var storeBack atomic.Bool
	h := hourAgo(3)
	r := promMetering(clocktesting.NewFakeClock(h), promquery.Client{})
	r.Options.PrometheusURL = thanosWithAStoreDown(t, &storeBack).URL
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred(), "metering starts at h")

	_, err = meterAt(t, r, h.Add(time.Hour+time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(promquery.ErrPartialAnswer))
	m := storedMetering(t, tenant.Name)
	g.Expect(marketplace.usage.of(tenant.Name)).To(BeEmpty(), "no record")
	g.Expect(m.PushedUntil).To(BeNil(), "the hour is retried, not pushed as no usage")
	c := apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Reason).To(Equal(saasv1alpha1.MeterSourceFailedReason))
	g.Expect(c.Message).To(And(ContainSubstring("meter calls"), ContainSubstring("store-eu-1:10901")))

	storeBack.Store(true)
	_, err = meterAt(t, r, h.Add(time.Hour+2*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	m = storedMetering(t, tenant.Name)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", h.Add(time.Hour)))
	g.Expect(pushedValues(tenant.Name, []saasv1alpha1.Meter{meter})).To(HaveLen(1), "the hour, billed whole")
	for _, v := range pushedValues(tenant.Name, []saasv1alpha1.Meter{meter}) {
		g.Expect(v).To(Equal("3"))
	}
	c = apimeta.FindStatusCondition(m.Conditions, saasv1alpha1.MeteredCondition)
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
}
