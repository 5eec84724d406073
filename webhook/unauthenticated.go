package webhook

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// errReadsSpent answers 000005 at once when requests not yet authenticated
// have spent the receiver's reads of the API server for now
// (Options.UnauthenticatedReadsPerSecond): the marketplace retries, and by
// then an object just created is in the cache. Like errBusy, it is load
// shedding, logged as an answer, not as a failure.
var errReadsSpent = &callbackError{code: koogallery.ResultInternalError,
	msg: "the receiver is confirming too many names it does not hold; retry"}

// unauthenticatedReads limits the API-server reads that requests whose
// signature is not yet checked may cause: a product name from the URL, or a
// product's keys Secret, missing from the cache (or read fresh). Anyone can
// send such a request, and every name they make up misses the cache; without
// a limit each would cost the API server a read, in the receiver's own
// priority-and-fairness flow, ahead of the marketplace's purchases.
type unauthenticatedReads struct {
	limiter *rate.Limiter
	now     func() time.Time
}

func newUnauthenticatedReads(perSecond float64, now func() time.Time) *unauthenticatedReads {
	// A second's worth at once: the misses of a product and its keys
	// Secret created together, on every route, fit in it.
	burst := max(1, int(perSecond))
	return &unauthenticatedReads{limiter: rate.NewLimiter(rate.Limit(perSecond), burst), now: now}
}

// allow takes one read from the budget, false (and counted) when none is
// left.
func (u *unauthenticatedReads) allow() bool {
	if u.limiter.AllowN(u.now(), 1) {
		unauthenticatedReadsTotal.WithLabelValues(readAllowed).Inc()
		return true
	}
	unauthenticatedReadsTotal.WithLabelValues(readRefused).Inc()
	return false
}

// readBeforeAuth gets key into obj for a request whose signature is not
// yet checked: from the cache, and from the API server (when fresh, or to
// confirm a miss: "does not exist" must never rest on a stale cache) only
// while the budget of such reads lasts; errReadsSpent when it does not.
// A key that is no object name is errInvalidName, read nowhere.
func (r *Receiver) readBeforeAuth(ctx context.Context, key types.NamespacedName, obj client.Object, fresh bool) error {
	if len(validation.IsDNS1123Subdomain(key.Name)) > 0 {
		return errInvalidName
	}
	if !fresh {
		if err := r.client.Get(ctx, key, obj); !apierrors.IsNotFound(err) {
			return err
		}
	}
	if !r.unauthenticatedReads.allow() {
		return errReadsSpent
	}
	return r.reader.Get(ctx, key, obj)
}

// lineBudget is a budget of log lines: take says whether one may be written
// now and, when it may, how many were refused since the last one taken.
type lineBudget struct {
	limiter *rate.Limiter
	now     func() time.Time
	mu      sync.Mutex
	refused int
}

func newLineBudget(perSecond float64, now func() time.Time) *lineBudget {
	return &lineBudget{limiter: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))), now: now}
}

func (b *lineBudget) take() (refusedBefore int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.limiter.AllowN(b.now(), 1) {
		b.refused++
		return 0, false
	}
	refusedBefore, b.refused = b.refused, 0
	return refusedBefore, true
}
