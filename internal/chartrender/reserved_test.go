package chartrender

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
)

// A Secret or ConfigMap named as one kooper writes into every tenant
// namespace is refused: applied with kooper's field owner and forced, it
// replaced kooper's own (the buyer's derived password in
// kooper-credentials, the SSO client in kooper-sso), and the two writers
// then took turns. The same name in another kind, and a name that only
// begins like one of kooper's, are admitted.
func TestRenderRefusesAnObjectKooperWrites(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	named := func(kind, name string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name}}
	}
	tests := []struct {
		name string
		obj  map[string]any
		// want is the start of the refusal, "" for an object admitted.
		want string
	}{
		{name: "the credentials Secret", obj: named("Secret", "kooper-credentials"),
			want: "core/Secret kooper-credentials: " + ReasonReservedName},
		{name: "the SSO Secret", obj: named("Secret", "kooper-sso"),
			want: "core/Secret kooper-sso: " + ReasonReservedName},
		{name: "the directory Secret", obj: named("Secret", "kooper-directory"),
			want: "core/Secret kooper-directory: " + ReasonReservedName},
		{name: "a directory users shard", obj: named("Secret", "kooper-directory-users-000"),
			want: "core/Secret kooper-directory-users-000: " + ReasonReservedName},
		{name: "a directory departments shard", obj: named("Secret", "kooper-directory-departments-012"),
			want: "core/Secret kooper-directory-departments-012: " + ReasonReservedName},
		{name: "the expiry notice ConfigMap", obj: named("ConfigMap", "kooper-notice"),
			want: "core/ConfigMap kooper-notice: " + ReasonReservedName},

		{name: "a Secret named like the credentials", obj: named("Secret", "kooper-credentials-app")},
		{name: "a Secret named like the SSO Secret", obj: named("Secret", "kooper-ssox")},
		{name: "a Secret named like the directory", obj: named("Secret", "kooper-directoryx")},
		{name: "a ConfigMap named like the notice", obj: named("ConfigMap", "kooper-notice-app")},
		{name: "a ConfigMap named as the credentials Secret", obj: named("ConfigMap", "kooper-credentials")},
		{name: "a Secret named as the notice ConfigMap", obj: named("Secret", "kooper-notice")},
		{name: "a ServiceAccount named as the SSO Secret", obj: named("ServiceAccount", "kooper-sso")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			objs, err := r.Render(context.Background(), archive, MergeValues(kooperValues(), map[string]any{"extraObjects": []any{tt.obj}}), testOptions())
			name := tt.obj["metadata"].(map[string]any)["name"].(string)
			if tt.want == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ids(objs)).To(ContainElement(tt.obj["kind"].(string) + "/" + name))
				return
			}
			var refused *RefusedError
			g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
			g.Expect(refused.Objects).To(ConsistOf(HaveField("Name", name)))
			g.Expect(refused.Objects[0].String()).To(HavePrefix(tt.want))
		})
	}
}
