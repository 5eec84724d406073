package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/bytecache"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// Charts fetches the charts of products with spec.chart once per digest
// and renders them (docs/chart-tenants.md). One serves every reconciler of
// a manager: the product controller resolves a chart (Resolve) and records
// its digest in status.chart; the tenant controller renders that digest
// (Archive, Renderer). The zero value is ready to use.
type Charts struct {
	// Renderer renders a chart for one tenant, caching the results.
	Renderer chartrender.Renderer
	// FetchOCI pulls a chart from an OCI registry; nil is
	// chartrender.FetchOCI. Tests point it at an in-process registry.
	FetchOCI func(ctx context.Context, ref string, dockerConfigJSON []byte) (chartrender.Archive, error)
	// CacheBytes bounds the archives kept in memory, by digest, weighed by
	// their bytes, least recently used first out; 0 is
	// DefaultArchiveCacheBytes, a negative budget keeps none.
	CacheBytes int64
	// FetchTimeout bounds one pull of a chart from a registry, manifest
	// and layer; 0 is DefaultChartFetchTimeout.
	FetchTimeout time.Duration
	// Clock times the backoff of failed pulls (failedPulls); nil is the
	// real clock.
	Clock clock.PassiveClock

	once     sync.Once
	archives *bytecache.Cache[chartrender.Archive]
	pulls    singleflight.Group
	// failedPulls remembers the pulls that failed lately, so that the
	// passes of a product's tenants do not ask the registry again, each on
	// its own retry, for what it just refused.
	failedPulls pullFailures
}

// DefaultChartFetchTimeout is Charts.FetchTimeout's default: two minutes,
// time enough for the largest archive kooper accepts
// (chartrender.MaxArchiveBytes) over a slow link, and short enough that a
// registry that stops answering delays the passes of its product's tenants
// by no more (a frozen one is frozen from its record once the pull fails).
const DefaultChartFetchTimeout = 2 * time.Minute

// DefaultArchiveCacheBytes is Charts.CacheBytes's default: 64 MiB, six of
// the largest archives kooper accepts (chartrender.MaxArchiveBytes) or
// hundreds of ordinary ones. Every pass of a chart tenant asks for its
// product's archive, so the budget must hold every product's at once: past
// it, the products' archives take turns in the cache and each pass fetches
// its archive from the registry again.
const DefaultArchiveCacheBytes = 64 << 20

// Resolve fetches the product's chart as spec.chart names it now: an OCI
// tag is resolved to the digest it points at, and a Secret's archive is
// read. It fails with an error naming the source when the chart cannot be
// fetched or the pull Secret read; the archive's digest is what tenants
// render from.
func (c *Charts) Resolve(ctx context.Context, reader client.Reader, namespace string, product *saasv1alpha1.SaaSProduct) (chartrender.Archive, error) {
	chart := product.Spec.Chart
	if chart == nil {
		return chartrender.Archive{}, fmt.Errorf("SaaSProduct %s has no chart", product.Name)
	}
	if chart.SecretRef != nil {
		return c.fromSecret(ctx, reader, namespace, chart.SecretRef)
	}
	ref := chart.OCI.Repository + ":" + chart.OCI.Tag
	if chart.OCI.Digest != "" {
		ref = chart.OCI.Repository + "@" + chart.OCI.Digest
	}
	return c.fromOCI(ctx, reader, namespace, chart.OCI, ref)
}

// Archive returns the chart the product's status.chart records, from
// memory when it was fetched before. It fails when the product has no
// resolved chart yet, or when the chart fetched now has another digest (a
// Secret changed since the product controller read it: the product is
// reconciled again, and its tenants follow).
func (c *Charts) Archive(ctx context.Context, reader client.Reader, namespace string, product *saasv1alpha1.SaaSProduct) (chartrender.Archive, error) {
	resolved := product.Status.Chart
	if product.Spec.Chart == nil || resolved == nil || resolved.Digest == "" {
		return chartrender.Archive{}, fmt.Errorf("the chart of SaaSProduct %s is not resolved yet", product.Name)
	}
	if archive, ok := c.cache().Get(resolved.Digest); ok {
		return archive, nil
	}
	var archive chartrender.Archive
	var err error
	if ref := product.Spec.Chart.SecretRef; ref != nil {
		archive, err = c.fromSecret(ctx, reader, namespace, ref)
	} else {
		oci := product.Spec.Chart.OCI
		archive, err = c.fromOCI(ctx, reader, namespace, oci, oci.Repository+"@"+resolved.Digest)
	}
	if err != nil {
		return chartrender.Archive{}, err
	}
	if archive.Digest() != resolved.Digest {
		return chartrender.Archive{}, fmt.Errorf("the chart of SaaSProduct %s is %s now, not %s as resolved", product.Name, archive.Digest(), resolved.Digest)
	}
	return archive, nil
}

func (c *Charts) cache() *bytecache.Cache[chartrender.Archive] {
	c.once.Do(func() {
		c.archives = bytecache.New[chartrender.Archive](cmp.Or(c.CacheBytes, DefaultArchiveCacheBytes))
	})
	return c.archives
}

// keep caches archive under its digest, weighed by its bytes.
func (c *Charts) keep(archive chartrender.Archive) {
	c.cache().Add(archive.Digest(), archive, int64(len(archive.Bytes())))
}

// chartKeyMissing is fromSecret's error for a chart Secret without the
// key its product names: only a change of the Secret or the product helps.
type chartKeyMissing struct {
	secret client.ObjectKey
	key    string
}

func (e chartKeyMissing) Error() string {
	return fmt.Sprintf("the chart Secret %s has no key %s", e.secret, e.key)
}

// fromSecret reads a packaged chart from a Secret in kooper's namespace.
func (c *Charts) fromSecret(ctx context.Context, reader client.Reader, namespace string, ref *saasv1alpha1.ChartSecretRef) (chartrender.Archive, error) {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: namespace, Name: ref.Name}
	if err := reader.Get(ctx, key, secret); err != nil {
		return chartrender.Archive{}, fmt.Errorf("failed to read the chart Secret %s: %w", key, err)
	}
	dataKey := ref.Key
	if dataKey == "" {
		dataKey = "chart.tgz"
	}
	data, ok := secret.Data[dataKey]
	if !ok {
		return chartrender.Archive{}, chartKeyMissing{secret: key, key: dataKey}
	}
	archive := chartrender.ArchiveFromBytes(data)
	c.keep(archive)
	return archive, nil
}

// fromOCI pulls a chart with the product's pull Secret, if it names one.
func (c *Charts) fromOCI(ctx context.Context, reader client.Reader, namespace string, oci *saasv1alpha1.OCIChartSource, ref string) (chartrender.Archive, error) {
	var dockerConfig []byte
	credentials := "anonymous"
	if oci.PullSecretName != "" {
		secret := &corev1.Secret{}
		key := client.ObjectKey{Namespace: namespace, Name: oci.PullSecretName}
		if err := reader.Get(ctx, key, secret); err != nil {
			return chartrender.Archive{}, fmt.Errorf("failed to read the chart's pull Secret %s: %w", key, err)
		}
		dockerConfig = secret.Data[corev1.DockerConfigJsonKey]
		// Any write of the Secret is new credentials, a renewed login or
		// an annotation to ask for a pull now: a failure remembered for
		// the Secret as it was does not hold back a pull with it as it is.
		credentials = key.String() + "@" + secret.ResourceVersion
	}
	archive, err := c.pull(ctx, ref, dockerConfig, credentials)
	if err != nil {
		return chartrender.Archive{}, fmt.Errorf("failed to fetch the chart %s: %w", ref, err)
	}
	c.keep(archive)
	return archive, nil
}

// pull fetches ref from its registry, within FetchTimeout. Passes asking
// for the same chart with the same credentials at once share one pull (the
// tenants of a product after a restart, all on an empty cache); each
// stops waiting when its own ctx ends, and the pull goes on for the
// others, up to the timeout. A registry that takes the connection and
// never answers would otherwise hold every tenant worker for ever.
//
// A pull that failed is remembered (failedPulls) under the same key: the
// chart's reference, credentials (the pull Secret's name and
// resourceVersion) and the hash of the Secret's data. Until its backoff
// ends, a pass asking for it gets the failure at once, as a
// *retryAfterError that brings the pass back when the backoff ends, and the
// registry is not asked. Otherwise a login expired or a digest deleted was
// asked for by every tenant of the product on each of its retries,
// continuously, and a registry that counts failed logins may lock the
// account.
func (c *Charts) pull(ctx context.Context, ref string, dockerConfig []byte, credentials string) (chartrender.Archive, error) {
	fetch := c.FetchOCI
	if fetch == nil {
		fetch = chartrender.FetchOCI
	}
	timeout := cmp.Or(c.FetchTimeout, DefaultChartFetchTimeout)
	key := ref + "\x00" + credentials + "\x00" + fmt.Sprintf("%x", sha256.Sum256(dockerConfig))
	if failed, ok := c.failedPulls.recent(key, c.now()); ok {
		return chartrender.Archive{}, failed.retryLater(c.now())
	}
	pulled := c.pulls.DoChan(key, func() (any, error) {
		// Looked up again: a pull of the key may have failed between the
		// look-up above and this one's start.
		if failed, ok := c.failedPulls.recent(key, c.now()); ok {
			return chartrender.Archive{}, failed
		}
		pullCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		archive, err := fetch(pullCtx, ref, dockerConfig)
		if err != nil {
			if errors.Is(pullCtx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("the registry did not answer within %s (--chart-fetch-timeout): %w", timeout, err)
			}
			return archive, c.failedPulls.record(key, err, c.now())
		}
		c.failedPulls.forget(key)
		return archive, nil
	})
	select {
	case res := <-pulled:
		var failed *failedPull
		if errors.As(res.Err, &failed) {
			return chartrender.Archive{}, failed.retryLater(c.now())
		}
		archive, _ := res.Val.(chartrender.Archive)
		return archive, res.Err
	case <-ctx.Done():
		return chartrender.Archive{}, ctx.Err()
	}
}

func (c *Charts) now() time.Time {
	if c.Clock == nil {
		return clock.RealClock{}.Now()
	}
	return c.Clock.Now()
}

// The backoff of a failed pull: chartPullBackoff after a first failure,
// twice as long after each next one in a row, at most
// maxChartPullBackoff. The first is short, so that a registry that blinked
// costs the tenants seconds; the longest keeps a chart that cannot be
// pulled (a login expired, a digest deleted) to six requests an hour,
// however many tenants its product has.
const (
	chartPullBackoff    = 10 * time.Second
	maxChartPullBackoff = 10 * time.Minute
	// minPullRetry is the least a pass answered from a failed pull waits:
	// one that comes as the backoff ends is not sent back at once.
	minPullRetry = time.Second
	// maxRememberedPulls bounds the failed pulls remembered: one for each
	// chart and credentials that failed lately, a few for each product
	// whose registry refuses it; past it, those whose backoff ends first
	// are forgotten first.
	maxRememberedPulls = 256
)

// failedPull is a pull that failed, as remembered: its error, how many
// pulls of it failed in a row, and when the registry may be asked again.
// It does not change once made: the passes answered with it share it.
type failedPull struct {
	err      error
	failures int
	retryAt  time.Time
}

func (f *failedPull) Error() string {
	times := "once"
	if f.failures > 1 {
		times = fmt.Sprintf("%d times in a row", f.failures)
	}
	return fmt.Sprintf("%v (this pull failed %s: pulled again after %s, or at once when the pull Secret changes)",
		f.err, times, f.retryAt.UTC().Format(time.RFC3339))
}

func (f *failedPull) Unwrap() error { return f.err }

// retryLater is f as a pass's failure, retried when its backoff ends
// (finishReconcile), not on the controller's rate limiter.
func (f *failedPull) retryLater(now time.Time) error {
	return &retryAfterError{err: f, after: max(f.retryAt.Sub(now), minPullRetry)}
}

// pullFailures remembers failed pulls by their pull key. The zero value is
// ready to use; it is safe for concurrent use.
type pullFailures struct {
	mu    sync.Mutex
	byKey map[string]*failedPull
}

// recent returns the failure remembered for key while its backoff lasts.
func (p *pullFailures) recent(key string, now time.Time) (*failedPull, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.byKey[key]
	if !ok || !now.Before(f.retryAt) {
		return nil, false
	}
	return f, true
}

// record remembers that the pull under key failed with err at now, and
// returns the failure as remembered. A failure after one whose backoff
// ended more than maxChartPullBackoff ago starts the backoff over.
func (p *pullFailures) record(key string, err error, now time.Time) *failedPull {
	p.mu.Lock()
	defer p.mu.Unlock()
	failures := 1
	if last, ok := p.byKey[key]; ok && !last.forgettable(now) {
		failures = last.failures + 1
	}
	f := &failedPull{err: err, failures: failures, retryAt: now.Add(pullBackoff(failures))}
	if p.byKey == nil {
		p.byKey = map[string]*failedPull{}
	}
	if _, ok := p.byKey[key]; !ok {
		p.makeRoom(now)
	}
	p.byKey[key] = f
	return f
}

// forget drops what is remembered of key: its pull succeeded.
func (p *pullFailures) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byKey, key)
}

// count is the number of failed pulls remembered.
func (p *pullFailures) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byKey)
}

// makeRoom makes room for one more failure when maxRememberedPulls are
// remembered: the forgettable ones go, and if none is, the one whose
// backoff ends first. The caller holds p.mu.
func (p *pullFailures) makeRoom(now time.Time) {
	if len(p.byKey) < maxRememberedPulls {
		return
	}
	soonest := ""
	for key, f := range p.byKey {
		if f.forgettable(now) {
			delete(p.byKey, key)
			continue
		}
		if soonest == "" || f.retryAt.Before(p.byKey[soonest].retryAt) {
			soonest = key
		}
	}
	if len(p.byKey) >= maxRememberedPulls {
		delete(p.byKey, soonest)
	}
}

// forgettable: f's backoff ended more than maxChartPullBackoff ago, so a
// next failure is no longer one in a row with it.
func (f *failedPull) forgettable(now time.Time) bool {
	return now.Sub(f.retryAt) > maxChartPullBackoff
}

// pullBackoff is how long the registry is not asked again after failures
// pulls in a row failed.
func pullBackoff(failures int) time.Duration {
	backoff := chartPullBackoff
	for i := 1; i < failures && backoff < maxChartPullBackoff; i++ {
		backoff *= 2
	}
	return min(backoff, maxChartPullBackoff)
}
