// Package ociarchive writes and reads OCI archives: an OCI image layout
// (oci-layout, index.json, blobs/) in one tar file, the format of skopeo's
// "oci-archive:" transport and of `ctr images import`. An archive here holds
// one image index, named by the org.opencontainers.image.ref.name
// annotation of its index.json entry.
package ociarchive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Write writes index to the archive at path, named ref (for example
// "v0.4.0"), replacing any file there. Every tar entry gets the time
// modTime, so the same index always makes the same archive.
func Write(path string, index v1.ImageIndex, ref string, modTime time.Time) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := l.AppendIndex(index, layout.WithAnnotations(map[string]string{specsv1.AnnotationRefName: ref})); err != nil {
		return fmt.Errorf("failed to write the OCI layout: %w", err)
	}
	tmp := path + ".tmp"
	if err := tarDirectory(dir, tmp, modTime); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// tarDirectory writes the files under dir, in name order, to a tar at dest.
func tarDirectory(dir, dest string, modTime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, rel)
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	out, err := os.Create(dest)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	for _, name := range names {
		if err := addToTar(tw, dir, name, modTime); err != nil {
			out.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func addToTar(tw *tar.Writer, dir, name string, modTime time.Time) error {
	info, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: filepath.ToSlash(name), ModTime: modTime, Mode: 0o644, Format: tar.FormatPAX}
	if info.IsDir() {
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		return tw.WriteHeader(hdr)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: an OCI layout holds only files and directories", name)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// Archive is an opened archive: its image index and name. Close removes
// the layout it was unpacked to.
type Archive struct {
	Index v1.ImageIndex
	// Ref is the org.opencontainers.image.ref.name of the index.
	Ref string
	dir string
}

// Open unpacks the archive at path into a temporary directory and returns
// its one image index. It fails when the archive holds anything but
// exactly one image index.
func Open(path string) (*Archive, error) {
	dir, err := os.MkdirTemp("", "ociarchive-")
	if err != nil {
		return nil, err
	}
	a, err := open(path, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("failed to read the OCI archive %s: %w", path, err)
	}
	return a, nil
}

func open(path, dir string) (*Archive, error) {
	if err := untar(path, dir); err != nil {
		return nil, err
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	manifest, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(manifest.Manifests) != 1 || !manifest.Manifests[0].MediaType.IsIndex() {
		return nil, errors.New("index.json must name exactly one image index")
	}
	desc := manifest.Manifests[0]
	index, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return nil, err
	}
	return &Archive{Index: index, Ref: desc.Annotations[specsv1.AnnotationRefName], dir: dir}, nil
}

// untar extracts the regular files and directories of the tar at path
// into dir, refusing names that leave it.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return EachEntry(f, func(hdr *tar.Header, r io.Reader) error {
		name := filepath.Clean(hdr.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("unsafe name %q in the archive", hdr.Name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			return os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			return writeFile(target, r)
		default:
			return fmt.Errorf("unexpected entry %q of type %c in an OCI layout", hdr.Name, hdr.Typeflag)
		}
	})
}

// EachEntry calls fn for each entry of the tar stream r, in order, with a
// reader of the entry's content, and stops at the first error fn returns
// or the stream's end.
func EachEntry(r io.Reader, fn func(hdr *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Close removes the unpacked layout; the index is unusable afterwards.
func (a *Archive) Close() error { return os.RemoveAll(a.dir) }

// Image returns the image of the index for platform ("linux/amd64").
func (a *Archive) Image(platform string) (v1.Image, error) {
	manifest, err := a.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []string
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			continue
		}
		p := desc.Platform.OS + "/" + desc.Platform.Architecture
		if p == platform {
			return a.Index.Image(desc.Digest)
		}
		found = append(found, p)
	}
	return nil, fmt.Errorf("no %s image in the index (it has %s)", platform, strings.Join(found, ", "))
}
