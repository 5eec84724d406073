// Package templatebound parses the Go text/templates a product's spec
// holds (its URL, configuration and meter query templates), refusing those
// whose run is not bounded by their size, and runs them into a bounded
// output. kooper runs each of them on a worker that no deadline reaches:
// text/template takes no context, so a template that never ends holds its
// worker, and whatever lock it holds, for good.
//
// What it refuses before the template runs, wherever it is (the template,
// or one it defines):
//   - {{range}}: these templates' data holds only strings and their
//     functions make strings, so the only things to range over are numbers
//     (Go 1.22's text/template ranges over an integer, and len and index
//     give one), and a range over a number repeats that many times: a few
//     characters run for ever;
//   - a {{template}} (or {{block}}) call of a template that calls itself,
//     directly or through others: passing a shorter slice of a longer
//     string each time, two such calls double the run per character;
//   - {{template}} calls that would run more than MaxCalledNodes parts of
//     the templates they call: each call runs all of the template it
//     names, so a chain of templates that each call the next twice
//     doubles the run per template.
//
// And what it refuses as the template runs: a value of print, println,
// printf, html, js or urlquery longer than MaxValueBytes, and a printf
// width or precision over MaxFormatWidth. text/template's own would make
// it first, and doubling one ({{$a = print $a $a}}, js (js ...)) doubles
// the memory per few characters, up to a crash.
//
// What is left runs each part of the template at most once, and a called
// template's within MaxCalledNodes, each part within MaxValueBytes: a run
// bounded by the template's size.
package templatebound

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// MaxValueBytes bounds a string the template's functions make: far more
// than a URL, a query or a line of configuration is made of.
const MaxValueBytes = 1 << 13

// MaxFormatWidth bounds a width or a precision of printf: enough to align
// a column, and a width costs its value in bytes, whatever the argument.
const MaxFormatWidth = 64

// MaxCalledNodes bounds the parts (parse nodes) of called templates that
// {{template}} calls run, counting each call: more than reusing a block
// of a configuration file a few times needs, and, each part within
// MaxValueBytes, a few milliseconds to run.
const MaxCalledNodes = 1 << 12

// ErrTooLong is the error of a template whose output passes its cap.
var ErrTooLong = errors.New("output too long")

// Parse parses text as a template called name, with an unknown key an
// error (missingkey=error) and bounded functions, and refuses one whose
// run is not bounded (see the package comment). kind names such templates
// in messages, for example "a URL template". A parse error is
// text/template's own.
func Parse(name, kind, text string) (*template.Template, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(boundedFuncs).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := check(tmpl, kind); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// check returns why tmpl's run may not be bounded (see the package
// comment), or nil; kind names such templates in the message.
func check(tmpl *template.Template, kind string) error {
	defined := map[string]*parse.Tree{}
	for _, t := range tmpl.Templates() {
		if t.Tree == nil || t.Tree.Root == nil {
			continue
		}
		defined[t.Name()] = t.Tree
		// Every template, called or not: the rule is simpler to state.
		if r := findRange(t.Tree.Root); r != nil {
			return fmt.Errorf("{{range}} is not allowed in %s (%s): the data it gets are strings, so a range "+
				"could only count up to a number, and a large one never ends", kind, position(t.Tree, r))
		}
	}
	root := tmpl.Tree
	if root == nil || root.Root == nil {
		return nil
	}
	c := callCounter{defined: defined, size: map[string]int{}, calling: map[string]bool{}, kind: kind}
	called, err := c.calledNodes(root.Root)
	if err != nil {
		return err
	}
	if called > MaxCalledNodes {
		return fmt.Errorf("the {{template}} calls of %s would run more than %d parts of the templates they call: "+
			"each call runs all of the template it names, so templates that call others more than once multiply; "+
			"write the text out instead", kind, MaxCalledNodes)
	}
	return nil
}

// findRange is the first {{range}} in the statements under n, or nil. A
// range is a statement, never part of a pipeline, so the walk goes
// through statement lists and branches only.
func findRange(n parse.Node) *parse.RangeNode {
	switch n := n.(type) {
	case *parse.RangeNode:
		return n
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, child := range n.Nodes {
			if r := findRange(child); r != nil {
				return r
			}
		}
	case *parse.IfNode:
		return branchRange(&n.BranchNode)
	case *parse.WithNode:
		return branchRange(&n.BranchNode)
	}
	return nil
}

func branchRange(b *parse.BranchNode) *parse.RangeNode {
	if r := findRange(b.List); r != nil {
		return r
	}
	return findRange(b.ElseList)
}

// callCounter counts the parts that {{template}} calls run.
type callCounter struct {
	defined map[string]*parse.Tree
	// size memoizes each defined template's run: its own parts and those
	// of the templates it calls.
	size map[string]int
	// calling holds the templates being counted, to find one that calls
	// itself.
	calling map[string]bool
	kind    string
}

// calledNodes is the number of parts of called templates the statements
// under n run (each call counted), capped just past MaxCalledNodes.
func (c *callCounter) calledNodes(n parse.Node) (int, error) {
	total := 0
	var err error
	walk(n, func(n parse.Node) bool {
		call, ok := n.(*parse.TemplateNode)
		if !ok || err != nil {
			return err == nil
		}
		var size int
		size, err = c.templateSize(call)
		total = min(total+size, MaxCalledNodes+1)
		return err == nil
	})
	return total, err
}

// templateSize is the number of parts a call of call.Name runs: the called
// template's own and those of its calls; 0 for a template not defined,
// which fails when run.
func (c *callCounter) templateSize(call *parse.TemplateNode) (int, error) {
	if size, ok := c.size[call.Name]; ok {
		return size, nil
	}
	tree, ok := c.defined[call.Name]
	if !ok {
		return 0, nil
	}
	if c.calling[call.Name] {
		return 0, fmt.Errorf("{{template %q}} is not allowed in %s (%s): template %q calls itself, and a template "+
			"that calls itself can run without end", call.Name, c.kind, position(tree, call), call.Name)
	}
	c.calling[call.Name] = true
	defer delete(c.calling, call.Name)
	own := 0
	walk(tree.Root, func(parse.Node) bool { own++; return true })
	called, err := c.calledNodes(tree.Root)
	if err != nil {
		return 0, err
	}
	size := min(own+called, MaxCalledNodes+1)
	c.size[call.Name] = size
	return size, nil
}

// walk calls visit on n and every node under it, statements and pipelines
// alike, until visit returns false.
func walk(n parse.Node, visit func(parse.Node) bool) bool {
	if n == nil || !visit(n) {
		return false
	}
	var children []parse.Node
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		children = n.Nodes
	case *parse.ActionNode:
		children = []parse.Node{n.Pipe}
	case *parse.IfNode:
		children = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.WithNode:
		children = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.RangeNode:
		children = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.TemplateNode:
		children = []parse.Node{n.Pipe}
	case *parse.PipeNode:
		if n == nil {
			return true
		}
		for _, cmd := range n.Cmds {
			children = append(children, cmd)
		}
	case *parse.CommandNode:
		children = n.Args
	case *parse.ChainNode:
		children = []parse.Node{n.Node}
	}
	for _, child := range children {
		if isNil(child) {
			continue
		}
		if !walk(child, visit) {
			return false
		}
	}
	return true
}

// isNil reports whether n is nil, or a typed nil of the node types a
// branch or a call leaves empty (no else, no pipeline).
func isNil(n parse.Node) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *parse.ListNode:
		return n == nil
	case *parse.PipeNode:
		return n == nil
	}
	return false
}

// position is the line of the text tree was parsed from that n is on:
// "line 3". (A node's column is that of its pipeline, not of its {{.)
func position(tree *parse.Tree, n parse.Node) string {
	location, _ := tree.ErrorContext(n)
	// location is "name:line:column", with the name of the template parsed.
	line, _, found := strings.Cut(strings.TrimPrefix(location, tree.ParseName+":"), ":")
	if !found {
		return location
	}
	return "line " + line
}

// Execute runs tmpl with data and returns what it writes, or an error
// wrapping ErrTooLong as soon as that passes maxBytes.
func Execute(tmpl *template.Template, data any, maxBytes int) (string, error) {
	out := &cappedBuffer{room: maxBytes}
	if err := tmpl.Execute(out, data); err != nil {
		if errors.Is(err, ErrTooLong) {
			return "", fmt.Errorf("renders to more than %d bytes: %w", maxBytes, ErrTooLong)
		}
		return "", err
	}
	return out.String(), nil
}

// cappedBuffer is a buffer that refuses to grow past room bytes.
type cappedBuffer struct {
	bytes.Buffer
	room int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if len(p) > b.room {
		return 0, ErrTooLong
	}
	b.room -= len(p)
	return b.Buffer.Write(p)
}

// boundedFuncs stand in for text/template's functions that make a string:
// the same, but refusing a value longer than MaxValueBytes before making
// it (and a printf width over MaxFormatWidth). A template's functions come
// before its builtins.
var boundedFuncs = template.FuncMap{
	"print": func(args ...any) (string, error) {
		return bounded("print", fmt.Sprint, args, valueBytes(args)+len(args))
	},
	"println": func(args ...any) (string, error) {
		return bounded("println", fmt.Sprintln, args, valueBytes(args)+len(args))
	},
	"printf":   printf,
	"html":     escaper("html", template.HTMLEscaper),
	"js":       escaper("js", template.JSEscaper),
	"urlquery": escaper("urlquery", template.URLQueryEscaper),
}

// maxEscapedGrowth is the most an escaper makes of one byte: js writes
// < as \u003C.
const maxEscapedGrowth = 6

func escaper(name string, escape func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		return bounded(name, escape, args, maxEscapedGrowth*(valueBytes(args)+len(args)))
	}
}

// printf is fmt.Sprintf, refusing a width or precision over
// MaxFormatWidth, and a value that may pass MaxValueBytes: each verb may
// write any argument ([n] picks one) at up to the widest width.
func printf(format string, args ...any) (string, error) {
	if err := checkWidths(format, args); err != nil {
		return "", err
	}
	verbs := strings.Count(format, "%")
	most := len(format) + verbs*(MaxFormatWidth+valueBytes(args))
	return bounded("printf", func(args ...any) string { return fmt.Sprintf(format, args...) }, args, most)
}

// bounded is render(args), or an error when most, the longest it may be,
// or what it is passes MaxValueBytes.
func bounded(name string, render func(...any) string, args []any, most int) (string, error) {
	if most > MaxValueBytes {
		return "", fmt.Errorf("%s may make a value longer than %d bytes", name, MaxValueBytes)
	}
	value := render(args...)
	if len(value) > MaxValueBytes {
		return "", fmt.Errorf("%s made a value longer than %d bytes", name, MaxValueBytes)
	}
	return value, nil
}

// valueBytes is the most the values of args take printed: a string its
// length; anything else (a number, a bool, the template's data of a few
// strings) at most 256 bytes.
func valueBytes(args []any) int {
	n := 0
	for _, arg := range args {
		if s, ok := arg.(string); ok {
			n += len(s)
		} else {
			n += 256
		}
	}
	return n
}

// checkWidths refuses a width or precision in format over MaxFormatWidth,
// written in it or, for a *, an integer argument over it.
func checkWidths(format string, args []any) error {
	star := false
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		// The verb's flags, argument indexes, width and precision: up to
		// its letter (or the second % of %%).
		inIndex := false
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[i]) >= 0; i++ {
			switch c := format[i]; {
			case c == '[':
				inIndex = true
			case c == ']':
				inIndex = false
			case c == '*':
				star = true
			case c >= '1' && c <= '9' && !inIndex:
				j := i
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				if n, err := strconv.Atoi(format[i:j]); err != nil || n > MaxFormatWidth {
					return fmt.Errorf("printf's width or precision %s is more than %d", format[i:j], MaxFormatWidth)
				}
				i = j - 1
			}
		}
	}
	if !star {
		return nil
	}
	for _, arg := range args {
		v := reflect.ValueOf(arg)
		switch {
		case v.CanInt() && (v.Int() > MaxFormatWidth || v.Int() < -MaxFormatWidth),
			v.CanUint() && v.Uint() > MaxFormatWidth:
			return fmt.Errorf("printf's width or precision %v (from *) is more than %d", arg, MaxFormatWidth)
		}
	}
	return nil
}
