package chartrender

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The API server's update validation (k8s.io/kubernetes v1.37,
// pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate,
// ValidateSecretUpdate, ValidateConfigMapUpdate; pkg/apis/batch/validation
// ValidateJobSpecUpdate) refuses more than a workload's selector: a plan
// change that makes one of these changes was paid for and then stalled.
func TestImmutableChangesOfClaimsConfigurationAndJobs(t *testing.T) {
	object := func(kind string, fields map[string]any) *unstructured.Unstructured {
		o := map[string]any{"kind": kind, "metadata": map[string]any{"name": "x"}}
		for k, v := range fields {
			o[k] = v
		}
		return &unstructured.Unstructured{Object: o}
	}
	claim := func(size string, spec map[string]any) *unstructured.Unstructured {
		s := map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": size}}}
		for k, v := range spec {
			s[k] = v
		}
		return object("PersistentVolumeClaim", map[string]any{"spec": s})
	}
	job := func(spec map[string]any) *unstructured.Unstructured {
		s := map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never"}}}
		for k, v := range spec {
			s[k] = v
		}
		return object("Job", map[string]any{"spec": s})
	}
	tests := []struct {
		name     string
		from, to *unstructured.Unstructured
		want     []string
	}{
		// PersistentVolumeClaim: only a bound claim's storage request may grow.
		{"a claim grown", claim("10Gi", nil), claim("20Gi", nil), nil},
		{"a claim written otherwise", claim("10Gi", nil), claim("10240Mi", nil), nil},
		{"a claim shrunk", claim("20Gi", nil), claim("10Gi", nil), []string{"PersistentVolumeClaim/x spec.resources.requests.storage"}},
		{"a claim shrunk by a mebibyte", claim("10Gi", nil), claim("10239Mi", nil), []string{"PersistentVolumeClaim/x spec.resources.requests.storage"}},
		{"a claim's class", claim("1Gi", map[string]any{"storageClassName": "fast"}), claim("1Gi", map[string]any{"storageClassName": "slow"}),
			[]string{"PersistentVolumeClaim/x spec.storageClassName"}},
		{"a claim's class set", claim("1Gi", nil), claim("1Gi", map[string]any{"storageClassName": "slow"}),
			[]string{"PersistentVolumeClaim/x spec.storageClassName"}},
		{"a claim's access modes", claim("1Gi", nil), claim("1Gi", map[string]any{"accessModes": []any{"ReadWriteMany"}}),
			[]string{"PersistentVolumeClaim/x spec.accessModes"}},
		{"a claim's volume mode", claim("1Gi", map[string]any{"volumeMode": "Filesystem"}), claim("1Gi", map[string]any{"volumeMode": "Block"}),
			[]string{"PersistentVolumeClaim/x spec.volumeMode"}},
		{"a claim's sources, selector, volume and limits", claim("1Gi", nil), claim("1Gi", map[string]any{
			"dataSource":    map[string]any{"kind": "PersistentVolumeClaim", "name": "seed"},
			"dataSourceRef": map[string]any{"kind": "PersistentVolumeClaim", "name": "seed"},
			"selector":      map[string]any{"matchLabels": map[string]any{"tier": "gold"}},
			"volumeName":    "pv-1",
			"resources":     map[string]any{"requests": map[string]any{"storage": "1Gi"}, "limits": map[string]any{"storage": "2Gi"}},
		}), []string{
			"PersistentVolumeClaim/x spec.dataSource", "PersistentVolumeClaim/x spec.dataSourceRef",
			"PersistentVolumeClaim/x spec.resources.limits", "PersistentVolumeClaim/x spec.selector", "PersistentVolumeClaim/x spec.volumeName",
		}},
		{"a bound claim's attributes class may change", claim("1Gi", map[string]any{"volumeAttributesClassName": "gold"}),
			claim("1Gi", map[string]any{"volumeAttributesClassName": "silver"}), nil},

		// Secret and ConfigMap: immutable: true freezes the content and itself.
		{"an immutable Secret's data", object("Secret", map[string]any{"immutable": true, "data": map[string]any{"k": "YQ=="}}),
			object("Secret", map[string]any{"immutable": true, "data": map[string]any{"k": "Yg=="}}), []string{"Secret/x data"}},
		{"an immutable Secret's stringData", object("Secret", map[string]any{"immutable": true, "stringData": map[string]any{"k": "a"}}),
			object("Secret", map[string]any{"immutable": true, "stringData": map[string]any{"k": "b"}}), []string{"Secret/x data"}},
		{"an immutable Secret's data written as stringData", object("Secret", map[string]any{"immutable": true, "data": map[string]any{"k": "YQ=="}}),
			object("Secret", map[string]any{"immutable": true, "stringData": map[string]any{"k": "a"}}), nil},
		{"an immutable Secret made mutable", object("Secret", map[string]any{"immutable": true}), object("Secret", map[string]any{"immutable": false}),
			[]string{"Secret/x immutable"}},
		{"a mutable Secret made immutable with other data", object("Secret", map[string]any{"data": map[string]any{"k": "YQ=="}}),
			object("Secret", map[string]any{"immutable": true, "data": map[string]any{"k": "Yg=="}}), nil},
		{"a mutable Secret's data", object("Secret", map[string]any{"data": map[string]any{"k": "YQ=="}}),
			object("Secret", map[string]any{"data": map[string]any{"k": "Yg=="}}), nil},
		{"a Secret's type", object("Secret", map[string]any{"type": "Opaque"}), object("Secret", map[string]any{"type": "kubernetes.io/tls"}),
			[]string{"Secret/x type"}},
		{"a Secret's type as defaulted", object("Secret", nil), object("Secret", map[string]any{"type": "Opaque"}), nil},
		{"an immutable ConfigMap's data", object("ConfigMap", map[string]any{"immutable": true, "data": map[string]any{"k": "a"}}),
			object("ConfigMap", map[string]any{"immutable": true, "data": map[string]any{"k": "b"}}), []string{"ConfigMap/x data"}},
		{"an immutable ConfigMap's binaryData", object("ConfigMap", map[string]any{"immutable": true}),
			object("ConfigMap", map[string]any{"immutable": true, "binaryData": map[string]any{"k": "YQ=="}}), []string{"ConfigMap/x binaryData"}},
		{"an immutable ConfigMap's immutable unset", object("ConfigMap", map[string]any{"immutable": true, "data": map[string]any{"k": "a"}}),
			object("ConfigMap", map[string]any{"data": map[string]any{"k": "a"}}), []string{"ConfigMap/x immutable"}},
		{"a mutable ConfigMap's data", object("ConfigMap", map[string]any{"data": map[string]any{"k": "a"}}),
			object("ConfigMap", map[string]any{"data": map[string]any{"k": "b"}}), nil},

		// Job: more than its template, selector and completion mode.
		{"a Job's completions", job(map[string]any{"completions": int64(1)}), job(map[string]any{"completions": int64(3)}),
			[]string{"Job/x spec.completions"}},
		{"an Indexed Job's completions with its parallelism", job(map[string]any{"completionMode": "Indexed", "completions": int64(3), "parallelism": int64(3)}),
			job(map[string]any{"completionMode": "Indexed", "completions": int64(5), "parallelism": int64(5)}), nil},
		{"an Indexed Job's completions alone", job(map[string]any{"completionMode": "Indexed", "completions": int64(3), "parallelism": int64(2)}),
			job(map[string]any{"completionMode": "Indexed", "completions": int64(5), "parallelism": int64(2)}), []string{"Job/x spec.completions"}},
		{"a Job's failure and success policies", job(nil), job(map[string]any{
			"podFailurePolicy":     map[string]any{"rules": []any{map[string]any{"action": "Ignore"}}},
			"backoffLimitPerIndex": int64(2),
			"successPolicy":        map[string]any{"rules": []any{map[string]any{"succeededCount": int64(1)}}},
			"managedBy":            "example.com/queue",
		}), []string{"Job/x spec.backoffLimitPerIndex", "Job/x spec.managedBy", "Job/x spec.podFailurePolicy", "Job/x spec.successPolicy"}},
		{"a Job's counts and limits may change", job(map[string]any{"parallelism": int64(1), "backoffLimit": int64(6)}),
			job(map[string]any{"parallelism": int64(4), "backoffLimit": int64(2), "activeDeadlineSeconds": int64(60),
				"ttlSecondsAfterFinished": int64(60), "suspend": true, "manualSelector": false}), nil},

		// StatefulSet: selector, volumeClaimTemplates, serviceName and
		// podManagementPolicy are all ValidateStatefulSetUpdate refuses.
		{"a StatefulSet's other fields may change", object("StatefulSet", map[string]any{"spec": map[string]any{"replicas": int64(1)}}),
			object("StatefulSet", map[string]any{"spec": map[string]any{"replicas": int64(3), "minReadySeconds": int64(10), "revisionHistoryLimit": int64(2),
				"updateStrategy": map[string]any{"type": "OnDelete"}, "ordinals": map[string]any{"start": int64(1)},
				"persistentVolumeClaimRetentionPolicy": map[string]any{"whenDeleted": "Delete"}}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ImmutableChanges([]*unstructured.Unstructured{tt.from}, []*unstructured.Unstructured{tt.to})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ImmutableChanges = %v, want %v", got, tt.want)
			}
		})
	}
}
