package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// stage is one FROM ... of a Dockerfile and the instructions under it.
type stage struct {
	// from is the FROM line's node: Value "FROM", Next the base image,
	// Flags e.g. "--platform=$BUILDPLATFORM".
	from         *parser.Node
	instructions []*parser.Node
}

// base is the image the stage starts from.
func (s stage) base() string { return s.from.Next.Value }

// last returns the last instruction named name ("user", "entrypoint", in
// any case),
// the one that takes effect, or nil.
func (s stage) last(name string) *parser.Node {
	var found *parser.Node
	for _, n := range s.instructions {
		if strings.EqualFold(n.Value, name) {
			found = n
		}
	}
	return found
}

// all returns every instruction named name, in order.
func (s stage) all(name string) []*parser.Node {
	var found []*parser.Node
	for _, n := range s.instructions {
		if strings.EqualFold(n.Value, name) {
			found = append(found, n)
		}
	}
	return found
}

// parseDockerfile splits the Dockerfile at path into its stages with
// buildkit's own parser, the one `docker build` uses.
func parseDockerfile(path string) ([]stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	result, err := parser.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", path, err)
	}
	var stages []stage
	for _, n := range result.AST.Children {
		switch {
		case strings.EqualFold(n.Value, "from"): // the parser keeps the instruction's case
			stages = append(stages, stage{from: n})
		case len(stages) == 0:
			// ARG before the first FROM: global, not part of a stage.
		default:
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, n)
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s has no FROM", path)
	}
	return stages, nil
}

// arguments are the words after an instruction: for COPY a b c/ they are
// the sources a, b and the destination c/; for ENTRYPOINT ["/kooper"]
// the one word /kooper.
func arguments(n *parser.Node) []string {
	var words []string
	for next := n.Next; next != nil; next = next.Next {
		words = append(words, next.Value)
	}
	return words
}

// instructionFlag returns the value of an instruction's --name=value flag, or "".
func instructionFlag(n *parser.Node, name string) string {
	for _, f := range n.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}
