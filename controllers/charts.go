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

	once     sync.Once
	archives *bytecache.Cache[chartrender.Archive]
	pulls    singleflight.Group
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
	if oci.PullSecretName != "" {
		secret := &corev1.Secret{}
		key := client.ObjectKey{Namespace: namespace, Name: oci.PullSecretName}
		if err := reader.Get(ctx, key, secret); err != nil {
			return chartrender.Archive{}, fmt.Errorf("failed to read the chart's pull Secret %s: %w", key, err)
		}
		dockerConfig = secret.Data[corev1.DockerConfigJsonKey]
	}
	archive, err := c.pull(ctx, ref, dockerConfig)
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
func (c *Charts) pull(ctx context.Context, ref string, dockerConfig []byte) (chartrender.Archive, error) {
	fetch := c.FetchOCI
	if fetch == nil {
		fetch = chartrender.FetchOCI
	}
	timeout := cmp.Or(c.FetchTimeout, DefaultChartFetchTimeout)
	key := ref + "\x00" + fmt.Sprintf("%x", sha256.Sum256(dockerConfig))
	pulled := c.pulls.DoChan(key, func() (any, error) {
		pullCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		archive, err := fetch(pullCtx, ref, dockerConfig)
		if err != nil && errors.Is(pullCtx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("the registry did not answer within %s (--chart-fetch-timeout): %w", timeout, err)
		}
		return archive, err
	})
	select {
	case res := <-pulled:
		archive, _ := res.Val.(chartrender.Archive)
		return archive, res.Err
	case <-ctx.Done():
		return chartrender.Archive{}, ctx.Err()
	}
}
