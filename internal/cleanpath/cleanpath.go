// Package cleanpath gives a request path one canonical form before routing,
// so that an http.ServeMux behind it never answers a path it would otherwise
// redirect. KooGallery posts callbacks and does not follow redirects (spec
// §1.6 counts anything but HTTP 200 as a failure), so a production URL
// registered as https://host/koogallery/crm/ must reach the same handler as
// https://host/koogallery/crm.
package cleanpath

import (
	"net/http"
	"net/url"
	"path"
)

// Clean returns the canonical form of escaped, a URL path as sent (as
// url.URL.EscapedPath returns it): rooted, with repeated slashes, "." and
// ".." segments and a trailing slash removed ("/" stays "/"). It is
// path.Clean on the escaped form, so percent-encoded bytes are kept as sent:
// "%2F" is part of a segment, never a separator, and "%2E%2E" is not "..".
// Clean never fails; the empty path and "*" become "/" and "/*".
func Clean(escaped string) string {
	return path.Clean("/" + escaped)
}

// Handler serves next with the request's path replaced by its Clean form
// (URL.RawPath and URL.Path both set, so next sees the same escaping the
// client sent). A request already clean is passed on untouched.
//
// An http.ServeMux as next then never redirects: it redirects (307) a path
// that differs from its cleaned form, and a path without a trailing slash
// when only the path with one matches a pattern exactly, which no cleaned
// path does unless next registers a pattern ending in "/" or "{$}" other
// than "/" itself.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		escaped := req.URL.EscapedPath()
		clean := Clean(escaped)
		if clean == escaped {
			next.ServeHTTP(w, req)
			return
		}
		unescaped, err := url.PathUnescape(clean)
		if err != nil {
			// EscapedPath is always validly encoded and Clean only drops
			// whole segments and slashes; should that ever change, the
			// request still reaches next, at the root.
			clean, unescaped = "/", "/"
		}
		// A shallow copy, as http.StripPrefix makes.
		r2 := new(http.Request)
		*r2 = *req
		r2.URL = new(url.URL)
		*r2.URL = *req.URL
		r2.URL.Path, r2.URL.RawPath = unescaped, clean
		next.ServeHTTP(w, r2)
	})
}
