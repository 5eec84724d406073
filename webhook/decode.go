package webhook

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// errBodiesBusy answers 000005, the body unread, when the bodies being read
// and decoded already hold the receiver's budget of bytes
// (Options.MaxBodyBytesInFlight): at once for a basic callback, which the
// marketplace retries (spec §1.7); after a bounded wait for a kit call,
// which nobody retries (see awaitKit). A flood of large unauthenticated
// bodies costs no more memory than the budget. Like errBusy, it is load
// shedding (isShed), logged as an answer, not as a failure.
var errBodiesBusy = &callbackError{code: koogallery.ResultInternalError,
	msg: "the receiver is busy reading other callbacks' bodies; retry"}

// readBodyWithinBudget reads req's body as readBody does, within budget, a
// budget of bytes shared by every route (Options.MaxBodyBytesInFlight). It
// reserves the declared Content-Length, or limit when none is declared,
// before the first byte is read; when that does not fit at once the body
// is left unread and the error is errBodiesBusy. A body declared over
// limit is refused (000002) without reserving anything.
//
// release gives the reservation back; it may be called more than once and
// is never nil. Callers defer it, and call it as soon as the body is
// decoded: the body's bytes are then no longer held.
func readBodyWithinBudget(req *http.Request, limit int64, budget *semaphore.Weighted) (body []byte, release func(), err error) {
	return readBodyAwaitingBudget(req, limit, budget, func(reserve func() bool) bool { return reserve() })
}

// readBodyAwaitingBudget is readBodyWithinBudget for a caller that may wait
// for its reservation: await is given the attempt to reserve, which never
// waits, and says whether one succeeded. It polls rather than waiting in
// the semaphore's queue: a queued reservation of 8 MiB would make every
// other route's TryAcquire fail until it fits, shedding basic callbacks
// that the budget has room for.
func readBodyAwaitingBudget(req *http.Request, limit int64, budget *semaphore.Weighted, await func(reserve func() bool) bool) (body []byte, release func(), err error) {
	release = func() {}
	if req.ContentLength > limit {
		return nil, release, errBadParam("body exceeds %d bytes", limit)
	}
	reserved := limit
	if req.ContentLength >= 0 {
		// net/http reads no more than the declared length.
		reserved = req.ContentLength
	}
	if !await(func() bool { return budget.TryAcquire(reserved) }) {
		return nil, release, errBodiesBusy
	}
	release = sync.OnceFunc(func() { budget.Release(reserved) })
	body, err = readBody(req, limit)
	return body, release, err
}

// readBody reads at most limit bytes. A longer body is refused whole rather
// than cut, since a cut body could still parse into something else.
func readBody(req *http.Request, limit int64) ([]byte, error) {
	if req.ContentLength > limit {
		// Refused before a byte is read: an oversized body costs nothing.
		return nil, errBadParam("body exceeds %d bytes", limit)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, errBadParam("body exceeds %d bytes", limit)
		}
		return nil, errBadParam("body could not be read: %s", readFailure(err))
	}
	if int64(len(body)) > limit {
		return nil, errBadParam("body exceeds %d bytes", limit)
	}
	return body, nil
}

// readFailure says why a body could not be read without the connection's
// addresses, which a network error names: the answer goes to the sender,
// who needs the reason, not kooper's pod address.
func readFailure(err error) string {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "it did not arrive in full within the server's read timeout"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}
