package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/cleanpath"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// CallbackPathPrefix starts every production URL: KooGallery is configured
// with https://<host>/koogallery/<SaaSProduct name>.
const CallbackPathPrefix = "/koogallery/"

// Options configure the receiver.
type Options struct {
	// Namespace is kooper's namespace, where products' keys Secrets live.
	// The receiver only reads there.
	Namespace string
	// DirectoryNamespace is where the receiver writes joint-operation
	// directory shards: a namespace of their own, so the receiver writes
	// nowhere near the keys. Empty: Namespace (tests only).
	DirectoryNamespace string
	// SignatureWindow is how far a callback's timestamp may be from now, in
	// either direction. Default 60 s, as the marketplace's sample checks.
	SignatureWindow time.Duration
	// BodySign adds the Body-Sign response header (spec §2.3). Default on.
	BodySign bool
	// RefuseReusedNonces answers 000002 to a correctly signed callback or
	// kit call whose nonce and timestamp (as signed: SignedQuery.ReplayKey)
	// this replica verified within twice the signature window. The spec recommends it but documents no nonce
	// uniqueness (§2.1.2 step 3, §8 item 5): if the marketplace were seen
	// to retry with a nonce it used before, false lets the retry through
	// (basic callbacks are idempotent; only the timestamp window then stops
	// a replay). A kit call is also claimed on its directory while it is
	// on, so its replay is refused on every replica (replayClaim). Default on.
	RefuseReusedNonces bool
	// PendingResultCode answers newInstance and queryInstance while a tenant
	// is still being provisioned: 000000 without appInfo (default) or 000004.
	PendingResultCode koogallery.ResultCode
	// MaxBodyBytes caps the body of a basic callback and of a small kit call
	// (tenantSync, applicationSync, singleOrgSync). Default 64 KiB: the
	// largest, a newInstance with every field at its length, is under 8 KiB.
	MaxBodyBytes int64
	// MaxBatchBodyBytes caps an authSync body: at most 500 users a call, each
	// under 1 KiB at the fields' lengths (spec §3.11.3). Default 1 MiB.
	MaxBatchBodyBytes int64
	// MaxOrgTreeBodyBytes caps an allOrgSync body, the whole department
	// tree, whose size the spec does not bound (§3.11.5). Default 8 MiB:
	// about 16,000 departments at the fields' lengths.
	MaxOrgTreeBodyBytes int64
	// MaxBodyBytesInFlight bounds the bytes of the bodies every route reads
	// and decodes at once, together, before and while their signature is
	// checked: each body reserves its declared Content-Length, or its
	// route's cap when it declares none, before a byte is read, until it is
	// decoded. One that does not fit is answered 000005 at once, unread
	// (errBodiesBusy), so concurrent large bodies cannot exhaust the
	// replica's memory: each cap bounds one request, not how many are
	// read at once. Default 32 MiB, an eighth of the chart's 256Mi memory
	// limit (reading and decoding take a few times the body's bytes); it
	// must be at least the largest cap, MaxOrgTreeBodyBytes.
	MaxBodyBytesInFlight int64
	// MaxConcurrentVerifications bounds the callbacks whose body is being
	// canonicalised and verified at once; one over it is answered 000005
	// at once, so a flood of unauthenticated bodies cannot starve signed
	// callbacks of CPU and memory. Default 4 per CPU.
	MaxConcurrentVerifications int
	// UnauthenticatedReadsPerSecond bounds the API-server reads that
	// requests not yet authenticated may cause, together: confirming that
	// a product named in the URL, or a product's keys Secret, is missing
	// from the cache, and reading a keys Secret afresh. A request over it
	// is answered 000005 at once (503 on the revocation list), so made-up
	// product names cannot turn a flood into API-server load. Up to a
	// second's worth may be spent at once. Default 20.
	UnauthenticatedReadsPerSecond float64
	// UnauthenticatedAuditLinesPerSecond bounds the audit lines of
	// requests that end before their signature verified (an unknown
	// product or path, a bad signature or timestamp, load shed), and,
	// apart, of those that fail there (a keys Secret or product that
	// cannot be read): beyond it such a line is counted, not written, and
	// the next one written says how many were not. Signed callbacks'
	// lines are always written. Up to a second's worth may be written at
	// once. Default 100 each.
	UnauthenticatedAuditLinesPerSecond float64
	// APITimeout bounds the API-server work of one callback, so the answer
	// always comes well within the marketplace's 5 s.
	APITimeout time.Duration
	// OAEPHashes are the RSA-OAEP variants tried, in order, to decrypt a kit
	// clientSecret (spec §4.2 leaves the hash open).
	OAEPHashes []koogallery.OAEPHash
	// ClientSecretErrorCode answers an applicationSync whose clientSecret
	// cannot be decrypted: 000005 (default) or 000101. The sample answers
	// 000101, which the docs define as "mobile number empty or already used"
	// (spec §8 item 17): shown to the buyer, it points at the wrong cause.
	// Most often the rsaPrivateKey in the keys Secret is not yet the one
	// whose public key was uploaded, an internal error of the merchant's.
	// Kit calls are not retried automatically (spec §1.7): once the key is
	// fixed, the buyer syncs again, or the merchant resends the call.
	ClientSecretErrorCode koogallery.ResultCode
	// CanonicalForms are the canonical forms of a body a callback's
	// signature is accepted over, basic and kit (spec §8 item 3; see
	// koogallery.CanonicalForm). Default all of them: each still needs the
	// HMAC key, so accepting more cannot let a forger in, while leaving out
	// the form the marketplace uses refuses every callback with 000001.
	CanonicalForms []koogallery.CanonicalForm
	// StaleFreezeMargin is how far ahead a renewal order's expiry must lie for
	// a FREEZE to count as a stale retry and be ignored (docs/lifecycle.md
	// rule F). Default 1 hour; 0 turns this check off.
	StaleFreezeMargin time.Duration
	// RenewalRetryWindow is how long the marketplace may go on delivering a
	// refreshInstance after its order was created (spec §1.7: 1 hour, §8 item
	// 9: uncertain). A renewal received more than this after a shortening
	// order was created after it, so that order no longer cuts the period the
	// renewal pays for (docs/lifecycle.md rule F). Default 24 hours: longer
	// keeps more FREEZEs applied.
	RenewalRetryWindow time.Duration
	// FreezeRetryWindow is how long after an UNFREEZE a FREEZE is taken for
	// the retry of the FREEZE that UNFREEZE ended, and not applied
	// (docs/lifecycle.md rule F): the spec documents neither the order of
	// UNFREEZE and the renewal nor how long a FREEZE is retried (§1.5 item
	// 4, §8). Ignoring a real FREEZE serves an unpaid buyer until the
	// release that ends the freeze period (at most 15 days); applying a
	// stale one freezes a paying buyer until someone notices. Default 24
	// hours; 0 turns this check off.
	FreezeRetryWindow time.Duration
	// LicenseKeyFormat is the revocation list's format for a product that
	// names none and a request that asks for none (--licence-key-format);
	// empty means JWS.
	LicenseKeyFormat saasv1alpha1.LicenseKeyFormat
	// Recorder records Events about callbacks answered without change (an
	// instance whose record is gone, a stale FREEZE); nil records none.
	Recorder events.EventRecorder
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// DefaultOptions are the receiver's defaults.
func DefaultOptions() Options {
	return Options{
		Namespace:                          "kooper-system",
		SignatureWindow:                    koogallery.DefaultWindow,
		BodySign:                           true,
		RefuseReusedNonces:                 true,
		PendingResultCode:                  koogallery.ResultSuccess,
		MaxBodyBytes:                       64 << 10,
		MaxBatchBodyBytes:                  1 << 20,
		MaxOrgTreeBodyBytes:                8 << 20,
		MaxBodyBytesInFlight:               32 << 20,
		MaxConcurrentVerifications:         4 * runtime.GOMAXPROCS(0),
		UnauthenticatedReadsPerSecond:      20,
		UnauthenticatedAuditLinesPerSecond: 100,
		APITimeout:                         3 * time.Second,
		OAEPHashes:                         koogallery.DefaultOAEPHashes,
		ClientSecretErrorCode:              koogallery.ResultInternalError,
		CanonicalForms:                     koogallery.DefaultCanonicalForms,
		StaleFreezeMargin:                  time.Hour,
		RenewalRetryWindow:                 24 * time.Hour,
		FreezeRetryWindow:                  24 * time.Hour,
		Now:                                time.Now,
	}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.PendingResultCode != koogallery.ResultSuccess && o.PendingResultCode != koogallery.ResultProcessing:
		return fmt.Errorf("pending result code must be %s or %s, not %q", koogallery.ResultSuccess, koogallery.ResultProcessing, o.PendingResultCode)
	case o.SignatureWindow <= 0:
		return fmt.Errorf("signature window must be positive")
	case o.MaxBodyBytes <= 0 || o.MaxBatchBodyBytes <= 0 || o.MaxOrgTreeBodyBytes <= 0 || o.APITimeout <= 0:
		return fmt.Errorf("body limits and API timeout must be positive")
	case o.MaxBodyBytesInFlight < max(o.MaxBodyBytes, o.MaxBatchBodyBytes, o.MaxOrgTreeBodyBytes):
		return fmt.Errorf("the bytes of bodies in flight (%d) must be at least the largest body limit, or a body that large is never read", o.MaxBodyBytesInFlight)
	case o.MaxConcurrentVerifications <= 0:
		return fmt.Errorf("at least one verification must be allowed at a time")
	case o.UnauthenticatedReadsPerSecond <= 0 || o.UnauthenticatedAuditLinesPerSecond <= 0:
		return fmt.Errorf("unauthenticated reads and audit lines per second must be positive")
	case o.StaleFreezeMargin < 0:
		return fmt.Errorf("stale-freeze margin must not be negative")
	case o.RenewalRetryWindow <= 0:
		return fmt.Errorf("renewal retry window must be positive")
	case o.FreezeRetryWindow < 0:
		return fmt.Errorf("freeze retry window must not be negative")
	case len(o.OAEPHashes) == 0:
		return fmt.Errorf("at least one OAEP variant is needed to decrypt kit clientSecrets")
	case o.ClientSecretErrorCode != koogallery.ResultInternalError && o.ClientSecretErrorCode != koogallery.ResultAppSecretError:
		return fmt.Errorf("clientSecret error code must be %s or %s, not %q", koogallery.ResultInternalError, koogallery.ResultAppSecretError, o.ClientSecretErrorCode)
	case len(o.CanonicalForms) == 0:
		return fmt.Errorf("at least one canonical form is needed to verify signatures")
	}
	for _, f := range o.CanonicalForms {
		if _, err := koogallery.ParseCanonicalForms(string(f)); err != nil {
			return err
		}
	}
	return nil
}

// +kubebuilder:rbac:groups=saas.kooper.io,resources=saasproducts,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.kooper.io,resources=saastenants,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=saas.kooper.io,resources=licenses,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",namespace=kooper-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=kooper-system,resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Receiver answers KooGallery's basic callbacks. It records what the
// marketplace said in SaaSTenant and License objects and answers only once
// that is stored; the controllers do the rest.
type Receiver struct {
	client   client.Client // cached reads, direct writes
	reader   client.Reader // uncached reads, to confirm a miss or a fresh write
	opts     Options
	verifier koogallery.Verifier
	nonces   *nonceCache
	handlers map[koogallery.Activity]handlerFunc
	// keyRereads limits the rereads of a keys Secret after a failed
	// signature (see verifyBasic).
	keyRereads *rereadLimiter
	// goneLicences remembers each licence product's gone instances for its
	// revocation list.
	goneLicences *ttlMemo[[]string]
	// revocationLists keeps each signed revocation list a moment, so that
	// polls share its build (listMemo).
	revocationLists *listMemo
	// bodies holds the bytes of the bodies being read and decoded
	// (Options.MaxBodyBytesInFlight), shared by every route.
	bodies *semaphore.Weighted
	// verifying holds a slot per callback being canonicalised and verified
	// (Options.MaxConcurrentVerifications).
	verifying slots
	// kitWaiters holds a slot for each kit call waiting for room
	// (maxKitWaiters, awaitKit).
	kitWaiters slots
	// unauthenticatedReader is reader within the budget of API-server
	// reads for requests not yet authenticated
	// (Options.UnauthenticatedReadsPerSecond).
	unauthenticatedReader *budgetedReader
	// unauthenticatedLines and unauthenticatedFailures are the budgets of
	// audit lines for calls never authenticated
	// (Options.UnauthenticatedAuditLinesPerSecond each): refusals, and
	// failures (a keys Secret or product that cannot be read), kept
	// apart so that a flood of refusals cannot hide a fault.
	unauthenticatedLines, unauthenticatedFailures *budget
}

// call is one verified, decoded callback on its way through a handler.
type call struct {
	product *saasv1alpha1.SaaSProduct
	key     string // the basic key that signed the request
	// activity and request are set once the body is decoded; request is a
	// *koogallery.<Activity>Request.
	activity koogallery.Activity
	request  any
	// instanceID and orderID are filled in by handlers, for the log line.
	instanceID, orderID string
	// start is when the request arrived; log is its audit logger
	// (AuditLoggerName), which writes the one line the call gets.
	start time.Time
	log   logr.Logger
	// answered is set once the answer is being written.
	answered bool
	// authenticated is set once the signature is verified: the audit
	// lines of calls that never are count against
	// Options.UnauthenticatedAuditLinesPerSecond.
	authenticated bool
}

// NewReceiver returns a receiver that reads through c (the manager's cached
// client) and confirms misses through reader (the manager's API reader).
func NewReceiver(c client.Client, reader client.Reader, opts Options) (*Receiver, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Receiver{
		client:                  c,
		reader:                  reader,
		opts:                    opts,
		verifier:                koogallery.Verifier{Window: opts.SignatureWindow, Now: opts.Now, Forms: opts.CanonicalForms},
		nonces:                  newNonceCache(2*opts.SignatureWindow, 100_000),
		keyRereads:              &rereadLimiter{every: time.Second, now: opts.Now},
		goneLicences:            &ttlMemo[[]string]{now: opts.Now, ttl: goneLicencesTTL},
		revocationLists:         &listMemo{ttlMemo[builtList]{now: opts.Now, ttl: revocationListTTL}},
		bodies:                  semaphore.NewWeighted(opts.MaxBodyBytesInFlight),
		verifying:               make(slots, opts.MaxConcurrentVerifications),
		kitWaiters:              make(slots, maxKitWaiters),
		unauthenticatedReader:   &budgetedReader{Reader: reader, budget: newBudget(opts.UnauthenticatedReadsPerSecond, opts.Now)},
		unauthenticatedLines:    newBudget(opts.UnauthenticatedAuditLinesPerSecond, opts.Now),
		unauthenticatedFailures: newBudget(opts.UnauthenticatedAuditLinesPerSecond, opts.Now),
	}
	r.handlers = r.activityHandlers()
	return r, nil
}

// Handler returns the receiver's whole HTTP handler, for the Server: the
// callback routes (basic and kit), each License product's revocation list,
// and an answer for every other path. Paths are cleaned first
// (cleanpath.Handler): /koogallery/crm/, /koogallery//crm and
// /koogallery/x/../crm are the production URL /koogallery/crm, a %2F is
// not a separator, and nothing is ever redirected. Every answer is HTTP 200
// with a JSON result code (spec §1.6), logged and counted; a path that names
// no callback answers 000002 with the URLs that do. Only the revocation list
// (RevocationListPath) answers otherwise, as its own contract says.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(CallbackPathPrefix+"{product}", r)
	mux.HandleFunc(KitPathPattern, r.serveKit)
	mux.HandleFunc(RevocationListPath, r.serveRevocations)
	// The catch-all: no request reaches the mux's own 404, 405 or redirect.
	mux.HandleFunc("/", r.serveUnknownPath)
	return cleanpath.Handler(mux)
}

// serveUnknownPath answers a path that names no callback: 000002, naming the
// production URL and the kit URLs.
func (r *Receiver) serveUnknownPath(w http.ResponseWriter, req *http.Request) {
	_, cancel, c := r.begin(req)
	defer cancel()
	defer r.recoverPanic(w, c)
	path := req.URL.EscapedPath()
	c.log = c.log.WithValues("path", shownPath(path))
	r.finish(w, c, reply{}, errUnknownPath(path), "")
}

// ServeHTTP runs one callback through the pipeline: read, find the product,
// verify, decode, handle, answer. Every answer is HTTP 200 with JSON.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel, c := r.begin(req)
	defer cancel()
	defer r.recoverPanic(w, c)
	rep, err := r.process(ctx, req, c)
	r.finish(w, c, rep, err, c.key)
}

// begin starts one request: its clock, its API-server deadline and its
// logger, which names the request and the product of the URL (as
// auditedProduct shows it).
func (r *Receiver) begin(req *http.Request) (context.Context, context.CancelFunc, *call) {
	ctx, cancel := context.WithTimeout(req.Context(), r.opts.APITimeout)
	log := ctrl.LoggerFrom(ctx).WithName(AuditLoggerName).WithValues("requestId", newRequestID(), "product", auditedProduct(req.PathValue("product")))
	return ctx, cancel, &call{start: r.opts.Now(), log: log}
}

// finish settles the answer, writes it (signed with key unless key is
// empty) and records the call: the log line and the metrics carry exactly
// the result code sent.
func (r *Receiver) finish(w http.ResponseWriter, c *call, rep reply, err error, key string) {
	rep = settle(rep, err)
	c.answered = true
	r.respond(w, rep, key)
	elapsed := r.opts.Now().Sub(c.start)
	r.audit(c, rep.code, err, elapsed)
	observeCall(c.product, c.activity, rep.code, elapsed)
}

// recoverPanic, deferred by each route, answers a panic of the pipeline
// 000005 (logged with its stack, and counted), so the marketplace gets an
// answer and retries instead of a dropped connection, which is what
// net/http makes of a panic. A panic once the answer is being written is
// only logged; http.ErrAbortHandler is passed on.
func (r *Receiver) recoverPanic(w http.ResponseWriter, c *call) {
	v := recover()
	switch {
	case v == nil:
		return
	case v == http.ErrAbortHandler:
		panic(v)
	case c.answered:
		// Not the audit line: that was written with the answer.
		ctrl.Log.WithName("receiver").Error(fmt.Errorf("panic: %v", v), "Callback panicked after its answer", "stack", string(debug.Stack()))
		return
	}
	r.finish(w, c, reply{}, errInternal("internal error; please retry", fmt.Errorf("panic: %v\n%s", v, debug.Stack())), "")
}

// process runs the pipeline up to the handler's reply.
func (r *Receiver) process(ctx context.Context, req *http.Request, c *call) (reply, error) {
	if req.Method != http.MethodPost {
		return reply{}, errMethodNotAllowed(req.Method, "callbacks")
	}
	body, release, err := readBodyWithinBudget(req, r.opts.MaxBodyBytes, r.bodies)
	defer release()
	if err != nil {
		return reply{}, err
	}
	product, err := r.product(ctx, req.PathValue("product"))
	if err != nil {
		return reply{}, err
	}
	c.product = product
	c.key, err = r.verifyBasic(ctx, req, product, body)
	r.observeTimestamp(req.URL.Query().Get("timestamp"), err)
	if err != nil {
		return reply{}, err
	}
	c.authenticated = true
	// DecodeCallback also reads the older rich newInstance body (spec §8
	// item 29).
	activity, request, err := koogallery.DecodeCallback(body)
	release() // decoded: the handler needs the body no more
	c.activity = activity
	if err != nil {
		return reply{}, err
	}
	c.request = request
	handle, ok := r.handlers[activity]
	if !ok {
		return reply{}, errBadParam("activity %q is not supported", activity)
	}
	return handle(ctx, c)
}

// product reads the SaaSProduct the production URL names. Every route asks
// before its request is authenticated: a name missing from the cache is
// confirmed with the API server only within the budget (readBeforeAuth),
// errReadsSpent beyond it.
func (r *Receiver) product(ctx context.Context, name string) (*saasv1alpha1.SaaSProduct, error) {
	product := &saasv1alpha1.SaaSProduct{}
	err := r.readBeforeAuth(ctx, types.NamespacedName{Name: name}, product, false)
	switch {
	case apierrors.IsNotFound(err) || errors.Is(err, errInvalidName):
		return nil, errBadParam("unknown product %s: no SaaSProduct has that name", productNameOrWithheld(name))
	case errors.Is(err, errReadsSpent):
		return nil, errReadsSpent
	case err != nil:
		return nil, errInternal("the product cannot be read", productWithheld(err, name))
	}
	return product, nil
}

// productNameOrWithheld quotes the product segment of a production URL
// when it has the shape of a product's name, so the merchant sees which URL
// is misconfigured: the segment comes from the URL the merchant entered in
// the Seller Console, not from a buyer. It must be at most 253 characters
// (an object name's limit) of lower-case ASCII letters, digits, '-', '.' and
// '/' (an escaped slash is not a separator), with a letter among them. Such
// a value cannot be an e-mail address, a personal name or a phone number,
// and cannot break the audit line; anything else is described, not shown.
func productNameOrWithheld(name string) string {
	if !hasProductNameShape(name) {
		return "(its value is not a product name and is not shown)"
	}
	return strconv.Quote(name)
}

// hasProductNameShape tells a product segment that may be shown (see
// productNameOrWithheld) from one that is described instead.
func hasProductNameShape(name string) bool {
	lower := func(c rune) bool { return c >= 'a' && c <= 'z' }
	other := func(c rune) bool {
		return !lower(c) && (c < '0' || c > '9') && c != '-' && c != '.' && c != '/'
	}
	return len(name) <= 253 && !strings.ContainsFunc(name, other) && strings.ContainsFunc(name, lower)
}

// withheldProduct stands in the audit line, and in a path shown, for a
// product segment without a product name's shape.
const withheldProduct = "<not a product name>"

// auditedProduct is the audit line's "product": the URL's product segment
// when it has a product name's shape (hasProductNameShape), whether or not
// a SaaSProduct has that name, withheldProduct otherwise, and empty on a
// path without one. Anyone may send the segment, up to the ~20 KiB of a
// request line, a phone number as well as a misspelt name.
func auditedProduct(name string) string {
	if name == "" || hasProductNameShape(name) {
		return name
	}
	return withheldProduct
}

// productWithheld is err with every occurrence of name withheld, when name
// has no product name's shape: an object name such as a phone number is
// read from the API server, and its error (forbidden, a timeout) names the
// object, in the URL or the message. err is kept for errors.Is and As.
func productWithheld(err error, name string) error {
	if name == "" || hasProductNameShape(name) || !strings.Contains(err.Error(), name) {
		return err
	}
	return &withheldNameError{err: err, msg: strings.ReplaceAll(err.Error(), name, withheldProduct)}
}

// withheldNameError is an error whose text withholds a name (productWithheld).
type withheldNameError struct {
	err error
	msg string
}

func (e *withheldNameError) Error() string { return e.msg }
func (e *withheldNameError) Unwrap() error { return e.err }

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AuditLoggerName is the name of the logger that writes the audit line: the
// one line each callback (basic or kit, answered or refused, on any path)
// gets, with the fields of docs/operations.md#the-audit-line. main's logger
// never samples it.
const AuditLoggerName = "audit"

// audit writes the call's audit line (logCall). A call never authenticated
// is one anyone can send: beyond the budget of such lines its line is
// counted, not written, and the next one written says how many were not
// ("notLogged"). Failures (logged at error) have a budget of their own.
func (r *Receiver) audit(c *call, code koogallery.ResultCode, err error, elapsed time.Duration) {
	if !c.authenticated {
		log, ok := r.unauthenticatedLine(c.log, failed(code, err))
		if !ok {
			return
		}
		c.log = log
	}
	logCall(c, code, err, elapsed)
}

// unauthenticatedLine takes a line of a request nobody authenticated from
// its budget (failures' own when failure): false when the budget is spent,
// the line then counted in kooper_receiver_audit_lines_not_logged_total,
// not written; else log, with "notLogged" when lines were dropped since the
// last one written.
func (r *Receiver) unauthenticatedLine(log logr.Logger, failure bool) (logr.Logger, bool) {
	lines := r.unauthenticatedLines
	if failure {
		lines = r.unauthenticatedFailures
	}
	notLogged, ok := lines.take()
	if !ok {
		auditLinesNotLogged.Inc()
		return log, false
	}
	if notLogged > 0 {
		log = log.WithValues("notLogged", notLogged)
	}
	return log, true
}

// failed tells a call that failed (000005, not load shed), logged at error,
// from one answered.
func failed(code koogallery.ResultCode, err error) bool {
	return code == koogallery.ResultInternalError && !isShed(err)
}

// logCall writes the audit line, the one line each callback gets: its
// request ID and product (from begin), activity, instance and order IDs,
// result code and duration, and a refusal's reason; the logger adds the
// time. It never includes keys, signatures, bodies, query strings or a value
// of the body but the instance and order IDs: a refusal's reason names the
// field, never its value (see docs/personal-data.md).
func logCall(c *call, code koogallery.ResultCode, err error, elapsed time.Duration) {
	log := c.log
	kv := []any{"activity", activityLabel(c.activity), "instanceId", c.instanceID, "orderId", c.orderID,
		"resultCode", string(code), "duration", elapsed.String()}
	if failed(code, err) {
		log.Error(err, "Callback failed", kv...)
		return
	}
	if err != nil {
		kv = append(kv, "reason", err.Error())
	}
	log.Info("Callback answered", kv...)
}
