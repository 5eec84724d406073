package chartrender

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kooper-io/kooper/internal/bytecache"
	"github.com/kooper-io/kooper/internal/yamlbound"
)

const (
	// DefaultChartCacheBytes is the most a Renderer keeps of loaded charts,
	// as weight weighs them, when Renderer.ChartCacheBytes is 0: 64 MiB, over
	// MaxUnpackedBytes, so that a chart of ordinary values of any size Render
	// accepts is loaded once.
	DefaultChartCacheBytes = 64 << 20
	// DefaultResultCacheBytes is the most a Renderer keeps of rendered
	// results, weighed by their objects' JSON bytes, when
	// Renderer.ResultCacheBytes is 0: 16 MiB, about 2,000 renders of the
	// sample chart of config/samples/charts/crm-suite.
	DefaultResultCacheBytes = 16 << 20

	// MaxRenderedBytes is the most a render's manifests may weigh, the
	// bytes of the files Helm's templates give (NOTES.txt aside) summed:
	// 8 MiB, a thousand times the sample chart's. Render refuses more
	// before it splits or decodes any of them.
	MaxRenderedBytes = 8 << 20
	// MaxRenderedDocuments is the most YAML documents a render's manifests
	// may hold: twice MaxRenderedObjects, room for the documents Render
	// drops (test hooks, documents of only comments). Render counts them
	// before it decodes any, and refuses more.
	MaxRenderedDocuments = 2 * MaxRenderedObjects
	// MaxRenderedObjects is the most objects a render may give: 256, the
	// bound of a SaaSTenant's status.inventory (its schema's maxItems),
	// which records each of them. Render refuses more.
	MaxRenderedObjects = 256

	// maxSubchartDepth is how deep Render follows packaged subcharts
	// (charts/*.tgz) packaged in packaged subcharts: 5 levels. Helm's
	// loader sets no bound; Render refuses an archive nested deeper.
	maxSubchartDepth = 5

	// hookAnnotation marks a Helm hook; its value is a comma-separated list
	// of hook names.
	hookAnnotation = "helm.sh/hook"
)

// testHooks are the hook names that run only under `helm test` ("test"; its
// deprecated spellings "test-success" and "test-failure").
var testHooks = []string{"test", "test-success", "test-failure"}

// Options are what a render knows of the release besides its values.
type Options struct {
	// ReleaseName is .Release.Name: the tenant's instanceId. Required.
	ReleaseName string
	// Namespace is .Release.Namespace and the namespace of every object:
	// the tenant's namespace. Required.
	Namespace string
	// KubeVersion is .Capabilities.KubeVersion, the version of the cluster
	// the objects go to, such as "v1.37.2" or "1.37". Required.
	KubeVersion string
}

// Renderer renders charts for tenants, loading each chart once per digest and
// rendering each (digest, values, options) once, as long as its caches hold
// them. Both caches are bounded by bytes, not by their number of entries,
// since a chart's size is the merchant's to choose: a results cache of a
// thousand renders of a chart with a 256 KiB ConfigMap would hold 300 MiB.
// It is safe for concurrent use; the zero Renderer is ready, with the
// default budgets. Set them before the first Render and never after.
//
// Two concurrent renders of the same uncached key may both render; both
// give the same objects.
type Renderer struct {
	// ChartCacheBytes bounds the loaded charts kept, weighed by their
	// unpacked bytes and their parsed values (weight), least recently used
	// first out; 0 means DefaultChartCacheBytes, a negative budget keeps
	// none. A chart heavier than the whole budget is loaded again for each
	// render.
	ChartCacheBytes int64
	// ResultCacheBytes bounds the rendered results kept, weighed by the
	// JSON bytes of their objects, least recently used first out; 0 means
	// DefaultResultCacheBytes, a negative budget keeps none. Only
	// successful renders are kept.
	ResultCacheBytes int64

	once    sync.Once
	charts  *bytecache.Cache[*chart.Chart] // digest → the loaded chart
	results *bytecache.Cache[[][]byte]     // renderKey → each object's JSON

	// loads and renders count the archives loaded and the charts rendered,
	// for the tests.
	loads   atomic.Int64
	renders atomic.Int64
}

func (r *Renderer) init() {
	r.once.Do(func() {
		r.charts = bytecache.New[*chart.Chart](cmp.Or(r.ChartCacheBytes, DefaultChartCacheBytes))
		r.results = bytecache.New[[][]byte](cmp.Or(r.ResultCacheBytes, DefaultResultCacheBytes))
	})
}

// Render renders archive's chart for one tenant and returns its objects.
//
// values override the chart's own values.yaml key by key (the chart's
// values < values), as `helm install -f`; build them with MergeValues. They
// must be JSON values: they pass through JSON, so every number reaches the
// templates as a float64, as Helm's own values files do. The templates see
// .Release (Name and Namespace from opts, IsInstall true, Revision 1),
// .Capabilities (opts.KubeVersion, and the API versions client-go knows), and
// .Values; `lookup` finds nothing. Subcharts are rendered, enabled by their
// conditions and tags as by Helm.
//
// Each YAML document of the output becomes one object. Empty documents,
// NOTES.txt and objects whose helm.sh/hook annotation names a test hook are
// dropped; other hooks (pre-install, post-install, …) are kept as ordinary
// objects, applied with the rest and never run as hooks. An object without a
// namespace gets opts.Namespace. Objects come sorted by their kind's place
// in AllowedKinds, then by name.
//
// Each object is written as the API server stores it (see normalize):
// quantities in their canonical form (cpu: 1 as "1", memory: 1024Mi as
// "1Gi"), and without the empty values the stored form omits (env: [],
// clusterIP: ""), so that an applier comparing the render with the stored
// copy finds an object in step once it is. An object that form would change
// otherwise (a field its Go type lacks, say) is returned as written.
//
// Render refuses the whole chart with a *RefusedError when any object's
// kind is not in AllowedKinds (the chart's crds/ files included), when
// its namespace is not opts.Namespace, when it has no name or one the API
// server would refuse for its kind (see validName), or when it is
// rendered twice. Other errors: an empty or oversize archive (wrapping
// ErrArchiveTooLarge; its packaged subcharts count towards
// MaxUnpackedBytes, nested 5 deep at most), an archive that is not a valid
// chart, a file of it Helm parses (values.yaml, Chart.yaml, …, its
// subcharts' too) whose YAML aliases would expand it past Helm's bound on
// one file (refused before Helm parses it; see checkUnpacked), a library
// chart, a template or values error, output over MaxRenderedBytes or
// MaxRenderedDocuments (refused before any document is decoded), or whose
// YAML aliases would expand it past MaxRenderedBytes (refused before the
// document expanding it is decoded), a document that is not an object, more
// than MaxRenderedObjects objects.
//
// The objects are the caller's own: Render returns fresh copies, and a
// render of the same archive digest, values and options is served from the
// cache without rendering, while the cache holds it (ResultCacheBytes).
func (r *Renderer) Render(ctx context.Context, archive Archive, values map[string]any, opts Options) ([]*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.init()
	in, err := prepareRender(archive, values, opts)
	if err != nil {
		return nil, err
	}
	key := renderKey(archive.digest, opts, in.values)
	if cached, ok := r.results.Get(key); ok {
		return decodeAll(cached)
	}
	objs, err := r.renderUncached(archive, in)
	if err != nil {
		return nil, err
	}
	r.keep(key, objs)
	return objs, nil
}

// keep caches objs under key as their JSON: an eighth of the memory of
// their maps (3.1 against 25.5 KB for the test chart), and what the cache
// weighs is what it holds.
func (r *Renderer) keep(key string, objs []*unstructured.Unstructured) {
	encoded := make([][]byte, len(objs))
	var size int64
	for i, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			return // not cached: the next render of key renders again
		}
		encoded[i] = j
		size += int64(len(j))
	}
	r.results.Add(key, encoded, size)
}

// decodeAll decodes a cached render's objects: fresh copies, the caller's own.
func decodeAll(encoded [][]byte) ([]*unstructured.Unstructured, error) {
	objs := make([]*unstructured.Unstructured, len(encoded))
	for i, j := range encoded {
		objs[i] = &unstructured.Unstructured{}
		if err := objs[i].UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("decoding a cached render: %w", err)
		}
	}
	return objs, nil
}

// chart returns the loaded chart of archive, from the cache when it holds it.
func (r *Renderer) chart(archive Archive) (*chart.Chart, error) {
	if c, ok := r.charts.Get(archive.digest); ok {
		return c, nil
	}
	r.loads.Add(1)
	c, unpacked, err := load(archive.data)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", archive.digest, err)
	}
	r.charts.Add(archive.digest, c, weight(c, unpacked))
	return c, nil
}

// parsedValuesFactor is about how many times its file's bytes a values.yaml
// takes once Helm has parsed it into maps (7.6 for a file of small keys:
// TestALoadedChartIsWeighedAtWhatItHolds).
const parsedValuesFactor = 8

// weight is what the chart cache weighs a loaded chart at, about the heap
// it holds: its unpacked bytes (checkUnpacked's, its packaged subcharts'
// included, and what YAML aliases of the files Helm parses add to them
// once expanded), whose files Helm keeps, and the values of it and its
// subcharts, which Helm also keeps parsed.
func weight(c *chart.Chart, unpacked int64) int64 {
	w := unpacked
	for _, f := range c.Raw {
		if f.Name == chartutil.ValuesfileName {
			w += parsedValuesFactor * int64(len(f.Data))
		}
	}
	for _, sub := range c.Dependencies() {
		w += weight(sub, 0)
	}
	return w
}

// load checks and loads the bytes of a chart's .tgz, and gives the size of
// its unpacked stream in bytes, with what YAML aliases add to it
// (checkUnpacked). It never panics: a panic of Helm's loader on malformed
// input becomes an error.
func load(data []byte) (c *chart.Chart, unpacked int64, err error) {
	if len(data) == 0 {
		return nil, 0, errors.New("empty chart archive")
	}
	if len(data) > MaxArchiveBytes {
		return nil, 0, fmt.Errorf("archive is %d bytes, over %d: %w", len(data), MaxArchiveBytes, ErrArchiveTooLarge)
	}
	unpacked, err = checkUnpacked(data)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("not a valid chart archive: loader panicked: %v", p)
		}
	}()
	c, err = loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, 0, fmt.Errorf("not a valid chart archive: %w", err)
	}
	if c.Metadata.Type == "library" {
		return nil, 0, fmt.Errorf("chart %q is a library chart, which renders nothing", c.Name())
	}
	return c, unpacked, nil
}

// checkUnpacked refuses data that is not gzip, or that unpacks to over
// MaxUnpackedBytes, before Helm's loader holds any of it in memory, and gives
// the bytes it unpacks to: those of its decompressed stream and of every
// packaged subchart (charts/*.tgz) the loader unpacks from it, nested
// maxSubchartDepth deep at most, against the one bound. The loader bounds
// each archive it unpacks by itself (100 MiB each), not their sum.
//
// The loader's YAML decoder expands aliases as it parses (a values.yaml of
// 3 KB packed expanded to 800 MiB): each file it parses (parsedByHelm) is
// refused, naming it, when its aliases would expand it past the most one
// file may hold unexpanded (loader.MaxDecompressedFileSize), and what they
// add is counted as unpacked, against MaxUnpackedBytes, and in the bytes
// given: what a values.yaml's aliases add, parsedValuesFactor times, as
// weight counts its bytes.
func checkUnpacked(data []byte) (int64, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("not a gzipped chart archive: %w", err)
	}
	budget := &unpackBudget{left: MaxUnpackedBytes}
	stream := budget.meter(gz)
	err = budget.walk(stream, 0)
	var expansion *yamlbound.ExpansionError
	switch {
	case errors.As(err, &expansion):
		return 0, err // it names the file, and says what refused it
	case budget.spent():
		return 0, fmt.Errorf("archive unpacks to over %d bytes (MaxUnpackedBytes), its packaged subcharts included: %w",
			MaxUnpackedBytes, ErrArchiveTooLarge)
	case stream.err != nil:
		return 0, fmt.Errorf("not a gzipped chart archive: %w", stream.err)
	case err != nil:
		return 0, fmt.Errorf("not a valid chart archive: %w", err)
	}
	return MaxUnpackedBytes - budget.left + budget.parsedAliases, nil
}

// unpackBudget is what is left of MaxUnpackedBytes for the streams an
// archive and its packaged subcharts unpack to, and for what YAML aliases
// of the files Helm parses add to them; below zero it is spent.
type unpackBudget struct {
	left int64
	// parsedAliases is what the aliases of values files add to the chart's
	// weight besides the bytes counted in left: Helm keeps a values file
	// parsed, at parsedValuesFactor times its bytes.
	parsedAliases int64
}

func (b *unpackBudget) spent() bool { return b.left < 0 }

// meter counts what is read of r, a decompressed stream, against b.
func (b *unpackBudget) meter(r io.Reader) *meteredStream {
	return &meteredStream{r: r, budget: b}
}

// walk reads stream, a chart's tar, to its end, and each packaged subchart
// in it the same way; depth is how many packaged subcharts stream is in.
func (b *unpackBudget) walk(stream io.Reader, depth int) error {
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if parsedByHelm(hdr) {
			if err := b.checkAliases(tr, hdr); err != nil {
				return err
			}
			continue
		}
		if !isPackagedSubchart(hdr) {
			continue
		}
		if depth == maxSubchartDepth {
			return fmt.Errorf("packaged subcharts nested more than %d deep", maxSubchartDepth)
		}
		if err := b.walkPackaged(tr, depth+1); err != nil {
			return fmt.Errorf("packaged subchart %s: %w", hdr.Name, err)
		}
	}
	// Whatever follows the tar's end is unpacked too, and weighs as much.
	_, err := io.Copy(io.Discard, stream)
	return err
}

// walkPackaged walks tgz, the content of a packaged subchart.
func (b *unpackBudget) walkPackaged(tgz io.Reader, depth int) error {
	gz, err := gzip.NewReader(tgz)
	if err != nil {
		return err
	}
	return b.walk(b.meter(gz), depth)
}

// errUnpackBudgetSpent stops a walk whose budget is spent.
var errUnpackBudgetSpent = errors.New("unpack budget spent")

// meteredStream reads a decompressed stream, counting what it reads against
// budget, and fails once the budget is spent. It keeps the stream's own
// first error (err): the data is not gzip, or is cut short.
type meteredStream struct {
	r      io.Reader
	budget *unpackBudget
	err    error
}

func (s *meteredStream) Read(p []byte) (int, error) {
	if s.budget.spent() {
		return 0, errUnpackBudgetSpent
	}
	// One byte past what is left tells a stream of exactly the budget
	// from one over it.
	if int64(len(p)) > s.budget.left+1 {
		p = p[:s.budget.left+1]
	}
	n, err := s.r.Read(p)
	s.budget.left -= int64(n)
	if s.budget.spent() {
		return n, errUnpackBudgetSpent
	}
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// checkAliases reads file, the content of the tar entry hdr, a file Helm's
// loader parses, and refuses it when its YAML aliases would expand it past
// loader.MaxDecompressedFileSize, or past what is left of b; what they add
// is counted against b. A file over that bound is left to the loader, which
// refuses it unread.
func (b *unpackBudget) checkAliases(file io.Reader, hdr *tar.Header) error {
	maxFile := loader.MaxDecompressedFileSize
	if hdr.Size > maxFile {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(file, maxFile+1))
	if err != nil || int64(len(data)) > maxFile {
		return err
	}
	size := int64(len(data))
	limit := min(maxFile, size+max(b.left, 0))
	expanded, err := yamlbound.ExpandedSize(data, limit)
	var expansion *yamlbound.ExpansionError
	switch {
	case errors.As(err, &expansion) && limit < maxFile:
		return fmt.Errorf("%s: %w, what MaxUnpackedBytes leaves of the chart", hdr.Name, err)
	case errors.As(err, &expansion):
		return fmt.Errorf("%s: %w, the most one file of a chart may hold", hdr.Name, err)
	case err != nil:
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	b.left -= expanded - size
	if path.Base(hdr.Name) == chartutil.ValuesfileName {
		b.parsedAliases += parsedValuesFactor * (expanded - size)
	}
	return nil
}

// filesParsedByHelm are the files of a chart, or of a subchart, that Helm's
// loader parses as YAML (loader.LoadFiles); it keeps the others as they are.
var filesParsedByHelm = []string{"Chart.yaml", "Chart.lock", chartutil.ValuesfileName, "requirements.yaml", "requirements.lock"}

// parsedByHelm says whether Helm's loader parses the tar entry hdr as YAML:
// one of filesParsedByHelm of the chart or of a subchart's directory
// (charts/<dir>/values.yaml, and so on).
func parsedByHelm(hdr *tar.Header) bool {
	parts, ok := pathInChart(hdr)
	if !ok {
		return false
	}
	for len(parts) > 2 && parts[0] == "charts" && strings.IndexAny(parts[1], "_.") != 0 {
		parts = parts[2:]
	}
	return len(parts) == 1 && slices.Contains(filesParsedByHelm, parts[0])
}

// isPackagedSubchart says whether Helm's loader unpacks the tar entry hdr as
// a packaged subchart: a file charts/<name>.tgz of the chart or of a
// subchart's directory (charts/<dir>/charts/<name>.tgz, and so on), no name
// or directory after charts/ starting with "_" or ".".
func isPackagedSubchart(hdr *tar.Header) bool {
	parts, ok := pathInChart(hdr)
	if !ok || len(parts)%2 != 0 || path.Ext(parts[len(parts)-1]) != ".tgz" {
		return false
	}
	for i := 0; i < len(parts); i += 2 {
		if parts[i] != "charts" || strings.IndexAny(parts[i+1], "_.") == 0 {
			return false
		}
	}
	return true
}

// pathInChart splits the path of the regular file of the tar entry hdr in
// its chart, as loader.LoadArchiveFiles reads it: without its first
// directory, and split at "\" when it has one.
func pathInChart(hdr *tar.Header) ([]string, bool) {
	if !hdr.FileInfo().Mode().IsRegular() {
		return nil, false
	}
	sep := "/"
	if strings.Contains(hdr.Name, `\`) {
		sep = `\`
	}
	_, inChart, _ := strings.Cut(hdr.Name, sep)
	return strings.Split(path.Clean(strings.ReplaceAll(inChart, sep, "/")), "/"), true
}

// render renders a loaded chart; it leaves the cached chart as it was.
func (r *Renderer) render(cached *chart.Chart, vals map[string]any, opts Options, caps *chartutil.Capabilities) ([]*unstructured.Unstructured, error) {
	r.renders.Add(1)
	c := cloneChart(cached)
	if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
		return nil, fmt.Errorf("chart %q: processing subcharts: %w", c.Name(), err)
	}
	release := chartutil.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(c, vals, release, caps, true)
	if err != nil {
		return nil, fmt.Errorf("chart %q: values: %w", c.Name(), err)
	}
	files, err := engine.Engine{}.Render(c, top)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", c.Name(), err)
	}

	manifests, size, err := manifestFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart %q %w", c.Name(), err)
	}
	// What YAML aliases may add to the manifests once expanded, as decode
	// expands them: what MaxRenderedBytes leaves of their own bytes.
	aliasBudget := int64(MaxRenderedBytes - size)

	var objs []*unstructured.Unstructured
	var refused []RefusedObject
	seen := map[string]bool{}
	for _, file := range manifests {
		docs := releaseutil.SplitManifests(files[file])
		names := sortedKeys(docs)
		sort.Sort(releaseutil.BySplitManifestsOrder(names))
		for i, doc := range names {
			expanded, err := yamlbound.ExpandedSize([]byte(docs[doc]), int64(len(docs[doc]))+aliasBudget)
			var expansion *yamlbound.ExpansionError
			if errors.As(err, &expansion) {
				return nil, fmt.Errorf("chart %q: %s, document %d: YAML aliases would expand the manifests past the %d bytes of MaxRenderedBytes",
					c.Name(), file, i+1, MaxRenderedBytes)
			}
			if err != nil {
				return nil, fmt.Errorf("chart %q: %s, document %d: %w", c.Name(), file, i+1, err)
			}
			aliasBudget -= expanded - int64(len(docs[doc]))
			obj, err := decode(docs[doc])
			if err != nil {
				return nil, fmt.Errorf("chart %q: %s, document %d: %w", c.Name(), file, i+1, err)
			}
			if obj == nil || isTestHook(obj) {
				continue
			}
			gk := obj.GroupVersionKind().GroupKind()
			reason := admit(obj, opts.Namespace)
			id := gk.String() + "/" + obj.GetName()
			if reason == "" && seen[id] {
				reason = ReasonDuplicate
			}
			seen[id] = true
			if reason != "" {
				refused = append(refused, RefusedObject{GroupKind: gk, Namespace: obj.GetNamespace(), Name: obj.GetName(), Reason: reason})
				continue
			}
			objs = append(objs, normalize(obj))
		}
	}
	refused = append(refused, refuseCRDs(c)...)
	if len(refused) > 0 {
		slices.SortFunc(refused, func(a, b RefusedObject) int {
			return strings.Compare(a.String(), b.String())
		})
		return nil, &RefusedError{Objects: refused}
	}
	if len(objs) > MaxRenderedObjects {
		return nil, fmt.Errorf("chart %q renders %d objects, over the %d of MaxRenderedObjects", c.Name(), len(objs), MaxRenderedObjects)
	}
	slices.SortFunc(objs, compareObjects)
	return objs, nil
}

// manifestFiles gives the names of the files of Helm's output that hold
// manifests (all but NOTES.txt), sorted, and their bytes summed, once it has
// weighed them and counted their YAML documents: it refuses more than
// MaxRenderedBytes or MaxRenderedDocuments before any is split or decoded.
func manifestFiles(files map[string]string) ([]string, int, error) {
	var names []string
	size := 0
	for _, file := range sortedKeys(files) {
		if strings.HasSuffix(file, "NOTES.txt") {
			continue
		}
		names = append(names, file)
		size += len(files[file])
	}
	if size > MaxRenderedBytes {
		return nil, 0, fmt.Errorf("renders %d bytes of manifests, over the %d of MaxRenderedBytes", size, MaxRenderedBytes)
	}
	docs := 0
	for _, file := range names {
		docs += countDocuments(files[file])
	}
	if docs > MaxRenderedDocuments {
		return nil, 0, fmt.Errorf("renders %d YAML documents, over the %d of MaxRenderedDocuments", docs, MaxRenderedDocuments)
	}
	return names, size, nil
}

// countDocuments counts the documents releaseutil.SplitManifests splits text
// into, the parts between separators that are not empty, without making
// them: the split makes a map entry of each at once, which for
// MaxRenderedBytes of one-line documents held 101 MiB and allocated 452.
func countDocuments(text string) int {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "---") {
		text = strings.TrimLeft(text[len("---"):], regexpSpace)
	}
	n := 0
	for text != "" {
		start, end := nextSeparator(text)
		if start < 0 {
			return n + 1
		}
		if start > 0 {
			n++
		}
		text = text[end:]
	}
	return n
}

// regexpSpace is what \s matches in a Go regular expression.
const regexpSpace = "\t\n\f\r "

// nextSeparator finds where the first match of `\s*\n---\s*` starts and
// ends in text, or gives -1, -1: the pattern of SplitManifests,
// `(?:^|\s*\n)---\s*`, after the text's start. It finds what the regexp
// finds, without its cost: the regexp took 10 ms to scan 256 KiB, this 5 µs.
func nextSeparator(text string) (start, end int) {
	i := strings.Index(text, "\n---")
	if i < 0 {
		return -1, -1
	}
	start = len(strings.TrimRight(text[:i], regexpSpace))
	end = len(text) - len(strings.TrimLeft(text[i+len("\n---"):], regexpSpace))
	return start, end
}

// refuseCRDs refuses the files of the crds/ directories of a chart and its
// enabled subcharts: Helm would install them, a tenant may not.
func refuseCRDs(c *chart.Chart) []RefusedObject {
	var refused []RefusedObject
	for _, crd := range c.CRDObjects() {
		refused = append(refused, RefusedObject{
			GroupKind: schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
			Name:      crd.Filename,
			Reason:    ReasonKindNotAllowed + " (a file of crds/)",
		})
	}
	return refused
}

// decode turns one YAML document into an object; a document with nothing
// in it (only comments, or empty) gives nil.
func decode(doc string) (*unstructured.Unstructured, error) {
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		return nil, err
	}
	return obj, nil
}

// isTestHook says whether obj is a hook that only `helm test` runs.
func isTestHook(obj *unstructured.Unstructured) bool {
	hooks, ok := obj.GetAnnotations()[hookAnnotation]
	if !ok {
		return false
	}
	for h := range strings.SplitSeq(hooks, ",") {
		if slices.Contains(testHooks, strings.TrimSpace(h)) {
			return true
		}
	}
	return false
}

// compareObjects orders admitted objects by their kind's place in
// allowedKinds, then namespace, then name.
func compareObjects(a, b *unstructured.Unstructured) int {
	ra, rb := kindRank[a.GroupVersionKind().GroupKind()], kindRank[b.GroupVersionKind().GroupKind()]
	if ra != rb {
		return ra - rb
	}
	if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
		return c
	}
	return strings.Compare(a.GetName(), b.GetName())
}

// cloneChart copies what rendering changes in a chart (its metadata's
// dependencies, its values, its subcharts), so that the cached chart stays as
// loaded; templates and files are shared, read only.
func cloneChart(c *chart.Chart) *chart.Chart {
	cp := *c
	if c.Metadata != nil {
		md := *c.Metadata
		if c.Metadata.Dependencies != nil {
			md.Dependencies = make([]*chart.Dependency, len(c.Metadata.Dependencies))
			for i, d := range c.Metadata.Dependencies {
				if d != nil {
					dc := *d
					d = &dc
				}
				md.Dependencies[i] = d
			}
		}
		cp.Metadata = &md
	}
	if c.Values != nil {
		cp.Values = copyValue(c.Values).(map[string]any)
	}
	deps := make([]*chart.Chart, 0, len(c.Dependencies()))
	for _, d := range c.Dependencies() {
		deps = append(deps, cloneChart(d))
	}
	cp.SetDependencies(deps...)
	return &cp
}

// renderKey names one render: the archive, the options and the values.
func renderKey(digest string, opts Options, values []byte) string {
	h := sha256.New()
	for _, s := range []string{digest, opts.ReleaseName, opts.Namespace, opts.KubeVersion} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(values)
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
