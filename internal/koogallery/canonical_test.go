package koogallery

import (
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCanonicalPayload(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"sorts top-level keys", `{"b":"2","a":"1","C":"0"}`, `{"C":"0","a":"1","b":"2"}`},
		{"drops top-level nulls", `{"b":null,"a":"1","c":null}`, `{"a":"1"}`},
		{"only nulls", `{"a":null}`, `{}`},
		{"empty object", ` { } `, `{}`},
		{"removes whitespace", "{\n  \"b\" : [ 1 , 2 ] ,\r\n\t\"a\" : { \"y\" : true , \"x\" : false }\n}\n", `{"a":{"y":true,"x":false},"b":[1,2]}`},
		{"keeps nested order and nested nulls", `{"o":{"z":null,"a":{"k":null,"b":1}},"l":[null,{"y":1,"x":2}]}`, `{"l":[null,{"y":1,"x":2}],"o":{"z":null,"a":{"k":null,"b":1}}}`},
		{"keeps numbers as received", `{"n":[12.78,5,5.0,1e3,1E-2,-0,12.780,123456789012345678901234567890]}`, `{"n":[12.78,5,5.0,1e3,1E-2,-0,12.780,123456789012345678901234567890]}`},
		{"integers of kit bodies stay numbers", `{"testFlag":0,"flag":1}`, `{"flag":1,"testFlag":0}`},
		{"leaves non-ASCII as UTF-8", `{"m":"\u8bf7\u4f7f\u7528","n":"请","e":"\ud83d\ude00"}`, `{"e":"😀","m":"请使用","n":"请"}`},
		{"does not escape HTML characters", `{"h":"<a href=\"x\">&amp;</a>","u":"\u003c\u003e\u0026"}`, `{"h":"<a href=\"x\">&amp;</a>","u":"<>&"}`},
		{"does not escape U+2028 and U+2029", `{"s":"\u2028\u2029"}`, "{\"s\":\"\u2028\u2029\"}"},
		{"unescapes what need not be escaped", `{"s":"\/\u0041"}`, `{"s":"/A"}`},
		{"escapes like Jackson", `{"s":"\"\\\b\f\n\r\t\u0000\u001f\u007f"}`, "{\"s\":\"\\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001F\x7f\"}"},
		{"escaped keys are sorted by their value", `{"\u0062":"1","a":"2"}`, `{"a":"2","b":"1"}`},
		{"sorts by code point", `{"é":"1","z":"2","Z":"3","😀":"4","":"5"}`, `{"":"5","Z":"3","z":"2","é":"1","😀":"4"}`},
		{"keeps nested duplicate keys", `{"o":{"a":1,"a":2}}`, `{"o":{"a":1,"a":2}}`},
		{"empty containers", `{"a":[],"b":{},"c":""}`, `{"a":[],"b":{},"c":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := CanonicalPayload([]byte(tt.body))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(tt.want))
			g.Expect(json.Valid(got)).To(BeTrue())
			again, err := CanonicalPayload(got)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(again)).To(Equal(tt.want), "canonicalisation is idempotent")
		})
	}
}

func TestCanonicalPayloadRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ``},
		{"whitespace only", "  \n"},
		{"null", `null`},
		{"array", `[{"a":1}]`},
		{"string", `"{}"`},
		{"number", `1`},
		{"two objects", `{} {}`},
		{"trailing garbage", `{"a":"1"}x`},
		{"trailing comma", `{"a":"1",}`},
		{"unterminated", `{"a":"1"`},
		{"single quotes", `{'a':'1'}`},
		{"unquoted key", `{a:"1"}`},
		{"duplicate key", `{"a":"1","b":"2","a":"3"}`},
		{"duplicate key with null", `{"a":null,"a":"1"}`},
		{"duplicate key after unescaping", `{"a":"1","\u0061":"2"}`},
		{"NaN", `{"a":NaN}`},
		{"leading zero", `{"a":01}`},
		{"bad escape", `{"a":"\x"}`},
		{"raw control character", "{\"a\":\"\x01\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := CanonicalPayload([]byte(tt.body))
			g.Expect(err).To(MatchError(ErrMalformedBody))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}
}
