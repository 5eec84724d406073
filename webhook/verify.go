package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/productkeys"
)

// verifyBasic checks a basic callback's signature with the product's keys
// and returns the key that signed it. A signature the cached keys refuse is
// checked again with the keys as the API server holds them, at most once a
// second per product: a refusal is never decided on a cache that may miss a
// key just added (docs/lifecycle.md rule A), and a flood of unsigned
// requests costs at most one read a second per product, within the
// receiver's budget of reads for unauthenticated requests. When that budget
// is spent (errReadsSpent) or the reread fails for a reason that may pass,
// the call is answered 000005, to be retried.
func (r *Receiver) verifyBasic(ctx context.Context, req *http.Request, product *saasv1alpha1.SaaSProduct, body []byte) (string, error) {
	if !r.verifying.tryAcquire() {
		return "", errBusy
	}
	defer r.verifying.release()
	keys, err := r.basicKeys(ctx, product, false)
	if err != nil && !errors.Is(err, errReadsSpent) {
		// A Secret without keys in the cache may have them stored already.
		keys, err = r.basicKeys(ctx, product, true)
	}
	if err != nil {
		return "", err
	}
	key, err := r.verify(req, keys, product.Name, body)
	if koogallery.CodeOf(err) != koogallery.ResultAuthFailed || !r.keyRereads.allow(product.Name) {
		return key, err
	}
	secret, rereadErr := r.readKeysSecret(ctx, product, true)
	switch {
	case errors.Is(rereadErr, errReadsSpent):
		// Not refused on keys that may be stale: retried.
		return "", errReadsSpent
	case rereadErr != nil && (ctx.Err() != nil || !keysSecretAbsent(rereadErr)):
		// Nor when the reread was cut off (the callback's deadline ran
		// out, the API server did not answer in time): the stored keys
		// may hold the one that signed, and a refusal is counted against
		// the merchant.
		return "", errInternal("the signature matches none of the product's keys as cached, and the stored keys could not be read; retry", rereadErr)
	}
	stored := keysNamed(secret, saasv1alpha1.BasicKeySecretKey)
	if rereadErr != nil || len(stored) == 0 || slices.Equal(stored, keys) {
		// The stored keys are those that refused it, or there are none.
		return key, err
	}
	return r.verify(req, stored, product.Name, body)
}

// keysSecretAbsent reports whether a read of a keys Secret failed for good:
// the Secret does not exist, its name cannot, or kooper may not read it.
// Rereading it would answer the same, so the cached keys' refusal stands.
func keysSecretAbsent(err error) bool {
	return apierrors.IsNotFound(err) || errors.Is(err, errInvalidName) || apierrors.IsForbidden(err)
}

// slots is a counting semaphore that never waits: a caller that finds no
// free slot is answered at once.
type slots chan struct{}

func (s slots) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) release() { <-s }

// rereadLimiter allows one reread per name per period.
type rereadLimiter struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	last  map[string]time.Time
}

func (l *rereadLimiter) allow(name string) bool {
	ok, _ := l.tryAllow(name)
	return ok
}

// tryAllow is allow that, when it refuses, also says how long until name's
// next reread: a kit call, which nobody retries, waits for it (awaitKit).
func (l *rereadLimiter) tryAllow(name string) (ok bool, retryIn time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, seen := l.last[name]; seen && now.Sub(last) < l.every {
		// A clock stepped back leaves last ahead of now: at most a period.
		return false, min(l.every-now.Sub(last), l.every)
	}
	if l.last == nil || len(l.last) > 10_000 {
		l.last = map[string]time.Time{}
	}
	l.last[name] = now
	return true, 0
}

// basicKeys returns the product's basic-interface keys: basicKey first, then
// every basicKey.<suffix> (for example basicKey.next), so a key can be
// rotated without downtime by adding the new one beside the old.
// fresh reads them from the API server rather than the cache.
func (r *Receiver) basicKeys(ctx context.Context, product *saasv1alpha1.SaaSProduct, fresh bool) ([]string, error) {
	secret, err := r.readKeysSecret(ctx, product, fresh)
	if err != nil {
		return nil, err
	}
	keys := keysNamed(secret, saasv1alpha1.BasicKeySecretKey)
	if len(keys) == 0 {
		return nil, errInternal("the product's keys are not configured", nil)
	}
	return keys, nil
}

// readKeysSecret reads the product's keys Secret for a request not yet
// authenticated: from the cache, or, when fresh or missing there, from the
// API server within the budget of such reads (readBeforeAuth).
func (r *Receiver) readKeysSecret(ctx context.Context, product *saasv1alpha1.SaaSProduct, fresh bool) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	return secret, keysSecretError(r.readBeforeAuth(ctx, r.keysSecretKey(product), secret, fresh))
}

// storedKeysSecret reads the product's keys Secret from the API server, for
// a request already authenticated.
func (r *Receiver) storedKeysSecret(ctx context.Context, product *saasv1alpha1.SaaSProduct) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	return secret, keysSecretError(r.reader.Get(ctx, r.keysSecretKey(product), secret))
}

func (r *Receiver) keysSecretKey(product *saasv1alpha1.SaaSProduct) types.NamespacedName {
	return types.NamespacedName{Namespace: r.opts.Namespace, Name: product.Spec.KeysSecretName}
}

// keysSecretError is the answer to a failed read of a keys Secret.
func keysSecretError(err error) error {
	switch {
	case err == nil, errors.Is(err, errReadsSpent):
		return err
	case apierrors.IsNotFound(err) || errors.Is(err, errInvalidName):
		return errInternal("the product's keys are not configured", err)
	}
	return errInternal("the product's keys cannot be read", err)
}

// keysNamed returns the values of productkeys.Named: the key name of
// secret, then every name.<suffix> in name order.
func keysNamed(secret *corev1.Secret, name string) []string {
	var values []string
	for _, k := range productkeys.Named(secret, name) {
		values = append(values, k.Value)
	}
	return values
}

// verify checks the signature with every key of the product and, once it
// holds, that its nonce and timestamp were not seen in the window. It
// returns the key that signed the request: appInfo is encrypted and the
// answer signed with it.
func (r *Receiver) verify(req *http.Request, keys []string, productName string, body []byte) (string, error) {
	q := req.URL.Query()
	signed := koogallery.SignedQuery{Signature: q.Get("signature"), Timestamp: q.Get("timestamp"), Nonce: q.Get("nonce")}
	matched, _, err := r.verifier.VerifyBasic(keys, signed, body)
	if err != nil {
		return "", err
	}
	// Only a correctly signed request may claim a nonce: unsigned requests
	// must not be able to fill the cache or block a real callback. The
	// claim is on nonce and timestamp as signed (ReplayKey): a replay that
	// moves characters between them keeps its signature and must hit the
	// same entry. Product names hold no "/", so products never share one.
	switch err := r.nonceRefusal(productName + "/" + signed.ReplayKey()); {
	case errors.Is(err, errNonceReused):
		return "", errBadParam("nonce was already used within the %s window", r.opts.SignatureWindow)
	case err != nil:
		return "", err
	}
	return keys[matched], nil
}

// nonceRefusal records a verified request's nonce. Unless
// Options.RefuseReusedNonces is off, it refuses one used in the window
// (errNonceReused) and, while the memo is full of nonces that may still be
// replayed, any new one (errNoncesFull).
func (r *Receiver) nonceRefusal(nonce string) error {
	if err := r.nonces.claim(nonce, r.opts.Now()); err != nil && r.opts.RefuseReusedNonces {
		return err
	}
	return nil
}

// errNonceReused is a nonce claimed again within the window.
var errNonceReused = errors.New("nonce reused")

// kitReplayKey is the key a kit call's nonce is remembered under, as signed
// (SignedQuery.ReplayKey) and apart from basic callbacks' and other
// products': in this replica's memo, and hashed on the directory the call
// changes (replayClaim).
func kitReplayKey(productName string, signed koogallery.SignedQuery) string {
	return "kit/" + productName + "/" + signed.ReplayKey()
}

// kitReplayClaim is the claim a verified kit call stores on the directory
// it changes. The memo above is this replica's and is lost on a restart,
// but a replayed kit sync (an add after the cancellation that followed it)
// undoes a later one, which nobody corrects: kit calls are not retried.
// So the claim is also kept where every replica reads it. It is empty,
// and nothing is claimed, when Options.RefuseReusedNonces is off.
func (r *Receiver) kitReplayClaim(productName string, req *http.Request) replayClaim {
	if !r.opts.RefuseReusedNonces {
		return replayClaim{}
	}
	signed := koogallery.SignedQuery{Timestamp: req.Header.Get(kitTimestampHeader), Nonce: req.Header.Get(kitNonceHeader)}
	sum := sha256.Sum256([]byte(kitReplayKey(productName, signed)))
	return replayClaim{key: hex.EncodeToString(sum[:replayClaimKeyBytes])}
}

// errNoncesFull answers 000005 to a verified callback when the nonce memo
// is full and every nonce in it may still be replayed: forgetting one would
// let its replay in, so the new one is not taken until the oldest leaves
// the window. The marketplace retries with a new nonce. Like errBusy, it is
// load shedding (a flood of validly signed requests), not a failure.
var errNoncesFull = &callbackError{code: koogallery.ResultInternalError,
	msg: "the receiver remembers as many nonces as it can within the signature window; retry"}

// nonceCache remembers the nonces of verified requests for twice the
// signature window (a request is accepted that far from its timestamp in
// either direction). It is per replica: a basic callback's replay sent to
// another replica within the window is caught only by the timestamp check
// (every basic callback is idempotent or guarded by the lifecycle rules); a
// kit call's is refused by its claim on its directory (kitReplayClaim).
type nonceCache struct {
	ttl    time.Duration
	mu     sync.Mutex
	seen   map[string]time.Time
	nextGC time.Time
	// nextFree is no later than the first expiry in seen: while the memo
	// is full, sweeping it before then frees nothing.
	nextFree time.Time
	maxSize  int
}

func newNonceCache(ttl time.Duration, maxSize int) *nonceCache {
	return &nonceCache{ttl: ttl, seen: map[string]time.Time{}, maxSize: maxSize}
}

// claim records nonce: errNonceReused when it is live (a replay may still
// carry a timestamp the window accepts), errNoncesFull when it is new and
// every nonce the memo holds is live.
func (c *nonceCache) claim(nonce string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.nextGC) || len(c.seen) >= c.maxSize && now.After(c.nextFree) {
		c.expire(now)
	}
	if expiry, ok := c.seen[nonce]; ok && !now.After(expiry) {
		return errNonceReused
	}
	if len(c.seen) >= c.maxSize {
		return errNoncesFull
	}
	c.seen[nonce] = now.Add(c.ttl)
	return nil
}

// expire drops the nonces past their TTL, and only those: the timestamps
// of their requests are outside the window, which refuses their replays.
// A live nonce is never dropped: only the memo refuses its replay.
func (c *nonceCache) expire(now time.Time) {
	c.nextGC = now.Add(c.ttl)
	c.nextFree = c.nextGC
	for nonce, expiry := range c.seen {
		switch {
		case now.After(expiry):
			delete(c.seen, nonce)
		case expiry.Before(c.nextFree):
			c.nextFree = expiry
		}
	}
}
