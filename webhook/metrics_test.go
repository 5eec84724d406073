package webhook

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// metricsStep is one call of TestCallbackMetricsCarryTheCodeSent and the
// labels it must be counted under.
type metricsStep struct {
	name, product, activity, code string
	send                          func(t *testing.T) answer
}

// TestCallbackMetricsCarryTheCodeSent sends each basic activity and each kit
// interface, and refusals decided before and after the activity is known,
// and reads kooper_callbacks_total after each: the call is counted once,
// under the product, the activity and the result code it was answered with.
func TestCallbackMetricsCarryTheCodeSent(t *testing.T) {
	steps := append(basicMetricsSteps(t), kitMetricsSteps(t)...)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			g := NewWithT(t)
			before := callbacksCounted(t, s.product, s.activity, s.code)
			a := s.send(t)
			g.Expect(a.Code).To(Equal(s.code), a.Msg)
			// The metric is taken after the answer is written.
			g.Eventually(func() float64 { return callbacksCounted(t, s.product, s.activity, s.code) }).Should(Equal(before + 1))
		})
	}
	NewWithT(t).Expect(seriesWithEmptyCode(t)).To(BeEmpty(), "no callback is counted without its result code")
}

// TestCallbackMetricsNameOnlyKnownProducts sends callbacks to a product
// whose basicKey the Seller Console no longer signs with (each answered
// 000001), and basic and kit calls to products kooper does not hold: the
// former are counted under the SaaSProduct's name, so an alert can tell
// which product fails; the latter under product "", never under the path's
// segment, which anyone can choose.
func TestCallbackMetricsNameOnlyKnownProducts(t *testing.T) {
	g := NewWithT(t)
	rotated := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	stranger := fmt.Sprintf("no-such-product-%d", time.Now().UnixNano())

	before := callbacksCounted(t, rotated.product.Name, unknownActivity, "000001")
	for range 3 {
		b := newInstanceBody(newOrderID())
		a := post(t, rotated.product.Name, signedQuery(t, "the-key-before-rotation", b), b)
		g.Expect(a.Code).To(Equal("000001"), a.Msg)
	}
	g.Eventually(func() float64 { return callbacksCounted(t, rotated.product.Name, unknownActivity, "000001") }).Should(Equal(before + 3))

	// A kit call's activity is its interface, known from the path.
	basic, kit := callbacksCounted(t, "", unknownActivity, "000002"), callbacksCounted(t, "", "tenantSync", "000002")
	b := newInstanceBody(newOrderID())
	a := post(t, stranger, signedQuery(t, testKey, b), b)
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	instanceID, tenantID := kitIDs()
	body := tenantSyncBody(instanceID, tenantID, 1)
	a = postKit(t, http.MethodPost, stranger, string(koogallery.KitTenantSync), kitHeaders(t, testKitKey, body), body)
	g.Expect(a.Code).To(Equal("000002"), a.Msg)
	// Other tests' refusals may count here too, hence at least.
	g.Eventually(func() float64 { return callbacksCounted(t, "", unknownActivity, "000002") }).Should(BeNumerically(">=", basic+1))
	g.Eventually(func() float64 { return callbacksCounted(t, "", "tenantSync", "000002") }).Should(BeNumerically(">=", kit+1))
	g.Expect(callbackProducts(t)).NotTo(ContainElement(stranger), "a product kooper does not hold is never a label value")
}

// callbacksCounted reads the kooper_callbacks_total series with exactly
// these product, activity and result_code, as the metrics endpoint serves
// it; a label the series lacks reads as "", as in PromQL.
func callbacksCounted(t *testing.T, product, activity, code string) float64 {
	t.Helper()
	want := map[string]string{"product": product, "activity": activity, "result_code": code}
	for _, m := range callbackSeries(t) {
		got := map[string]string{"product": "", "activity": "", "result_code": ""}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, want) {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// callbackProducts lists the product label of every kooper_callbacks_total
// series.
func callbackProducts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range callbackSeries(t) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "product" {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

// callbackSeries gathers the kooper_callbacks_total series of the registry
// the metrics endpoint serves.
func callbackSeries(t *testing.T) []*dto.Metric {
	t.Helper()
	families, err := metrics.Registry.Gather()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	for _, family := range families {
		if family.GetName() == "kooper_callbacks_total" {
			return family.GetMetric()
		}
	}
	return nil
}

func basicMetricsSteps(t *testing.T) []metricsStep {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	licence := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	var id, licenceID string
	body := func(format string, args ...any) func(t *testing.T) answer {
		return func(t *testing.T) answer { return f.call(t, fmt.Sprintf(format, append([]any{id}, args...)...)) }
	}
	return []metricsStep{
		{"newInstance", f.product.Name, "newInstance", "000000", func(t *testing.T) answer {
			a := f.call(t, newInstanceBody(newOrderID()))
			id = a.InstanceID
			return a
		}},
		{"queryInstance", f.product.Name, "queryInstance", "000000", body(`{"activity":"queryInstance","instanceId":%q}`)},
		{"refreshInstance", f.product.Name, "refreshInstance", "000000", func(t *testing.T) answer {
			return f.call(t, refreshBody(id, newOrderID(), "RENEWAL", "20271124023618"))
		}},
		{"updateInstanceStatus", f.product.Name, "updateInstanceStatus", "000000", func(t *testing.T) answer { return f.call(t, statusBody(id, "FREEZE")) }},
		{"upgradeInstance", f.product.Name, "upgradeInstance", "000000", func(t *testing.T) answer { return f.call(t, upgradeBody(id, newOrderID())) }},
		{"changeInstanceCheck", f.product.Name, "changeInstanceCheck", "000000",
			body(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"productId":"OFFI846204237451911168","skuCode":"pro"}}`)},
		{"releaseInstance", f.product.Name, "releaseInstance", "000000", body(`{"activity":"releaseInstance","instanceId":%q}`)},
		{"getLicenseAsync", licence.product.Name, "getLicenseAsync", "000000", func(t *testing.T) answer {
			licenceID, _ = licence.buy(t)
			return licence.call(t, licenseAsyncBody(licenceID, "evt-metrics", "fp", "2027-11-22 10:30:15 z"))
		}},
		{"an unknown instance", f.product.Name, "refreshInstance", "000003", func(t *testing.T) answer {
			return f.call(t, refreshBody("i-never-issued", newOrderID(), "RENEWAL", "20271124023618"))
		}},
		{"a bad signature, before the activity is known", f.product.Name, "unknown", "000001", func(t *testing.T) answer {
			b := newInstanceBody(newOrderID())
			return post(t, f.product.Name, signedQuery(t, "not-the-key", b), b)
		}},
		{"an unknown product", "", "unknown", "000002", func(t *testing.T) answer {
			b := newInstanceBody(newOrderID())
			return post(t, "no-such-product", signedQuery(t, testKey, b), b)
		}},
		{"an unknown activity", f.product.Name, "unknown", "000002", func(t *testing.T) answer { return f.call(t, `{"activity":"getLicense"}`) }},
		{"a path that names no callback", "", "unknown", "000002", func(t *testing.T) answer {
			return sendTo(t, f, http.MethodPost, CallbackPathPrefix+f.product.Name+"/orders", unknownRoute).answer(t)
		}},
		{"a trailing slash", f.product.Name, "queryInstance", "000003", func(t *testing.T) answer {
			return sendTo(t, f, http.MethodPost, CallbackPathPrefix+f.product.Name+"/", basicRoute).answer(t)
		}},
	}
}

func kitMetricsSteps(t *testing.T) []metricsStep {
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	key, err := merchantKey()
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	secret, err := koogallery.EncryptClientSecret(&key.PublicKey, "the-client-secret", koogallery.OAEPSHA256)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	kit := func(name koogallery.KitInterface, body string) func(t *testing.T) answer {
		return func(t *testing.T) answer { return f.kit(t, name, body) }
	}
	single := fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"orgCode":"d1","orgName":"N","parentCode":"hq","flag":1,"testFlag":0,"timeStamp":"1"}`, instanceID, tenantID)
	return []metricsStep{
		{"kit tenantSync", f.product.Name, "tenantSync", "000000", kit(koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))},
		{"kit applicationSync", f.product.Name, "applicationSync", "000000", kit(koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, secret, 1))},
		{"kit authSync", f.product.Name, "authSync", "000000", kit(koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))},
		{"kit allOrgSync", f.product.Name, "allOrgSync", "000000", kit(koogallery.KitAllOrgSync, allOrgSyncBody(instanceID, tenantID, orgsJSON("hq", "d1")))},
		{"kit singleOrgSync", f.product.Name, "singleOrgSync", "000000", kit(koogallery.KitSingleOrgSync, single)},
		{"kit undecryptable clientSecret", f.product.Name, "applicationSync", "000005", kit(koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, "c2VjcmV0", 1))},
		{"kit unknown interface, before the activity is known", "", "unknown", "000002", kit("userSync", tenantSyncBody(instanceID, tenantID, 1))},
	}
}

// seriesWithEmptyCode lists the kooper_callbacks_total series, as the
// metrics endpoint serves them, whose result_code is empty.
func seriesWithEmptyCode(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range callbackSeries(t) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result_code" && l.GetValue() == "" {
				out = append(out, m.String())
			}
		}
	}
	return out
}

// TestTheLogLineCarriesTheCodeSent checks the one line a callback gets: a
// success is logged with 000000, not an empty code, and a refusal with its
// own code and reason.
func TestTheLogLineCarriesTheCodeSent(t *testing.T) {
	cases := []struct {
		name     string
		rep      reply
		err      error
		wantCode string
	}{
		{"plain success", reply{}, nil, "000000"},
		{"a handler's own code", reply{code: koogallery.ResultProcessing}, nil, "000004"},
		{"a refusal", reply{}, errBadParam("activity %q is not supported", "x"), "000002"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var lines []string
			c := &call{start: receiver.opts.Now(), activity: koogallery.ActivityQueryInstance,
				log: funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})}
			rec := httptest.NewRecorder()
			receiver.finish(rec, c, tc.rep, tc.err, "")
			g.Expect(rec.Body.String()).To(ContainSubstring(`"resultCode":"` + tc.wantCode + `"`))
			g.Expect(lines).To(HaveLen(1))
			g.Expect(lines[0]).To(ContainSubstring(`"resultCode"="` + tc.wantCode + `"`))
			g.Expect(strings.Count(lines[0], "resultCode")).To(Equal(1))
		})
	}
}

// timestampReadings are the timestamp metrics at one moment.
type timestampReadings struct {
	past, future float64
	skewCount    uint64
	skewSum      float64
}

func readTimestampMetrics(t *testing.T) timestampReadings {
	t.Helper()
	m := &dto.Metric{}
	NewWithT(t).Expect(timestampSkew.Write(m)).To(Succeed())
	return timestampReadings{
		past:      testutil.ToFloat64(timestampRejected.WithLabelValues(directionPast)),
		future:    testutil.ToFloat64(timestampRejected.WithLabelValues(directionFuture)),
		skewCount: m.GetHistogram().GetSampleCount(),
		skewSum:   m.GetHistogram().GetSampleSum(),
	}
}

// TestTheTimestampCheckIsMeasured sends basic and kit calls signed with
// timestamps just outside the 60 s window, either way, and well inside it:
// a refusal counts under its direction, an accepted call adds its skew to
// the histogram, and neither touches the other metric.
func TestTheTimestampCheckIsMeasured(t *testing.T) {
	f := newKitFixture(t)
	cases := []struct {
		name      string
		offset    time.Duration
		kit       bool
		wantCode  string
		direction string // "" when the timestamp is accepted
	}{
		{"basic, 61 s old", -61 * time.Second, false, "000002", directionPast},
		{"basic, 61 s ahead", 61 * time.Second, false, "000002", directionFuture},
		{"basic, 30 s old", -30 * time.Second, false, "000003", ""},
		{"basic, 30 s ahead", 30 * time.Second, false, "000003", ""},
		{"kit, 61 s old", -61 * time.Second, true, "000002", directionPast},
		{"kit, 61 s ahead", 61 * time.Second, true, "000002", directionFuture},
		{"kit, 30 s ahead", 30 * time.Second, true, "000000", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			before := readTimestampMetrics(t)
			a := sendAt(t, f, tc.kit, time.Now().Add(tc.offset))
			g.Expect(a.Code).To(Equal(tc.wantCode), a.Msg)
			after := readTimestampMetrics(t)
			want := before
			switch tc.direction {
			case directionPast:
				want.past++
				g.Expect(a.Msg).To(ContainSubstring("old, outside the 1m0s window"))
			case directionFuture:
				want.future++
				g.Expect(a.Msg).To(ContainSubstring("in the future, outside the 1m0s window"))
			default:
				want.skewCount++
				g.Expect(after.skewSum - before.skewSum).To(BeNumerically("~", tc.offset.Abs().Seconds(), 5))
				want.skewSum = after.skewSum
			}
			g.Expect(after).To(Equal(want))
		})
	}
}

// sendAt sends a queryInstance of an unknown instance, or a kit tenantSync,
// signed with the timestamp at.
func sendAt(t *testing.T, f *fixture, kit bool, at time.Time) answer {
	t.Helper()
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	if !kit {
		body := `{"activity":"queryInstance","instanceId":"i-never-issued"}`
		return post(t, f.product.Name, resign(f.key, body, ts), body)
	}
	instanceID, tenantID := kitIDs()
	body := tenantSyncBody(instanceID, tenantID, 1)
	canonical, err := koogallery.CanonicalKitPayload([]byte(body))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	nonce := randomNonce()
	h := http.Header{}
	h.Set("x-sign", koogallery.SignKit(testKitKey, nonce, ts, canonical))
	h.Set("x-timestamp", ts)
	h.Set("x-nonce", nonce)
	return postKit(t, http.MethodPost, f.product.Name, string(koogallery.KitTenantSync), h, body)
}

// TestAPanicIsAnswered000005 checks that a panic in the pipeline is still an
// answer the marketplace retries, logged and counted, not a dropped
// connection.
func TestAPanicIsAnswered000005(t *testing.T) {
	g := NewWithT(t)
	var lines []string
	c := &call{start: receiver.opts.Now(), activity: koogallery.ActivityNewInstance,
		log: funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})}
	// The call has no product yet: it is counted under product "".
	before := callbacksCounted(t, "", "newInstance", "000005")
	rec := httptest.NewRecorder()
	func() {
		defer receiver.recoverPanic(rec, c)
		panic("a handler bug")
	}()
	a := decodeAnswer(t, rec.Result())
	g.Expect(a.status).To(Equal(http.StatusOK))
	g.Expect(a.Code).To(Equal("000005"))
	g.Expect(a.Msg).To(Equal("internal error; please retry"))
	g.Expect(callbacksCounted(t, "", "newInstance", "000005")).To(Equal(before + 1))
	g.Expect(lines).To(ConsistOf(And(ContainSubstring("panic: a handler bug"), ContainSubstring(`"resultCode"="000005"`))))
}
