package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kooper-io/kooper/hack/image/ociarchive"
)

// imagesDirEnv names the folder of archives that make image wrote
// (make image-test sets it to bin/images): the tests then check those
// archives, every platform. Unset, they build the host platform's images
// into a temporary folder first (about a minute, most of it go build).
const imagesDirEnv = "KOOPER_IMAGES_DIR"

// repoRoot is the repository root, from this package's folder.
var repoRoot = func() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}()

var (
	indexesMu sync.Mutex
	indexes   = map[string]v1.ImageIndex{}
	// cleanups run after every test (TestMain).
	cleanups []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// index returns the image index named name ("kooper", "sample-app"): the
// archive in $KOOPER_IMAGES_DIR, or one built for the host platform.
func index(t *testing.T, name string) v1.ImageIndex {
	t.Helper()
	indexesMu.Lock()
	defer indexesMu.Unlock()
	if idx, ok := indexes[name]; ok {
		return idx
	}
	idx, err := loadOrBuild(name)
	if err != nil {
		t.Fatal(err)
	}
	indexes[name] = idx
	return idx
}

func loadOrBuild(name string) (v1.ImageIndex, error) {
	if dir := os.Getenv(imagesDirEnv); dir != "" {
		a, err := ociarchive.Open(filepath.Join(dir, name+".oci.tar"))
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { _ = a.Close() })
		return a.Index, nil
	}
	for _, spec := range images {
		if spec.name != name {
			continue
		}
		work, err := os.MkdirTemp("", "image-test-")
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(work) })
		return buildIndex(spec, buildOptions{
			root: repoRoot, version: "v0.0.0-test", created: time.Unix(1764547200, 0).UTC(),
			platforms: []string{hostPlatform}, work: work,
		})
	}
	return nil, fmt.Errorf("no image named %q", name)
}

// hostPlatform is the platform these tests run on, "linux/amd64" say.
var hostPlatform = runtime.GOOS + "/" + runtime.GOARCH

// hostImage is the host platform's image of the index named name.
func hostImage(t *testing.T, name string) v1.Image {
	t.Helper()
	img, err := imageFor(index(t, name), hostPlatform)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// imageFor returns the image of idx for platform.
func imageFor(idx v1.ImageIndex, platform string) (v1.Image, error) {
	manifest, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, desc := range manifest.Manifests {
		if desc.Platform != nil && desc.Platform.OS+"/"+desc.Platform.Architecture == platform {
			return idx.Image(desc.Digest)
		}
	}
	return nil, fmt.Errorf("no %s image", platform)
}

// file is one entry of an image's layers.
type file struct {
	mode int64
	uid  int
	gid  int
	dir  bool
	// base: the entry is in the first (base) layer.
	base bool
	data []byte
}

// imageFiles reads every layer of img: absolute path to entry, the later
// layer winning.
func imageFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for i, l := range layers {
		if err := readLayer(l, i == 0, files); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func readLayer(l v1.Layer, base bool, files map[string]file) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return ociarchive.EachEntry(rc, func(hdr *tar.Header, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		name := "/" + filepath.Clean(hdr.Name)
		files[name] = file{mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, dir: hdr.Typeflag == tar.TypeDir, base: base, data: data}
		return nil
	})
}
