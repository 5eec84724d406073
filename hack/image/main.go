// Command image builds kooper's images without a Docker engine or a
// registry (make image): the operator and the sample tenant app
// (hack/sample-app), each FROM scratch with its static binary, an
// /etc/passwd naming the nonroot user 65532, and nothing else, for every
// platform asked (linux/amd64 and linux/arm64, for CCE's Kunpeng nodes).
// Each is written as an OCI archive, <out>/<name>.oci.tar, holding a
// multi-platform image index named by the version.
//
// It is a module of its own so that go-containerregistry and buildkit's
// Dockerfile parser (its test) stay out of the operator's go.mod; the
// binaries are compiled by `go build` in the operator's module, which
// links neither.
//
// Usage: go run . -root ../.. -out ../../bin/images -version v0.4.0 -created 1764547200
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kooper-io/kooper/hack/image/ociarchive"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "../..", "The repository root.")
	out := flag.String("out", "../../bin/images", "Where the archives are written.")
	version := flag.String("version", "", "The version the images are built as (required), e.g. v0.4.0 or the output of git describe.")
	created := flag.Int64("created", 0, "Creation time of the images and their files, in Unix seconds: the last commit's time makes the build reproducible.")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "Comma-separated os/arch pairs to build for.")
	names := flag.String("images", "", "Comma-separated images to build: kooper, sample-app (the default: both), pause (the real-node lane's sandbox image, built only when named).")
	source := flag.String("source", "https://github.com/kooper-io/kooper", "The org.opencontainers.image.source label.")
	flag.Parse()
	if *version == "" {
		return errors.New("-version is required")
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	absOut, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(absOut, 0o755); err != nil {
		return err
	}
	// Absolute: go build runs in root, not here.
	work, err := os.MkdirTemp(absOut, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o := buildOptions{
		root: absRoot, version: *version, created: time.Unix(*created, 0).UTC(),
		platforms: strings.Split(*platforms, ","), source: *source, work: work,
	}
	specs, err := selectImages(*names)
	if err != nil {
		return err
	}
	for _, spec := range specs {
		if err := writeArchive(spec, o, filepath.Join(absOut, spec.name+".oci.tar")); err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
	}
	return nil
}

// writeArchive builds spec's index and writes it to path, then prints a
// summary line.
func writeArchive(spec imageSpec, o buildOptions, path string) error {
	start := time.Now()
	index, err := buildIndex(spec, o)
	if err != nil {
		return err
	}
	if err := ociarchive.Write(path, index, o.version, o.created); err != nil {
		return err
	}
	summary, err := describe(index)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%.1f MiB, %.0fs): %s\n", spec.name, path, float64(info.Size())/(1<<20), time.Since(start).Seconds(), summary)
	return nil
}
