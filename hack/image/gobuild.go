package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goBuild compiles the main package pkg (relative to the module at root,
// e.g. "." or "./hack/sample-app") for platform ("linux/arm64") into a
// static binary at out. The flags are the
// Dockerfile's: no cgo, no file paths of this machine, no symbol table,
// and the version set with -X main.version.
func goBuild(root, pkg, platform, version, out string) error {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok {
		return fmt.Errorf("platform %q is not os/arch", platform)
	}
	if !filepath.IsAbs(out) {
		// go build runs in root: a relative path would land elsewhere.
		return fmt.Errorf("the binary's path %q must be absolute", out)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, pkg)
	cmd.Dir = root
	// GOFLAGS from the caller's environment could change what is built
	// (-race, -tags, -mod): the image is built with only -buildvcs=auto, Go's
	// default, spelt out because an empty GOFLAGS falls back to the go env
	// file's, and a -buildvcs=false there would leave --version without the
	// commit.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-buildvcs=auto")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", pkg, platform, err, output)
	}
	return nil
}
