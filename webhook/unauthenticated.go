package webhook

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
// yet checked: as getConfirmed does (the cache, then the API server to
// confirm a miss), or from the API server alone when fresh; either read of
// the API server only while the budget of such reads lasts, errReadsSpent
// when it does. A key that is no object name is errInvalidName, read
// nowhere.
func (r *Receiver) readBeforeAuth(ctx context.Context, key types.NamespacedName, obj client.Object, fresh bool) error {
	if fresh {
		if len(validation.IsDNS1123Subdomain(key.Name)) > 0 {
			return errInvalidName
		}
		return r.unauthenticatedReader.Get(ctx, key, obj)
	}
	return getConfirmed(ctx, r.client, r.unauthenticatedReader, key, obj)
}

// budgetedReader reads from the API server while its budget lasts, and
// counts each read made or refused (kooper_receiver_unauthenticated_reads_total).
type budgetedReader struct {
	client.Reader
	budget *budget
}

func (b budgetedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := b.budget.take(); !ok {
		unauthenticatedReadsTotal.WithLabelValues(readRefused).Inc()
		return errReadsSpent
	}
	unauthenticatedReadsTotal.WithLabelValues(readAllowed).Inc()
	return b.Reader.Get(ctx, key, obj, opts...)
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
