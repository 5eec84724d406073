package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// rotatingLogin stands in front of a test registry as SWR's login does: it
// answers 401 to any request without the login of the day (want), and
// counts the pulls it is asked for (a GET or HEAD of a manifest), answered
// or not.
type rotatingLogin struct {
	want  atomic.Pointer[string]
	pulls atomic.Int32
}

func (l *rotatingLogin) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.URL.Path, "/manifests/") {
			l.pulls.Add(1)
		}
		if r.Header.Get("Authorization") != *l.want.Load() {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pulledAgainAfter finds when a remembered pull failure says the registry
// is asked again.
var pulledAgainAfter = regexp.MustCompile(`pulled again after (\S+),`)

// A chart that cannot be pulled (the pull Secret's login expired, as an SWR
// login does after 24 hours) is asked of the registry once per backoff, not
// by every tenant of its product on each of its retries: after a restart
// the product's chart is resolved, but not in kooper's memory, and each of
// its tenants needs it. The product's ChartReady and the tenants'
// Reconciling still say what failed; a renewed pull Secret is used at once,
// and the tenants recover.
func TestAFailingChartPullIsNotRepeatedPerTenant(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const user, yesterdays, todays = "robot", "login-of-yesterday", "login-of-today"
	login := &rotatingLogin{}
	today := ocitest.BasicAuthorization(user, todays)
	login.want.Store(&today)
	host := ocitest.NewRegistry(t, login.wrap)
	repo, err := name.NewRepository(host + "/charts/crm")
	g.Expect(err).NotTo(HaveOccurred())
	digest := ocitest.PushChart(t, repo, "1.2.7", &authn.Basic{Username: user, Password: todays}, crmChartTgz(t, withVersion("1.2.7")))
	secret := pullSecret(t, "crm-pull-expired", host, user, yesterdays)
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
		Repository: host + "/charts/crm", Digest: digest, PullSecretName: secret.Name}})
	expectChartReady(t, product, metav1.ConditionFalse, saasv1alpha1.ChartFetchFailedReason, "401")
	// Resolved before the login expired and kooper restarted: the digest
	// is recorded, the archive is in no memory.
	resolveChart(t, product.Name, digest)

	start := login.pulls.Load()
	const tenants = 20
	names := make([]string, 0, tenants)
	for range tenants {
		names = append(names, newTenant(t, product, "basic", nil).Name)
	}
	var reconciling string
	for _, n := range names {
		eventuallyTenant(t, n, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
			c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(ContainSubstring("401"), "the tenant says what failed")
			reconciling = c.Message
		})
	}
	g.Consistently(func() int32 { return login.pulls.Load() - start }).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).
		Should(BeNumerically("<=", 3), "the registry is asked once per backoff, not by each of %d tenants on each retry; a tenant says: %s",
			tenants, reconciling)
	t.Logf("%d pulls asked of the registry in 10 seconds by %d tenants", login.pulls.Load()-start, tenants)

	// The login renewed: the next pull goes out at once, not when the
	// backoff ends (as the tenants' messages say it ends now).
	var retryAt time.Time
	for _, n := range names {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: n}, tn)).To(Succeed())
		c := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Message).To(MatchRegexp(pulledAgainAfter.String()))
		at, err := time.Parse(time.RFC3339, pulledAgainAfter.FindStringSubmatch(c.Message)[1])
		g.Expect(err).NotTo(HaveOccurred())
		if at.After(retryAt) {
			retryAt = at
		}
	}
	g.Expect(time.Until(retryAt)).To(BeNumerically(">", 5*time.Second), "the test renews the login well within a backoff")
	before := login.pulls.Load()
	patchSecretData(t, secret, corev1.DockerConfigJsonKey, ocitest.DockerConfig(t, host, user, todays))
	expectChartReady(t, product, metav1.ConditionTrue, saasv1alpha1.SucceededReason, digest)
	g.Expect(time.Now()).To(BeTemporally("<", retryAt), "pulled with the renewed login before the backoff ended")

	// The tenants find the chart in memory when their backoff brings
	// them back, without asking the registry again.
	for _, n := range names {
		NewWithT(t).Eventually(func(g Gomega) {
			tn := &saasv1alpha1.SaaSTenant{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: n}, tn)).To(Succeed())
			provisioned(g, tn)
		}).WithTimeout(2 * time.Minute).Should(Succeed())
	}
	g.Expect(login.pulls.Load()-before).To(BeNumerically("<=", 3), "the product's pull, and at most a tenant's beside it")
}

// A failed pull is remembered per chart and credentials: a pass asking
// during its backoff is answered with the failure and comes back when the
// backoff ends, which grows from 10 seconds, doubling, to 10 minutes; new
// credentials (any write of the pull Secret) are tried at once, and a
// success starts the backoff over.
func TestAFailedChartPullIsRememberedUntilItsBackoffEnds(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	unauthorized := errors.New("GET https://swr.example.com/v2/charts/crm/manifests/sha256:0: unexpected status code 401 Unauthorized")
	var fetches atomic.Int32
	var refused atomic.Bool
	refused.Store(true)
	charts := &Charts{Clock: clk, FetchOCI: func(context.Context, string, []byte) (chartrender.Archive, error) {
		fetches.Add(1)
		if refused.Load() {
			return chartrender.Archive{}, unauthorized
		}
		return chartrender.ArchiveFromBytes([]byte("a chart")), nil
	}}
	const ref = "swr.example.com/charts/crm@sha256:0"
	expired, renewed := []byte(`{"auths":{"swr.example.com":{"auth":"eWVzdGVyZGF5"}}}`), []byte(`{"auths":{"swr.example.com":{"auth":"dG9kYXk="}}}`)
	// pull asks for the chart with the pull Secret at resourceVersion and
	// returns when the pass is retried.
	pull := func(dockerConfig []byte, resourceVersion string) (time.Duration, error) {
		_, err := charts.pull(context.Background(), ref, dockerConfig, "kooper/swr-pull@"+resourceVersion)
		var retry *retryAfterError
		if errors.As(err, &retry) {
			return retry.after, err
		}
		return 0, err
	}

	for i, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute} {
		after, err := pull(expired, "1")
		g.Expect(err).To(MatchError(unauthorized), "the failure says what failed")
		g.Expect(after).To(Equal(backoff))
		g.Expect(fetches.Load()).To(Equal(int32(i + 1)))
		clk.Step(backoff / 2)
		for range 20 {
			after, err := pull(expired, "1")
			g.Expect(err).To(MatchError(ContainSubstring("401 Unauthorized")))
			g.Expect(after).To(Equal(backoff-backoff/2), "back when the backoff ends")
		}
		g.Expect(fetches.Load()).To(Equal(int32(i+1)), "the registry is not asked during the backoff")
		clk.Step(backoff - backoff/2)
	}
	fetched := fetches.Load()

	clk.Step(time.Second)
	_, err := pull(expired, "1")
	g.Expect(err).To(HaveOccurred())
	refused.Store(false)
	_, err = pull(renewed, "2")
	g.Expect(err).NotTo(HaveOccurred(), "no failure is remembered for the renewed Secret")
	g.Expect(fetches.Load()).To(Equal(fetched + 2))

	refused.Store(true)
	after, err := pull(renewed, "2")
	g.Expect(err).To(HaveOccurred())
	g.Expect(after).To(Equal(10*time.Second), "a success starts the backoff over")
	_, err = pull(renewed, "3")
	g.Expect(err).To(HaveOccurred())
	g.Expect(fetches.Load()).To(Equal(fetched+4), "a Secret written again (its data unchanged) is tried at once")
}

// The failed pulls remembered are bounded: past maxRememberedPulls the one
// whose backoff ends first is forgotten, and any whose backoff ended long
// ago goes before.
func TestFailedChartPullsRememberedAreBounded(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	var fetches atomic.Int32
	charts := &Charts{Clock: clk, FetchOCI: func(context.Context, string, []byte) (chartrender.Archive, error) {
		fetches.Add(1)
		return chartrender.Archive{}, errors.New("unexpected status code 404 Not Found")
	}}
	pull := func(i int) {
		_, err := charts.pull(context.Background(), fmt.Sprintf("swr.example.com/charts/c%d@sha256:0", i), nil, "anonymous")
		g.Expect(err).To(HaveOccurred())
	}
	for i := range 2 * maxRememberedPulls {
		clk.Step(time.Millisecond)
		pull(i)
	}
	g.Expect(charts.failedPulls.count()).To(Equal(maxRememberedPulls))
	fetched := fetches.Load()
	pull(2*maxRememberedPulls - 1)
	g.Expect(fetches.Load()).To(Equal(fetched), "the latest failure is remembered")
	pull(0)
	g.Expect(fetches.Load()).To(Equal(fetched+1), "the earliest was forgotten")

	clk.Step(chartPullBackoff + maxChartPullBackoff + time.Second)
	pull(2 * maxRememberedPulls)
	g.Expect(charts.failedPulls.count()).To(Equal(1), "failures whose backoff ended long ago are forgotten to make room")
}
