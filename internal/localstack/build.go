package localstack

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// build compiles the operator, the simulator and the kubectl plugin
// (kubectl-kooper) from the working tree, so the stack never runs a stale
// binary. Go's build cache makes a repeat
// build take a second or two.
func (s *Stack) build(ctx context.Context) error {
	for _, b := range []struct{ name, pkg string }{
		{"kooper", "."}, {"marketplace-sim", "./hack/marketplace-sim"}, {"kubectl-kooper", "./hack/kubectl-kooper"},
	} {
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
