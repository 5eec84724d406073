package chartrender

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
)

// randomSecretTemplate is a Secret whose password the chart makes up at
// render time, as Helm users commonly write it: each fresh render gives
// another password.
const randomSecretTemplate = `apiVersion: v1
kind: Secret
metadata:
  name: x
stringData:
  username: admin
  password: {{ randAlphaNum 20 | quote }}
`

// withTemplate adds one template, by file name, to the test chart.
func withTemplate(name, data string) func(*chart.Chart) {
	return func(c *chart.Chart) {
		c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
	}
}

func TestNondeterministicNamesTheObjectAndField(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var r Renderer

	random := ArchiveFromBytes(packageChart(t, testChartDir, withTemplate("templates/x.yaml", randomSecretTemplate)))
	diff, err := r.Nondeterministic(ctx, random, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(diff).To(Equal(&Difference{Object: "Secret/x", Field: "stringData.password"}))
	g.Expect(diff.String()).To(Equal("Secret/x, field stringData.password"), "names where, never the values")

	steady := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	diff, err = r.Nondeterministic(ctx, steady, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(diff).To(BeNil())
}

// Where the made-up value sits decides the path named: under a key a
// dotted path cannot spell bare, or in a list.
func TestNondeterministicPaths(t *testing.T) {
	tests := []struct {
		name     string
		template string
		want     Difference
	}{
		{
			name: "an annotation that restarts the pods on every render",
			template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  annotations:
    rollme: {{ randAlphaNum 5 | quote }}
    checksum/seed: {{ uuidv4 | quote }}
`,
			want: Difference{Object: "ConfigMap/app", Field: `metadata.annotations["checksum/seed"]`},
		},
		{
			name: "a list item",
			template: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
imagePullSecrets:
  - name: fixed
  - name: pull-{{ randAlpha 8 | lower }}
`,
			want: Difference{Object: "ServiceAccount/app", Field: "imagePullSecrets[1].name"},
		},
		{
			name: "a certificate",
			template: `{{- $ca := genCA "tenant-ca" 365 }}
apiVersion: v1
kind: Secret
metadata:
  name: tls
data:
  ca.crt: {{ $ca.Cert | b64enc }}
`,
			want: Difference{Object: "Secret/tls", Field: `data["ca.crt"]`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			archive := ArchiveFromBytes(packageChart(t, testChartDir, withTemplate("templates/x.yaml", tc.template)))
			diff, err := r.Nondeterministic(context.Background(), archive, kooperValues(), testOptions())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(diff).To(HaveValue(Equal(tc.want)))
		})
	}
}

// A made-up name makes an object one render has and the other has not:
// the object is named, with no field.
func TestNondeterministicNamesAnObjectOfOneRenderOnly(t *testing.T) {
	g := NewWithT(t)
	var r Renderer
	template := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-{{ randAlpha 8 | lower }}\n"
	archive := ArchiveFromBytes(packageChart(t, testChartDir, withTemplate("templates/x.yaml", template)))
	diff, err := r.Nondeterministic(context.Background(), archive, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(diff).NotTo(BeNil())
	g.Expect(diff.Object).To(MatchRegexp(`^Secret/db-[a-z]{8}$`))
	g.Expect(diff.Field).To(BeEmpty())
	g.Expect(diff.String()).To(Equal(diff.Object + ", in one render and not the other"))
}

// The check renders around the result cache, twice, and only once per
// archive, values and options: a product reconciled again, or a chart
// already rendered for its tenants, costs no render.
func TestNondeterministicRendersTwiceOnceAndIsRemembered(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var r Renderer
	random := ArchiveFromBytes(packageChart(t, testChartDir, withTemplate("templates/x.yaml", randomSecretTemplate)))

	_, err := r.Render(ctx, random, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(1)))

	first, err := r.Nondeterministic(ctx, random, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first).NotTo(BeNil(), "the cached render is not taken for a second one")
	g.Expect(r.renders.Load()).To(Equal(int64(3)), "two fresh renders")

	again, err := r.Nondeterministic(ctx, random, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(first))
	g.Expect(r.renders.Load()).To(Equal(int64(3)), "the verdict is remembered")

	other := MergeValues(kooperValues(), map[string]any{"plan": "gold"})
	_, err = r.Nondeterministic(ctx, random, other, testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(5)), "other values are checked again")

	cached, err := r.Render(ctx, random, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(5)), "the check leaves the render's cache as it was")
	g.Expect(find(cached, "Secret", "x")).NotTo(BeNil())
}

// The check refuses what Render refuses, with Render's errors.
func TestNondeterministicErrors(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	var r Renderer
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))

	_, err := r.Nondeterministic(ctx, Archive{}, kooperValues(), testOptions())
	g.Expect(err).To(MatchError("empty chart archive"))
	_, err = r.Nondeterministic(ctx, archive, kooperValues(), Options{KubeVersion: "v1.37.2"})
	g.Expect(err).To(MatchError("render options need a release name and a namespace"))
	bad := MergeValues(kooperValues(), map[string]any{"extraObjects": []any{
		map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}},
	}})
	_, err = r.Nondeterministic(ctx, archive, bad, testOptions())
	var refused *RefusedError
	g.Expect(err).To(BeAssignableToTypeOf(refused))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = r.Nondeterministic(canceled, archive, kooperValues(), testOptions())
	g.Expect(err).To(MatchError(context.Canceled))
}
