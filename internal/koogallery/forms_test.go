package koogallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// richBody is a newInstance of the older rich shape (§2.1.3, §8 item 29):
// nested objects whose keys are not sorted, and non-ASCII text.
const richBody = `{"activity":"newInstance","orderInfo":[{"productName":"基础版","chargingMode":"PERIOD"}],"buyerInfo":{"name":"n","id":"i"},"orderId":"CS1","testFlag":"1"}`

// richForms are richBody's payloads in each canonical form, written out by
// hand (基础版 is U+57FA U+7840 U+7248), not computed by the code under test.
var richForms = map[CanonicalForm]string{
	FormAsReceived:                  `{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"},"orderId":"CS1","orderInfo":[{"productName":"基础版","chargingMode":"PERIOD"}],"testFlag":"1"}`,
	FormSortedNested:                `{"activity":"newInstance","buyerInfo":{"id":"i","name":"n"},"orderId":"CS1","orderInfo":[{"chargingMode":"PERIOD","productName":"基础版"}],"testFlag":"1"}`,
	FormEscapedNonASCII:             `{"activity":"newInstance","buyerInfo":{"name":"n","id":"i"},"orderId":"CS1","orderInfo":[{"productName":"\u57FA\u7840\u7248","chargingMode":"PERIOD"}],"testFlag":"1"}`,
	FormSortedNestedEscapedNonASCII: `{"activity":"newInstance","buyerInfo":{"id":"i","name":"n"},"orderId":"CS1","orderInfo":[{"chargingMode":"PERIOD","productName":"\u57FA\u7840\u7248"}],"testFlag":"1"}`,
}

// without returns DefaultCanonicalForms without f.
func without(f CanonicalForm) []CanonicalForm {
	return slices.DeleteFunc(slices.Clone(DefaultCanonicalForms), func(x CanonicalForm) bool { return x == f })
}

// TestVerifyAcceptsEachCanonicalForm: a body signed over any canonical form
// verifies with the default forms, and is refused with 000001 when that
// form is left out; for basic and kit callbacks alike (§8 item 3).
func TestVerifyAcceptsEachCanonicalForm(t *testing.T) {
	// A kit body: the same uncertainty over userList's nested objects.
	const kitBody = `{"instanceId":"i","tenantId":"t","appId":"a","userList":[{"userName":"张三","name":"Z"}],"flag":1,"testFlag":0,"timeStamp":"1"}`
	kitForms := map[CanonicalForm]string{
		FormAsReceived:                  `{"appId":"a","flag":1,"instanceId":"i","tenantId":"t","testFlag":0,"timeStamp":"1","userList":[{"userName":"张三","name":"Z"}]}`,
		FormSortedNested:                `{"appId":"a","flag":1,"instanceId":"i","tenantId":"t","testFlag":0,"timeStamp":"1","userList":[{"name":"Z","userName":"张三"}]}`,
		FormEscapedNonASCII:             `{"appId":"a","flag":1,"instanceId":"i","tenantId":"t","testFlag":0,"timeStamp":"1","userList":[{"userName":"\u5F20\u4E09","name":"Z"}]}`,
		FormSortedNestedEscapedNonASCII: `{"appId":"a","flag":1,"instanceId":"i","tenantId":"t","testFlag":0,"timeStamp":"1","userList":[{"name":"Z","userName":"\u5F20\u4E09"}]}`,
	}
	// A number at the top level: each form also in its Map<String,String> form.
	const numericBody = `{"activity":"newInstance","orderInfo":[{"productName":"版","chargingMode":"PERIOD"}],"testFlag":1}`
	numericForms := map[CanonicalForm]string{
		FormAsReceived:                  `{"activity":"newInstance","orderInfo":[{"productName":"版","chargingMode":"PERIOD"}],"testFlag":"1"}`,
		FormSortedNested:                `{"activity":"newInstance","orderInfo":[{"chargingMode":"PERIOD","productName":"版"}],"testFlag":"1"}`,
		FormEscapedNonASCII:             `{"activity":"newInstance","orderInfo":[{"productName":"\u7248","chargingMode":"PERIOD"}],"testFlag":"1"}`,
		FormSortedNestedEscapedNonASCII: `{"activity":"newInstance","orderInfo":[{"chargingMode":"PERIOD","productName":"\u7248"}],"testFlag":"1"}`,
	}
	type verifyFunc func(v Verifier, q SignedQuery, body []byte) ([]byte, error)
	basic := func(v Verifier, q SignedQuery, body []byte) ([]byte, error) {
		_, canonical, err := v.VerifyBasic([]string{"other", b1Key}, q, body)
		return canonical, err
	}
	kit := func(v Verifier, q SignedQuery, body []byte) ([]byte, error) {
		_, canonical, err := v.VerifyKit([]string{b1Key}, q, body)
		return canonical, err
	}
	suites := []struct {
		name   string
		body   string
		forms  map[CanonicalForm]string
		sign   func(key, nonce, timestamp string, payload []byte) string
		verify verifyFunc
	}{
		{"basic", richBody, richForms, SignBasic, basic},
		{"kit", kitBody, kitForms, SignKit, kit},
		{"basic, Map<String,String>", numericBody, numericForms, SignBasic, basic},
	}
	for _, s := range suites {
		for _, form := range DefaultCanonicalForms {
			t.Run(s.name+"/"+string(form), func(t *testing.T) {
				g := NewWithT(t)
				payload := s.forms[form]
				q := SignedQuery{Signature: s.sign(b1Key, b1Nonce, b1Timestamp, []byte(payload)), Timestamp: b1Timestamp, Nonce: b1Nonce}
				now := func() time.Time { return b1Time }

				canonical, err := s.verify(Verifier{Now: now}, q, []byte(s.body))
				g.Expect(err).NotTo(HaveOccurred(), "the default forms")
				g.Expect(string(canonical)).To(Equal(payload))
				canonical, err = s.verify(Verifier{Now: now, Forms: []CanonicalForm{form}}, q, []byte(s.body))
				g.Expect(err).NotTo(HaveOccurred(), "that form alone")
				g.Expect(string(canonical)).To(Equal(payload))

				canonical, err = s.verify(Verifier{Now: now, Forms: without(form)}, q, []byte(s.body))
				g.Expect(err).To(MatchError(ErrBadSignature), "the form left out")
				g.Expect(CodeOf(err)).To(Equal(ResultAuthFailed))
				g.Expect(canonical).To(BeNil())
			})
		}
	}
}

func TestCanonicalPayloadForm(t *testing.T) {
	tests := []struct {
		name string
		form CanonicalForm
		body string
		want string
	}{
		{"rich body, as received", FormAsReceived, richBody, richForms[FormAsReceived]},
		{"rich body, sorted", FormSortedNested, richBody, richForms[FormSortedNested]},
		{"rich body, escaped", FormEscapedNonASCII, richBody, richForms[FormEscapedNonASCII]},
		{"rich body, both", FormSortedNestedEscapedNonASCII, richBody, richForms[FormSortedNestedEscapedNonASCII]},
		{"sorts at every depth, keeps arrays in order", FormSortedNested, `{"o":{"z":[{"b":1,"a":2},3],"a":{"y":null,"x":{}}}}`, `{"o":{"a":{"x":{},"y":null},"z":[{"a":2,"b":1},3]}}`},
		{"sort keeps duplicate nested keys in received order", FormSortedNested, `{"o":{"b":1,"a":2,"a":1}}`, `{"o":{"a":2,"a":1,"b":1}}`},
		{"sort keeps numbers as received", FormSortedNested, `{"o":{"q":5.0,"p":1e3}}`, `{"o":{"p":1e3,"q":5.0}}`},
		{"escapes keys and top-level values", FormEscapedNonASCII, `{"名":"值"}`, `{"\u540D":"\u503C"}`},
		{"escapes beyond U+FFFF as a surrogate pair", FormEscapedNonASCII, `{"e":"😀"}`, `{"e":"\uD83D\uDE00"}`},
		{"escapes U+0080 but not U+007F", FormEscapedNonASCII, "{\"c\":\"\u0080\u007f\"}", "{\"c\":\"\\u0080\u007f\"}"},
		{"escapes U+2028 and invalid UTF-8 as decoded", FormEscapedNonASCII, "{\"c\":\"\u2028\xff\"}", `{"c":"\u2028\uFFFD"}`},
		{"escape keeps control characters and quotes as Jackson", FormEscapedNonASCII, `{"c":"\u0001\n\"\\é"}`, `{"c":"\u0001\n\"\\\u00E9"}`},
		{"escape of an escaped input", FormEscapedNonASCII, `{"c":"\u00e9"}`, `{"c":"\u00E9"}`},
		{"both on a flat ASCII body is as received", FormSortedNestedEscapedNonASCII, b1Body, b1Payload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := CanonicalPayloadForm([]byte(tt.body), tt.form)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(tt.want))
		})
	}
	_, err := CanonicalPayloadForm([]byte(b1Body), "sorted")
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring(`unknown canonical form "sorted"`)))
	_, err = CanonicalPayloadForm([]byte(`[`), FormSortedNested)
	NewWithT(t).Expect(err).To(MatchError(ErrMalformedBody))
}

func TestParseCanonicalForms(t *testing.T) {
	tests := []struct {
		in      string
		want    []CanonicalForm
		wantErr string
	}{
		{in: "as-received", want: []CanonicalForm{FormAsReceived}},
		{in: "sorted-nested, escaped-non-ascii,sorted-nested", want: []CanonicalForm{FormSortedNested, FormEscapedNonASCII}},
		{in: "as-received,sorted-nested,escaped-non-ascii,sorted-nested-escaped-non-ascii", want: DefaultCanonicalForms},
		{in: "", wantErr: `unknown canonical form ""`},
		{in: "as-received,sorted", wantErr: `unknown canonical form "sorted"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseCanonicalForms(tt.in)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestVerifyWithNoKnownFormIsAConfigurationError(t *testing.T) {
	g := NewWithT(t)
	v := Verifier{Now: func() time.Time { return b1Time }, Forms: []CanonicalForm{"sorted"}}
	_, _, err := v.VerifyBasic([]string{b1Key}, SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(b1Body))
	g.Expect(err).To(HaveOccurred())
	g.Expect(CodeOf(err)).To(Equal(ResultInternalError))
	_, _, err = Verifier{Now: v.Now, Forms: []CanonicalForm{}}.VerifyBasic([]string{b1Key}, SignedQuery{Signature: b1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(b1Body))
	g.Expect(CodeOf(err)).To(Equal(ResultInternalError), "an empty list is not the default")
}

// FuzzCanonicalForms: every form of a body is valid JSON meaning the same
// value; the escaped forms are pure ASCII; a signature over any form of one
// body verifies that body with the default forms and with that form alone,
// and verifies another body only if that body decodes alike.
func FuzzCanonicalForms(f *testing.F) {
	for _, b := range specBodies {
		f.Add([]byte(b), []byte(b), uint8(0))
	}
	f.Add([]byte(richBody), []byte(richForms[FormSortedNested]), uint8(1))
	f.Add([]byte(richBody), []byte(richForms[FormEscapedNonASCII]), uint8(3))
	f.Add([]byte(`{"o":{"b":1,"a":2,"a":1}}`), []byte(`{"o":{"a":2,"b":1,"a":1}}`), uint8(1))
	f.Add([]byte(`{"e":"😀","k":{"é":1}}`), []byte(`{"e":"\uD83D\uDE00","k":{"\u00e9":1}}`), uint8(2))
	v := Verifier{Now: func() time.Time { return b1Time }}
	f.Fuzz(func(t *testing.T, original, mutated []byte, pick uint8) {
		form := DefaultCanonicalForms[int(pick)%len(DefaultCanonicalForms)]
		payload, err := CanonicalPayloadForm(original, form)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("error %v does not wrap ErrMalformedBody", err)
			}
			return
		}
		if want, got := decodeWithoutTopNulls(t, original), decodeWithoutTopNulls(t, payload); !reflect.DeepEqual(want, got) {
			t.Fatalf("%s form %q means %v, the body meant %v", form, payload, got, want)
		}
		if s, _ := form.style(); s.escapeNonASCII && !isASCII(payload) {
			t.Fatalf("%s form %q is not ASCII", form, payload)
		}
		q := SignedQuery{Signature: SignBasic(b1Key, b1Nonce, b1Timestamp, payload), Timestamp: b1Timestamp, Nonce: b1Nonce}
		for _, verifier := range []Verifier{v, {Now: v.Now, Forms: []CanonicalForm{form}}} {
			_, canonical, err := verifier.VerifyBasic([]string{b1Key}, q, original)
			if err != nil || !bytes.Equal(canonical, payload) {
				t.Fatalf("signed over its %s form %q, %q failed with forms %v: %v (%q)", form, payload, original, verifier.Forms, err, canonical)
			}
		}
		kq := SignedQuery{Signature: SignKit(b1Key, b1Nonce, b1Timestamp, payload), Timestamp: b1Timestamp, Nonce: b1Nonce}
		if _, _, err := v.VerifyKit([]string{b1Key}, kq, original); err != nil {
			t.Fatalf("kit: signed over its %s form %q, %q failed: %v", form, payload, original, err)
		}
		if _, canonical, err := v.VerifyBasic([]string{b1Key}, q, mutated); err == nil {
			if !bytes.Equal(canonical, payload) {
				t.Fatalf("%q verified as %q, signed %q", mutated, canonical, payload)
			}
			sameDecoding(t, original, mutated)
			if want, got := decodeWithoutTopNulls(t, original), decodeWithoutTopNulls(t, mutated); !reflect.DeepEqual(want, got) && !sameStrings(want, got) {
				t.Fatalf("%q verified with the signature of %q but means %v, not %v", mutated, original, got, want)
			}
		}
	})
}

// sameStrings reports whether a and b differ only in top-level numbers and
// booleans written as strings (the Map<String,String> form).
func sameStrings(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		if reflect.DeepEqual(va, vb) {
			continue
		}
		ja, _ := json.Marshal(va)
		jb, _ := json.Marshal(vb)
		if string(ja) != `"`+string(jb)+`"` && string(jb) != `"`+string(ja)+`"` {
			return false
		}
	}
	return true
}
