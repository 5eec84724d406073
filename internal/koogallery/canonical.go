package koogallery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
// step 4): the body's top-level keys sorted by code point, keys whose value
// is null dropped, and everything written as compact JSON. Nested objects and
// arrays keep their received order and nulls, numbers keep their received
// text, and strings are escaped the way Jackson does it (non-ASCII left as
// UTF-8, no HTML escaping), because that is what the marketplace signs.
//
// Keys are compared as Go strings, i.e. by code point. Java's TreeMap compares
// UTF-16 code units instead; the two orders differ only when keys differ at
// a character above U+FFFF versus one in U+E000–U+FFFF, which the
// marketplace's ASCII field names never do.
//
// The body must be exactly one JSON object with unique top-level keys;
// anything else is an error wrapping ErrMalformedBody.
func CanonicalPayload(body []byte) ([]byte, error) {
	members, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	return canonicalPayload(members, false), nil
}

// canonicalPayload writes members as RequestPayload. With stringMap, every
// top-level number or boolean is written as a JSON string of its text, as
// the marketplace's sample writes a body it read as Map<String,String>
// (§2.1.2 step 4): 1 becomes "1", 12.50 "12.50", true "true". Nested values
// are never changed. members is sorted in place.
func canonicalPayload(members []member, stringMap bool) []byte {
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
		writeString(&out, m.key)
		out.WriteByte(':')
		if stringMap && m.isScalar() {
			// A number's or boolean's text needs no escaping.
			out.WriteByte('"')
			out.Write(m.value)
			out.WriteByte('"')
			continue
		}
		out.Write(m.value)
	}
	out.WriteByte('}')
	return out.Bytes()
}

// hasScalar reports whether a top-level value is a number or boolean, the
// only case in which the Map<String,String> form differs.
func hasScalar(members []member) bool {
	return slices.ContainsFunc(members, func(m member) bool { return m.isScalar() })
}

// CanonicalKitPayload returns the payload of a joint-operation kit callback
// (§2.2). The sample canonicalises kit bodies exactly like basic bodies;
// integers such as flag and testFlag stay JSON numbers.
func CanonicalKitPayload(body []byte) ([]byte, error) {
	return CanonicalPayload(body)
}

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
		m, err := readMember(dec)
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

// readMember reads one "key": value pair of an object.
func readMember(dec *json.Decoder) (member, error) {
	tok, err := dec.Token()
	if err != nil {
		return member{}, fmt.Errorf("failed to read key: %v: %w", err, ErrMalformedBody)
	}
	key, ok := tok.(string)
	if !ok {
		return member{}, fmt.Errorf("object key is not a string: %w", ErrMalformedBody)
	}
	var value bytes.Buffer
	if err := writeValue(&value, dec); err != nil {
		return member{}, err
	}
	return member{key: key, value: value.Bytes()}, nil
}

// writeValue re-serialises the next JSON value of dec compactly, keeping
// object keys in received order and numbers as received.
func writeValue(out *bytes.Buffer, dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("failed to read value: %v: %w", err, ErrMalformedBody)
	}
	switch v := tok.(type) {
	case json.Delim:
		return writeContainer(out, dec, v)
	case string:
		writeString(out, v)
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

// writeContainer writes the object or array that open starts, then consumes
// its closing delimiter.
func writeContainer(out *bytes.Buffer, dec *json.Decoder, open json.Delim) error {
	isObject := open == '{'
	if !isObject && open != '[' {
		return fmt.Errorf("unexpected delimiter %q: %w", rune(open), ErrMalformedBody)
	}
	out.WriteByte(byte(open))
	for i := 0; dec.More(); i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if isObject {
			m, err := readMember(dec)
			if err != nil {
				return err
			}
			writeString(out, m.key)
			out.WriteByte(':')
			out.Write(m.value)
			continue
		}
		if err := writeValue(out, dec); err != nil {
			return err
		}
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

// writeString writes s as a JSON string the way Jackson's default
// serializer does: only '"', '\\' and control characters are escaped,
// control characters with the short forms where JSON has them. Go's
// encoding/json would also escape <, >, &, U+2028 and U+2029, which would
// change the signed bytes.
func writeString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
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
