package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// row finds a scenario's row in the table and returns its result and detail.
func row(t *testing.T, out, scenario string) (string, string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(scenario) + `\s+\| (PASS|FAIL|SKIP)\s+\| (.*)$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no row for %q in:\n%s", scenario, out)
	}
	return m[1], m[2]
}

func TestConformancePassesAgainstKoopersReceiver(t *testing.T) {
	g := NewWithT(t)
	product, url := newProduct(t)
	res := runCLI(ctxFor(t), kitEnv(t), "conformance", "--url", url, "--change-sku", "pro")
	t.Log(res.stdout)
	g.Expect(res.code).To(Equal(exitOK), res.combined())
	g.Expect(res.stdout).To(ContainSubstring("41 passed, 0 failed\n"))
	g.Expect(res.stdout).To(MatchRegexp(`(?m)^SCENARIO\s+\| RESULT \| DETAIL$`))
	for _, s := range (&conformance{}).scenarios() {
		result, detail := row(t, res.stdout, s.name)
		g.Expect(result).To(Equal(resultPass), "%s: %s", s.name, detail)
	}
	g.Expect(res.combined()).NotTo(ContainSubstring(productKey))

	// The run made four purchases (the lifecycle one, the two debug-flag
	// ones and the numeric-testFlag one, bought twice) and released them all;
	// the bad-signature purchase made nothing.
	// The order notification and its repeat made one record.
	notifications := &saasv1alpha1.OrderNotificationList{}
	g.Expect(k8sClient.List(ctxFor(t), notifications, client.MatchingLabels{saasv1alpha1.ProductLabel: product})).To(Succeed())
	g.Expect(notifications.Items).To(HaveLen(1))

	tenants := tenantsOf(t, product)
	g.Expect(tenants).To(HaveLen(4))
	for _, tenant := range tenants {
		g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateReleased), tenant.Name)
	}
}

func TestConformanceCanRunTwiceAgainstTheSameDeployment(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	for range 2 {
		res := runCLI(ctxFor(t), keyEnv(), "conformance", "--url", url, "--debug")
		g.Expect(res.code).To(Equal(exitOK), res.combined())
		g.Expect(res.stdout).To(ContainSubstring("28 passed, 0 failed (13 skipped)"))
	}
}

func TestConformanceRegistersItsOrdersOnTheSimulator(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	sim := startSim(t, defaultServerConfig())
	res := runCLI(ctxFor(t), keyEnv(), "conformance", "--url", url, "--sim-url", sim.URL)
	g.Expect(res.code).To(Equal(exitOK), res.combined())

	var list struct {
		Orders []orderInfo `json:"orders"`
	}
	g.Expect(json.Unmarshal(doWith(t, http.MethodGet, sim.URL+simOrdersPath, "", nil, nil).body, &list)).To(Succeed())
	types := []string{}
	for _, o := range list.Orders {
		types = append(types, o.OrderType)
	}
	// The purchase, the renewal, the upgrade, the notified order, the two
	// debug-flag purchases and the numeric-testFlag purchase.
	g.Expect(types).To(Equal([]string{"NEW", "RENEW", "CHANGE", "RENEW", "NEW", "NEW", "NEW"}))
}

// answerEverything is a receiver that answers every request with body:
// the kind of stub a merchant might deploy by mistake.
func answerEverything(t *testing.T, body string, header http.Header) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for name, values := range header {
			w.Header()[name] = values
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/koogallery/crm"
}

func TestConformanceFailsWithAClearReasonAgainstAWrongReceiver(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		header   http.Header
		scenario string
		reason   string
	}{
		{
			name: "answers 000000 to everything", body: `{"resultCode":"000000","resultMsg":"success.","instanceId":"i-1"}`,
			scenario: "bad signature", reason: "got 000000 (success.), want 000001",
		},
		{
			name: "answers 000000 to everything", body: `{"resultCode":"000000","resultMsg":"success.","instanceId":"i-1"}`,
			scenario: "debug flag set", reason: "instanceId i-1 is the first purchase's",
		},
		{
			name: "answers 000000 to everything", body: `{"resultCode":"000000","resultMsg":"success.","instanceId":"i-1"}`,
			scenario: "64-character product name", reason: "got 000000 (success.), want 000002",
		},
		{
			name: "a stub without instanceId", body: `{"resultCode":"000000"}`,
			scenario: "new purchase", reason: "000000 without instanceId",
		},
		{
			name: "a wrong Body-Sign", body: `{"resultCode":"000000","instanceId":"i-1"}`,
			header:   http.Header{"Body-Sign": {`sign_type="HMAC-SHA256", signature="gw4QPFTQi+z0h6e2a3LogBWbT+b5cyVCeQdEdWUPCd4="`}},
			scenario: "new purchase", reason: "Body-Sign does not match",
		},
		{
			name: "not JSON", body: `OK`,
			scenario: "unknown instance (query)", reason: "not a JSON object",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name+", "+tc.scenario, func(t *testing.T) {
			g := NewWithT(t)
			url := answerEverything(t, tc.body, tc.header)
			res := runCLI(ctxFor(t), keyEnv(), "conformance", "--url", url)
			t.Log(res.stdout)
			g.Expect(res.code).To(Equal(exitFailed), res.combined())
			result, detail := row(t, res.stdout, tc.scenario)
			g.Expect(result).To(Equal(resultFail))
			g.Expect(detail).To(ContainSubstring(tc.reason))
			g.Expect(res.stdout).To(MatchRegexp(`\d+ passed, [1-9]\d* failed`))
		})
	}
}

func TestConformanceFailsEveryScenarioWhenNothingAnswers(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/koogallery/crm"
	srv.Close()
	res := runCLI(ctxFor(t), keyEnv(), "conformance", "--url", url)
	g.Expect(res.code).To(Equal(exitFailed))
	g.Expect(res.stdout).To(ContainSubstring("0 passed, 28 failed (13 skipped)"))
	_, detail := row(t, res.stdout, "new purchase")
	g.Expect(detail).To(ContainSubstring("connection refused"))
	g.Expect(detail).NotTo(ContainSubstring("signature="), "errors must not repeat the signed URL")
	_, detail = row(t, res.stdout, "query instance")
	g.Expect(detail).To(ContainSubstring(`needs the instance of "new purchase"`))
	g.Expect(strings.Count(res.stdout, "| FAIL")).To(Equal(28))
}

// startReceiverWith serves a second kooper receiver with other options. It
// reads through the direct client, since it has no manager of its own.
func startReceiverWith(t *testing.T, configure func(*webhook.Options)) string {
	t.Helper()
	opts := webhook.DefaultOptions()
	opts.Namespace = operatorNamespace
	configure(&opts)
	receiver, err := webhook.NewReceiver(k8sClient, k8sClient, opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(receiver.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformancePassesWithEveryReceiverSetting(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*webhook.Options)
		want      string
	}{
		{"000004 while provisioning", func(o *webhook.Options) { o.PendingResultCode = koogallery.ResultProcessing }, "000004, instanceId"},
		{"no Body-Sign", func(o *webhook.Options) { o.BodySign = false }, "000000, instanceId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product, _ := newProduct(t)
			url := startReceiverWith(t, tc.configure) + webhook.CallbackPathPrefix + product
			res := runCLI(ctxFor(t), keyEnv(), "conformance", "--url", url)
			g.Expect(res.code).To(Equal(exitOK), res.combined())
			_, detail := row(t, res.stdout, "new purchase")
			g.Expect(detail).To(ContainSubstring(tc.want))
		})
	}
}

// TestConformanceFailsAReceiverBehindAPlainServeMux: a receiver whose routes
// sit on Go's ServeMux as registered (no path cleaning, no catch-all) answers
// the production URL with a trailing slash 404 and redirects the kit path
// with a double slash (307); the issue 16 rows say so.
func TestConformanceFailsAReceiverBehindAPlainServeMux(t *testing.T) {
	g := NewWithT(t)
	answer := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"resultCode":"000003","resultMsg":"instance does not exist"}`)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/koogallery/{product}", answer)
	mux.HandleFunc("/koogallery/{product}/produceAPI/v2/{interface}", answer)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	res := runCLI(ctxFor(t), kitEnv(t), "conformance", "--url", srv.URL+"/koogallery/crm")
	t.Log(res.stdout)
	g.Expect(res.code).To(Equal(exitFailed), res.combined())
	for scenario, reason := range map[string]string{
		"production URL with a trailing slash": "HTTP 404",
		"kit path with a double slash":         "HTTP 307",
		"timestamp 61 s old":                   "got 000003 (instance does not exist), want 000002",
	} {
		result, detail := row(t, res.stdout, scenario)
		g.Expect(result).To(Equal(resultFail), scenario)
		g.Expect(detail).To(ContainSubstring(reason), scenario)
	}
}
