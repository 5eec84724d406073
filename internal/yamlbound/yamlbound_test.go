package yamlbound

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// laughs is the "billion laughs": n levels, each aliasing the one above
// ten times, the first a 3-byte string; 10^n copies of it once expanded.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 \"lol\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestExpandedSize(t *testing.T) {
	scalarAliases := "x: &a \"" + strings.Repeat("x", 1000) + "\"\ny: [" + strings.Repeat("*a, ", 99) + "*a]\n"
	cases := []struct {
		name  string
		yaml  string
		limit int64
		// adds is what the size given adds to the YAML's bytes; wantErr
		// what refuses it instead.
		adds    int64
		wantErr string
	}{
		{name: "no alias: its own bytes, whatever the limit", yaml: "a: 1\nb: [x, y]\n", limit: 0, adds: 0},
		{name: "no alias, a '*' in a string", yaml: "hosts: [\"*.example.com\"]\n", limit: 100, adds: 0},
		{name: "no alias, not YAML, not parsed", yaml: "a: [\n", limit: 100, adds: 0},
		{name: "an alias of a scalar: its value and 2 bytes", yaml: "a: &a xyz\nb: *a\n", limit: 100, adds: 3 + 2},
		{name: "an alias of a mapping: its keys, values and nodes",
			yaml: "a: &a {k: v}\nb: *a\n", limit: 100, adds: 2 + 3 + 3},
		{name: "a merge key counts as an alias", yaml: "a: &a {k: v}\nb: {<<: *a, j: w}\n", limit: 100, adds: 8},
		{name: "aliases across documents", yaml: "a: &a xyz\n---\nb: *a\n", limit: 100, adds: 5},
		{name: "100 aliases of a 1000-byte string, within the limit", yaml: scalarAliases, limit: 200_000,
			adds: 100 * 1002},
		{name: "100 aliases of a 1000-byte string, over the limit", yaml: scalarAliases, limit: 100_000,
			wantErr: "YAML aliases would expand it to more than 100000 bytes"},
		{name: "a billion laughs", yaml: laughs(9), limit: 1 << 20,
			wantErr: "YAML aliases would expand it to more than 1048576 bytes"},
		{name: "laughs past an int64, refused at the limit", yaml: laughs(30), limit: 1 << 62,
			wantErr: "YAML aliases would expand it to more than 1152921504606846976 bytes"},
		{name: "an alias inside its own anchor's node", yaml: "a: &a [1, *a]\n", limit: 100,
			wantErr: "YAML alias *a is inside the node its anchor names"},
		{name: "an alias of no anchor", yaml: "b: *a\n", limit: 100, wantErr: "not valid YAML"},
		{name: "not YAML, with a '*'", yaml: "a: *a [\n", limit: 100, wantErr: "not valid YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			size, err := ExpandedSize([]byte(c.yaml), c.limit)
			if c.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(c.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(size).To(Equal(int64(len(c.yaml)) + c.adds))
		})
	}
}

// TestAnExpansionRefusedIsAnExpansionError: callers tell a refused
// expansion from YAML that does not parse by its type.
func TestAnExpansionRefusedIsAnExpansionError(t *testing.T) {
	g := NewWithT(t)
	_, err := ExpandedSize([]byte(laughs(6)), 4096)
	var expansion *ExpansionError
	g.Expect(errors.As(err, &expansion)).To(BeTrue(), "%v", err)
	g.Expect(expansion.Limit).To(BeEquivalentTo(4096))
}

// TestExpandedSizeBoundsTheJSONTheDecoderWrites: what sigs.k8s.io/yaml
// writes of YAML with aliases, as JSON, is within a small factor of
// ExpandedSize, so that a bound on ExpandedSize bounds the decoders' work.
func TestExpandedSizeBoundsTheJSONTheDecoderWrites(t *testing.T) {
	for _, doc := range []string{
		"x: &a \"" + strings.Repeat("x", 4096) + "\"\ny: [" + strings.Repeat("*a, ", 63) + "*a]\n",
		"d: &d {a: 1, b: two, c: [3, 4]}\nl: [" + strings.Repeat("*d, ", 63) + "*d]\n",
		"s: &s x\nl: [" + strings.Repeat("*s, ", 499) + "*s]\n",
		laughs(2),
	} {
		g := NewWithT(t)
		size, err := ExpandedSize([]byte(doc), 1<<30)
		g.Expect(err).NotTo(HaveOccurred())
		j, err := yaml.YAMLToJSON([]byte(doc))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(len(j)).To(BeNumerically("<=", 2*size), "JSON %d bytes, counted %d", len(j), size)
	}
}

// FuzzExpandedSize: no input panics; YAML without a '*' is its own bytes;
// a size given is at least the input's and within the limit.
func FuzzExpandedSize(f *testing.F) {
	for _, seed := range []string{"a: &a x\nb: *a\n", "a: &a [1, *a]\n", "b: *a\n", laughs(3), "a: {<<: *b}\n", "- &x\n- *x\n"} {
		f.Add([]byte(seed), int64(1000))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		size, err := ExpandedSize(data, limit)
		if !bytes.Contains(data, []byte("*")) && (err != nil || size != int64(len(data))) {
			t.Fatalf("YAML without an alias gave %d, %v; want %d", size, err, len(data))
		}
		if err == nil && (size < int64(len(data)) || size > max(limit, int64(len(data)))) {
			t.Fatalf("gave %d for %d bytes, limit %d", size, len(data), limit)
		}
	})
}
