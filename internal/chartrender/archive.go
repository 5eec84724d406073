package chartrender

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// MaxArchiveBytes is the largest chart archive (.tgz, compressed) that
	// FetchOCI pulls and Render loads: 10 MiB.
	MaxArchiveBytes = 10 << 20

	// MaxUnpackedBytes is the largest total size of the files of a chart
	// archive once decompressed that Render loads: 50 MiB. (Helm's own
	// loader also refuses any single file above 5 MiB.)
	MaxUnpackedBytes = 50 << 20

	// MaxManifestBytes is the largest OCI manifest FetchOCI reads: 4 MiB,
	// the size the OCI distribution spec asks every registry to accept (a
	// Helm chart's manifest is under 1 KiB). go-containerregistry alone
	// would read 100 MiB.
	MaxManifestBytes = 4 << 20

	// ChartLayerMediaType is the media type of the layer of an OCI artifact
	// that holds a Helm chart's .tgz.
	ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

	// ChartConfigMediaType is the media type of the config blob of an OCI
	// artifact that holds a Helm chart (its Chart.yaml as JSON).
	ChartConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
)

// ErrArchiveTooLarge is wrapped by the error of FetchOCI and Render when an
// archive is over MaxArchiveBytes compressed or MaxUnpackedBytes unpacked,
// and by FetchOCI's when its manifest is over MaxManifestBytes.
var ErrArchiveTooLarge = errors.New("chart archive too large")

// Archive is a packaged Helm chart: the bytes of its .tgz and their digest.
// The zero Archive holds nothing, and Render refuses it. Make one with
// FetchOCI or ArchiveFromBytes.
type Archive struct {
	data   []byte
	digest string
}

// ArchiveFromBytes makes an Archive of a chart packaged as a .tgz, for
// example one read from a Secret. It copies tgz; the digest is the sha256 of
// the bytes ("sha256:<64 hex digits>"). It does not check the bytes: Render
// does, and refuses an archive over MaxArchiveBytes.
func ArchiveFromBytes(tgz []byte) Archive {
	sum := sha256.Sum256(tgz)
	return Archive{data: bytes.Clone(tgz), digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// Digest names the archive's content: the OCI manifest digest of a chart
// from FetchOCI, the sha256 of the bytes of one from ArchiveFromBytes, in
// the form "sha256:<64 hex digits>". Render caches by it.
func (a Archive) Digest() string { return a.digest }

// Bytes returns the .tgz. The slice is shared: do not modify it.
func (a Archive) Bytes() []byte { return a.data }

// FetchOCI pulls a Helm chart stored as an OCI artifact, ref being a tag
// ("registry.example.com/charts/crm:1.2.0") or a digest
// ("registry.example.com/charts/crm@sha256:…"). dockerConfigJSON is the
// `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret: when it is
// not empty, an entry of ref's registry (matched by host, with or without
// scheme, and by path when the key has one) gives the credentials: of
// several, the one scoped to the longest prefix of ref's repository path,
// then the one docker itself reads, then the first key in sorted order.
// No entry means anonymous; so does an empty dockerConfigJSON.
//
// The artifact must be one OCI image manifest of at most MaxManifestBytes
// holding exactly one layer of ChartLayerMediaType, at most MaxArchiveBytes
// (ErrArchiveTooLarge otherwise); the layer's content is checked against
// its digest. The Archive's digest is the manifest's digest. ctx bounds the
// whole pull.
func FetchOCI(ctx context.Context, ref string, dockerConfigJSON []byte) (Archive, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return Archive{}, fmt.Errorf("parsing chart reference %q: %w", ref, err)
	}
	auth := authn.Anonymous
	if len(dockerConfigJSON) > 0 {
		auth, err = authFromDockerConfig(dockerConfigJSON, r.Context())
		if err != nil {
			return Archive{}, err
		}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth),
		remote.WithTransport(manifestCap{next: remote.DefaultTransport})}

	desc, err := remote.Get(r, opts...)
	if err != nil {
		return Archive{}, fmt.Errorf("fetching chart manifest %q: %w", ref, err)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		return Archive{}, fmt.Errorf("chart %q: manifest media type is %q, want %q", ref, desc.MediaType, types.OCIManifestSchema1)
	}
	manifest, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return Archive{}, fmt.Errorf("chart %q: parsing manifest: %w", ref, err)
	}
	layer, err := chartLayer(manifest)
	if err != nil {
		return Archive{}, fmt.Errorf("chart %q: %w", ref, err)
	}
	if layer.Size > MaxArchiveBytes {
		return Archive{}, fmt.Errorf("chart %q: layer is %d bytes, over %d: %w", ref, layer.Size, MaxArchiveBytes, ErrArchiveTooLarge)
	}

	blob, err := remote.Layer(r.Context().Digest(layer.Digest.String()), opts...)
	if err != nil {
		return Archive{}, fmt.Errorf("chart %q: fetching layer: %w", ref, err)
	}
	rc, err := blob.Compressed()
	if err != nil {
		return Archive{}, fmt.Errorf("chart %q: fetching layer: %w", ref, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxArchiveBytes+1))
	if err != nil {
		return Archive{}, fmt.Errorf("chart %q: reading layer: %w", ref, err)
	}
	if len(data) > MaxArchiveBytes {
		return Archive{}, fmt.Errorf("chart %q: layer is over %d bytes: %w", ref, MaxArchiveBytes, ErrArchiveTooLarge)
	}
	if int64(len(data)) != layer.Size {
		return Archive{}, fmt.Errorf("chart %q: layer is %d bytes, the manifest says %d", ref, len(data), layer.Size)
	}
	return Archive{data: data, digest: desc.Digest.String()}, nil
}

// manifestCap is the transport of FetchOCI's pulls: next (remote's default
// transport), with the manifests it fetches capped at MaxManifestBytes, a
// bound go-containerregistry takes no option for (its own is 100 MiB). A
// manifest whose Content-Length says more fails at once; one without
// fails once MaxManifestBytes of it are read.
type manifestCap struct{ next http.RoundTripper }

func (t manifestCap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !isManifestURL(req.URL) {
		return resp, err
	}
	if resp.ContentLength > MaxManifestBytes {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("chart manifest is %d bytes, over the %d of MaxManifestBytes: %w", resp.ContentLength, MaxManifestBytes, ErrArchiveTooLarge)
	}
	resp.Body = &cappedManifest{ReadCloser: resp.Body, left: MaxManifestBytes}
	return resp, nil
}

// isManifestURL says whether u is that of a manifest in the registry API
// (/v2/<repository>/manifests/<reference>), not of a blob.
func isManifestURL(u *url.URL) bool {
	return path.Base(path.Dir(u.Path)) == "manifests"
}

// cappedManifest is a manifest's body that fails once more than
// MaxManifestBytes of it are read.
type cappedManifest struct {
	io.ReadCloser
	left int64
}

func (b *cappedManifest) Read(p []byte) (int, error) {
	// One byte past what is left tells a manifest of exactly the bound from
	// one over it.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("chart manifest is over the %d of MaxManifestBytes: %w", MaxManifestBytes, ErrArchiveTooLarge)
	}
	return n, err
}

// chartLayer finds the one chart layer of a Helm chart's manifest.
func chartLayer(m *v1.Manifest) (v1.Descriptor, error) {
	var found []v1.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == ChartLayerMediaType {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return v1.Descriptor{}, fmt.Errorf("manifest has %d layers of media type %q, want 1", len(found), ChartLayerMediaType)
	}
	return found[0], nil
}

// authFromDockerConfig picks the login of repo from the bytes of a
// `.dockerconfigjson`, the same one every time however the keys are laid
// out: a pull Secret may hold several entries for one registry (a host and
// the URL docker login wrote, Docker Hub under two names, logins scoped to
// repository paths), and a choice that changed from pull to pull would
// flap ChartReady, memoise a failed pull for every tenant of the product,
// and could lock the registry account with failed logins. An entry applies
// when its host is repo's registry and its path, if any, is repo's path or
// a prefix of it in whole segments. Of those, as kubelet matches pull
// credentials, the one with the longest path wins; then the key docker
// itself looks up (dockerLoginKey); then the first key in sorted order.
// No entry applying means anonymous.
func authFromDockerConfig(data []byte, repo name.Repository) (authn.Authenticator, error) {
	var cfg struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parsing .dockerconfigjson: %w", err)
	}
	chosen, found := "", false
	var chosenFit keyFit
	for _, key := range slices.Sorted(maps.Keys(cfg.Auths)) {
		fit, applies := fitOf(key, repo)
		// Only a strictly better fit replaces the one chosen, so ties go
		// to the first key in sorted order.
		if applies && (!found || fit.betterThan(chosenFit)) {
			chosen, chosenFit, found = key, fit, true
		}
	}
	if !found {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(cfg.Auths[chosen]), nil
}

// keyFit is how closely a .dockerconfigjson key fits a repository.
type keyFit struct {
	// pathLen is the length of the key's repository path, 0 for a key of
	// the whole registry.
	pathLen int
	// dockerLogin says the key is the one docker looks up (dockerLoginKey).
	dockerLogin bool
}

func (f keyFit) betterThan(other keyFit) bool {
	if f.pathLen != other.pathLen {
		return f.pathLen > other.pathLen
	}
	return f.dockerLogin && !other.dockerLogin
}

// fitOf says whether key applies to repo and how closely it fits.
func fitOf(key string, repo name.Repository) (keyFit, bool) {
	if registryHost(key) != registryHost(repo.RegistryStr()) {
		return keyFit{}, false
	}
	keyPath := registryPath(key)
	repoPath := repo.RepositoryStr()
	if keyPath != "" && keyPath != repoPath && !strings.HasPrefix(repoPath, keyPath+"/") {
		return keyFit{}, false
	}
	return keyFit{pathLen: len(keyPath), dockerLogin: strings.EqualFold(key, dockerLoginKey(repo))}, true
}

// dockerLoginKey is the key docker looks up first for repo's registry, the
// one `docker login` and `kubectl create secret docker-registry` write:
// "https://index.docker.io/v1/" for Docker Hub, the host[:port] for any
// other registry.
func dockerLoginKey(repo name.Repository) string {
	if registryHost(repo.RegistryStr()) == name.DefaultRegistry {
		return "https://" + name.DefaultRegistry + "/v1/"
	}
	return repo.RegistryStr()
}

// registryPath is the repository path a .dockerconfigjson key is scoped to
// ("team-a" of "reg.io/team-a" and "https://reg.io/v2/team-a/"), "" for a
// key of a whole registry. A leading "v1" or "v2" is the registry API's
// version, not a repository, as docker and kubelet read it.
func registryPath(key string) string {
	rest := key
	if _, afterScheme, ok := strings.Cut(key, "://"); ok {
		rest = afterScheme
	}
	_, keyPath, _ := strings.Cut(rest, "/")
	for _, version := range []string{"v1", "v2"} {
		if keyPath == version || strings.HasPrefix(keyPath, version+"/") {
			keyPath = strings.TrimPrefix(keyPath, version)
			break
		}
	}
	return strings.Trim(keyPath, "/")
}

// registryHost reduces a .dockerconfigjson key ("https://reg.io/v1/",
// "reg.io:5000") or a registry name to its host[:port]; Docker Hub's names
// become "index.docker.io".
func registryHost(key string) string {
	host := key
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			host = u.Host
		}
	}
	host, _, _ = strings.Cut(host, "/")
	host = strings.ToLower(host)
	if host == "docker.io" || host == "registry-1.docker.io" {
		host = name.DefaultRegistry
	}
	return host
}
