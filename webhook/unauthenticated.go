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
	if _, ok := r.unauthenticatedReads.take(); !ok {
		unauthenticatedReadsTotal.WithLabelValues(readRefused).Inc()
		return errReadsSpent
	}
	unauthenticatedReadsTotal.WithLabelValues(readAllowed).Inc()
	return r.reader.Get(ctx, key, obj)
}

// budget allows perSecond takes a second, up to a second's worth at once,
// on the receiver's clock. Requests nobody authenticated spend it: anyone
// can send them, so whatever they cost kooper beyond their answer (an
// API-server read for a name they made up, a log line) must be bounded.
// Without a limit each would cost the API server a read in the receiver's
// own priority-and-fairness flow, ahead of the marketplace's purchases.
type budget struct {
	limiter *rate.Limiter
	now     func() time.Time
	mu      sync.Mutex
	refused int
}

func newBudget(perSecond float64, now func() time.Time) *budget {
	return &budget{limiter: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))), now: now}
}

// take says whether one may be spent now and, when it may, how many takes
// were refused since the last that was not.
func (b *budget) take() (refusedBefore int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.limiter.AllowN(b.now(), 1) {
		b.refused++
		return 0, false
	}
	refusedBefore, b.refused = b.refused, 0
	return refusedBefore, true
}
