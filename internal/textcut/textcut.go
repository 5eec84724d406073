// Package textcut cuts text to a bound counted as the Kubernetes API server
// counts a string's maxLength: in characters (runes), never splitting one.
package textcut

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
