package chartrender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Difference is where two renders of the same archive, values and options
// differ: the first object, in the render's order, and the first field of
// it, in the order of its keys. It names where, never the values, which may
// be a password.
type Difference struct {
	// Object is the object's "Kind/name", such as "Secret/x".
	Object string
	// Field is the path of the field that differs, as kubectl explain
	// spells it ("stringData.password", "spec.template.spec.containers[0].image"),
	// a key a bare path cannot spell quoted (`metadata.annotations["checksum/config"]`);
	// "" when one render has the object and the other has not (a made-up
	// name).
	Field string
}

// String gives "Secret/x, field stringData.password", or
// "Secret/db-qzkxw, in one render and not the other".
func (d *Difference) String() string {
	if d.Field == "" {
		return d.Object + ", in one render and not the other"
	}
	return d.Object + ", field " + d.Field
}

// determinismKeyPrefix sets a verdict's key in the result cache apart from
// a render's (renderKey: hex digits only).
const determinismKeyPrefix = "deterministic?"

// Nondeterministic renders archive's chart twice for one tenant, as Render
// would with values and opts, and returns the first Difference between the
// two renders, or nil when they are the same.
//
// Both renders bypass the result cache, which is what makes a chart that
// makes up values (sprig's randAlphaNum, uuidv4, genCA, genPrivateKey,
// now…) show: Render serves such a chart the same objects while its cache
// holds them, and others after each restart, failover or eviction, so the
// tenant's applied objects change with no change of chart or values (a
// generated password Secret overwritten, pods restarted). `lookup`, with
// which Helm charts keep a value made up once, finds nothing here. Two
// renders catch a value of at least a few random characters; one that
// rarely changes (a date, a single random digit) may render the same
// twice.
//
// The verdict is kept in the result cache, so the check renders once per
// archive digest, values and options while the cache holds it. Errors are
// Render's: bad options, an empty or invalid archive, a template error, a
// *RefusedError, the context's.
func (r *Renderer) Nondeterministic(ctx context.Context, archive Archive, values map[string]any, opts Options) (*Difference, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.init()
	in, err := prepareRender(archive, values, opts)
	if err != nil {
		return nil, err
	}
	key := determinismKeyPrefix + renderKey(archive.digest, opts, in.values)
	if held, ok := r.results.Get(key); ok {
		return verdictFrom(held), nil
	}
	var renders [2][]*unstructured.Unstructured
	for i := range renders {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if renders[i], err = r.renderUncached(archive, in); err != nil {
			return nil, err
		}
	}
	diff := firstDifference(renders[0], renders[1])
	held := verdictOf(diff)
	r.results.Add(key, held, int64(len(key)+len(held[0])+len(held[1])))
	return diff, nil
}

// renderInput is what Render checks and derives from its arguments before
// rendering.
type renderInput struct {
	opts Options
	caps *chartutil.Capabilities
	// values are the values as JSON, decoded afresh for each render: a
	// render may change the map it is given.
	values []byte
}

// prepareRender checks archive, values and opts as Render does, with
// Render's errors.
func prepareRender(archive Archive, values map[string]any, opts Options) (renderInput, error) {
	if opts.ReleaseName == "" || opts.Namespace == "" {
		return renderInput{}, errors.New("render options need a release name and a namespace")
	}
	kubeVersion, err := chartutil.ParseKubeVersion(opts.KubeVersion)
	if err != nil {
		return renderInput{}, fmt.Errorf("render options: Kubernetes version %q: %w", opts.KubeVersion, err)
	}
	if archive.digest == "" {
		return renderInput{}, errors.New("empty chart archive")
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return renderInput{}, fmt.Errorf("values are not JSON values: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	return renderInput{opts: opts, caps: caps, values: raw}, nil
}

// renderUncached renders the chart as Render does on a cache miss, and
// caches nothing of the result (the loaded chart is cached as usual).
func (r *Renderer) renderUncached(archive Archive, in renderInput) ([]*unstructured.Unstructured, error) {
	vals := map[string]any{}
	if err := json.Unmarshal(in.values, &vals); err != nil {
		return nil, fmt.Errorf("values are not a JSON object: %w", err)
	}
	if vals == nil { // values was nil: JSON null
		vals = map[string]any{}
	}
	ch, err := r.chart(archive)
	if err != nil {
		return nil, err
	}
	return r.render(ch, vals, in.opts, in.caps.Copy())
}

// verdictOf is how the result cache holds a verdict: the object and the
// field of diff, both empty for none.
func verdictOf(diff *Difference) [][]byte {
	if diff == nil {
		return [][]byte{nil, nil}
	}
	return [][]byte{[]byte(diff.Object), []byte(diff.Field)}
}

// verdictFrom is the verdict the result cache holds as held (verdictOf).
func verdictFrom(held [][]byte) *Difference {
	if len(held) != 2 || len(held[0]) == 0 {
		return nil
	}
	return &Difference{Object: string(held[0]), Field: string(held[1])}
}

// firstDifference compares two renders, each in Render's order: the first
// object of a that b lacks or holds otherwise, then the first object of b
// that a lacks; nil when they hold the same objects.
func firstDifference(a, b []*unstructured.Unstructured) *Difference {
	inB := objectsByID(b)
	for _, obj := range a {
		id := objectID(obj)
		other, ok := inB[id]
		if !ok {
			return &Difference{Object: id}
		}
		if field, differs := firstDifferentField("", obj.Object, other.Object); differs {
			return &Difference{Object: id, Field: field}
		}
	}
	inA := objectsByID(a)
	for _, obj := range b {
		if _, ok := inA[objectID(obj)]; !ok {
			return &Difference{Object: objectID(obj)}
		}
	}
	return nil
}

// objectID is "Kind/name": one object of a render, as each allowed kind
// has one group and Render refuses a second object of a kind and name.
func objectID(obj *unstructured.Unstructured) string {
	return obj.GetKind() + "/" + obj.GetName()
}

func objectsByID(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	byID := make(map[string]*unstructured.Unstructured, len(objs))
	for _, obj := range objs {
		byID[objectID(obj)] = obj
	}
	return byID
}

// firstDifferentField compares two values of an object's JSON (maps,
// lists, scalars) at path and gives the path of the first field, by sorted
// key and by index, whose value differs, and whether one does.
func firstDifferentField(path string, a, b any) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return path, true
		}
		for _, k := range unionOfKeys(a, b) {
			if field, differs := firstDifferentField(joinKey(path, k), a[k], b[k]); differs {
				return field, true
			}
		}
		return "", false
	case []any:
		b, ok := b.([]any)
		if !ok {
			return path, true
		}
		for i := range min(len(a), len(b)) {
			if field, differs := firstDifferentField(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); differs {
				return field, true
			}
		}
		if len(a) != len(b) {
			return fmt.Sprintf("%s[%d]", path, min(len(a), len(b))), true
		}
		return "", false
	}
	return path, !reflect.DeepEqual(a, b)
}

// unionOfKeys gives the keys of a and b, sorted.
func unionOfKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// bareKey is a key a dotted path spells as it is.
var bareKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinKey appends key to path: ".key", or `["key"]` for a key with a dot,
// a slash or another character a dotted path would misread.
func joinKey(path, key string) string {
	switch {
	case !bareKey.MatchString(key):
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}
