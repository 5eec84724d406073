package main

import (
	"encoding/json"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// dockerfilePath is the operator's Dockerfile, from this package's folder.
var dockerfilePath = filepath.Join(repoRoot, "Dockerfile")

func TestDockerfileBuildStageRunsOnTheBuildPlatform(t *testing.T) {
	g := NewWithT(t)
	stages, err := parseDockerfile(dockerfilePath)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(stages)).To(BeNumerically(">=", 2), "a build stage and a final stage")
	for _, s := range stages[:len(stages)-1] {
		g.Expect(instructionFlag(s.from, "platform")).To(Equal("$BUILDPLATFORM"),
			"build stage FROM %s must compile on the build host and cross-compile, not run under emulation", s.base())
	}
}

// The final stage of the Dockerfile and the image make image builds run
// the same binary the same way: same user, same entrypoint, and the
// Dockerfile copies exactly the files the offline image adds to its base.
// (The base layers differ by design: distroless/static:nonroot's /etc/passwd
// names uid 65532 "nonroot", as hack/image's does; TestBaseLayer checks ours.)
func TestDockerfileFinalStageMatchesTheOfflineImage(t *testing.T) {
	g := NewWithT(t)
	stages, err := parseDockerfile(dockerfilePath)
	g.Expect(err).NotTo(HaveOccurred())
	final := stages[len(stages)-1]

	img := hostImage(t, "kooper")
	cfg, err := img.ConfigFile()
	g.Expect(err).NotTo(HaveOccurred())

	user := final.last("user")
	g.Expect(user).NotTo(BeNil(), "the final stage must set USER")
	g.Expect(arguments(user)).To(Equal([]string{cfg.Config.User}), "USER")

	entrypoint := final.last("entrypoint")
	g.Expect(entrypoint).NotTo(BeNil(), "the final stage must set ENTRYPOINT")
	g.Expect(entrypoint.Attributes["json"]).To(BeTrue(), "ENTRYPOINT in exec (JSON) form, so signals reach kooper, not a shell")
	g.Expect(arguments(entrypoint)).To(Equal(cfg.Config.Entrypoint), "ENTRYPOINT")

	var copied []string
	for _, c := range final.all("copy") {
		args := arguments(c)
		copied = append(copied, args[len(args)-1])
	}
	files := imageFiles(t, img)
	var added []string
	for name, f := range files {
		if !f.base && !f.dir {
			added = append(added, name)
		}
	}
	g.Expect(copied).To(ConsistOf(added), "the files the Dockerfile copies onto its base")
	for _, name := range copied {
		g.Expect(files[name].mode&0o111).NotTo(BeZero(), "%s must be executable", name)
	}
}

// Every Go file the operator is compiled from is copied into the build
// stage: a new root file (components.go once was not) or package folder
// would otherwise build here and fail in docker build.
func TestDockerfileBuildStageCopiesEverySourceOfTheOperator(t *testing.T) {
	g := NewWithT(t)
	stages, err := parseDockerfile(dockerfilePath)
	g.Expect(err).NotTo(HaveOccurred())
	var sources []string
	for _, s := range stages[:len(stages)-1] {
		for _, c := range s.all("copy") {
			if instructionFlag(c, "from") == "" {
				args := arguments(c)
				sources = append(sources, args[:len(args)-1]...)
			}
		}
	}
	for _, file := range operatorSourceFiles(t) {
		g.Expect(copiedBy(sources, file)).To(BeTrue(), "%s is compiled into kooper but no COPY of the build stage copies it (sources: %v)", file, sources)
	}
}

// operatorSourceFiles are the files of the repository, relative to its
// root, that `go build .` compiles or embeds into kooper, with go.mod and
// go.sum.
func operatorSourceFiles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module", ".")
	cmd.Dir = repoRoot
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var pkg struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		rel, err := filepath.Rel(repoRoot, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(pkg.GoFiles, pkg.EmbedFiles...) {
			files = append(files, path.Join(filepath.ToSlash(rel), f))
		}
	}
	return files
}

// copiedBy says whether a COPY of sources (relative to the build context:
// "api/", "*.go", "go.mod") copies file.
func copiedBy(sources []string, file string) bool {
	for _, src := range sources {
		if dir, ok := strings.CutSuffix(src, "/"); ok && strings.HasPrefix(file, dir+"/") {
			return true
		}
		if ok, _ := path.Match(src, file); ok {
			return true
		}
	}
	return false
}

func TestCopiedBy(t *testing.T) {
	g := NewWithT(t)
	g.Expect(copiedBy([]string{"api/"}, "api/v1alpha1/types.go")).To(BeTrue())
	g.Expect(copiedBy([]string{"*.go"}, "main.go")).To(BeTrue())
	g.Expect(copiedBy([]string{"*.go"}, "api/v1alpha1/types.go")).To(BeFalse())
	g.Expect(copiedBy([]string{"main.go"}, "components.go")).To(BeFalse())
	g.Expect(copiedBy([]string{"api/"}, "apis/x.go")).To(BeFalse())
}
