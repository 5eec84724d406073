package main

import (
	"archive/tar"
	"bytes"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonrootUID is the user (and group) the images run as: distroless's
// "nonroot", the user of the Dockerfile's base, so that Pod security
// settings (runAsUser, fsGroup) mean the same for either image.
const nonrootUID = 65532

// entry is one file or directory of a layer.
type entry struct {
	path string // absolute, e.g. "/etc/passwd"
	mode int64  // permission bits, with 01000 for sticky
	uid  int
	dir  bool
	data []byte
}

// passwd and group name root and nonroot, as distroless/static's do, so
// that user.Current, and tools that map uid 65532 to a name, work.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnonroot:x:65532:\n"
)

// baseEntries are what every image holds besides its binary. They are one
// layer of their own, the same bytes in every image, so a registry stores
// it once for both images and both platforms.
func baseEntries() []entry {
	return []entry{
		{path: "/etc", mode: 0o755, dir: true},
		{path: "/etc/group", mode: 0o644, data: []byte(group)},
		{path: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "/home", mode: 0o755, dir: true},
		{path: "/home/nonroot", mode: 0o700, uid: nonrootUID, dir: true},
		// A place for temporary files when the root file system is
		// writable; with a read-only root, mount an emptyDir here.
		{path: "/tmp", mode: 0o1777, dir: true},
	}
}

// newLayer is an OCI layer (gzip-compressed tar) of entries, in order,
// each stamped modTime: the same entries make the same digest.
func newLayer(entries []entry, modTime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.path[1:], Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: modTime,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)), Format: tar.FormatPAX,
		}
		if e.dir {
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, hdr.Name+"/", 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
