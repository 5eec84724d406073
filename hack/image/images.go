package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageSpec is one image this tool builds: a Go main package on the base
// layer, run as nonroot.
type imageSpec struct {
	// name names the archive, <name>.oci.tar.
	name string
	// pkg is the main package, relative to the repository root.
	pkg string
	// binary is where the binary lands in the image, and the entrypoint.
	binary      string
	description string
	// exposedPorts are "8080/tcp" and the like (documentation only).
	exposedPorts []string
}

// images are the images make image builds.
var images = []imageSpec{
	{
		name: "kooper", pkg: ".", binary: "/kooper",
		description: "kooper: the KooGallery SaaS operator (callback receiver and controllers)",
	},
	{
		name: "sample-app", pkg: "./hack/sample-app", binary: "/sample-app",
		description:  "A sample tenant application for kooper",
		exposedPorts: []string{"8080/tcp"},
	},
}

// extraImages are built only when -images names them: the real-node lane's
// sandbox image (hack/pause), which kooper does not ship.
var extraImages = []imageSpec{
	{
		name: "pause", pkg: "./hack/pause", binary: "/pause",
		description: "The sandbox container of kooper's real-node test lane",
	},
}

// selectImages returns the images named in the comma-separated list names
// (every shipped image when names is empty).
func selectImages(names string) ([]imageSpec, error) {
	if names == "" {
		return images, nil
	}
	known := append(slices.Clone(images), extraImages...)
	var picked []imageSpec
	for name := range strings.SplitSeq(names, ",") {
		i := slices.IndexFunc(known, func(s imageSpec) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown image %q", name)
		}
		picked = append(picked, known[i])
	}
	return picked, nil
}

// buildOptions are what every image of one run shares.
type buildOptions struct {
	// root is the repository root.
	root string
	// version names the build: the binaries' main.version, the index's
	// ref name and the images' version label.
	version string
	// created is the images' creation time and every file's time: the
	// last commit's, so the same commit makes the same digests.
	created   time.Time
	platforms []string
	// source is the repository's URL, the images' source label.
	source string
	// work holds the compiled binaries.
	work string
}

// buildIndex compiles spec for every platform and returns the image index
// of the resulting images.
func buildIndex(spec imageSpec, o buildOptions) (v1.ImageIndex, error) {
	base, err := newLayer(baseEntries(), o.created)
	if err != nil {
		return nil, err
	}
	var index v1.ImageIndex = empty.Index
	for _, platform := range o.platforms {
		img, err := buildImage(spec, platform, base, o)
		if err != nil {
			return nil, err
		}
		goos, goarch, _ := strings.Cut(platform, "/")
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}},
		})
	}
	return mutate.IndexMediaType(index, types.OCIImageIndex), nil
}

// buildImage is spec's image for one platform: the base layer, then a layer
// with the binary alone.
func buildImage(spec imageSpec, platform string, base v1.Layer, o buildOptions) (v1.Image, error) {
	binary := filepath.Join(o.work, strings.ReplaceAll(platform, "/", "-"), spec.name)
	if err := goBuild(o.root, spec.pkg, platform, o.version, binary); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	app, err := newLayer([]entry{{path: spec.binary, mode: 0o755, data: data}}, o.created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: /etc/passwd, /etc/group, /home/nonroot, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: go build " + spec.pkg + " to " + spec.binary}},
	)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	goos, goarch, _ := strings.Cut(platform, "/")
	cfg.OS, cfg.Architecture = goos, goarch
	cfg.Created = v1.Time{Time: o.created}
	cfg.Config = imageConfig(spec, o)
	return mutate.ConfigFile(img, cfg)
}

// imageConfig is what a runtime needs to run spec's image.
func imageConfig(spec imageSpec, o buildOptions) v1.Config {
	uid := strconv.Itoa(nonrootUID)
	c := v1.Config{
		User:       uid + ":" + uid,
		Entrypoint: []string{spec.binary},
		WorkingDir: "/",
		Labels: map[string]string{
			specsv1.AnnotationTitle:       spec.name,
			specsv1.AnnotationDescription: spec.description,
			specsv1.AnnotationVersion:     o.version,
			specsv1.AnnotationCreated:     o.created.UTC().Format(time.RFC3339),
		},
	}
	if o.source != "" {
		c.Labels[specsv1.AnnotationSource] = o.source
	}
	if len(spec.exposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.exposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return c
}

// describe is one line about an index for the build's summary: its digest
// and, per platform, the image's digest and compressed size.
func describe(index v1.ImageIndex) (string, error) {
	digest, err := index.Digest()
	if err != nil {
		return "", err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return "", err
	}
	parts := []string{"index " + digest.String()}
	for _, desc := range manifest.Manifests {
		img, err := index.Image(desc.Digest)
		if err != nil {
			return "", err
		}
		size, err := compressedSize(img)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s/%s %s %.1f MiB", desc.Platform.OS, desc.Platform.Architecture, desc.Digest.Hex[:12], float64(size)/(1<<20)))
	}
	return strings.Join(parts, "; "), nil
}

// compressedSize is what pulling img transfers: its layers, as stored.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += size
	}
	return total, nil
}
