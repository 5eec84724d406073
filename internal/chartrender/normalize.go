package chartrender

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// normalize returns obj written as the API server stores it, so that kooper,
// which skips an apply when the stored copy already holds every field it
// sets, finds an object in step once it is: a quantity in its canonical
// form (cpu: 1 becomes "1", 0.5 "500m", "1000m" "1", memory: 1024Mi "1Gi"),
// and without the empty values its Go type omits (tolerations: [], env: [],
// serviceAccountName: "", hostNetwork: false, initialDelaySeconds: 0, a
// Service's clusterIP: ""), which the API server never stores, and a
// Secret's data or a ConfigMap's binaryData in one line of base64 (a YAML
// `|` block ends it with a newline; base64 and openssl wrap it at 76
// characters): with them the object was applied again on every pass.
//
// It converts obj to the Go type client-go has for its apiVersion and kind
// and back, and keeps only the fields obj sets: what the conversion adds
// (status: {}, creationTimestamp: null, an empty strategy) is left out, so
// kooper claims no more than the chart writes, and an object already
// written as stored comes back equal to obj. Values the type keeps as
// pointers stay, even when zero (replicas: 0, suspend: false), as do
// int-or-string ports and a Secret's stringData (the applier folds it).
//
// obj itself is returned, unchanged, when its kind is not one a tenant may
// hold, when client-go has no Go type for its version, or when the round
// trip would change it in any other way than those: a field the type lacks
// (a typo, or a field of a newer Kubernetes) would be dropped without a
// word, a count over int32 would wrap around, data that is not base64 would
// be lost. The API server then accepts or refuses the object as written,
// as before. obj is never modified; a normalized object shares nothing with
// it.
func normalize(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if _, ok := kindRank[obj.GroupVersionKind().GroupKind()]; !ok {
		return obj
	}
	typed, err := clientgoscheme.Scheme.New(obj.GroupVersionKind())
	if err != nil {
		return obj
	}
	if _, generic := typed.(runtime.Unstructured); generic {
		return obj
	}
	// Strict: a field the Go type lacks is an error, not a silent drop.
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, typed, true); err != nil {
		return obj
	}
	stored, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return obj
	}
	merged, ok := storedForm(obj.Object, stored)
	if !ok {
		return obj
	}
	return &unstructured.Unstructured{Object: merged.(map[string]any)}
}

// storedForm is rendered with each value as stored has it, restricted to
// the fields rendered sets: a field stored lacks is dropped, and a field
// only stored has is not added. ok is false when stored differs from
// rendered by more than normalize allows: a dropped field that was not
// empty, or a value that is neither equal, nor the same quantity, nor
// base64 of the same bytes.
func storedForm(rendered, stored any) (any, bool) {
	switch r := rendered.(type) {
	case nil:
		// Unset as written: the applier drops nulls.
		return nil, true
	case map[string]any:
		s, ok := stored.(map[string]any)
		if !ok {
			return nil, stored == nil && isEmptyValue(r)
		}
		out := make(map[string]any, len(r))
		for k, rv := range r {
			sv, found := s[k]
			if !found || sv == nil {
				if !isEmptyValue(rv) {
					return nil, false
				}
				continue
			}
			v, ok := storedForm(rv, sv)
			if !ok {
				return nil, false
			}
			out[k] = v
		}
		return out, true
	case []any:
		s, ok := stored.([]any)
		if !ok {
			return nil, stored == nil && len(r) == 0
		}
		if len(s) != len(r) {
			return nil, false
		}
		out := make([]any, len(r))
		for i := range r {
			v, ok := storedForm(r[i], s[i])
			if !ok {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	default:
		if reflect.DeepEqual(rendered, stored) || sameQuantity(rendered, stored) || sameBytes(rendered, stored) {
			return stored, true
		}
		return nil, false
	}
}

// isEmptyValue reports whether v is a value the API server's JSON omits
// from an omitempty field: null, false, 0, "", an empty list or map.
func isEmptyValue(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case int64:
		return t == 0
	case float64:
		return t == 0
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// sameQuantity reports whether the scalars a and b (strings or numbers) are
// the same amount written otherwise: "1024Mi" and "1Gi", 0.5 and "500m",
// 80.0 and 80. A count the conversion wrapped around is not.
func sameQuantity(a, b any) bool {
	qa, okA := quantityOf(a)
	qb, okB := quantityOf(b)
	return okA && okB && qa.Cmp(qb) == 0
}

// sameBytes reports whether the scalars a and b are base64 texts of the
// same bytes: the converter reads a []byte field's text as the API server
// does, skipping line breaks, and writes it in one line. (A string field
// comes back from the round trip as written, so this never matches one.)
func sameBytes(a, b any) bool {
	sa, okA := a.(string)
	sb, okB := b.(string)
	if !okA || !okB {
		return false
	}
	da, errA := base64.StdEncoding.DecodeString(sa)
	db, errB := base64.StdEncoding.DecodeString(sb)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

// quantityOf parses a scalar of an unstructured object as a quantity.
func quantityOf(v any) (resource.Quantity, bool) {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case int64:
		s = strconv.FormatInt(t, 10)
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	default:
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}
