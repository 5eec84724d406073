package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// instanceIDIn finds the instanceId a newInstance answer printed.
func instanceIDIn(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`"instanceId": "([^"]+)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no instanceId in:\n%s", out)
	}
	return m[1]
}

// TestEveryCallbackCommandIsAnsweredByKoopersReceiver walks one instance
// through its life with the subcommands, in the marketplace's order.
func TestEveryCallbackCommandIsAnsweredByKoopersReceiver(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	env := map[string]string{envURL: url, envKey: productKey}
	bought := runCLI(ctxFor(t), env, "new-instance", "--debug")
	g.Expect(bought.code).To(Equal(exitOK), bought.combined())
	id := instanceIDIn(t, bought.stdout)
	g.Expect(bought.stdout).To(ContainSubstring(`"testFlag":"1"`))

	cases := []struct {
		name string
		args []string
	}{
		{"query-instance", []string{"query-instance", "--instance-id", id}},
		{"refresh-instance RENEWAL", []string{"refresh-instance", "--instance-id", id, "--scene", "RENEWAL"}},
		{"refresh-instance TRIAL_TO_FORMAL with a product", []string{"refresh-instance", "--instance-id", id, "--scene", "TRIAL_TO_FORMAL", "--product-id", mockProductID}},
		{"refresh-instance UNSUBSCRIBE_RENEWAL_PERIOD", []string{"refresh-instance", "--instance-id", id, "--scene", "UNSUBSCRIBE_RENEWAL_PERIOD", "--expire-time", "20301121235959"}},
		{"refresh-instance RENEWAL_CHANGE, 17 digits", []string{"refresh-instance", "--instance-id", id, "--scene", "RENEWAL_CHANGE", "--expire-time", "20301121235959000"}},
		{"freeze", []string{"freeze", "--instance-id", id}},
		{"unfreeze", []string{"unfreeze", "--instance-id", id}},
		{"upgrade-instance", []string{"upgrade-instance", "--instance-id", id}},
		{"change-instance-check", []string{"change-instance-check", "--instance-id", id, "--sku", "pro", "--linear-value", "10"}},
		{"release-instance on unsubscription", []string{"release-instance", "--instance-id", id, "--order-id", "SIMUNSUB" + randomHex(3)}},
		{"release-instance again", []string{"release-instance", "--instance-id", id}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := runCLI(ctxFor(t), env, tc.args...)
			g.Expect(res.code).To(Equal(exitOK), res.combined())
			g.Expect(res.stdout).To(ContainSubstring(`"resultCode": "000000"`))
			g.Expect(res.stdout).To(ContainSubstring("HTTP 200"))
			g.Expect(res.stdout).To(ContainSubstring("Body-Sign: verified"))
			g.Expect(res.combined()).NotTo(ContainSubstring(productKey))
			g.Expect(res.combined()).NotTo(ContainSubstring("signature="))
		})
	}

	tenant := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, tenant)).To(Succeed())
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateReleased))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.ModeDebug))
	// The purchase, four refreshes, the upgrade and the unsubscription.
	g.Expect(tenant.Spec.Orders).To(HaveLen(7))
}

func TestGetLicenseAsyncIsAnsweredForALicenseProduct(t *testing.T) {
	g := NewWithT(t)
	_, url := newProductOfType(t, saasv1alpha1.ProductTypeLicense)
	env := map[string]string{envURL: url, envKey: productKey}
	bought := runCLI(ctxFor(t), env, "new-instance")
	g.Expect(bought.code).To(Equal(exitOK), bought.combined())
	id := instanceIDIn(t, bought.stdout)

	res := runCLI(ctxFor(t), env, "get-license-async", "--instance-id", id, "--event-id", "EVSIM1", "--fingerprint", "fp-1")
	g.Expect(res.code).To(Equal(exitOK), res.combined())
	g.Expect(res.stdout).To(MatchRegexp(`"effectiveTime":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d z"`))
	g.Expect(res.stdout).To(ContainSubstring(`"deviceFingerprint":"fp-1"`))

	noExpiry := runCLI(ctxFor(t), env, "get-license-async", "--instance-id", id, "--expire-time", "")
	g.Expect(noExpiry.code).To(Equal(exitOK), noExpiry.combined())
	g.Expect(noExpiry.stdout).NotTo(ContainSubstring(`"expireTime"`))
}

func TestCallbackCommandsExitNonZeroOnAFailureAnswer(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	env := map[string]string{envURL: url, envKey: productKey}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown instance", env, []string{"query-instance", "--instance-id", "i-nothing"}, "the receiver answered 000003"},
		{"getLicenseAsync for a SaaS product", env, []string{"get-license-async", "--instance-id", "i-nothing"}, "the receiver answered 000002"},
		{"the wrong key", map[string]string{envURL: url, envKey: "not-the-key"}, []string{"freeze", "--instance-id", "i-nothing"}, "the receiver answered 000001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(ctxFor(t), tc.env, tc.args...)
			g.Expect(res.code).To(Equal(exitFailed), res.combined())
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
		})
	}
}

func TestNewInstanceRegistersTheOrderOnTheSimulator(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	sim := startSim(t, defaultServerConfig())
	res := runCLI(ctxFor(t), keyEnv(), "new-instance", "--url", url, "--sim-url", sim.URL, "--order-id", "SIMREGCLI1",
		"--sku", "pro", "--period", "month", "--periods", "3", "--linear-value", "25", "--buyer-name", "carol")
	g.Expect(res.code).To(Equal(exitOK), res.combined())
	g.Expect(res.stdout).To(ContainSubstring("Registered order SIMREGCLI1 (NEW, PERIOD, pro)"))

	order, err := orderClient(sim.URL, defaultAccessKeyID, defaultSecretAccessKey).QueryOrder(ctxFor(t), "SIMREGCLI1", "SIMREGCLI1-000001")
	g.Expect(err).NotTo(HaveOccurred())
	line, _ := order.Line("SIMREGCLI1-000001")
	g.Expect(line.ProductInfo[0].SKUCode).To(Equal("pro"))
	g.Expect(line.ProductInfo[0].LinearValue.String()).To(Equal("25"))
	g.Expect(line.PeriodType).To(Equal("month"))
	g.Expect(line.PeriodNumber).To(Equal(3))
	g.Expect(order.BuyerInfo.CustomerName).To(Equal("carol"))
}

func TestCommandLineMistakesExitWithUsage(t *testing.T) {
	env := map[string]string{envURL: "http://127.0.0.1:1/koogallery/crm", envKey: productKey}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", env, nil, "Commands:"},
		{"unknown command", env, []string{"expire-instance"}, `unknown command "expire-instance"`},
		{"no URL", map[string]string{envKey: productKey}, []string{"query-instance", "--instance-id", "i"}, "--url (or $KOOPER_SIM_URL) is required"},
		{"no key", map[string]string{envURL: "http://x/koogallery/crm"}, []string{"query-instance", "--instance-id", "i"}, "--key (or $KOOPER_SIM_KEY) is required"},
		{"not an HTTP URL", env, []string{"freeze", "--url", "ftp://x", "--instance-id", "i"}, "--url must be"},
		{"no instance", env, []string{"freeze"}, "--instance-id is required"},
		{"unknown scene", env, []string{"refresh-instance", "--instance-id", "i", "--scene", "RENEW"}, "--scene must be"},
		{"unknown charging mode", env, []string{"new-instance", "--charging-mode", "MONTHLY"}, "--charging-mode must be"},
		{"unknown period", env, []string{"new-instance", "--period", "week"}, "--period must be"},
		{"no sku for the change check", env, []string{"change-instance-check", "--instance-id", "i"}, "--sku is required"},
		{"a stray argument", env, []string{"freeze", "instance-id", "i"}, `unexpected argument "instance-id"`},
		{"an unknown flag", env, []string{"freeze", "--instanceid", "i"}, "flag provided but not defined"},
		{"a public listen address", env, []string{"serve", "--listen", "0.0.0.0:9099"}, "not a loopback address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res := runCLI(context.Background(), tc.env, tc.args...)
			g.Expect(res.code).To(Equal(exitUsage), res.combined())
			g.Expect(res.stderr).To(ContainSubstring(tc.want))
			g.Expect(res.combined()).NotTo(ContainSubstring(productKey))
		})
	}
}

func TestTheKeyIsNeverPrintedEvenWhenGivenAsAFlag(t *testing.T) {
	g := NewWithT(t)
	res := runCLI(context.Background(), nil, "query-instance", "--key", productKey, "--url", "not a url", "--instance-id", "i")
	g.Expect(res.code).To(Equal(exitUsage))
	g.Expect(res.combined()).NotTo(ContainSubstring(productKey))
	help := runCLI(context.Background(), map[string]string{envKey: productKey}, "help", "conformance")
	g.Expect(help.combined()).NotTo(ContainSubstring(productKey))
}

func TestHelpShowsEveryCommandWithAnExample(t *testing.T) {
	g := NewWithT(t)
	list := runCLI(context.Background(), nil, "help")
	g.Expect(list.code).To(Equal(exitOK))
	for _, cmd := range commands() {
		g.Expect(list.stdout).To(ContainSubstring("  " + cmd.name + " "))
		for _, args := range [][]string{{"help", cmd.name}, {cmd.name, "-h"}} {
			res := runCLI(context.Background(), nil, args...)
			g.Expect(res.code).To(Equal(exitOK), cmd.name)
			g.Expect(res.combined()).To(ContainSubstring("Example:\n"))
			g.Expect(res.combined()).To(ContainSubstring("go run ./hack/marketplace-sim " + cmd.name + " "))
		}
	}
}

func TestServeAnswersQueryOrderUntilStopped(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- runCLIWith(ctx, nil, &stdout, &stderr, "serve", "--listen", "127.0.0.1:0") }()
	addr := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	g.Eventually(stdout.String).Should(MatchRegexp(addr.String()))
	base := addr.FindStringSubmatch(stdout.String())[1]

	order, err := orderClient(base, defaultAccessKeyID, defaultSecretAccessKey).QueryOrder(ctx, "MOCKPERIODYEARNEW", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(order.OrderType).To(Equal("NEW"))
	g.Eventually(stdout.String).Should(ContainSubstring("GET /api/mkp-openapi-public/global/v1/order/query -> 200 MKT.0000: orderId MOCKPERIODYEARNEW"))

	var list struct {
		MockOrderIDs []string `json:"mockOrderIds"`
	}
	g.Expect(json.Unmarshal(doWith(t, http.MethodGet, base+simOrdersPath, "", nil, nil).body, &list)).To(Succeed())
	g.Expect(list.MockOrderIDs).To(ContainElement("MOCKONDEMANDPKG"))

	cancel()
	g.Eventually(done).Should(Receive(Equal(exitOK)))
	g.Expect(stdout.String()).NotTo(ContainSubstring(defaultSecretAccessKey))
}

func TestServeTakesCredentialsFromTheEnvironment(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	var stdout, stderr syncBuffer
	env := map[string]string{envAK: "MYAK", envSK: "my-secret-sk"}
	go func() { runCLIWith(ctx, env, &stdout, &stderr, "serve", "--listen", "127.0.0.1:0") }()
	addr := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	g.Eventually(stdout.String).Should(MatchRegexp(addr.String()))
	base := addr.FindStringSubmatch(stdout.String())[1]

	_, err := orderClient(base, "MYAK", "my-secret-sk").QueryOrder(ctx, "MOCKONETIMENEW", "")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = orderClient(base, defaultAccessKeyID, defaultSecretAccessKey).QueryOrder(ctx, "MOCKONETIMENEW", "")
	g.Expect(apiError(err)).NotTo(BeNil())
	g.Expect(stdout.String()).NotTo(ContainSubstring("my-secret-sk"))
}

func TestCheckListenAllowsOnlyLoopbackByDefault(t *testing.T) {
	cases := []struct {
		addr        string
		allowRemote bool
		ok          bool
	}{
		{"127.0.0.1:9099", false, true},
		{"[::1]:9099", false, true},
		{"localhost:9099", false, true},
		{"127.0.0.2:9099", false, true},
		{":9099", false, false},
		{"0.0.0.0:9099", false, false},
		{"192.168.1.10:9099", false, false},
		{"0.0.0.0:9099", true, true},
		{"9099", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			err := checkListen(tc.addr, tc.allowRemote)
			NewWithT(t).Expect(err == nil).To(Equal(tc.ok), "%v", err)
		})
	}
}
