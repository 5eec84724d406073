package chartrender

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestImmutableChanges(t *testing.T) {
	obj := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{"name": name}, "spec": spec}}
	}
	claims := func(size string) []any {
		return []any{map[string]any{"metadata": map[string]any{"name": "data"}, "spec": map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": size}}}}}
	}
	selector := map[string]any{"matchLabels": map[string]any{"app": "web"}}
	from := []*unstructured.Unstructured{
		obj("StatefulSet", "redis", map[string]any{"replicas": int64(1), "volumeClaimTemplates": claims("1Gi"), "selector": selector}),
		obj("Deployment", "web", map[string]any{"replicas": int64(1), "selector": selector}),
		obj("Job", "migrate", map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never"}}}),
		obj("ConfigMap", "config", nil),
	}
	tests := []struct {
		name string
		to   []*unstructured.Unstructured
		want []string
	}{
		{"the same render", from, nil},
		{"counts and configuration may change", []*unstructured.Unstructured{
			obj("StatefulSet", "redis", map[string]any{"replicas": int64(3), "volumeClaimTemplates": claims("1Gi"), "selector": selector}),
			obj("Deployment", "web", map[string]any{"replicas": int64(3), "selector": selector}),
			obj("ConfigMap", "config", map[string]any{"x": "y"}),
		}, nil},
		{"a bigger volume, another selector, another Job", []*unstructured.Unstructured{
			obj("StatefulSet", "redis", map[string]any{"volumeClaimTemplates": claims("10Gi"), "selector": selector}),
			obj("Deployment", "web", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "front"}}}),
			obj("Job", "migrate", map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "OnFailure"}}}),
		}, []string{"Deployment/web spec.selector", "Job/migrate spec.template", "StatefulSet/redis spec.volumeClaimTemplates"}},
		{"objects only one render holds are new or pruned, not changed", []*unstructured.Unstructured{
			obj("StatefulSet", "cache", map[string]any{"volumeClaimTemplates": claims("10Gi")}),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ImmutableChanges(from, tt.to); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ImmutableChanges = %v, want %v", got, tt.want)
			}
		})
	}
}
