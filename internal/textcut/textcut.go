// Package textcut cuts text to a bound, never splitting a character: in
// characters (runes, Runes) as the Kubernetes API server counts a string's
// maxLength, or in bytes (Bytes) for a bound kept in bytes.
package textcut

import "unicode/utf8"

// Runes returns s's first limit characters (runes, as the API server counts
// maxLength), or s when it is no longer: a prefix that ends on a character
// boundary, so valid UTF-8 stays valid. limit must not be negative.
func Runes(s string, limit int) string {
	if len(s) <= limit {
		return s // at most limit bytes, so at most limit characters
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i]
		}
		n++
	}
	return s
}

// Bytes returns s's longest prefix of at most limit bytes that ends on a
// character boundary, or s when it is no longer: where
// k8s.io/utils/strings.ShortenString would cut a multi-byte character
// (Chinese text from the marketplace or a chart) in two, leaving invalid
// UTF-8 that JSON turns into U+FFFD, Bytes drops the whole character. No
// marker is added. In s that is not valid UTF-8 it backs off at most
// utf8.UTFMax-1 bytes. limit must not be negative.
func Bytes(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && cut > limit-(utf8.UTFMax-1) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
