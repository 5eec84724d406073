package controllers

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/bytecache"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/rollout"
)

// maxRevisionBytes bounds a stored revision's data (rollout.Revision's
// JSON encoding), in bytes: etcd refuses a request over its
// --max-request-bytes, 1.5 MiB by default, and the ControllerRevision's
// metadata and the request's own framing need room beside the data, here
// 64 KiB. A chart packaged in a Secret (at most 1 MiB) is held in it
// base64-encoded, at 4/3 of its size: such a chart near its bound leaves
// about 100 KB for the values of the product and its plans.
const maxRevisionBytes = 1536<<10 - 64<<10

// controllerRevision is rev stored for product as a ControllerRevision
// named name in namespace, numbered number.
func controllerRevision(product *saasv1alpha1.SaaSProduct, namespace, name string, number int64, rev rollout.Revision) (*appsv1.ControllerRevision, error) {
	data, err := rev.Encode()
	if err != nil {
		return nil, err
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
			saasv1alpha1.ProductLabel:   product.Name,
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		},
			// The product's revisions go with it (it goes only once no
			// tenant holds it).
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(product, saasv1alpha1.GroupVersion.WithKind("SaaSProduct"))},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}

// revisionTooLargeError is a product revision refused before its create
// because its data is over maxRevisionBytes; its message gives the sizes
// and what to change.
type revisionTooLargeError struct {
	msg string
}

func (e *revisionTooLargeError) Error() string { return e.msg }

// checkRevisionSize returns a *revisionTooLargeError when cr, which stores
// rev, holds more than maxRevisionBytes of data, nil otherwise. namespace
// is kooper's, where the Secret of a chart rev keeps is, for the message.
func checkRevisionSize(cr *appsv1.ControllerRevision, rev rollout.Revision, namespace string) error {
	n := len(cr.Data.Raw)
	if n <= maxRevisionBytes {
		return nil
	}
	const limit = "a revision may hold (etcd's default request limit, 1.5 MiB, less room for its metadata)"
	if len(rev.ChartArchive) == 0 || rev.Chart == nil {
		return &revisionTooLargeError{msg: fmt.Sprintf("product revision %s is %d bytes, more than the %d %s: make the values of the product and its plans smaller",
			cr.Name, n, maxRevisionBytes, limit)}
	}
	return &revisionTooLargeError{msg: fmt.Sprintf("product revision %s is %d bytes, its chart archive from %s %d of them base64-encoded, more than the %d %s: "+
		"make the chart archive or the values of the product and its plans smaller, or keep the chart in an OCI registry, which a revision does not hold",
		cr.Name, n, chartSource(namespace, rev.Chart), base64.StdEncoding.EncodedLen(len(rev.ChartArchive)), maxRevisionBytes, limit)}
}

// decodeRevision reads the revision a ControllerRevision holds.
func decodeRevision(cr *appsv1.ControllerRevision) (rollout.Revision, error) {
	rev, err := rollout.DecodeRevision(cr.Data.Raw)
	if err != nil {
		return rev, fmt.Errorf("ControllerRevision %s: %w", cr.Name, err)
	}
	return rev, nil
}

// readRevision reads the product revision name from kooper's namespace:
// from the cache, and, when the cache does not have it, from the API
// server (the rollout may have stored it a moment ago). found is false
// when neither has it.
//
// cr may be the cache's own object, not a copy: a revision of a chart kept
// in a Secret holds the archive, up to 1 MiB, and the tenants the rollout
// holds on an older revision read it on every pass. Do not modify it.
func readRevision(ctx context.Context, c client.Reader, reader client.Reader, namespace, name string) (cr *appsv1.ControllerRevision, found bool, err error) {
	cr = &appsv1.ControllerRevision{}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err = c.Get(ctx, key, cr, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		err = reader.Get(ctx, key, cr)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("failed to read product revision %s: %w", key, err)
	}
	return cr, true, nil
}

// revisionMemoBytes bounds the revisions a revisionMemo keeps, weighed by
// their stored data: 64 MiB, the revisions of about 45 products whose
// charts from Secrets are at their bound (1 MiB each), or thousands of
// others. Past it, the least recently used revision is decoded again on
// its next pass, as every pass did before there was a memo.
const revisionMemoBytes = 64 << 20

// revisionMemo remembers product revisions as decoded, so that the passes
// of the tenants a rollout holds on an older revision (those a wave has
// not reached, those of a paused rollout: every one of them on a restart
// or a product edit) do not decode the same revision and hash its chart
// archive again, each for itself. The zero value is ready to use; it is
// safe for concurrent use.
type revisionMemo struct {
	once    sync.Once
	decoded *bytecache.Cache[decodedRevision]
}

// decodedRevision is a ControllerRevision's revision as decoded, and which
// object it was decoded from: a revision's data does not change, but one
// deleted and made again under its name has a new UID and
// resourceVersion.
type decodedRevision struct {
	uid             types.UID
	resourceVersion string
	rev             rollout.Revision
	// chart is the packaged chart rev keeps (its ChartArchive, which is
	// chart's bytes), its digest known; the zero Archive when it keeps
	// none.
	chart chartrender.Archive
}

func (m *revisionMemo) cache() *bytecache.Cache[decodedRevision] {
	m.once.Do(func() { m.decoded = bytecache.New[decodedRevision](revisionMemoBytes) })
	return m.decoded
}

// decode returns the revision cr holds and the packaged chart it keeps
// (Charts.revisionChart): from memory when the same object, by UID and
// resourceVersion, was decoded before. Both are shared by the passes of
// every tenant of the revision: do not modify them (Revision.Overlay
// copies what it takes). An object without a resourceVersion (none comes
// from the API server so) is decoded every time.
func (m *revisionMemo) decode(cr *appsv1.ControllerRevision, charts *Charts) (rollout.Revision, chartrender.Archive, error) {
	key := cr.Namespace + "/" + cr.Name
	if d, ok := m.cache().Get(key); ok && d.uid == cr.UID && d.resourceVersion == cr.ResourceVersion && cr.ResourceVersion != "" {
		return d.rev, d.chart, nil
	}
	rev, err := decodeRevision(cr)
	if err != nil {
		return rollout.Revision{}, chartrender.Archive{}, err
	}
	chart := charts.revisionChart(rev)
	// One copy of the archive in memory, shared with the chart cache,
	// instead of the one just decoded beside it.
	rev.ChartArchive = chart.Bytes()
	if cr.ResourceVersion != "" {
		m.cache().Add(key, decodedRevision{uid: cr.UID, resourceVersion: cr.ResourceVersion, rev: rev, chart: chart}, int64(len(cr.Data.Raw)))
	}
	return rev, chart, nil
}

// revisionChart is the packaged chart rev keeps, as an Archive: the chart
// cache's when it holds rev's resolved digest, which names that archive
// (storeRevision keeps the archive Charts.Archive checked against it), so
// that the archive is neither hashed nor copied again; else one made of
// rev.ChartArchive. The zero Archive when rev keeps none (an OCI chart, a
// workload).
func (c *Charts) revisionChart(rev rollout.Revision) chartrender.Archive {
	if len(rev.ChartArchive) == 0 {
		return chartrender.Archive{}
	}
	if rev.ResolvedChart != nil && rev.ResolvedChart.Digest != "" {
		if archive, ok := c.cache().Get(rev.ResolvedChart.Digest); ok {
			return archive
		}
	}
	return chartrender.ArchiveFromBytes(rev.ChartArchive)
}

// rememberChart puts a revision's packaged chart, archive
// (revisionChart), where Charts.Archive finds it by digest, unless it is
// there already. Only charts from a Secret are stored in a revision, so
// each weighs at most a Secret's 1 MiB: the cache's budget holds many.
func (c *Charts) rememberChart(archive chartrender.Archive) {
	if archive.Digest() == "" {
		return
	}
	if _, ok := c.cache().Get(archive.Digest()); !ok {
		c.keep(archive)
	}
}
