package webhook

import (
	"errors"
	"io"
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
		return nil, errBadParam("body could not be read: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, errBadParam("body exceeds %d bytes", limit)
	}
	return body, nil
}
