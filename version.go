package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release this binary is, set when it is built:
//
//	go build -ldflags "-X main.version=v0.4.0"
//
// make image (hack/image) and the Dockerfile set it. A plain go build leaves
// it empty, and the module's build information stands in (versionString).
var version string

// versionString is what --version prints, one line:
// "kooper <version> <revision> <go version> <os>/<arch>", for example
// "kooper v0.4.0 0add60b1c2d3 go1.26.8 linux/arm64". The revision is the
// VCS commit go build recorded (suffixed "+dirty" for uncommitted changes),
// or "unknown" when it recorded none.
func versionString() string {
	v, revision := version, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version // "(devel)" for a build inside the source tree
		}
		revision = vcsRevision(info.Settings)
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("kooper %s %s %s %s/%s", v, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// vcsRevision is the first 12 hex digits of the recorded commit, with
// "+dirty" when the tree had uncommitted changes; "unknown" without one.
func vcsRevision(settings []debug.BuildSetting) string {
	revision, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if revision == "" {
		return "unknown"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if dirty {
		revision += "+dirty"
	}
	return revision
}
