package webhook

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// KitPathPattern is the route of the joint-operation kit interfaces: the
// production URL plus the sub-path the marketplace appends (spec §1.2).
const KitPathPattern = CallbackPathPrefix + "{product}" + koogallery.KitPathPrefix + "{interface}"

// Kit request headers (spec §2.2).
const (
	kitSignHeader      = "x-sign"
	kitTimestampHeader = "x-timestamp"
	kitNonceHeader     = "x-nonce"
)

func init() {
	// The kit interfaces are bounded label values of the callback metrics.
	for _, k := range koogallery.KitInterfaces {
		knownActivities[koogallery.Activity(k)] = true
	}
}

// kitCall is one verified kit call on its way through a handler.
type kitCall struct {
	*call
	name   koogallery.KitInterface
	secret *corev1.Secret // the product's keys Secret
	// replay is the call's claim against its replays, stored on the
	// directory it changes (see replayClaim).
	replay replayClaim
}

// kitHandlerFunc handles one verified, decoded kit call.
type kitHandlerFunc func(ctx context.Context, c *kitCall) error

func (r *Receiver) kitHandlers() map[koogallery.KitInterface]kitHandlerFunc {
	return map[koogallery.KitInterface]kitHandlerFunc{
		koogallery.KitTenantSync:      r.tenantSync,
		koogallery.KitApplicationSync: r.applicationSync,
		koogallery.KitAuthSync:        r.authSync,
		koogallery.KitSingleOrgSync:   r.singleOrgSync,
		koogallery.KitAllOrgSync:      r.allOrgSync,
	}
}

// serveKit runs a kit call through the same pipeline as a basic callback,
// with the kit key and headers: read, find the product, verify, decode,
// handle, answer. Every answer is HTTP 200 with JSON.
func (r *Receiver) serveKit(w http.ResponseWriter, req *http.Request) {
	ctx, cancel, c := r.begin(req)
	defer cancel()
	defer r.recoverPanic(w, c)
	err := r.processKit(ctx, req, &kitCall{call: c})
	// Kit answers carry no Body-Sign: the kit signs requests only (§2.2).
	r.finish(w, c, reply{}, err, "")
}

func (r *Receiver) processKit(ctx context.Context, req *http.Request, c *kitCall) error {
	if req.Method != http.MethodPost {
		return errMethodNotAllowed(req.Method, "kit calls")
	}
	c.name = koogallery.KitInterface(req.PathValue("interface"))
	handle, ok := r.kitHandlers()[c.name]
	if !ok {
		return errBadParam("kit interface %s is not supported", koogallery.NameOrWithheld(string(c.name)))
	}
	c.activity = koogallery.Activity(c.name)
	mayBeSync := r.mayBeMarketplaceKitCall(req)
	wait, stopWaiting := r.kitWait(ctx, mayBeSync)
	defer stopWaiting()
	body, release, err := r.readAndVerifyKit(ctx, wait, req, c)
	defer release()
	if err != nil {
		if mayBeSync && isShed(err) {
			return kitNotRetried(err)
		}
		return err
	}
	c.authenticated = true
	c.replay = r.kitReplayClaim(c.product.Name, req)
	c.request, err = koogallery.DecodeKitRequest(c.name, body)
	release() // decoded: the handler needs the body no more
	if err != nil {
		return err
	}
	return handle(ctx, c)
}

// readAndVerifyKit reads the kit call's body within the body budget, finds
// its product and verifies it, waiting while wait lasts for a reservation,
// a verification slot and a reread of the keys (see kitWait).
func (r *Receiver) readAndVerifyKit(ctx, wait context.Context, req *http.Request, c *kitCall) (body []byte, release func(), err error) {
	body, release, err = readBodyAwaitingBudget(req, r.kitBodyLimit(c.name), r.bodies, func(reserve func() bool) bool {
		return r.awaitKit(wait, polled(reserve))
	})
	if err != nil {
		return nil, release, err
	}
	if c.product, err = r.product(ctx, req.PathValue("product")); err != nil {
		return nil, release, err
	}
	err = r.verifyKitCall(ctx, wait, req, c, body)
	r.observeTimestamp(req.Header.Get(kitTimestampHeader), err)
	return body, release, err
}

// Kit syncs are not retried automatically (spec §1.7): a kit call answered
// 000005 because kooper's own limits were reached is lost until the buyer
// syncs again or the merchant resends it, and meanwhile the SSO gateway
// refuses the users it authorised, or admits those it cancelled. So a kit
// call waits, a bounded time, for what a basic callback is refused at once
// without: a body reservation (Options.MaxBodyBytesInFlight), a
// verification slot (Options.MaxConcurrentVerifications) and the
// product's next reread of its keys Secret (see verifyKitCall).
//
// Anyone can send a kit call, so the waits are bounded three ways: only a
// call that carries the kit's signing headers with a timestamp within the
// window waits at all (mayBeMarketplaceKitCall), at most maxKitWaiters wait
// at once, and none longer than kitWaitBound. A waiting call holds no slot
// and reserves no bytes it is waiting for: the wait is for the slots that
// calls being read and verified hold.
const (
	// maxKitWaiters bounds the kit calls waiting at once, on the whole
	// replica; one more is answered at once.
	maxKitWaiters = 32
	// kitPollInterval is how often a waiting kit call tries again for a
	// body reservation or a verification slot.
	kitPollInterval = 10 * time.Millisecond
)

// kitWaitBound is how long a kit call may wait in all. The wait comes out
// of the call's APITimeout (begin's deadline), so it leaves the handler two
// thirds of it for its API-server writes; with the default 3 s a sync
// waits at most 1 s and is answered well within the marketplace's 5 s.
func (r *Receiver) kitWaitBound() time.Duration { return r.opts.APITimeout / 3 }

// kitWait is the context a kit call waits within: kitWaitBound from now
// when mayWait, else one already done, with which awaitKit tries once.
func (r *Receiver) kitWait(ctx context.Context, mayWait bool) (context.Context, context.CancelFunc) {
	if !mayWait {
		done, cancel := context.WithCancel(ctx)
		cancel()
		return done, cancel
	}
	return context.WithTimeout(ctx, r.kitWaitBound())
}

// mayBeMarketplaceKitCall tells a kit call that may be the marketplace's
// from one that cannot be, before its body is read: the marketplace's
// carries x-sign and x-nonce, and an x-timestamp within the signature
// window. Anyone can forge these headers; only such calls wait, the rest
// are answered as before, without waiting.
func (r *Receiver) mayBeMarketplaceKitCall(req *http.Request) bool {
	if req.Header.Get(kitSignHeader) == "" || req.Header.Get(kitNonceHeader) == "" {
		return false
	}
	skew, err := r.verifier.Skew(req.Header.Get(kitTimestampHeader))
	return err == nil && skew.Abs() <= r.opts.SignatureWindow
}

// awaitKit calls try until it succeeds, again after the time try says,
// while wait lasts, holding one of r.kitWaiters meanwhile. It tries at least
// once, and once more when wait ends; it gives up at once when no waiter
// slot is free or try's next chance comes after wait ends.
func (r *Receiver) awaitKit(wait context.Context, try func() (ok bool, retryIn time.Duration)) bool {
	ok, retryIn := try()
	if ok {
		return true
	}
	if wait.Err() != nil || !r.kitWaiters.tryAcquire() {
		return false
	}
	defer r.kitWaiters.release()
	timer := time.NewTimer(retryIn)
	defer timer.Stop()
	for {
		if deadline, bounded := wait.Deadline(); bounded && time.Until(deadline) < retryIn {
			return false
		}
		select {
		case <-wait.Done():
			ok, _ = try()
			return ok
		case <-timer.C:
		}
		if ok, retryIn = try(); ok {
			return true
		}
		timer.Reset(retryIn)
	}
}

// polled is try for awaitKit, tried again every kitPollInterval.
func polled(try func() bool) func() (bool, time.Duration) {
	return func() (bool, time.Duration) { return try(), kitPollInterval }
}

// kitResendHint ends the message of a kit call answered 000005 because of
// kooper's own limits: the call is not retried, so it says where it is
// resent from (spec §1.7: the Seller Console's production interface
// messages, 卖家中心 > 生产接口消息).
const kitResendHint = "kit syncs are not retried automatically: resend this one from the Seller Console (卖家中心 > 生产接口消息)"

// kitNotRetried is the load shedding err (isShed) as a kit call is
// answered: the same code, and a message that says the sync must be
// resent, since nobody retries it. It is still load shedding, logged as an
// answer.
func kitNotRetried(err error) error {
	var shed *callbackError
	if !errors.As(err, &shed) {
		return err
	}
	reason := strings.TrimSuffix(shed.msg, "; retry")
	return &callbackError{code: shed.code, msg: reason + "; " + kitResendHint, err: shedCause{err}}
}

// shedCause is the load shedding behind a kit call's answer (kitNotRetried):
// errors.Is finds it, and the audit line's reason, whose message already
// says why, names it only as such.
type shedCause struct{ shed error }

func (c shedCause) Error() string { return "load shed" }
func (c shedCause) Unwrap() error { return c.shed }

// errKitKeysUnconfirmed answers a kit call whose signature the product's
// cached keys refuse when no reread of the stored keys came within its
// wait: the cache may lack a key just rotated in, and 000001, final for a
// kit call, is only decided on the stored keys (docs/lifecycle.md rule A).
// The rereads a second are a budget of reads before authentication, so it
// is load shedding like errReadsSpent, and is answered as such.
var errKitKeysUnconfirmed = &callbackError{code: koogallery.ResultInternalError,
	msg: "the signature matches none of the product's kit keys as cached, which cannot be read again yet",
	err: errReadsSpent}

// kitBodyLimit is the body limit of a kit interface: the batches of users
// and the whole department tree are larger than the rest (spec §3.11).
func (r *Receiver) kitBodyLimit(name koogallery.KitInterface) int64 {
	switch name {
	case koogallery.KitAuthSync:
		return r.opts.MaxBatchBodyBytes
	case koogallery.KitAllOrgSync:
		return r.opts.MaxOrgTreeBodyBytes
	}
	return r.opts.MaxBodyBytes
}

// verifyKitCall reads the product's keys Secret into c and checks the call's
// signature with its kit keys. A signature the cached keys refuse is
// checked again on the stored ones, at most once a second per product as
// for basic callbacks (see verifyBasic); a kit call waits for that reread
// while wait lasts, and without it is not refused (errKitKeysUnconfirmed).
// A missing signature is refused at once: no key makes one.
func (r *Receiver) verifyKitCall(ctx, wait context.Context, req *http.Request, c *kitCall, body []byte) error {
	err := r.verifyKitWith(ctx, wait, req, c, body, false)
	if !errors.Is(err, koogallery.ErrBadSignature) {
		return err
	}
	reread := func() (bool, time.Duration) { return r.keyRereads.tryAllow("kit/" + c.product.Name) }
	if !r.awaitKit(wait, reread) {
		return errKitKeysUnconfirmed
	}
	return r.verifyKitWith(ctx, wait, req, c, body, true)
}

// verifyKitWith checks the call's signature with the kit keys of the
// product's keys Secret, cached or, when fresh, stored, within a
// verification slot it waits for while wait lasts; it reads the Secret into
// c.
func (r *Receiver) verifyKitWith(ctx, wait context.Context, req *http.Request, c *kitCall, body []byte, fresh bool) error {
	if !r.awaitKit(wait, polled(r.verifying.tryAcquire)) {
		return errBusy
	}
	defer r.verifying.release()
	var err error
	if c.secret, err = r.readKeysSecret(ctx, c.product, fresh); err != nil {
		return err
	}
	keys := keysNamed(c.secret, saasv1alpha1.KitKeySecretKey)
	if len(keys) == 0 {
		return errInternal("the product's kit key is not configured", nil)
	}
	return r.verifyKit(req, keys, c.product.Name, body)
}

// verifyKit checks x-sign with every kit key of the product and, once it
// holds, that the nonce was not seen in the window.
func (r *Receiver) verifyKit(req *http.Request, keys []string, productName string, body []byte) error {
	signed := koogallery.SignedQuery{
		Signature: req.Header.Get(kitSignHeader),
		Timestamp: req.Header.Get(kitTimestampHeader),
		Nonce:     req.Header.Get(kitNonceHeader),
	}
	if _, _, err := r.verifier.VerifyKit(keys, signed, body); err != nil {
		return err
	}
	// Claimed as signed, like a basic callback's nonce (see verify).
	switch err := r.nonceRefusal(kitReplayKey(productName, signed)); {
	case errors.Is(err, errNonceReused):
		return errBadParam("x-nonce was already used within the %s window", r.opts.SignatureWindow)
	default:
		return err // nil, or errNoncesFull: to be retried, not refused
	}
}

// rsaKey reads the merchant's RSA private key from the product's Secret.
// Parsing costs little next to one RSA decryption, so it is not cached.
func rsaKey(secret *corev1.Secret) (*rsa.PrivateKey, error) {
	data := secret.Data[saasv1alpha1.RSAPrivateKeySecretKey]
	if len(data) == 0 {
		return nil, errInternal("the product's rsaPrivateKey is not configured", nil)
	}
	key, err := koogallery.ParseRSAPrivateKey(data)
	if err != nil {
		return nil, errInternal("the product's rsaPrivateKey cannot be used", err)
	}
	return key, nil
}
