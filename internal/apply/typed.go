package apply

import (
	"bytes"
	"encoding/base64"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// holdsFields reports whether actual, a pointer to a typed Kubernetes
// object, has every field of desired with the same value: the answer of
// isSubset(desired, m) for m = runtime.DefaultUnstructuredConverter.
// ToUnstructured(actual), without making m. It visits only the fields
// desired sets, so a restart that finds every cached object in step no
// longer converts each whole object (status and defaults included) into
// maps (docs/benchmarks.md). Where actual's Go type is one it does not
// walk (see jsonFieldsOf), it converts that part as ToUnstructured would.
// FuzzHoldsFields holds the two answers equal.
//
// Two values are held that m would not hold, because the API server
// stores them as desired and only the cache's reading loses them (see
// typeMetaHolds and bytesHold): an object's apiVersion and kind, empty in
// a protobuf read, when desired names the object's Go type; and base64
// text written otherwise than Go writes it (line breaks), when it stands
// for the bytes actual holds. Without them such an object was never in
// step and was applied on every pass, restart and resync.
func holdsFields(desired map[string]any, actual any) bool {
	return holds(desired, reflect.ValueOf(actual))
}

// holds is holdsFields for one value of actual at any depth: v mirrors
// what toUnstructured in k8s.io/apimachinery/pkg/runtime would make of it.
func holds(desired any, v reflect.Value) bool {
	if !v.IsValid() {
		return isSubset(desired, nil)
	}
	// A custom conversion (Quantity, Time, IntOrString, any
	// json.Marshaler) first, as the converter does: such values are small.
	if entry := value.TypeReflectEntryOf(v.Type()); entry.CanConvertToUnstructured() {
		converted, err := entry.ToUnstructured(v)
		return err == nil && isSubset(desired, converted)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return isSubset(desired, nil)
		}
		return holds(desired, v.Elem())
	case reflect.Struct:
		return structHolds(desired, v)
	case reflect.Map:
		return mapHolds(desired, v)
	case reflect.Slice:
		return sliceHolds(desired, v)
	case reflect.String:
		s, ok := desired.(string)
		return ok && s == v.String()
	case reflect.Bool:
		b, ok := desired.(bool)
		return ok && b == v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := desired.(int64)
		return ok && i == v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := desired.(int64)
		return ok && v.Uint() <= math.MaxInt64 && i == int64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f, ok := desired.(float64)
		return ok && f == v.Float()
	}
	return false // the converter refuses other kinds: apply, as ever
}

// structHolds: a struct converts to a map of its JSON fields.
func structHolds(desired any, v reflect.Value) bool {
	d, ok := desired.(map[string]any)
	if !ok {
		return false
	}
	fields, walkable := jsonFieldsOf(v.Type())
	if !walkable {
		return convertedHolds(d, v)
	}
	for name, want := range d {
		f, found := fields[name]
		if found && f.typeMeta && typeMetaHolds(name, want, v.FieldByIndex(f.index), v.Type()) {
			continue
		}
		if !found || f.omitted(v.FieldByIndex(f.index)) {
			if !isSubset(want, nil) {
				return false
			}
			continue
		}
		if !holds(want, v.FieldByIndex(f.index)) {
			return false
		}
	}
	return true
}

// typeMetaHolds reports whether got, the empty field name ("apiVersion"
// or "kind") of an object of Go type object, holds want by naming object.
// A protobuf message has no TypeMeta, and controller-runtime reads
// built-in kinds as protobuf: the cache sets an object's own apiVersion
// and kind, but a nested object's (a StatefulSet's volumeClaimTemplates)
// stays empty, where the API server writes it out as v1
// PersistentVolumeClaim on every JSON read (its conversion sets them).
func typeMetaHolds(name string, want any, got reflect.Value, object reflect.Type) bool {
	if got.String() != "" {
		return false // set: compared as any field
	}
	for _, gvk := range kindsOf(object) {
		if (name == "apiVersion" && want == gvk.GroupVersion().String()) || (name == "kind" && want == gvk.Kind) {
			return true
		}
	}
	return false
}

// kindsOf names the kinds client-go's scheme has for the struct type t,
// none for a type that is no Kubernetes object.
func kindsOf(t reflect.Type) []schema.GroupVersionKind {
	obj, ok := reflect.New(t).Interface().(runtime.Object)
	if !ok {
		return nil
	}
	gvks, _, _ := clientgoscheme.Scheme.ObjectKinds(obj)
	return gvks
}

// convertedHolds converts the struct v as the converter would and compares.
func convertedHolds(desired map[string]any, v reflect.Value) bool {
	ptr := reflect.New(v.Type())
	ptr.Elem().Set(v)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptr.Interface())
	return err == nil && isSubset(desired, m)
}

// mapHolds: a map with string keys converts to a map; nil to nil.
func mapHolds(desired any, v reflect.Value) bool {
	if v.IsNil() {
		return isSubset(desired, nil)
	}
	d, ok := desired.(map[string]any)
	if !ok || v.Type().Key().Kind() != reflect.String {
		return false
	}
	keyType := v.Type().Key()
	for k, want := range d {
		got := v.MapIndex(reflect.ValueOf(k).Convert(keyType))
		if !got.IsValid() {
			if !isSubset(want, nil) {
				return false
			}
			continue
		}
		if !holds(want, got) {
			return false
		}
	}
	return true
}

// sliceHolds: bytes convert to base64 text, other slices to lists; nil to nil.
func sliceHolds(desired any, v reflect.Value) bool {
	if v.IsNil() {
		return isSubset(desired, nil)
	}
	if v.Type().Elem().Kind() == reflect.Uint8 {
		return bytesHold(desired, v.Bytes())
	}
	d, ok := desired.([]any)
	if !ok || len(d) != v.Len() {
		return false
	}
	for i := range d {
		if !holds(d[i], v.Index(i)) {
			return false
		}
	}
	return true
}

// bytesHold reports whether desired is base64 text of b. It decodes the
// text as the API server does, skipping line breaks: a chart's Secret data
// in a YAML `|` block (a trailing newline) or wrapped at 76 characters is
// stored as the same bytes, and a cached copy holds nothing else.
func bytesHold(desired any, b []byte) bool {
	s, ok := desired.(string)
	if !ok {
		return false
	}
	if s == base64.StdEncoding.EncodeToString(b) {
		return true // as Go writes it: the usual case, no decoding
	}
	decoded, err := base64.StdEncoding.DecodeString(s)
	return err == nil && bytes.Equal(decoded, b)
}

// jsonField is one field of a struct as the converter names it.
type jsonField struct {
	index []int // through inlined structs

	typeMeta bool // apiVersion or kind of an inlined metav1.TypeMeta

	omitempty bool
	omitzero  func(reflect.Value) bool
}

// omitted reports whether the converter leaves the field out.
func (f jsonField) omitted(v reflect.Value) bool {
	return (f.omitempty && isEmpty(v)) || (f.omitzero != nil && f.omitzero(v))
}

type jsonFields struct {
	byName   map[string]jsonField
	walkable bool
}

var jsonFieldsCache sync.Map // reflect.Type → jsonFields

var typeMetaType = reflect.TypeFor[metav1.TypeMeta]()

// jsonFieldsOf names t's fields as the converter does: the JSON tag's
// name, else the Go name; "-" skipped; an embedded struct's fields (an
// inlined TypeMeta, say) among t's own. A struct that embeds a pointer or
// a non-struct, or names two fields alike, is not walkable: the caller
// converts it whole, as before.
func jsonFieldsOf(t reflect.Type) (map[string]jsonField, bool) {
	if cached, ok := jsonFieldsCache.Load(t); ok {
		f := cached.(jsonFields)
		return f.byName, f.walkable
	}
	f := jsonFields{byName: map[string]jsonField{}}
	f.walkable = addJSONFields(f.byName, t, nil)
	jsonFieldsCache.Store(t, f)
	return f.byName, f.walkable
}

// addJSONFields adds t's fields, reached through the field indexes at, to
// byName, and reports whether t is walkable.
func addJSONFields(byName map[string]jsonField, t reflect.Type, at []int) bool {
	for i := range t.NumField() {
		field := t.Field(i)
		index := append(append([]int(nil), at...), i)
		tag, hasTag := field.Tag.Lookup("json")
		items := strings.Split(tag, ",")
		name := items[0]
		if name == "-" {
			continue
		}
		if name == "" || !hasTag {
			if field.Anonymous {
				// Inlined: its fields join t's. An empty struct is never
				// omitted, so omitempty on it changes nothing.
				if field.Type.Kind() != reflect.Struct || slices.Contains(items[1:], "omitzero") || !addJSONFields(byName, field.Type, index) {
					return false
				}
				continue
			}
			name = field.Name
		}
		info := jsonField{index: index, typeMeta: t == typeMetaType}
		for _, item := range items[1:] {
			switch item {
			case "omitempty":
				info.omitempty = true
			case "omitzero":
				info.omitzero = value.OmitZeroFunc(field.Type)
			}
		}
		if _, twice := byName[name]; twice {
			return false
		}
		byName[name] = info
	}
	return true
}

// isEmpty is the converter's test for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Map, reflect.Slice:
		return v.IsNil() || v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}
