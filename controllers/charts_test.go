package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// The archives Charts keeps are bounded by their bytes: an archive heavier
// than the budget is fetched again when needed, lighter ones are kept, the
// least recently used going first.
func TestChartsKeepArchivesWithinTheirBytes(t *testing.T) {
	g := NewWithT(t)
	c := &Charts{CacheBytes: 100}
	archive := func(b byte, n int) chartrender.Archive {
		return chartrender.ArchiveFromBytes(bytes.Repeat([]byte{b}, n))
	}
	heavy, a, b := archive('h', 101), archive('a', 60), archive('b', 60)
	for _, x := range []chartrender.Archive{heavy, a, b} {
		c.keep(x)
	}
	_, ok := c.cache().Get(heavy.Digest())
	g.Expect(ok).To(BeFalse(), "an archive over the budget is not kept")
	_, ok = c.cache().Get(a.Digest())
	g.Expect(ok).To(BeFalse(), "the older archive made room for the newer")
	kept, ok := c.cache().Get(b.Digest())
	g.Expect(ok).To(BeTrue())
	g.Expect(kept.Bytes()).To(Equal(b.Bytes()))
	g.Expect(c.cache().Bytes()).To(Equal(int64(60)))

	defaults := &Charts{}
	for i := range 6 {
		defaults.keep(archive(byte('m'+i), chartrender.MaxArchiveBytes))
	}
	g.Expect(defaults.cache().Len()).To(Equal(6), "by default six of the largest archives fit")
}

// A registry that takes the connection and never answers (a stalled proxy,
// a registry under maintenance) holds a pass no longer than the fetch
// timeout, and passes asking for the same chart at once share one pull:
// otherwise every tenant worker would wait on it for ever after a restart,
// and no tenant of any product would be provisioned, frozen or released.
func TestAChartPullFromARegistryThatNeverAnswersEnds(t *testing.T) {
	g := NewWithT(t)
	var requests atomic.Int32
	release := make(chan struct{})
	host := ocitest.NewRegistry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	t.Cleanup(func() { close(release) }) // before the registry stops: cleanups run last first
	charts := &Charts{FetchTimeout: 500 * time.Millisecond}
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: "stalled-registry"},
		Spec: saasv1alpha1.SaaSProductSpec{Chart: &saasv1alpha1.ChartTemplate{
			OCI: &saasv1alpha1.OCIChartSource{Repository: host + "/charts/crm", Tag: "1.2.0"}}},
		Status: saasv1alpha1.SaaSProductStatus{Chart: &saasv1alpha1.ResolvedChart{
			Digest: "sha256:" + strings.Repeat("0", 64)}},
	}

	const passes = 8
	errs := make(chan error, passes+1)
	for range passes {
		go func() {
			_, err := charts.Archive(testContext(t), k8sClient, operatorNamespace, product)
			errs <- err
		}()
	}
	go func() {
		_, err := charts.Resolve(testContext(t), k8sClient, operatorNamespace, product)
		errs <- err
	}()
	for range passes + 1 {
		var err error
		g.Eventually(errs).WithTimeout(20 * time.Second).Should(Receive(&err))
		g.Expect(err).To(MatchError(ContainSubstring("the registry did not answer within 500ms")))
	}
	g.Expect(requests.Load()).To(BeNumerically("<=", 2),
		"the tenants' passes share one pull of the digest; the product's of the tag is its own")
}

// A buyer who stopped paying is not served on while the registry of their
// product's chart never answers: a new chart was resolved but is not in
// kooper's memory yet (as after a restart), the tenant's pass cannot pull
// it, and the tenant is frozen from its record all the same.
func TestAFrozenChartTenantIsFrozenWhileItsRegistryNeverAnswers(t *testing.T) {
	g := NewWithT(t)
	var hang atomic.Bool
	release := make(chan struct{})
	host := ocitest.NewRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hang.Load() {
				next.ServeHTTP(w, r)
				return
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	t.Cleanup(func() { close(release) })
	repo, err := name.NewRepository(host + "/charts/crm")
	g.Expect(err).NotTo(HaveOccurred())
	first := ocitest.PushChart(t, repo, "1.2.0", authn.Anonymous, crmChartTgz(t, nil))
	next := ocitest.PushChart(t, repo, "1.2.1", authn.Anonymous, crmChartTgz(t, withVersion("1.2.1")))
	product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
		Repository: host + "/charts/crm", Digest: first}})
	expectResolved(t, product, saasv1alpha1.ResolvedChart{Digest: first, Name: "crm", Version: "1.2.0", AppVersion: "1.2.0"})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(1)))

	hang.Store(true)
	resolveChart(t, product.Name, next)
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(replicasOfWorkload(t, &appsv1.Deployment{}, ns, id+"-web")).Should(Equal(int32(0)))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason)(g, tn)
		reconciling := apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		g.Expect(reconciling).NotTo(BeNil())
		g.Expect(reconciling.Message).To(ContainSubstring("the registry did not answer within"))
	})
}

// One product's registry that never answers does not keep the other
// products' charts from being fetched: products are reconciled by more than
// one worker, so two products pulling from stalled registries at once are
// both waited on, and a third product is not queued behind them.
func TestAProductWhoseRegistryNeverAnswersHoldsOneProductWorker(t *testing.T) {
	g := NewWithT(t)
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	host := ocitest.NewRegistry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			raiseTo(&most, n)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	t.Cleanup(func() { close(release) })
	for _, repo := range []string{"charts/a", "charts/b"} {
		product := newChartProductFrom(t, saasv1alpha1.ChartTemplate{OCI: &saasv1alpha1.OCIChartSource{
			Repository: host + "/" + repo, Tag: "1.0.0"}})
		t.Cleanup(func() { _ = k8sClient.Delete(testContext(t), product) })
	}
	g.Eventually(most.Load).WithTimeout(20*time.Second).Should(BeNumerically(">=", 2),
		"both products' pulls wait at once, each on a worker of its own")
}

// raiseTo sets most to n if n is more, safely beside other callers.
func raiseTo(most *atomic.Int32, n int32) {
	for m := most.Load(); n > m; m = most.Load() {
		if most.CompareAndSwap(m, n) {
			return
		}
	}
}

// A chart that could not be fetched is fetched again with backoff unless
// only a change of the Secret or the product can help: the API server
// restarting (its connection refused) is no reason to wait hours for the
// informers' resync while the product's new tenants wait for their chart.
func TestAChartFetchTheAPIServerFailedIsRetried(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/namespaces/kooper/secrets/crm-chart",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	secret := schema.GroupResource{Resource: "secrets"}
	read := func(err error) error { return fmt.Errorf("failed to read the chart Secret kooper/crm-chart: %w", err) }
	cases := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"the Secret is not there: its watch brings it", read(apierrors.NewNotFound(secret, "crm-chart")), false},
		{"the Secret lacks its key: its change brings it", chartKeyMissing{secret: client.ObjectKey{Namespace: "kooper", Name: "crm-chart"}, key: "chart.tgz"}, false},
		{"the connection to the API server refused", read(refused), true},
		{"the API server throttled the read", read(apierrors.NewTooManyRequests("slow down", 1)), true},
		{"the read timed out", read(context.DeadlineExceeded), true},
		{"the registry did not answer", fmt.Errorf("failed to fetch the chart r/c:1: %w", context.DeadlineExceeded), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(retryableChartError(tc.err)).To(Equal(tc.retryable))
		})
	}
}
