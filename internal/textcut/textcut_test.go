package textcut

import (
	"testing"
	"unicode/utf8"
)

func TestRunesCutsOnACharacterBoundary(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"基础版本", 2, "基础"},
		{"基础", 2, "基础"},
		{"a基b", 2, "a基"},
		{"abc", 0, ""},
	} {
		if got := Runes(tc.in, tc.limit); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("Runes(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func FuzzRunes(f *testing.F) {
	f.Add("基础版本", 2)
	f.Add("abc", 1)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 {
			return
		}
		got := Runes(s, limit)
		if utf8.ValidString(s) && (!utf8.ValidString(got) || utf8.RuneCountInString(got) > limit && got != s) {
			t.Fatalf("Runes(%q, %d) = %q", s, limit, got)
		}
		if len(got) > len(s) || s[:len(got)] != got {
			t.Fatalf("Runes(%q, %d) = %q is not a prefix", s, limit, got)
		}
	})
}
