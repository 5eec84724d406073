package localstack

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// binary is one the stack builds: its name and package.
type binary struct{ name, pkg string }

// binaries are what the stack builds: the operator, the simulator and the
// kubectl plugin (kubectl-kooper); on a real node not the operator, which
// runs there from its image (make e2e-node builds it into the image).
func binaries(node bool) []binary {
	bs := []binary{{"kooper", "."}, {"marketplace-sim", "./hack/marketplace-sim"}, {"kubectl-kooper", "./hack/kubectl-kooper"}}
	if node {
		bs = bs[1:]
	}
	return bs
}

// build compiles the binaries from the working tree, so the stack never
// runs a stale binary. Go's build cache makes a repeat build take a second
// or two.
func (s *Stack) build(ctx context.Context, node bool) error {
	for _, b := range binaries(node) {
		s.logf("Building %s", b.name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(s.bin, b.name), b.pkg)
		cmd.Dir = s.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("failed to build %s: %w\n%s", b.name, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Binary is the path of a binary the stack built: kooper, marketplace-sim
// or kubectl-kooper.
func (s *Stack) Binary(name string) string { return filepath.Join(s.bin, name) }
