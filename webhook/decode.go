package webhook

import (
	"errors"
	"io"
	"net"
	"net/http"
)

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
