package koogallery

import "testing"

// Windows PowerShell's Set-Content -Encoding UTF8 (and Notepad before 2019)
// starts a file with a UTF-8 byte order mark; a Secret made from it with
// --from-file holds the mark before the key, and signing with it would
// fail every callback (000001) while every check passed.
func TestKeyTextDropsAByteOrderMark(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"a byte order mark", "\uFEFFtest-access-key", "test-access-key"},
		{"a byte order mark and a newline", "\uFEFFtest-access-key\r\n", "test-access-key"},
		{"white space around", " test-access-key\n", "test-access-key"},
		{"a mark alone", "\uFEFF", ""},
		{"a mark inside is kept", "test\uFEFFkey", "test\uFEFFkey"},
	} {
		if got := KeyText([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: KeyText(%q) = %q, want %q", tc.name, tc.data, got, tc.want)
		}
	}
}
