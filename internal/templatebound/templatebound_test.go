package templatebound

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

type data struct{ InstanceID, Namespace string }

var sample = data{InstanceID: "i-1", Namespace: "tenant-i-1"}

func TestParse(t *testing.T) {
	// chain is n templates, each calling the next twice: 2^n runs of the
	// last, in a few dozen characters per template.
	chain := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i+1, i+1)
		}
		fmt.Fprintf(&b, `{{define "t%d"}}x{{end}}{{template "t0"}}`, n)
		return b.String()
	}
	cases := []struct {
		name, text string
		// want is what the template renders; wantErr a part of its refusal.
		want, wantErr string
	}{
		{name: "fields", text: "https://{{.InstanceID}}.example.com/{{ .Namespace }}", want: "https://i-1.example.com/tenant-i-1"},
		{name: "builtins", text: `{{slice .InstanceID 2}}-{{printf "%s" .Namespace}}-{{len .InstanceID}}`, want: "1-tenant-i-1-3"},
		{name: "branches", text: `{{if eq .InstanceID "x"}}a{{else if .Namespace}}b{{end}}{{with .InstanceID}}{{.}}{{else}}none{{end}}`, want: "bi-1"},
		{name: "a variable", text: `{{$id := .InstanceID}}{{$id}}`, want: "i-1"},
		{name: "a template called twice", text: `{{define "id"}}[{{.InstanceID}}]{{end}}{{template "id" .}}{{template "id" .}}`, want: "[i-1][i-1]"},
		{name: "a block", text: `{{block "id" .}}{{.InstanceID}}{{end}}`, want: "i-1"},
		{name: "a call chain within the bound", text: chain(8), want: strings.Repeat("x", 1<<8)},
		{name: "a call of a template not defined", text: `{{template "nothing"}}`, wantErr: `template "nothing" not defined`},
		{name: "a range over a number", text: "{{range 1000000000000000000}}{{end}}",
			wantErr: "{{range}} is not allowed in a test template (line 1): the data it gets are strings"},
		{name: "a range with an else", text: "{{range 3}}x{{else}}y{{end}}", wantErr: "{{range}} is not allowed"},
		{name: "a range over a length", text: "{{range len .Namespace}}x{{end}}", wantErr: "{{range}} is not allowed"},
		{name: "a range in an else", text: "a\n{{if .InstanceID}}x{{else}}\n\n{{range 3}}{{end}}{{end}}", wantErr: "(line 4)"},
		{name: "a range in a with", text: "{{with .InstanceID}}{{range 3}}{{end}}{{end}}", wantErr: "{{range}} is not allowed"},
		{name: "a range in a template defined", text: `{{define "x"}}{{range 3}}{{end}}{{end}}{{template "x"}}`, wantErr: "{{range}} is not allowed"},
		{name: "a range in a template never called", text: `{{define "x"}}{{range 3}}{{end}}{{end}}ok`, wantErr: "{{range}} is not allowed"},
		{name: "a range in a block", text: `{{block "x" .}}{{range 3}}{{end}}{{end}}`, wantErr: "{{range}} is not allowed"},
		{name: "a template that calls itself", text: `{{define "a"}}{{if .}}{{template "a" (slice . 1)}}{{template "a" (slice . 1)}}{{end}}{{end}}` +
			`{{template "a" (printf "%099d" 0)}}`,
			wantErr: `{{template "a"}} is not allowed in a test template (line 1): template "a" calls itself`},
		{name: "templates that call each other", text: `{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{template "a"}}{{end}}{{template "a"}}`,
			wantErr: `calls itself`},
		{name: "the template calling itself by its name", text: `{{if false}}{{template "test"}}{{end}}`, wantErr: `template "test" calls itself`},
		{name: "a call chain past the bound", text: chain(10),
			wantErr: "the {{template}} calls of a test template would run more than 4096 parts of the templates they call"},
		{name: "a call chain far past the bound", text: chain(200), wantErr: "would run more than 4096 parts"},
		{name: "printf", text: `{{printf "%-5s|%3d|%.2f|%[1]s|100%%" .InstanceID 7 1.5}}`, want: "i-1  |  7|1.50|i-1|100%"},
		{name: "printf with a width from an argument", text: `{{printf "%*d" 4 7}}`, want: "   7"},
		{name: "escapers", text: `{{html "<"}} {{js "<"}} {{urlquery "a b"}} {{print 1 "x"}} {{println .InstanceID}}`,
			want: "&lt; \\u003C a+b 1x i-1\n"},
		{name: "a printf width past the bound", text: `{{if printf "%01000000d" 0}}{{end}}`,
			wantErr: "error calling printf: printf's width or precision 1000000 is more than 64"},
		{name: "a printf precision past the bound", text: `{{printf "%.65s" .InstanceID}}`, wantErr: "precision 65 is more than 64"},
		{name: "a printf width from an argument past the bound", text: `{{printf "%0*d" 1000000 0}}`,
			wantErr: "printf's width or precision 1000000 (from *) is more than 64"},
		{name: "a value doubled by print", text: `{{$a := .InstanceID}}` + strings.Repeat(`{{$a = print $a $a}}`, 40) + `{{if $a}}{{end}}`,
			wantErr: "error calling print: print may make a value longer than 8192 bytes"},
		{name: "a value doubled by printf", text: `{{$a := .InstanceID}}` + strings.Repeat(`{{$a = printf "%s%s" $a $a}}`, 40),
			wantErr: "error calling printf: printf may make a value longer than 8192 bytes"},
		{name: "a value doubled by js", text: `{{if ` + strings.Repeat(`js (`, 60) + `"\\"` + strings.Repeat(`)`, 60) + `}}{{end}}`,
			wantErr: "error calling js: js may make a value longer than 8192 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			start := time.Now()
			tmpl, err := Parse("test", "a test template", tc.text)
			var out string
			if err == nil {
				out, err = Execute(tmpl, sample, 1<<20)
			}
			g.Expect(time.Since(start)).To(BeNumerically("<", time.Second))
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal(tc.want))
		})
	}
}

func TestAParseErrorIsTextTemplates(t *testing.T) {
	g := NewWithT(t)
	_, err := Parse("broken.conf", "a test template", "{{.InstanceID")
	g.Expect(err).To(MatchError("template: broken.conf:1: unclosed action"))
}

func TestExecuteCapsTheOutput(t *testing.T) {
	g := NewWithT(t)
	tmpl, err := Parse("test", "a test template", "{{.InstanceID}}{{.Namespace}}")
	g.Expect(err).NotTo(HaveOccurred())
	out, err := Execute(tmpl, sample, len("i-1tenant-i-1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal("i-1tenant-i-1"))
	_, err = Execute(tmpl, sample, len("i-1tenant-i-1")-1)
	g.Expect(err).To(MatchError("renders to more than 12 bytes: output too long"))
	g.Expect(errors.Is(err, ErrTooLong)).To(BeTrue())
}
