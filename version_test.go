package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

const testVersion = "v9.8.7-test"

var (
	builtOperator     string
	builtOperatorErr  error
	buildOperatorOnce sync.Once
)

// operatorBinary builds kooper as make image does, its version set with
// -ldflags -X, once for all the tests of this file.
func operatorBinary(t *testing.T) string {
	t.Helper()
	buildOperatorOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kooper-version-test-")
		if err != nil {
			builtOperatorErr = err
			return
		}
		builtOperator = filepath.Join(dir, "kooper")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", builtOperator, ".").CombinedOutput()
		if err != nil {
			builtOperatorErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtOperatorErr != nil {
		t.Fatal(builtOperatorErr)
	}
	return builtOperator
}

// removeBuiltOperator removes what operatorBinary built; TestMain calls it.
func removeBuiltOperator() {
	if builtOperator != "" {
		_ = os.RemoveAll(filepath.Dir(builtOperator))
	}
}

// runOperator runs the built operator with args and only the environment
// given (no KUBECONFIG, no KUBERNETES_SERVICE_HOST unless given).
func runOperator(t *testing.T, env []string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	cmd := exec.Command(operatorBinary(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		exitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), exitCode
}

func TestVersionFlagPrintsTheBuildVersionAndExits(t *testing.T) {
	g := NewWithT(t)
	stdout, stderr, code := runOperator(t, nil, "--version")
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(stdout).To(MatchRegexp(`^kooper ` + testVersion + ` \S+ go1\.\S+ [a-z0-9]+/[a-z0-9]+\n$`))
}

func TestWithoutAKubeConfigItRefusesToStartAndSaysWhy(t *testing.T) {
	g := NewWithT(t)
	// An empty home: no ~/.kube/config to fall back on.
	_, stderr, code := runOperator(t, []string{"HOME=" + t.TempDir()})
	g.Expect(code).To(Equal(1))
	g.Expect(stderr).To(ContainSubstring(errNoKubeConfig.Error()))
}

func TestAnUnreadableKubeConfigIsReportedAsItself(t *testing.T) {
	g := NewWithT(t)
	missing := filepath.Join(t.TempDir(), "kubeconfig")
	_, stderr, code := runOperator(t, []string{"HOME=" + t.TempDir()}, "--kubeconfig", missing)
	g.Expect(code).To(Equal(1))
	g.Expect(stderr).To(ContainSubstring(missing))
	g.Expect(stderr).NotTo(ContainSubstring(errNoKubeConfig.Error()))
}

func TestVCSRevision(t *testing.T) {
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"none recorded", nil, "unknown"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "0add60b1c2d3e4f5"}, {Key: "vcs.modified", Value: "false"}}, "0add60b1c2d3"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.revision", Value: "0add60b1c2d3e4f5"}, {Key: "vcs.modified", Value: "true"}}, "0add60b1c2d3+dirty"},
		{"short", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(vcsRevision(tt.settings)).To(Equal(tt.want))
		})
	}
}

// printSystemRootsEnv makes the test binary print how many roots Go trusts
// and exit (see TestMain), so that a child with no CA files on its system
// shows what kooper trusts in a FROM scratch image.
const printSystemRootsEnv = "KOOPER_TEST_PRINT_SYSTEM_ROOTS"

// printSystemRootsAndExit is that child's whole run.
func printSystemRootsAndExit() {
	pool, err := x509.SystemCertPool()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// The pool is the fallback's, a plain CertPool: Subjects lists all its
	// roots (only a pool of the platform verifier's would hide them).
	fmt.Println(len(pool.Subjects())) //nolint:staticcheck // SA1019, see above
	os.Exit(0)
}

func TestTrustsCompiledInRootsWhereTheSystemHasNone(t *testing.T) {
	g := NewWithT(t)
	empty := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{printSystemRootsEnv + "=1", "SSL_CERT_FILE=" + filepath.Join(empty, "none.pem"), "SSL_CERT_DIR=" + empty}
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	var roots int
	_, err = fmt.Sscan(strings.TrimSpace(string(out)), &roots)
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	// Mozilla's store holds about 150 roots.
	g.Expect(roots).To(BeNumerically(">", 100))
}
