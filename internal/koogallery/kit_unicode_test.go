package koogallery

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

// TestAuthSyncUsersStoredAlikeFromAStringOrAnArray: userList may come as
// an array or as a string holding one (§3.11.3, §8), and a sender that
// escapes non-ASCII writes each Chinese character as a 6-byte \uXXXX. The
// directory sizes its shards by the stored bytes, so a user is stored the
// same whichever form and spelling it came in: compact, its fields in the
// order sent, non-ASCII as UTF-8 and no HTML escaping.
func TestAuthSyncUsersStoredAlikeFromAStringOrAnArray(t *testing.T) {
	g := NewWithT(t)
	// The users with Chinese as UTF-8, and with every non-ASCII character
	// escaped (as Jackson's ESCAPE_NON_ASCII writes it), both written with
	// the fields out of alphabetical order, a nested object, a number,
	// and characters encoding/json would escape for HTML.
	raw := `[{"userName":"张三","name":"张三丰𠮷","orgCode":"研发部","role":"user","enable":"true","position":"工程师 <R&D>","email":"张三@例子.中国","extension":{"employeeType":1,"workPlace":"北京"}},` +
		`{"userName":"li.si","name":"李四 \"小李\"","orgCode":"d1","role":"admin","enable":"true"}]`
	escaped := escapeNonASCII(raw)
	g.Expect(escaped).To(ContainSubstring(`\u5F20\u4E09`))
	spaced := strings.ReplaceAll(strings.ReplaceAll(escaped, `,"`, `, "`), `":`, `": `)

	bodyWith := func(list string) []byte {
		return []byte(`{"instanceId":"i-1","tenantId":"t-1","appId":"app-1","userList":` + list +
			`,"currentSyncTime":"1","flag":1,"testFlag":0,"timeStamp":"1"}`)
	}
	stored := func(list string) []string {
		req, err := DecodeKitRequest(KitAuthSync, bodyWith(list))
		g.Expect(err).NotTo(HaveOccurred(), list)
		auth := req.(*AuthSyncRequest)
		g.Expect(auth.Refused).To(BeEmpty(), list)
		var out []string
		for _, u := range auth.Users {
			out = append(out, string(u.Raw))
		}
		return out
	}

	want := []string{
		`{"userName":"张三","name":"张三丰𠮷","orgCode":"研发部","role":"user","enable":"true","position":"工程师 <R&D>","email":"张三@例子.中国","extension":{"employeeType":1,"workPlace":"北京"}}`,
		`{"userName":"li.si","name":"李四 \"小李\"","orgCode":"d1","role":"admin","enable":"true"}`,
	}
	g.Expect(stored(raw)).To(Equal(want), "an array")
	for _, list := range []string{raw, escaped, spaced} {
		g.Expect(stored(quoted(list))).To(Equal(want), "a string holding "+list)
	}
	g.Expect(stored(escaped)).To(Equal(want), "an array, escaped")
}

// escapeNonASCII writes every character of s above U+007F as \uXXXX (one
// beyond U+FFFF as its UTF-16 surrogate pair), as a sender that escapes
// non-ASCII does.
func escapeNonASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r1, r2 := utf16.EncodeRune(r); {
		case r < 0x80:
			b.WriteRune(r)
		case r1 != utf8.RuneError:
			fmt.Fprintf(&b, `\u%04X\u%04X`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	return b.String()
}
