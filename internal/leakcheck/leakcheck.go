// Package leakcheck finds personal values in what kooper writes for
// operators (logs, Events, status, metrics, answers), for the tests that
// prove none is there: main's TestNoPersonalDataInLogsEventsMetricsOrStatus
// and the end-to-end test's personal-data step (docs/personal-data.md).
package leakcheck

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Find returns one line for each value of values found, in any of its
// Forms, in a record (records maps a record's name, e.g. "logs", to its
// text): where, which value, in what form, and the text around it. It
// returns nil when none is found.
func Find(records map[string]string, values []string) []string {
	names := make([]string, 0, len(records))
	for name := range records {
		names = append(names, name)
	}
	sort.Strings(names)
	var found []string
	for _, name := range names {
		text := records[name]
		for _, value := range values {
			for _, form := range Forms(value) {
				if i := strings.Index(text, form); i >= 0 {
					found = append(found, fmt.Sprintf("%s holds %q as %q: ...%s...", name, value, form, around(text, i, len(form))))
				}
			}
		}
	}
	return found
}

// around is up to 200 bytes either side of text[i:i+n].
func around(text string, i, n int) string {
	from, to := max(i-200, 0), min(i+n+200, len(text))
	return strings.ToValidUTF8(text[from:to], "?")
}

// Forms are the ways value can appear in a record: as is; as JSON and Go
// quote it (non-ASCII as \uXXXX, in either case); every character
// \u-escaped, as a sender may write it in JSON; in Base64, as a Secret's
// data holds it; and, for a phone number, its digits without spaces,
// dashes or the country code 86.
func Forms(value string) []string {
	forms := map[string]bool{value: true}
	quoted, _ := json.Marshal(value) // a string always encodes
	forms[strings.Trim(string(quoted), `"`)] = true
	ascii := strings.Trim(strconv.QuoteToASCII(value), `"`)
	forms[ascii] = true
	forms[upperEscapes(ascii)] = true
	var lower, upper strings.Builder
	for _, r := range value {
		fmt.Fprintf(&lower, `\u%04x`, r)
		fmt.Fprintf(&upper, `\u%04X`, r)
	}
	forms[lower.String()], forms[upper.String()] = true, true
	forms[base64.StdEncoding.EncodeToString([]byte(value))] = true
	digits := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		return -1
	}, value)
	if len(digits) >= 7 {
		forms[digits] = true
		forms[strings.TrimPrefix(digits, "86")] = true
		forms[strings.NewReplacer(" ", "", "-", "").Replace(value)] = true
	}
	out := make([]string, 0, len(forms))
	for f := range forms {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// upperEscapes turns \u97e9 into \u97E9.
func upperEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], `\u`) && i+6 <= len(s) {
			b.WriteString(`\u` + strings.ToUpper(s[i+2:i+6]))
			i += 5
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
