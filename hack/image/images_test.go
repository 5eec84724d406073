package main

import (
	"bytes"
	"debug/elf"
	"testing"

	. "github.com/onsi/gomega"
)

// elfMachines is the ELF machine of each architecture built.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Each platform's image holds a static binary of that platform's
// architecture: a static one, since the image has no C library.
func TestEachImageHoldsAStaticBinaryForItsPlatform(t *testing.T) {
	for _, spec := range images {
		manifest, err := index(t, spec.name).IndexManifest()
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		for _, desc := range manifest.Manifests {
			t.Run(spec.name+"/"+desc.Platform.Architecture, func(t *testing.T) {
				g := NewWithT(t)
				img, err := index(t, spec.name).Image(desc.Digest)
				g.Expect(err).NotTo(HaveOccurred())
				cfg, err := img.ConfigFile()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(cfg.Architecture).To(Equal(desc.Platform.Architecture))
				bin, ok := imageFiles(t, img)[spec.binary]
				g.Expect(ok).To(BeTrue(), "%s is missing", spec.binary)
				f, err := elf.NewFile(bytes.NewReader(bin.data))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(f.Machine).To(Equal(elfMachines[desc.Platform.Architecture]))
				for _, p := range f.Progs {
					g.Expect(p.Type).NotTo(Equal(elf.PT_INTERP), "dynamically linked: it would need a loader the image lacks")
				}
			})
		}
	}
}

// The base layer makes uid 65532 a user with a home, as distroless's
// nonroot, and is byte for byte the same in every image.
func TestBaseLayer(t *testing.T) {
	g := NewWithT(t)
	img := hostImage(t, "kooper")
	files := imageFiles(t, img)
	g.Expect(string(files["/etc/passwd"].data)).To(ContainSubstring("\nnonroot:x:65532:65532:nonroot:/home/nonroot:"))
	g.Expect(string(files["/etc/group"].data)).To(ContainSubstring("\nnonroot:x:65532:"))
	home := files["/home/nonroot"]
	g.Expect([]any{home.dir, home.uid, home.gid}).To(Equal([]any{true, 65532, 65532}), "/home/nonroot: a directory of nonroot's")
	g.Expect(files["/tmp"].mode).To(Equal(int64(0o1777)))

	cfg, err := img.ConfigFile()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Config.User).To(Equal("65532:65532"))
	g.Expect(cfg.Config.Env).To(BeEmpty(), "nothing the operator reads is baked in")

	var bases []string
	for _, spec := range images {
		layers, err := hostImage(t, spec.name).Layers()
		g.Expect(err).NotTo(HaveOccurred())
		digest, err := layers[0].Digest()
		g.Expect(err).NotTo(HaveOccurred())
		bases = append(bases, digest.String())
	}
	g.Expect(bases).To(HaveEach(bases[0]), "one base layer, stored once by a registry")
}

// The binary layer holds the binary alone, and its labels say what it is.
func TestBinaryLayerAndLabels(t *testing.T) {
	for _, spec := range images {
		t.Run(spec.name, func(t *testing.T) {
			g := NewWithT(t)
			img := hostImage(t, spec.name)
			var added []string
			for name, f := range imageFiles(t, img) {
				if !f.base {
					added = append(added, name)
				}
			}
			g.Expect(added).To(ConsistOf(spec.binary))
			cfg, err := img.ConfigFile()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Config.Entrypoint).To(Equal([]string{spec.binary}))
			g.Expect(cfg.Config.Labels).To(HaveKeyWithValue("org.opencontainers.image.title", spec.name))
			g.Expect(cfg.Config.Labels["org.opencontainers.image.version"]).NotTo(BeEmpty())
			g.Expect(cfg.Created.Time.IsZero()).To(BeFalse(), "created: the commit's time")
		})
	}
}

// -images picks images by name; pause, the real-node lane's sandbox image,
// is built only when named.
func TestSelectImages(t *testing.T) {
	g := NewWithT(t)
	names := func(specs []imageSpec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.name)
		}
		return out
	}
	all, err := selectImages("")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names(all)).To(Equal([]string{"kooper", "sample-app"}))
	node, err := selectImages("kooper,sample-app,pause")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names(node)).To(Equal([]string{"kooper", "sample-app", "pause"}))
	_, err = selectImages("kooper,nope")
	g.Expect(err).To(MatchError(ContainSubstring(`unknown image "nope"`)))
}
