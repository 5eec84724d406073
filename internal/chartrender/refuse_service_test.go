package chartrender

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
)

// A Service of type ExternalName, or with externalIPs (CVE-2020-8554), is
// refused. ExternalName: an Ingress of the chart whose
// backend it is makes the ingress controller, whose namespace every
// tenant's NetworkPolicy admits, proxy to the name it gives, such as
// another tenant's Service (app.tenant-<other>.svc), past that tenant's
// isolation. Every other type is admitted: each selects pods of the
// tenant's own namespace.
func TestRenderRefusesAServiceThatLeavesTheTenant(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	service := func(spec map[string]any) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "other"}, "spec": spec}
	}
	tests := []struct {
		name string
		obj  map[string]any
		// want is the refusal, "" for a Service admitted.
		want string
	}{
		{name: "ExternalName to another tenant", obj: service(map[string]any{"type": "ExternalName", "externalName": "app.tenant-i-other.svc.cluster.local"}),
			want: "core/Service other: " + ReasonExternalName},
		{name: "ExternalName to the internet", obj: service(map[string]any{"type": "ExternalName", "externalName": "example.com"}),
			want: "core/Service other: " + ReasonExternalName},
		{name: "externalIPs taking another address's traffic", obj: service(map[string]any{"type": "ClusterIP",
			"ports": []any{map[string]any{"port": int64(443)}}, "externalIPs": []any{"10.247.0.1"}}),
			want: "core/Service other: " + ReasonExternalIPs},
		{name: "no externalIPs", obj: service(map[string]any{"ports": []any{map[string]any{"port": int64(80)}}, "externalIPs": []any{}})},
		{name: "ClusterIP", obj: service(map[string]any{"type": "ClusterIP", "ports": []any{map[string]any{"port": int64(80)}}})},
		{name: "no type", obj: service(map[string]any{"ports": []any{map[string]any{"port": int64(80)}}})},
		{name: "no spec", obj: service(nil)},
		{name: "NodePort", obj: service(map[string]any{"type": "NodePort", "ports": []any{map[string]any{"port": int64(80)}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			objs, err := r.Render(context.Background(), archive, MergeValues(kooperValues(), map[string]any{"extraObjects": []any{tt.obj}}), testOptions())
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ids(objs)).To(ContainElement("Service/other"))
				return
			}
			var refused *RefusedError
			g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
			g.Expect(refused.Objects).To(ConsistOf(HaveField("Name", "other")))
			g.Expect(refused.Objects[0].String()).To(Equal(tt.want))
		})
	}
}
