// Command smoke runs the images make image built with runc, the way a
// kubelet would run the Helm chart's Pods (make image-test): from each
// image's unpacked root file system, read-only, as its user 65532, with no
// capabilities, and checks that
//   - kooper prints its version and exits 0;
//   - kooper without a kubeconfig refuses to start, with a clear message;
//   - kooper with a kubeconfig (of a real kube-apiserver with its CRDs,
//     mounted read-only) becomes ready on its probe port, serves its
//     metrics over TLS and callbacks, and exits 0 soon after SIGTERM;
//   - the sample app answers /healthz and /ready, echoes identity headers
//     and writes to its volume, and exits 0 on SIGTERM.
//
// Without runc it skips, saying so, unless $CI is set: CI installs it
// (hack/install-runtime.sh) and must run this. It needs root (runc without
// user namespaces).
//
// Usage: go run ./smoke -root ../.. -images ../../bin/images -work ../../bin/image-test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kooper-io/kooper/hack/image/ociarchive"
)

func main() {
	root := flag.String("root", "../..", "The repository root.")
	images := flag.String("images", "../../bin/images", "Where make image wrote the archives.")
	work := flag.String("work", "../../bin/image-test", "Where the root file systems, bundles and runc's state go; emptied first.")
	assets := flag.String("envtest-assets", os.Getenv("KOOPER_ENVTEST_ASSETS"), "The folder of kube-apiserver and etcd (default: <root>/bin/envtest).")
	flag.Parse()
	if err := run(*root, *images, *work, *assets); err != nil {
		fmt.Fprintln(os.Stderr, "image smoke test FAILED:", err)
		os.Exit(1)
	}
}

// errSkipped: runc is missing outside CI.
var errSkipped = errors.New("skipped")

func run(root, images, work, assets string) error {
	start := time.Now()
	// Absolute: runc resolves mount sources from its bundle, not from here.
	work, err := filepath.Abs(work)
	if err != nil {
		return err
	}
	r, err := findRuntime(work)
	if errors.Is(err, errSkipped) {
		return nil
	}
	if err != nil {
		return err
	}
	if assets == "" {
		assets = filepath.Join(root, "bin", "envtest")
	}
	s := &smoke{runc: r, root: root, work: work, assets: assets}
	if err := s.operator(filepath.Join(images, "kooper.oci.tar")); err != nil {
		return fmt.Errorf("kooper: %w", err)
	}
	if err := s.sampleApp(filepath.Join(images, "sample-app.oci.tar")); err != nil {
		return fmt.Errorf("sample-app: %w", err)
	}
	fmt.Printf("image smoke test passed in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// findRuntime finds runc and prepares work; errSkipped when runc is
// missing and this is not CI.
func findRuntime(work string) (runc, error) {
	path, err := exec.LookPath("runc")
	if err != nil {
		if os.Getenv("CI") != "" {
			return runc{}, errors.New("runc is not installed, and CI ($CI is set) must run the image smoke test: run hack/install-runtime.sh first")
		}
		fmt.Println("SKIPPED the image smoke test: runc is not installed (hack/install-runtime.sh installs Debian's package; in CI, where $CI is set, this fails instead)")
		return runc{}, errSkipped
	}
	if os.Geteuid() != 0 {
		return runc{}, errors.New("runc runs containers here without user namespaces, which needs root: run as root (CI does)")
	}
	abs, err := filepath.Abs(work)
	if err != nil {
		return runc{}, err
	}
	if err := os.RemoveAll(abs); err != nil {
		return runc{}, err
	}
	state := filepath.Join(abs, "runc")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return runc{}, err
	}
	version, _ := exec.Command(path, "--version").Output()
	fmt.Printf("runc: %s (%s)\n", path, firstLine(string(version)))
	return runc{path: path, stateRoot: state}, nil
}

// smoke is one run of the smoke test.
type smoke struct {
	runc   runc
	root   string
	work   string
	assets string
}

// hostImage opens the archive at path and unpacks the host platform's
// image into <work>/<name>/rootfs: the image's config and the rootfs path.
func (s *smoke) hostImage(path, name string) (cfg *v1.ConfigFile, rootfs, ref string, err error) {
	a, err := ociarchive.Open(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w (make image writes it)", err)
	}
	defer a.Close()
	img, err := a.Image("linux/" + runtime.GOARCH)
	if err != nil {
		return nil, "", "", err
	}
	if cfg, err = img.ConfigFile(); err != nil {
		return nil, "", "", err
	}
	rootfs, err = filepath.Abs(filepath.Join(s.work, name, "rootfs"))
	if err != nil {
		return nil, "", "", err
	}
	if err := unpack(img, rootfs); err != nil {
		return nil, "", "", fmt.Errorf("failed to unpack the image: %w", err)
	}
	return cfg, rootfs, a.Ref, nil
}

// bundle writes the bundle of one run of an image and returns its folder
// and the container's ID, unique to this process.
func (s *smoke) bundle(cfg *v1.ConfigFile, rootfs, name string, c container) (dir, id string, err error) {
	spec, err := runtimeSpec(cfg, rootfs, c)
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(filepath.Dir(rootfs), name)
	return dir, fmt.Sprintf("kooper-smoke-%d-%s", os.Getpid(), name), writeBundle(dir, spec)
}

// step runs check and prints how long it took.
func step(name string, check func() error) error {
	start := time.Now()
	if err := check(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("  ok   %-62s %5.1fs\n", name, time.Since(start).Seconds())
	return nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// ctx bounds a whole run.
func smokeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}
