package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// twoMeters make two records per hour: 60 unpushed hours are 120 records.
var twoMeters = []saasv1alpha1.Meter{
	{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours},
	{Name: "replicas", Unit: "replica-hour", Source: saasv1alpha1.MeterReplicaHours},
}

// limitedUsage is a usage-data endpoint that refuses, whole, any push of
// more than limit records with MKT.9003, as the marketplace does if its
// limit is the 100 of one error-code description (spec §8 item 19), and
// hands the others to the suite's fake marketplace. It counts the records
// of every push it let through, per instance.
type limitedUsage struct {
	limit  int
	server *httptest.Server
	mu     sync.Mutex
	pushes map[string][]int
	refuse map[string]int
}

func newLimitedUsage(t *testing.T, limit int) *limitedUsage {
	t.Helper()
	l := &limitedUsage{limit: limit, pushes: map[string][]int{}, refuse: map[string]int{}}
	l.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var push struct {
			UsageRecords []koogallery.UsageRecord `json:"usage_records"`
		}
		_ = json.Unmarshal(body, &push)
		instance := ""
		if len(push.UsageRecords) > 0 {
			instance = push.UsageRecords[0].InstanceID
		}
		l.mu.Lock()
		over := len(push.UsageRecords) > l.limit
		if over {
			l.refuse[instance]++
		} else {
			l.pushes[instance] = append(l.pushes[instance], len(push.UsageRecords))
		}
		l.mu.Unlock()
		if over {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "MKT.9003",
				"error_msg": fmt.Sprintf("%d records; at most %d per request", len(push.UsageRecords), l.limit)})
			return
		}
		marketplace.usage.serve(w, r)
	}))
	t.Cleanup(l.server.Close)
	return l
}

// of returns the sizes of instance's pushes let through, and how many
// pushes of it were refused for their size.
func (l *limitedUsage) of(instance string) ([]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pushes[instance]), l.refuse[instance]
}

// meteringWith is meteringAt pushing through usage.
func meteringWith(clk *clocktesting.FakeClock, usage UsageClientFactory, maxRecords int) *MeteringReconciler {
	return &MeteringReconciler{
		Client: k8sClient, Reader: k8sClient, Recorder: &events.FakeRecorder{}, Clock: clk,
		Usage: usage, Options: MeteringOptions{SecretNamespace: operatorNamespace, MaxUsageRecords: maxRecords},
	}
}

// expectBacklogPushed checks that tenant's 60-hour backlog from start, of
// two meters, reached the marketplace whole: 120 records, the cursor at its
// end, nothing left in flight, each hour counted once.
func expectBacklogPushed(g Gomega, t *testing.T, tenant string, start time.Time) {
	g.Expect(marketplace.usage.of(tenant)).To(HaveLen(120))
	m := storedMetering(t, tenant)
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", start.Add(60*time.Hour)))
	g.Expect(m.InFlight).To(BeNil())
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "60", "replicas": "60"}))
}

// TestMeterABacklogOverALimitOf100GoesInTwoPushes: after 60 hours unpushed,
// a tenant with two meters has 120 records. By default a push carries at
// most 100 (spec §8 item 19: 100 or 1000), so a marketplace that takes 100
// gets them all, in a push of 100 and one of 20; a configured limit of 40
// makes three.
func TestMeterABacklogOverALimitOf100GoesInTwoPushes(t *testing.T) {
	usage := newLimitedUsage(t, 100)
	for _, tc := range []struct {
		name       string
		maxRecords int
		want       []int
	}{
		{"default", 0, []int{100, 20}},
		{"configured 40", 40, []int{40, 40, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tenant := newMeteredTenant(t, twoMeters)
			start := hourAgo(62)
			r := meteringWith(clocktesting.NewFakeClock(start), MarketplaceUsageClients(usage.server.URL), tc.maxRecords)
			_, err := meterAt(t, r, start, tenant.Name)
			g.Expect(err).NotTo(HaveOccurred())

			_, err = meterAt(t, r, start.Add(60*time.Hour+time.Minute), tenant.Name)
			g.Expect(err).NotTo(HaveOccurred())
			pushes, refused := usage.of(tenant.Name)
			g.Expect(pushes).To(Equal(tc.want))
			g.Expect(refused).To(BeZero())
			expectBacklogPushed(g, t, tenant.Name, start)
		})
	}
}

// TestMeterAnInFlightPushOverTheLimitIsResentInPushesThatFit: a kooper that
// put 1000 records in a push (as kooper did before the limit was
// configurable) built one push of the 120-record backlog and had it refused
// (MKT.9003). The in-flight push, kept as it was built, is sent again by
// default in two pushes that fit, the records unchanged, and the cursor
// reaches the end: no hour waits for the 21-day cut.
func TestMeterAnInFlightPushOverTheLimitIsResentInPushesThatFit(t *testing.T) {
	g := NewWithT(t)
	usage := newLimitedUsage(t, 100)
	tenant := newMeteredTenant(t, twoMeters)
	start := hourAgo(62)
	before := meteringWith(clocktesting.NewFakeClock(start), MarketplaceUsageClients(usage.server.URL), koogallery.MaxUsageRecords)
	_, err := meterAt(t, before, start, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = meterAt(t, before, start.Add(60*time.Hour+time.Minute), tenant.Name)
	g.Expect(err).To(MatchError(ContainSubstring("MKT.9003")))
	g.Expect(storedMetering(t, tenant.Name).InFlight.Records).To(HaveLen(120))
	inFlight := storedMetering(t, tenant.Name).InFlight.DeepCopy()

	after := meteringWith(clocktesting.NewFakeClock(start), MarketplaceUsageClients(usage.server.URL), 0)
	_, err = meterAt(t, after, start.Add(60*time.Hour+2*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	pushes, refused := usage.of(tenant.Name)
	g.Expect(pushes).To(Equal([]int{100, 20}))
	g.Expect(refused).To(Equal(1), "only the push of 120")
	g.Expect(len(inFlight.Windows)).To(Equal(60))
	expectBacklogPushed(g, t, tenant.Name, start)
}

// TestMeterEndsAtTheStoredReleaseNotWhenTheControllersSeeIt: the receiver
// stores a releaseInstance at 10:05 (h+2h05m here) while the controllers
// are down until 12:30. Metering ends at 10:05: the released segment starts
// there, and the last window pushed ends there, not at 12:30.
func TestMeterEndsAtTheStoredReleaseNotWhenTheControllersSeeIt(t *testing.T) {
	g := NewWithT(t)
	meters := twoMeters[:1]
	tenant := newMeteredTenant(t, meters)
	h := hourAgo(6)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(h))
	_, err := meterAt(t, r, h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())

	released := h.Add(2*time.Hour + 5*time.Minute)
	order := fmt.Sprintf("CS%dRELEASE", tenantSeq.Add(1))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.State = saasv1alpha1.StateReleased
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: order, OrderLineID: order + "-000001",
			Activity: saasv1alpha1.ActivityReleaseInstance, ReceivedTime: metav1.NewTime(released)})
	})
	res, err := meterAt(t, r, h.Add(4*time.Hour+30*time.Minute), tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeZero(), "metering is over")

	m := storedMetering(t, tenant.Name)
	g.Expect(m.EndTime).NotTo(BeNil())
	g.Expect(m.EndTime.Time).To(BeTemporally("==", released))
	last := m.Segments[len(m.Segments)-1]
	g.Expect(last.State).To(Equal(saasv1alpha1.StateReleased))
	g.Expect(last.Start.Time).To(BeTemporally("==", released))
	g.Expect(m.PushedUntil.Time).To(BeTemporally("==", released))
	g.Expect(pushedValues(tenant.Name, meters)).To(Equal(map[string]string{
		h.Format("1504") + " duration":                  "1",
		h.Add(time.Hour).Format("1504") + " duration":   "1",
		h.Add(2*time.Hour).Format("1504") + " duration": "0.0833",
	}))
	g.Expect(totals(m)).To(Equal(map[string]string{"duration": "2.0833"}))
}

// TestMeterATenantDeletedByHandEndsAtItsDeletion: a tenant deleted by hand
// while the controllers are down is metered up to its deletionTimestamp,
// not up to when they come back.
func TestMeterATenantDeletedByHandEndsAtItsDeletion(t *testing.T) {
	g := NewWithT(t)
	tenant, deleted := meteredTenantDeletedByHand(t, twoMeters[:1], hourAgo(3), func(deleted time.Time) time.Time {
		return deleted.Add(2*time.Hour + 30*time.Minute) // the controllers come back long after
	})
	var ends []string
	for _, rec := range marketplace.usage.of(tenant.Name) {
		ends = append(ends, rec.EndTime)
	}
	slices.Sort(ends)
	g.Expect(ends).NotTo(BeEmpty())
	g.Expect(ends[len(ends)-1]).To(Equal(deleted.Format(koogallery.UsageTimeLayout)), "the last window ends at the deletion")
}

// TestUploadClientsUseTheConfiguredPathPrefixAndPart: the licence upload's
// path prefix and part name are inferred (spec §8 item 26); the clients
// main.go makes with --licence-upload-path-prefix and --licence-upload-part
// send to that path, in that part, signed with the product's AK/SK.
func TestUploadClientsUseTheConfiguredPathPrefixAndPart(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	var got []string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		lookup := func(ak string) (string, bool) { return testSecretAccessKey, ak == testAccessKeyID }
		if koogallery.VerifyAPIGSignature(r, body, lookup, time.Now(), 15*time.Minute) != nil || r.ParseMultipartForm(1<<20) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, r.URL.EscapedPath(), r.FormValue("isvFileReq"))
		mu.Unlock()
		_, _ = w.Write([]byte(`{"error_code":"MKT.0000","error_msg":"success"}`))
	}))
	defer server.Close()
	uploads := MarketplaceUploadClientsWith(koogallery.LicenseUploadSettings{PathPrefix: "/v2/events/", Part: "isvFileReq"}, server.URL)
	g.Expect(uploads(testAccessKeyID, testSecretAccessKey).UploadLicense(testContext(t), "evt-1", "lic")).To(Succeed())
	mu.Lock()
	defer mu.Unlock()
	g.Expect(got).To(HaveLen(2))
	g.Expect(got[0]).To(Equal("/v2/events/evt-1/file"))
	g.Expect(got[1]).To(ContainSubstring(`"characters":"lic"`))
}
