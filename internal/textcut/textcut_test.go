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

// Bytes bounds text by its bytes, as a field whose limit is in bytes needs
// (an Event's note, a condition message, a quoted error), backing off to
// the character boundary before: a cut inside a Chinese character would
// leave invalid UTF-8, which JSON turns into U+FFFD.
func TestBytesNeverCutsACharacter(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"请求", 6, "请求"},
		{"请求", 5, "请"},
		{"请求", 4, "请"},
		{"请求", 3, "请"},
		{"请求", 2, ""},
		{"a请b", 3, "a"},
		{"a请b", 4, "a请"},
		{"😀x", 3, ""},
		{"abc", 0, ""},
	} {
		if got := Bytes(tc.in, tc.limit); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("Bytes(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func FuzzBytes(f *testing.F) {
	f.Add("请求失败", 5)
	f.Add("abc", 1)
	f.Add("\xffabc", 2)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 {
			return
		}
		got := Bytes(s, limit)
		if len(got) > limit && got != s || len(got) > len(s) || s[:len(got)] != got {
			t.Fatalf("Bytes(%q, %d) = %q is not a prefix of at most %d bytes", s, limit, got, limit)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Bytes(%q, %d) = %q is not valid UTF-8", s, limit, got)
		}
		if len(s) > limit && len(got) < limit-(utf8.UTFMax-1) {
			t.Fatalf("Bytes(%q, %d) = %q cut more than a character", s, limit, got)
		}
	})
}
