package main

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestNewInstanceWaitReportsHowLongAppInfoTook(t *testing.T) {
	g := NewWithT(t)
	product, url := newProduct(t)
	orderID := "SIMWAIT" + randomHex(4)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCLIWith(ctxFor(t), keyEnv(), &stdout, &stderr,
			"new-instance", "--url", url, "--order-id", orderID, "--wait", "1m", "--poll-interval", "50ms")
	}()

	// The marketplace polls while the tenant is provisioning...
	var tenants []saasv1alpha1.SaaSTenant
	g.Eventually(func() []saasv1alpha1.SaaSTenant { tenants = tenantsOf(t, product); return tenants }).Should(HaveLen(1))
	g.Eventually(stdout.String).Should(ContainSubstring("query 2 at"))
	g.Expect(stdout.String()).To(ContainSubstring("appInfo pending"))

	// ...until the tenant controller (faked here) makes it serve.
	makeServing(t, tenants[0])
	g.Eventually(done).Should(Receive(Equal(exitOK)))
	out := stdout.String()
	g.Expect(out).To(MatchRegexp(`appInfo arrived after \S+ \(\d+ queries\)`))
	g.Expect(out).To(ContainSubstring(`userName and password decrypt with the key`))
	g.Expect(out).NotTo(ContainSubstring("s3cret-P4ss"))
	g.Expect(out + stderr.String()).NotTo(ContainSubstring(productKey))

	// A repeated purchase now carries appInfo itself: no poll is needed.
	// Asked to, the simulator prints the credentials it decrypted.
	res := runCLI(ctxFor(t), keyEnv(), "new-instance", "--url", url, "--order-id", orderID, "--wait", "1m", "--show-credentials")
	g.Expect(res.code).To(Equal(exitOK), res.combined())
	g.Expect(res.stdout).To(ContainSubstring("appInfo arrived with the newInstance answer"))
	g.Expect(res.stdout).To(ContainSubstring(`decrypted: userName "admin", password "s3cret-P4ss"`))
}

func TestNewInstanceWaitTimesOutWithoutAppInfo(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	res := runCLI(ctxFor(t), keyEnv(), "new-instance", "--url", url, "--wait", "1s", "--poll-interval", "50ms")
	g.Expect(res.code).To(Equal(exitFailed), res.combined())
	g.Expect(res.stderr).To(MatchRegexp(`no appInfo for i-\w+ after 1s \(\d+ queries\); last answer: 000000 \(success\.\), appInfo pending`))
}

func TestNewInstanceWaitStopsWhenInterrupted(t *testing.T) {
	g := NewWithT(t)
	_, url := newProduct(t)
	ctx, cancel := context.WithCancel(ctxFor(t))
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCLIWith(ctx, keyEnv(), &stdout, &stderr, "new-instance", "--url", url, "--wait", "1h", "--poll-interval", "20ms")
	}()
	g.Eventually(stdout.String).Should(ContainSubstring("query 1 at"))
	cancel()
	g.Eventually(done).Should(Receive(Equal(exitFailed)))
	g.Expect(stderr.String()).To(ContainSubstring("context canceled"))
}
