package koogallery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// member is one top-level key of a body. value holds the key's value already
// re-serialised compactly (nested order and numbers kept), so one parse
// serves both the canonical payload and the typed request.
type member struct {
	key   string
	value []byte
}

// isNull reports whether the member's value is JSON null.
func (m member) isNull() bool {
	return string(m.value) == "null"
}

// isScalar reports whether the member's value is a JSON number or boolean:
// neither a string, an object, an array nor null.
func (m member) isScalar() bool {
	switch m.value[0] {
	case '"', '{', '[', 'n':
		return false
	}
	return true
}

// CanonicalPayload returns the RequestPayload of a basic callback (§2.1.2
// step 4) in FormAsReceived: the body's top-level keys sorted by code point,
// keys whose value is null dropped, and everything written as compact JSON.
// Nested objects and arrays keep their received order and nulls, numbers
// keep their received text, and strings are escaped the way Jackson does it
// (non-ASCII left as UTF-8, no HTML escaping), because that is what the
// marketplace signs. The verifier also accepts the other CanonicalForms.
//
// Keys are compared as Go strings, i.e. by code point. Java's TreeMap compares
// UTF-16 code units instead; the two orders differ only when keys differ at
// a character above U+FFFF versus one in U+E000–U+FFFF, which the
// marketplace's ASCII field names never do.
//
// The body must be exactly one JSON object with unique top-level keys;
// anything else is an error wrapping ErrMalformedBody.
func CanonicalPayload(body []byte) ([]byte, error) {
	return CanonicalPayloadForm(body, FormAsReceived)
}

// CanonicalPayloadForm returns the RequestPayload of body in form f: the
// payload CanonicalPayload returns, with nested object keys sorted and
// non-ASCII characters escaped as f says. An unknown form is an error.
func CanonicalPayloadForm(body []byte, f CanonicalForm) ([]byte, error) {
	s, err := f.style()
	if err != nil {
		return nil, err
	}
	members, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	return canonicalPayloadStyle(members, false, s)
}

// CanonicalForm names one way the marketplace's serializer may write
// RequestPayload. The spec documents only "sort the top-level keys"; how
// nested objects and non-ASCII characters are written is not documented
// (§8 item 3), and Jackson writes them differently depending on its
// settings (ORDER_MAP_ENTRIES_BY_KEYS, ESCAPE_NON_ASCII). Every form keeps
// the top level sorted, nulls dropped and numbers as received.
type CanonicalForm string

// The canonical forms.
const (
	// FormAsReceived keeps nested keys in received order and non-ASCII
	// characters as UTF-8: the spec's reading and Jackson's defaults.
	FormAsReceived CanonicalForm = "as-received"
	// FormSortedNested also sorts the keys of every nested object by code
	// point; arrays keep their order.
	FormSortedNested CanonicalForm = "sorted-nested"
	// FormEscapedNonASCII writes every character above U+007F, in keys and
	// values, as \uXXXX (upper-case hex; beyond U+FFFF a surrogate pair).
	FormEscapedNonASCII CanonicalForm = "escaped-non-ascii"
	// FormSortedNestedEscapedNonASCII is both.
	FormSortedNestedEscapedNonASCII CanonicalForm = "sorted-nested-escaped-non-ascii"
)

// DefaultCanonicalForms are the forms a signature is accepted over unless
// configured otherwise: all of them, FormAsReceived first. Accepting more
// forms cannot let a forger in: every form is HMAC-signed with the
// merchant's key, so a signature over any of them proves the marketplace
// sent it; and every form is a serialisation of the same JSON value (only
// the order of object keys and the spelling of characters differ), so the
// body verified means what was signed. Leaving a form out only risks
// refusing (000001) a paid order the marketplace signed that way.
var DefaultCanonicalForms = []CanonicalForm{FormAsReceived, FormSortedNested, FormEscapedNonASCII, FormSortedNestedEscapedNonASCII}

// ParseCanonicalForms reads a comma-separated list of form names such as
// "as-received,sorted-nested"; a repeated name is kept once.
func ParseCanonicalForms(list string) ([]CanonicalForm, error) {
	var forms []CanonicalForm
	for _, name := range strings.Split(list, ",") {
		f := CanonicalForm(strings.TrimSpace(name))
		if _, err := f.style(); err != nil {
			return nil, err
		}
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms, nil
}

// style is how a canonical form writes nested values and strings.
type style struct {
	sortNested, escapeNonASCII bool
}

// style returns the writing style of f.
func (f CanonicalForm) style() (style, error) {
	switch f {
	case FormAsReceived:
		return style{}, nil
	case FormSortedNested:
		return style{sortNested: true}, nil
	case FormEscapedNonASCII:
		return style{escapeNonASCII: true}, nil
	case FormSortedNestedEscapedNonASCII:
		return style{sortNested: true, escapeNonASCII: true}, nil
	}
	return style{}, fmt.Errorf("unknown canonical form %q; use %s, %s, %s or %s", string(f),
		FormAsReceived, FormSortedNested, FormEscapedNonASCII, FormSortedNestedEscapedNonASCII)
}

// canonicalPayload writes members as RequestPayload in FormAsReceived. With
// stringMap, every top-level number or boolean is written as a JSON string
// of its text, as the marketplace's sample writes a body it read as
// Map<String,String> (§2.1.2 step 4): 1 becomes "1", 12.50 "12.50", true
// "true". Nested values are never changed. members is sorted in place.
func canonicalPayload(members []member, stringMap bool) []byte {
	out, _ := canonicalPayloadStyle(members, stringMap, style{})
	return out
}

// canonicalPayloadStyle is canonicalPayload in style s. members hold their
// values as received (parseObject); in any other style each value is
// written again from them.
func canonicalPayloadStyle(members []member, stringMap bool, s style) ([]byte, error) {
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	var out bytes.Buffer
	out.WriteByte('{')
	first := true
	for _, m := range members {
		if m.isNull() {
			continue
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		s.writeString(&out, m.key)
		out.WriteByte(':')
		switch {
		case stringMap && m.isScalar():
			// A number's or boolean's text needs no escaping.
			out.WriteByte('"')
			out.Write(m.value)
			out.WriteByte('"')
		case s == style{} || m.isScalar():
			out.Write(m.value)
		default:
			dec := json.NewDecoder(bytes.NewReader(m.value))
			dec.UseNumber()
			if err := writeValueAt(&out, dec, s, 1); err != nil {
				return nil, err
			}
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// writeMember writes an object member, its value already in style s.
func (s style) writeMember(out *bytes.Buffer, m member) {
	s.writeString(out, m.key)
	out.WriteByte(':')
	out.Write(m.value)
}

// hasScalar reports whether a top-level value is a number or boolean, the
// only case in which the Map<String,String> form differs.
func hasScalar(members []member) bool {
	return slices.ContainsFunc(members, func(m member) bool { return m.isScalar() })
}

// CanonicalKitPayload returns the payload of a joint-operation kit callback
// (§2.2) in FormAsReceived. The sample canonicalises kit bodies exactly like
// basic bodies; integers such as flag and testFlag stay JSON numbers. The
// same uncertainty about nested objects (userList, orgInfoList) and
// non-ASCII names applies, so VerifyKit accepts the same CanonicalForms.
func CanonicalKitPayload(body []byte) ([]byte, error) {
	return CanonicalPayload(body)
}

// maxNesting is the deepest a body may nest objects and arrays, one inside
// another, counting its own top-level object. The marketplace's deepest
// bodies nest about 6 deep (an orderInfo with orderLine[].productInfo[],
// §7.1; callbacks and kit bodies 3); 32 leaves a wide margin. Without a
// bound, re-serialising a body nested d deep copies about 3·d² bytes in
// each canonical form, and json.Valid allows d up to 10,000: 60 KB of
// unauthenticated body would cost a second of CPU.
const maxNesting = 32

// parseObject parses body as exactly one JSON object and returns its
// top-level members in received order. Duplicate top-level keys are
// rejected: the marketplace's TreeMap would keep only one of them, and which
// one is not something to guess when a signature depends on it.
func parseObject(body []byte) ([]member, error) {
	// json.Valid is the strict syntax check (including trailing data); the
	// token walk below then only has to re-serialise.
	if !json.Valid(body) {
		return nil, fmt.Errorf("body is not a single valid JSON value: %w", ErrMalformedBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("failed to read body: %v: %w", err, ErrMalformedBody)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("body is not a JSON object: %w", ErrMalformedBody)
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		// The walk refuses a body nested past maxNesting on its way down,
		// before any member is copied, so it never does the quadratic work.
		m, err := readMember(dec, style{}, 1)
		if err != nil {
			return nil, err
		}
		if seen[m.key] {
			return nil, fmt.Errorf("duplicate top-level key %.64q: %w", m.key, ErrMalformedBody)
		}
		seen[m.key] = true
		members = append(members, m)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("failed to read end of body: %v: %w", err, ErrMalformedBody)
	}
	return members, nil
}

// readMember reads one "key": value pair of an object nested depth deep,
// its value written in style s.
func readMember(dec *json.Decoder, s style, depth int) (member, error) {
	key, err := readKey(dec)
	if err != nil {
		return member{}, err
	}
	var value bytes.Buffer
	if err := writeValueAt(&value, dec, s, depth); err != nil {
		return member{}, err
	}
	return member{key: key, value: value.Bytes()}, nil
}

// readKey reads the key of an object's next member.
func readKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("failed to read key: %v: %w", err, ErrMalformedBody)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("object key is not a string: %w", ErrMalformedBody)
	}
	return key, nil
}

// writeValue re-serialises the next JSON value of dec compactly in style s;
// numbers are always kept as received. A value that nests objects and
// arrays more than maxNesting deep is refused.
func writeValue(out *bytes.Buffer, dec *json.Decoder, s style) error {
	return writeValueAt(out, dec, s, 0)
}

// writeValueAt is writeValue for a value inside depth objects and arrays.
func writeValueAt(out *bytes.Buffer, dec *json.Decoder, s style, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("failed to read value: %v: %w", err, ErrMalformedBody)
	}
	switch v := tok.(type) {
	case json.Delim:
		return writeContainer(out, dec, v, s, depth+1)
	case string:
		s.writeString(out, v)
	case json.Number:
		out.WriteString(v.String())
	case bool:
		if v {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	default:
		return fmt.Errorf("unexpected JSON token %T: %w", tok, ErrMalformedBody)
	}
	return nil
}

// writeContainer writes the object or array that open starts, depth deep
// (the top-level object is 1), in style s, then consumes its closing
// delimiter. Members are written straight into out, so a value is copied
// once however deep it lies; only an object whose members s sorts holds
// each member apart until it is sorted.
func writeContainer(out *bytes.Buffer, dec *json.Decoder, open json.Delim, s style, depth int) error {
	isObject := open == '{'
	if !isObject && open != '[' {
		return fmt.Errorf("unexpected delimiter %q: %w", rune(open), ErrMalformedBody)
	}
	if depth > maxNesting {
		return fmt.Errorf("body nests objects and arrays more than %d deep: %w", maxNesting, ErrMalformedBody)
	}
	out.WriteByte(byte(open))
	var members []member // an object's, when s sorts them
	for i := 0; dec.More(); i++ {
		if isObject && s.sortNested {
			m, err := readMember(dec, s, depth)
			if err != nil {
				return err
			}
			members = append(members, m)
			continue
		}
		if i > 0 {
			out.WriteByte(',')
		}
		if isObject {
			key, err := readKey(dec)
			if err != nil {
				return err
			}
			s.writeString(out, key)
			out.WriteByte(':')
		}
		if err := writeValueAt(out, dec, s, depth); err != nil {
			return err
		}
	}
	// A stable sort: duplicate nested keys keep their received order.
	slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		s.writeMember(out, m)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("failed to read end of container: %v: %w", err, ErrMalformedBody)
	}
	closing, ok := tok.(json.Delim)
	if !ok {
		return fmt.Errorf("container is not closed: %w", ErrMalformedBody)
	}
	out.WriteByte(byte(closing))
	return nil
}

// jacksonHex is upper case because Jackson writes \u001F, not \u001f.
const jacksonHex = "0123456789ABCDEF"

// writeString writes str as a JSON string the way Jackson's default
// serializer does: only '"', '\\' and control characters are escaped,
// control characters with the short forms where JSON has them. Go's
// encoding/json would also escape <, >, &, U+2028 and U+2029, which would
// change the signed bytes. With s.escapeNonASCII, every character above
// U+007F is escaped too, as Jackson's ESCAPE_NON_ASCII writes it (\uXXXX in
// upper-case hex, a character beyond U+FFFF as its UTF-16 surrogate pair).
func (s style) writeString(out *bytes.Buffer, str string) {
	out.WriteByte('"')
	for i := 0; i < len(str); i++ {
		c := str[i]
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c >= utf8.RuneSelf && s.escapeNonASCII:
			// The decoder has already replaced invalid sequences, so r is
			// a whole character.
			r, size := utf8.DecodeRuneInString(str[i:])
			writeEscapedRune(out, r)
			i += size - 1
		case c >= 0x20:
			// Multi-byte UTF-8 sequences pass through byte by byte; the
			// decoder has already replaced invalid sequences.
			out.WriteByte(c)
		default:
			writeControl(out, c)
		}
	}
	out.WriteByte('"')
}

// writeControl escapes a control character below U+0020.
func writeControl(out *bytes.Buffer, c byte) {
	var short byte
	switch c {
	case '\b':
		short = 'b'
	case '\t':
		short = 't'
	case '\n':
		short = 'n'
	case '\f':
		short = 'f'
	case '\r':
		short = 'r'
	}
	if short != 0 {
		out.WriteByte('\\')
		out.WriteByte(short)
		return
	}
	out.WriteString(`\u00`)
	out.WriteByte(jacksonHex[c>>4])
	out.WriteByte(jacksonHex[c&0xF])
}

// writeEscapedRune writes r as \uXXXX in upper-case hex, or as the \uXXXX
// pair of its UTF-16 surrogates beyond U+FFFF, as Jackson does.
func writeEscapedRune(out *bytes.Buffer, r rune) {
	if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
		writeEscapedUnit(out, r1)
		writeEscapedUnit(out, r2)
		return
	}
	writeEscapedUnit(out, r)
}

// writeEscapedUnit writes one UTF-16 code unit as \uXXXX.
func writeEscapedUnit(out *bytes.Buffer, u rune) {
	out.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		out.WriteByte(jacksonHex[(u>>shift)&0xF])
	}
}
