package webhook

import (
	"errors"
	"fmt"

	"github.com/kooper-io/kooper/internal/koogallery"
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

// errInstanceNotFound answers 000003: kooper never issued this instance ID.
func errInstanceNotFound(instanceID string) error {
	return &callbackError{code: koogallery.ResultInstanceNotFound, msg: fmt.Sprintf("instance %q does not exist", instanceID)}
}

// errInternal answers 000005, so the marketplace retries; the cause is logged,
// never sent.
func errInternal(msg string, cause error) error {
	return &callbackError{code: koogallery.ResultInternalError, msg: msg, err: cause}
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
	// Protocol errors (signature, timestamp, body, fields) carry messages
	// written to be shown; anything else is internal and stays in the log.
	if code := koogallery.CodeOf(err); code != koogallery.ResultInternalError {
		return code, err.Error()
	}
	return koogallery.ResultInternalError, "internal error; please retry"
}
