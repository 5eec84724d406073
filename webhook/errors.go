package webhook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/redact"
	"github.com/kooper-io/kooper/internal/textcut"
)

// callbackError is an answer decided by kooper: a result code and a message
// safe to show the marketplace. err, when set, is the cause, for the log only.
type callbackError struct {
	code koogallery.ResultCode
	msg  string
	err  error
}

func (e *callbackError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.msg, e.err)
	}
	return e.msg
}

func (e *callbackError) Unwrap() error { return e.err }

// errBadParam answers 000002: the request is not one kooper can act on.
func errBadParam(format string, args ...any) error {
	return &callbackError{code: koogallery.ResultInvalidParam, msg: fmt.Sprintf(format, args...)}
}

// errUnknownPath answers 000002 for a cleaned path that names no callback,
// with the URLs that do: the production URL /koogallery/<product> and the
// kit URLs below it (spec §1.2). The product is the path's, if it has one
// with a product name's shape; the path is shown as shownPath shows it.
func errUnknownPath(path string) error {
	product := "<SaaSProduct name>"
	if segment, ok := productSegment(path); ok && hasProductNameShape(segment) {
		product = segment
	}
	return errBadParam("%s is not a callback URL: the production URL is %s%s, and kit calls go to it plus %s<interface>",
		shownPath(path), CallbackPathPrefix, clipPath(product), koogallery.KitPathPrefix)
}

// shownPath is an escaped path that names no callback as an answer or a
// log line shows it: its product segment, the one after /koogallery/, is
// withheldProduct unless it has a product name's shape, as in the audit
// line's "product"; the whole is clipped (clipPath).
func shownPath(path string) string {
	segment, ok := productSegment(path)
	if !ok || segment == "" || hasProductNameShape(segment) {
		return clipPath(path)
	}
	return clipPath(CallbackPathPrefix + withheldProduct + strings.TrimPrefix(path, CallbackPathPrefix+segment))
}

// productSegment is the segment of path after /koogallery/, and whether
// path starts so.
func productSegment(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, CallbackPathPrefix)
	segment, _, _ := strings.Cut(rest, "/")
	return segment, ok
}

// errMethodNotAllowed answers 000002 to a request that is not a POST; calls
// names what must be ("callbacks", "kit calls"). The method is quoted only
// when it is a name (koogallery.NameOrWithheld: GET, PUT): anyone may send
// one of token characters up to the server's header limit, ~16 KiB, and it
// goes into resultMsg and the audit line's reason.
func errMethodNotAllowed(method, calls string) error {
	return errBadParam("method %s is not allowed; %s are POST", koogallery.NameOrWithheld(method), calls)
}

// clipPath bounds a path taken from a request for a message or a log line,
// cut on a character boundary so the message stays valid UTF-8.
func clipPath(path string) string {
	const limit = 64
	if len(path) <= limit {
		return path
	}
	return textcut.Bytes(path, limit) + "..."
}

// errInstanceNotFound answers 000003: kooper never issued this instance ID.
func errInstanceNotFound(instanceID string) error {
	return &callbackError{code: koogallery.ResultInstanceNotFound, msg: fmt.Sprintf("instance %q does not exist", instanceID)}
}

// errHeldByAnotherProduct is why an instance ID that another product's
// record holds is unknown (000003) to this product; newInstance then gives
// the purchase an ID of its own (purchaseID).
var errHeldByAnotherProduct = errors.New("the instance is another product's")

// errAnotherProductsInstance answers 000003 for an instance ID that another
// product's record holds, as for one never issued.
func errAnotherProductsInstance(instanceID string) error {
	return &callbackError{code: koogallery.ResultInstanceNotFound, msg: fmt.Sprintf("instance %q does not exist", instanceID),
		err: errHeldByAnotherProduct}
}

// goneError is an instance kooper issued whose record is gone (deleted by
// hand, by a debug tenant's TTL, by any cleanup). Callbacks that change or
// report an instance answer it 000000 and change nothing; those that need
// the instance live (changeInstanceCheck, getLicenseAsync) answer 000002.
// See docs/lifecycle.md rule B.
type goneError struct{ id string }

func (e *goneError) Error() string {
	return fmt.Sprintf("instance %q was released and its record deleted", e.id)
}

// errLostWithCRD answers 000005 for an instance whose record went with its
// CRD (tombstone.Entry.LostWithCRD): it was never released, kooper cannot
// act on it without its record, and the marketplace retries until the
// merchant restores the record from a backup. Its cause is errRecordLost.
func errLostWithCRD(kind, instanceID string) error {
	return &callbackError{code: koogallery.ResultInternalError,
		msg: fmt.Sprintf("the record of instance %q was deleted with the %s CRD and is not restored yet; retry", instanceID, kind),
		err: errRecordLost}
}

// errRecordLost is the cause of errLostWithCRD.
var errRecordLost = errors.New("its tombstone is marked lost-with-crd")

// errNoNewPurchases answers a newInstance of a product being deleted with
// 000106, sold out (spec §5; §3.2 lists it among the business refusals of a
// purchase). The deletion cannot be undone, and once no live instance holds
// the product its in-use finalizer goes: a tenant stored now would stall on
// ProductNotFound for ever, and its later callbacks be answered "unknown
// product". Of the codes for a purchase the merchant cannot fulfil, 000106
// says what holds for every buyer and for good: the product has nothing
// left to sell. 000100 (no instance resources) reads as a capacity shortage
// the merchant could lift, and 000103/000105 are about this buyer.
func errNoNewPurchases(product string) error {
	return &callbackError{code: koogallery.ResultSoldOut,
		msg: fmt.Sprintf("SaaSProduct %q is being deleted and takes no new purchases", product)}
}

func isGone(err error) bool {
	var gone *goneError
	return errors.As(err, &gone)
}

// errBusy answers 000005 at once when every verification slot is taken: the
// marketplace retries, and a flood of unauthenticated bodies costs no more
// than the slots (Options.MaxConcurrentVerifications). It is load shedding,
// logged as an answer, not as a failure.
var errBusy = &callbackError{code: koogallery.ResultInternalError, msg: "the receiver is busy verifying other callbacks; retry"}

// isShed tells load shedding (errBusy, errBodiesBusy, errReadsSpent, errNoncesFull), answered
// 000005 to be retried, from a failure.
func isShed(err error) bool {
	return errors.Is(err, errBusy) || errors.Is(err, errBodiesBusy) || errors.Is(err, errReadsSpent) ||
		errors.Is(err, errNoncesFull)
}

// errInternal answers 000005, so the marketplace retries; the cause is logged,
// never sent. What an API server quoted of a refused object (a directory's
// enterprise, a user of a shard) is taken out of the cause first.
func errInternal(msg string, cause error) error {
	return &callbackError{code: koogallery.ResultInternalError, msg: msg, err: redact.APIError(cause)}
}

// toResult maps any error of the pipeline to the answer the marketplace gets.
// It is the only place that decides result codes for errors.
func toResult(err error) (koogallery.ResultCode, string) {
	if err == nil {
		return koogallery.ResultSuccess, "success."
	}
	var ce *callbackError
	if errors.As(err, &ce) {
		return ce.code, ce.msg
	}
	if isGone(err) {
		return koogallery.ResultInvalidParam, err.Error()
	}
	// Protocol errors (signature, timestamp, body, fields) carry messages
	// written to be shown; anything else is internal and stays in the log.
	if code := koogallery.CodeOf(err); code != koogallery.ResultInternalError {
		return code, err.Error()
	}
	return koogallery.ResultInternalError, "internal error; please retry"
}
