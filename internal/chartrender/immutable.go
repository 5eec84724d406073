package chartrender

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// immutablePaths are, per kind a chart may render, the fields the API
// server refuses to change on an existing object whatever their values, as
// its update validation says (k8s.io/kubernetes v1.37):
// pkg/apis/apps/validation ValidateStatefulSetUpdate and
// ValidateDeploymentUpdate, pkg/apis/batch/validation ValidateJobSpecUpdate,
// pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate. A render
// that changes one, or sets or unsets it, cannot be applied over the last.
// Changes refused only for some values are immutableChecks'.
var immutablePaths = map[string][][]string{
	"StatefulSet": {{"spec", "volumeClaimTemplates"}, {"spec", "selector"}, {"spec", "serviceName"}, {"spec", "podManagementPolicy"}},
	"Deployment":  {{"spec", "selector"}},
	"Job": {{"spec", "template"}, {"spec", "selector"}, {"spec", "completionMode"}, {"spec", "podFailurePolicy"},
		{"spec", "backoffLimitPerIndex"}, {"spec", "successPolicy"}, {"spec", "managedBy"}},
	// A claim's whole spec but its storage request (shrinkChanges) and, once
	// bound, its volumeAttributesClassName.
	"PersistentVolumeClaim": {{"spec", "accessModes"}, {"spec", "selector"}, {"spec", "resources", "limits"},
		{"spec", "volumeName"}, {"spec", "storageClassName"}, {"spec", "volumeMode"}, {"spec", "dataSource"}, {"spec", "dataSourceRef"}},
}

// changeCheck returns the fields, dotted ("spec.completions"), of an object
// rendered as from and then as to that the API server refuses to change
// from the one to the other.
type changeCheck func(from, to map[string]any) []string

// immutableChecks are, per kind, the changes the API server refuses for some
// values only, or in one direction only: a claim may grow but not shrink, an
// immutable Secret may not become mutable though a mutable one may become
// immutable. From the same validation as immutablePaths, and
// pkg/apis/core/validation ValidateSecretUpdate and ValidateConfigMapUpdate.
var immutableChecks = map[string][]changeCheck{
	"PersistentVolumeClaim": {shrinkChanges},
	"Secret":                {secretTypeChanges, frozenChanges(secretContent)},
	"ConfigMap":             {frozenChanges(configMapContent)},
	"Job":                   {completionsChanges},
}

// ImmutableChanges lists, for each object both renders hold (same kind and
// name), the fields whose change from from to to the API server will not
// make on an existing object, as "StatefulSet/web spec.selector", sorted.
// A tenant moving from one render to the other would stall (ObjectInvalid)
// on each. The answer depends on the direction: a claim of "20Gi" in from
// and "10Gi" in to is a change refused, the other way round a growth made.
// Fields are compared as the API server stores them (normalize): a volume
// claim of "1024Mi" in one render and "1Gi" in the other is no change.
// Render's objects are already so written; objects built otherwise are
// normalized here when their raw fields differ.
func ImmutableChanges(from, to []*unstructured.Unstructured) []string {
	before := map[string]*unstructured.Unstructured{}
	for _, o := range from {
		before[o.GetKind()+"/"+o.GetName()] = o
	}
	var changes []string
	for _, o := range to {
		id := o.GetKind() + "/" + o.GetName()
		old, ok := before[id]
		if !ok {
			continue
		}
		for _, check := range immutableChecks[o.GetKind()] {
			for _, field := range check(old.Object, o.Object) {
				changes = append(changes, id+" "+field)
			}
		}
		var storedOld, storedNew *unstructured.Unstructured // normalized once, when needed
		for _, path := range immutablePaths[o.GetKind()] {
			a, _, _ := unstructured.NestedFieldNoCopy(old.Object, path...)
			b, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
			if reflect.DeepEqual(a, b) {
				continue
			}
			if storedOld == nil {
				storedOld, storedNew = normalize(old), normalize(o)
			}
			a, _, _ = unstructured.NestedFieldNoCopy(storedOld.Object, path...)
			b, _, _ = unstructured.NestedFieldNoCopy(storedNew.Object, path...)
			if !reflect.DeepEqual(a, b) {
				changes = append(changes, id+" "+strings.Join(path, "."))
			}
		}
	}
	sort.Strings(changes)
	return changes
}

// shrinkChanges refuses a claim's storage request made smaller, compared as
// quantities ("10Gi" is "10240Mi"): the API server lets a bound claim's
// request grow, when its class allows expansion, but not shrink.
func shrinkChanges(from, to map[string]any) []string {
	path := []string{"spec", "resources", "requests", "storage"}
	a, _, _ := unstructured.NestedFieldNoCopy(from, path...)
	b, _, _ := unstructured.NestedFieldNoCopy(to, path...)
	before, okBefore := quantityOf(a)
	after, okAfter := quantityOf(b)
	if okBefore && okAfter && after.Cmp(before) < 0 {
		return []string{strings.Join(path, ".")}
	}
	return nil
}

// secretTypeChanges refuses a Secret's type changed; an unset type is the
// "Opaque" the API server defaults it to.
func secretTypeChanges(from, to map[string]any) []string {
	if secretType(from) != secretType(to) {
		return []string{"type"}
	}
	return nil
}

func secretType(secret map[string]any) string {
	if t, _ := secret["type"].(string); t != "" {
		return t
	}
	return "Opaque"
}

// frozenChanges returns the check of a kind the API server freezes with
// immutable: true. When from sets it, to may neither unset it nor change
// any field of content (a field's keys and values, decoded); when from
// does not, to may change anything, and set immutable too.
func frozenChanges(content func(obj map[string]any) map[string]map[string]string) changeCheck {
	return func(from, to map[string]any) []string {
		if !isImmutable(from) {
			return nil
		}
		var fields []string
		if !isImmutable(to) {
			fields = append(fields, "immutable")
		}
		before, after := content(from), content(to)
		for name := range before {
			if !reflect.DeepEqual(before[name], after[name]) {
				fields = append(fields, name)
			}
		}
		return fields
	}
}

func isImmutable(obj map[string]any) bool {
	immutable, _ := obj["immutable"].(bool)
	return immutable
}

// secretContent is a Secret's data as the API server validates it:
// stringData written over data, which it folds so before validation.
func secretContent(secret map[string]any) map[string]map[string]string {
	data := decodedValues(secret["data"])
	for k, v := range stringValues(secret["stringData"]) {
		data[k] = v
	}
	return map[string]map[string]string{"data": data}
}

// configMapContent is a ConfigMap's data and binaryData, decoded.
func configMapContent(configMap map[string]any) map[string]map[string]string {
	return map[string]map[string]string{
		"data":       stringValues(configMap["data"]),
		"binaryData": decodedValues(configMap["binaryData"]),
	}
}

// decodedValues is stringValues with each value decoded from base64, as a
// Secret's data and a ConfigMap's binaryData are written, so that the same
// bytes encoded otherwise are equal. A value that is not base64 is kept as
// written: the API server refuses the object whatever kooper concludes.
func decodedValues(m any) map[string]string {
	out := stringValues(m)
	for k, v := range out {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			out[k] = string(b)
		}
	}
	return out
}

// stringValues is the map m of a rendered object with its values written
// as strings; empty, never nil, when m is not a map.
func stringValues(m any) map[string]string {
	fields, _ := m.(map[string]any)
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// completionsChanges refuses a Job's completions changed, save the one
// change the API server makes (batch validateCompletions): an Indexed
// Job's completions changed with its parallelism, to the same count.
func completionsChanges(from, to map[string]any) []string {
	a, _, _ := unstructured.NestedFieldNoCopy(from, "spec", "completions")
	b, _, _ := unstructured.NestedFieldNoCopy(to, "spec", "completions")
	if sameValue(a, b) || indexedInTandem(to) {
		return nil
	}
	return []string{"spec.completions"}
}

// indexedInTandem reports whether job is Indexed with as many completions
// as its parallelism (1 when unset, as the API server defaults it).
func indexedInTandem(job map[string]any) bool {
	mode, _, _ := unstructured.NestedString(job, "spec", "completionMode")
	completions, _, _ := unstructured.NestedFieldNoCopy(job, "spec", "completions")
	parallelism, found, _ := unstructured.NestedFieldNoCopy(job, "spec", "parallelism")
	if !found {
		parallelism = int64(1)
	}
	return mode == "Indexed" && completions != nil && sameValue(completions, parallelism)
}

// sameValue reports whether the scalars a and b are equal, or the same
// number written otherwise (3 and 3.0).
func sameValue(a, b any) bool {
	return reflect.DeepEqual(a, b) || sameQuantity(a, b)
}
