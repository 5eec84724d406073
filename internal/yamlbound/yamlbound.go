// Package yamlbound bounds what YAML aliases make of a document before a
// decoder expands them.
//
// A YAML decoder that builds values (sigs.k8s.io/yaml, which Helm and
// kooper use) replaces each alias with a copy of the node its anchor names:
// a 2 MiB string anchored once and aliased 200 times reads as 2 MiB and
// decodes to 400 MiB, written once more as JSON. The alias bound of the
// YAML library under it (go.yaml.in/yaml/v2) counts nodes, an alias of a
// scalar as one, and looks only at documents of over a thousand of them,
// so it lets that through. Anchors are ordinary YAML, which Helm documents
// for values files, so they are not refused: what they expand to is
// bounded, as the caller bounds the input's own size.
package yamlbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// ExpansionError is the error of ExpandedSize for YAML whose aliases would
// expand it past its bound.
type ExpansionError struct {
	// Limit is the bound, in bytes.
	Limit int64
}

func (e *ExpansionError) Error() string {
	return fmt.Sprintf("YAML aliases would expand it to more than %d bytes", e.Limit)
}

// maxLimit caps the bounds ExpandedSize counts to, so that sizes summed up
// to it never overflow an int64: a few aliases nested a few dozen deep
// (the "billion laughs") name 2^64 bytes.
const maxLimit = 1 << 60

// nodeBytes is what ExpandedSize counts for each node an alias copies
// besides its value: about what the JSON the decoders write adds to each
// (brackets or quotes, a colon or a comma).
const nodeBytes = 2

// ExpandedSize gives about how many bytes data, a stream of YAML documents,
// comes to once each alias is replaced by a copy of the node its anchor
// names: len(data), and for each alias the size of that node, its own
// aliases expanded (the bytes of each scalar's value, and a couple more for
// each node). YAML without aliases gives len(data), however large, so a
// caller bounds the expansion alone with a limit of its input's own bound.
//
// It refuses (an *ExpansionError) YAML that aliases would expand to more
// than limit bytes, and stops counting there, before holding any copy.
// YAML that does not parse, or with an alias inside the node its anchor
// names, is refused too: the decoders refuse both. data without a '*',
// which every alias starts with, holds none and is not parsed.
//
// Parsing holds data's nodes, not their expansion: about what the
// decoders hold of data anyway.
func ExpandedSize(data []byte, limit int64) (int64, error) {
	size := int64(len(data))
	if bytes.IndexByte(data, '*') < 0 {
		return size, nil
	}
	e := &expansion{
		limit: min(limit, maxLimit),
		total: size,
		sizes: map[*yaml.Node]int64{},
		open:  map[*yaml.Node]bool{},
	}
	// One decoder for the whole stream: its anchors hold from one document
	// to the next, as the parser has them.
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var document yaml.Node
		err := decoder.Decode(&document)
		if errors.Is(err, io.EOF) {
			return e.total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("not valid YAML: %w", err)
		}
		if _, err := e.size(&document); err != nil {
			return 0, err
		}
	}
}

// expansion counts what aliases add to a stream of YAML documents.
type expansion struct {
	limit int64
	// total is the stream's bytes and what the aliases met so far add.
	total int64
	// sizes holds the size of each anchored node sized, its aliases
	// expanded: an alias adds it without counting the node again.
	sizes map[*yaml.Node]int64
	// open holds the anchored nodes being sized: an alias of one is
	// inside the node it names.
	open map[*yaml.Node]bool
}

// size gives the size of n with its aliases expanded, at most limit+1, and
// adds to total what each alias in n adds.
func (e *expansion) size(n *yaml.Node) (int64, error) {
	if n.Kind == yaml.AliasNode {
		return e.alias(n)
	}
	if n.Anchor != "" {
		e.open[n] = true
	}
	size := int64(len(n.Value) + nodeBytes)
	for _, child := range n.Content {
		s, err := e.size(child)
		if err != nil {
			return 0, err
		}
		size = e.capped(size + s)
	}
	if n.Anchor != "" {
		delete(e.open, n)
		e.sizes[n] = size
	}
	return size, nil
}

// alias gives the size of the node alias n names, and adds it to total.
func (e *expansion) alias(n *yaml.Node) (int64, error) {
	if e.open[n.Alias] {
		return 0, fmt.Errorf("YAML alias *%s is inside the node its anchor names", n.Value)
	}
	size, ok := e.sizes[n.Alias]
	if !ok {
		// The parser names an anchor before any alias of it, so its node
		// was sized first; one that was not is not counted, but refused.
		return 0, fmt.Errorf("YAML alias *%s names no anchor before it", n.Value)
	}
	e.total = e.capped(e.total + size)
	if e.total > e.limit {
		return 0, &ExpansionError{Limit: e.limit}
	}
	return size, nil
}

// capped bounds a size at limit+1, over the limit, so that sums of sizes
// stay far from overflowing.
func (e *expansion) capped(size int64) int64 {
	return min(size, e.limit+1)
}
