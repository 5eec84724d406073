package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kooper-io/kooper/hack/image/ociarchive"
)

// unpack extracts img's file system (its layers flattened) into rootfs,
// with each entry's mode and owner.
func unpack(img v1.Image, rootfs string) error {
	if err := os.RemoveAll(rootfs); err != nil {
		return err
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	return ociarchive.EachEntry(rc, func(hdr *tar.Header, r io.Reader) error {
		if err := unpackEntry(rootfs, hdr, r); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		return nil
	})
}

func unpackEntry(rootfs string, hdr *tar.Header, r io.Reader) error {
	name := filepath.Clean(hdr.Name)
	if !filepath.IsLocal(name) {
		return errors.New("the name leaves the root file system")
	}
	target := filepath.Join(rootfs, name)
	mode := os.FileMode(hdr.Mode).Perm()
	if hdr.Mode&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, mode); err != nil {
			return err
		}
	case tar.TypeReg:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("entry type %c is not expected in these images", hdr.Typeflag)
	}
	// MkdirAll and OpenFile apply the umask and ignore the sticky bit.
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	return os.Lchown(target, hdr.Uid, hdr.Gid)
}

// container is what one run of an image needs beyond the image itself.
type container struct {
	// args replace the image's Cmd after its Entrypoint.
	args []string
	// env is added to the image's environment.
	env []string
	// mounts are bind mounts: host path to container path, with ro.
	mounts []bindMount
}

type bindMount struct {
	host, container string
	readOnly        bool
}

// runtimeSpec is the OCI runtime configuration of a run of cfg's image
// from rootfs, as restricted as the Helm chart's Pods: the image's user
// (65532), a read-only root file system, no capabilities at all, no
// privilege escalation. It shares the host's network namespace, so that
// the probe ports are reached on loopback and the API server on
// 127.0.0.1 is reachable, with no bridge or CNI to set up. It raises no
// rlimit: without CAP_SYS_RESOURCE (these machines) runc cannot, and the
// process keeps runc's own limits.
func runtimeSpec(cfg *v1.ConfigFile, rootfs string, c container) (*specs.Spec, error) {
	uid, gid, err := parseUser(cfg.Config.User)
	if err != nil {
		return nil, err
	}
	args := append(append([]string{}, cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	if c.args != nil {
		args = append(append([]string{}, cfg.Config.Entrypoint...), c.args...)
	}
	cwd := cfg.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{
			User: specs.User{UID: uint32(uid), GID: uint32(gid)},
			Args: args,
			Env:  append(append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, cfg.Config.Env...), c.env...),
			Cwd:  cwd,
			// Empty sets: not one capability, not even runc's defaults.
			Capabilities:    &specs.LinuxCapabilities{},
			NoNewPrivileges: true,
		},
		Hostname: "smoke",
		Mounts:   append(defaultMounts(), bindMounts(c.mounts)...),
		Linux: &specs.Linux{
			// No network namespace: the host's.
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	return spec, nil
}

// parseUser reads an image's "uid:gid" (numbers only: these images have
// no names to resolve).
func parseUser(user string) (uid, gid int, err error) {
	u, g, _ := strings.Cut(user, ":")
	if uid, err = strconv.Atoi(u); err != nil {
		return 0, 0, fmt.Errorf("image user %q is not numeric", user)
	}
	gid = uid
	if g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			return 0, 0, fmt.Errorf("image group %q is not numeric", user)
		}
	}
	if uid == 0 {
		return 0, 0, errors.New("the image runs as root")
	}
	return uid, gid, nil
}

// defaultMounts are those of `runc spec`: /proc, /dev and /sys.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

func bindMounts(mounts []bindMount) []specs.Mount {
	out := make([]specs.Mount, 0, len(mounts))
	for _, m := range mounts {
		options := []string{"rbind", "nosuid", "nodev", "noexec"}
		if m.readOnly {
			options = append(options, "ro")
		}
		out = append(out, specs.Mount{Destination: m.container, Type: "bind", Source: m.host, Options: options})
	}
	return out
}

// writeBundle writes spec as dir/config.json: a bundle for runc (the root
// file system may lie outside it).
func writeBundle(dir string, spec *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}
