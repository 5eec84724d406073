package chartrender

import (
	"context"
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// An object named as the API server would refuse for its kind is refused,
// so that nothing of the chart is recorded or applied: a tenant records
// each object's name in status.inventory (at most 253 characters) before
// the API server sees the object, and a longer name failed that write with
// 422 for ever. Names as the API server takes them are admitted: a
// ConfigMap of 253 characters, a Service of 63, a PodDisruptionBudget
// whose name is no DNS name (the API server asks only for a path segment).
func TestRenderRefusesANameItsKindCannotHave(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	named := func(apiVersion, kind, name string) map[string]any {
		return map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}
	}
	tests := []struct {
		name string
		obj  map[string]any
		// want is the refusal, "" for an object admitted.
		want string
	}{
		{name: "a ConfigMap of 254 characters", obj: named("v1", "ConfigMap", strings.Repeat("c", 254)),
			want: "core/ConfigMap " + strings.Repeat("c", 254) + ": " + ReasonInvalidName + " (must be no more than 253 characters)"},
		{name: "a ConfigMap of 253 characters", obj: named("v1", "ConfigMap", strings.Repeat("c", 253))},
		{name: "a Secret with capitals", obj: named("v1", "Secret", "Creds"),
			want: "core/Secret Creds: " + ReasonInvalidName + " (a lowercase RFC 1123 subdomain must consist of"},
		{name: "a Deployment with a slash", obj: named("apps/v1", "Deployment", "web/1"),
			want: "apps/Deployment web/1: " + ReasonInvalidName},
		{name: "a Service of 64 characters", obj: named("v1", "Service", strings.Repeat("s", 64)),
			want: "core/Service " + strings.Repeat("s", 64) + ": " + ReasonInvalidName + " (must be no more than 63 characters)"},
		{name: "a Service with a dot", obj: named("v1", "Service", "web.internal"),
			want: "core/Service web.internal: " + ReasonInvalidName + " (must not contain dots)"},
		{name: "a Service of 63 characters", obj: named("v1", "Service", strings.Repeat("s", 63))},
		{name: "a StatefulSet of 64 characters", obj: named("apps/v1", "StatefulSet", strings.Repeat("d", 64)),
			want: "apps/StatefulSet " + strings.Repeat("d", 64) + ": " + ReasonInvalidName + " (must be no more than 63 characters)"},
		{name: "a CronJob of 53 characters", obj: named("batch/v1", "CronJob", strings.Repeat("j", 53)),
			want: "batch/CronJob " + strings.Repeat("j", 53) + ": " + ReasonInvalidName + " (must be no more than 52 characters"},
		{name: "a CronJob of 52 characters", obj: named("batch/v1", "CronJob", strings.Repeat("j", 52))},
		{name: "a PodDisruptionBudget with capitals", obj: named("policy/v1", "PodDisruptionBudget", "Web_PDB")},
		{name: "a PodDisruptionBudget of 254 characters", obj: named("policy/v1", "PodDisruptionBudget", strings.Repeat("p", 254)),
			want: "policy/PodDisruptionBudget " + strings.Repeat("p", 254) + ": " + ReasonInvalidName + " (must be no more than 253 characters)"},
		{name: "a PodDisruptionBudget named ..", obj: named("policy/v1", "PodDisruptionBudget", ".."),
			want: "policy/PodDisruptionBudget ..: " + ReasonInvalidName + ` (may not be '..')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			objs, err := r.Render(context.Background(), archive, MergeValues(kooperValues(), map[string]any{"extraObjects": []any{tt.obj}}), testOptions())
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ids(objs)).To(ContainElement(tt.obj["kind"].(string) + "/" + tt.obj["metadata"].(map[string]any)["name"].(string)))
				return
			}
			var refused *RefusedError
			g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
			g.Expect(refused.Objects).To(HaveLen(1))
			g.Expect(refused.Objects[0].String()).To(HavePrefix(tt.want))
		})
	}
}
