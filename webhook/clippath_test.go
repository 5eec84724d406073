package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A request path of Chinese text is clipped on a character boundary: the
// clipped path goes into the answer's resultMsg and into log lines, which
// must stay valid UTF-8.
func TestClipPathNeverCutsACharacter(t *testing.T) {
	for pad := range 3 {
		path := "/koogallery/" + strings.Repeat("x", pad) + strings.Repeat("产品", 40)
		got := clipPath(path)
		if !utf8.ValidString(got) {
			t.Errorf("clipPath(%d bytes of padding and Chinese) = %q: not valid UTF-8", pad, got)
		}
		if !strings.HasSuffix(got, "...") || len(got) > 64+len("...") {
			t.Errorf("clipPath = %q, want at most 64 bytes and \"...\"", got)
		}
	}
	if got := clipPath("/koogallery/crm"); got != "/koogallery/crm" {
		t.Errorf("clipPath of a short path = %q, want it whole", got)
	}
}
