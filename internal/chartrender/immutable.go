package chartrender

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// immutablePaths are, per kind a chart may render, the fields the API
// server refuses to change on an existing object (apps/v1 and batch/v1
// validation): a render that changes one cannot be applied over the last.
var immutablePaths = map[string][][]string{
	"StatefulSet": {{"spec", "volumeClaimTemplates"}, {"spec", "selector"}, {"spec", "serviceName"}, {"spec", "podManagementPolicy"}},
	"Deployment":  {{"spec", "selector"}},
	"Job":         {{"spec", "template"}, {"spec", "selector"}, {"spec", "completionMode"}},
}

// ImmutableChanges lists, for each object both renders hold (same kind and
// name), the fields to changes from from that the API server will not
// change on an existing object, as "StatefulSet/web spec.selector", sorted.
// A tenant moving from one render to the other would stall (ObjectInvalid)
// on each. Fields are compared as the API server stores them (normalize):
// a volume claim of "1024Mi" in one render and "1Gi" in the other is no
// change. Render's objects are already so written; objects built otherwise
// are normalized here when their raw fields differ.
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
