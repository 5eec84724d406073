package chartrender

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// absent is the want of a field the stored form leaves out.
const absent = "<absent>"

// A rendered object is what the API server stores of it: kooper compares
// its render with the cached copy to skip an apply, and a value written
// otherwise than the API server writes it (cpu: 1 stored as "1") never
// matches, so the object was applied again on every pass. Each case is one
// document of a chart; want is the value at path after Render, or absent.
func TestRenderWritesObjectsAsTheAPIServerStoresThem(t *testing.T) {
	container := func(fields string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app:1\n" + fields
	}
	podSpec := func(fields string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  template:\n    spec:\n" + fields + "      containers:\n        - name: app\n          image: app:1\n"
	}
	resources := func(path ...string) []string {
		return append([]string{"spec", "template", "spec", "containers", "0", "resources"}, path...)
	}
	cases := []struct {
		name, doc, kind string
		path            []string
		want            any
	}{
		// Quantities, in their canonical form.
		{"cpu: 1", container("          resources: {requests: {cpu: 1}}\n"), "Deployment", resources("requests", "cpu"), "1"},
		{"cpu: 0.5", container("          resources: {requests: {cpu: 0.5}}\n"), "Deployment", resources("requests", "cpu"), "500m"},
		{"cpu: 1000m", container("          resources: {limits: {cpu: \"1000m\"}}\n"), "Deployment", resources("limits", "cpu"), "1"},
		{"memory: 1024Mi", container("          resources: {limits: {memory: 1024Mi}}\n"), "Deployment", resources("limits", "memory"), "1Gi"},
		{"PVC storage: 1024Mi", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: %s\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1024Mi}}\n",
			"PersistentVolumeClaim", []string{"spec", "resources", "requests", "storage"}, "1Gi"},
		{"volumeClaimTemplate storage: 1024Mi", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: %s\nspec:\n  serviceName: db\n  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec: {resources: {requests: {storage: 1024Mi}}}\n",
			"StatefulSet", []string{"spec", "volumeClaimTemplates", "0", "spec", "resources", "requests", "storage"}, "1Gi"},
		{"HPA averageValue: 1000m", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: %s\nspec:\n  maxReplicas: 3\n  metrics:\n    - type: Pods\n      pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: 1000m}}\n",
			"HorizontalPodAutoscaler", []string{"spec", "metrics", "0", "pods", "target", "averageValue"}, "1"},
		// Empty values the stored form omits.
		{"tolerations: []", podSpec("      tolerations: []\n"), "Deployment", []string{"spec", "template", "spec", "tolerations"}, absent},
		{"env: []", container("          env: []\n"), "Deployment", []string{"spec", "template", "spec", "containers", "0", "env"}, absent},
		{"serviceAccountName: \"\"", podSpec("      serviceAccountName: \"\"\n"), "Deployment", []string{"spec", "template", "spec", "serviceAccountName"}, absent},
		{"hostNetwork: false", podSpec("      hostNetwork: false\n"), "Deployment", []string{"spec", "template", "spec", "hostNetwork"}, absent},
		{"initialDelaySeconds: 0", container("          readinessProbe: {initialDelaySeconds: 0, tcpSocket: {port: 80}}\n"), "Deployment",
			[]string{"spec", "template", "spec", "containers", "0", "readinessProbe", "initialDelaySeconds"}, absent},
		{"clusterIP: \"\"", "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  clusterIP: \"\"\n  ports: [{port: 80}]\n", "Service", []string{"spec", "clusterIP"}, absent},
		// What must not change.
		{"replicas: 0 is a count, not an empty value", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 0\n", "Deployment", []string{"spec", "replicas"}, int64(0)},
		{"a numeric targetPort stays a number", "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n", "Service", []string{"spec", "ports", "0", "targetPort"}, int64(8080)},
		{"a named targetPort stays a name", "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  ports: [{port: 80, targetPort: http}]\n", "Service", []string{"spec", "ports", "0", "targetPort"}, "http"},
		{"a Secret's stringData stays for the applier to fold", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\nstringData: {password: s3cret}\n", "Secret", []string{"stringData", "password"}, "s3cret"},
		{"an empty ConfigMap value is a value", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata: {empty: \"\"}\n", "ConfigMap", []string{"data", "empty"}, ""},
		{"a CronJob's suspend: false is kept (a pointer)", "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: %s\nspec:\n  schedule: \"0 3 * * *\"\n  suspend: false\n  jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: a}]}}}}\n",
			"CronJob", []string{"spec", "suspend"}, false},
		// Fields the stored form has and the render does not are not added:
		// kooper claims only what the chart sets.
		{"no strategy added", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 1\n", "Deployment", []string{"spec", "strategy"}, absent},
		{"no status added", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 1\n", "Deployment", []string{"status"}, absent},
		{"no creationTimestamp added", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 1\n", "Deployment", []string{"metadata", "creationTimestamp"}, absent},
	}

	var templates []*chart.File
	for i, c := range cases {
		doc := fmt.Sprintf(c.doc, fmt.Sprintf("case-%d", i))
		templates = append(templates, &chart.File{Name: fmt.Sprintf("templates/case-%d.yaml", i), Data: []byte(doc)})
	}
	objs := renderTemplates(t, templates)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := find(objs, c.kind, fmt.Sprintf("case-%d", i))
			if obj == nil {
				t.Fatalf("no %s case-%d in the render", c.kind, i)
			}
			got, found := fieldAt(obj.Object, c.path)
			if !found {
				got = absent
			}
			NewWithT(t).Expect(got).To(Equal(c.want), "%s", strings.Join(c.path, "."))
		})
	}
}

// An object the typed round trip would change beyond those normalisations
// is rendered as written, so that the API server refuses it as it did
// before: a field the Go type lacks would be dropped without a word (the
// chart's author would never learn of the typo), a count over int32 would
// wrap around. So is an object of a version client-go does not know.
func TestRenderKeepsAnObjectTheRoundTripWouldChange(t *testing.T) {
	docs := map[string]string{
		"a field the type lacks": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\n  namespace: tenant-t1\nspec:\n  replica: 3\n" +
			"  template:\n    spec:\n      containers: [{name: a, image: a, resources: {requests: {cpu: 1}}}]\n",
		"a count over int32":                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: huge\n  namespace: tenant-t1\nspec:\n  replicas: 3000000000\n",
		"a version client-go does not know": "apiVersion: policy/v9\nkind: PodDisruptionBudget\nmetadata:\n  name: future\n  namespace: tenant-t1\nspec:\n  minAvailable: 1000m\n  hostNetwork: false\n",
		"a Secret whose data is not base64": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: raw\n  namespace: tenant-t1\ndata: {key: not-base64!}\nstringData: {x: \"\"}\n",
	}
	var templates []*chart.File
	for name, doc := range docs {
		templates = append(templates, &chart.File{Name: "templates/" + strings.ReplaceAll(name, " ", "-") + ".yaml", Data: []byte(doc)})
	}
	objs := renderTemplates(t, templates)
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			want, err := decode(doc)
			g.Expect(err).NotTo(HaveOccurred())
			got := find(objs, want.GetKind(), want.GetName())
			g.Expect(got).NotTo(BeNil())
			g.Expect(got.Object).To(Equal(want.Object), "rendered as written")
		})
	}
}

// An object already written as the API server stores it is rendered
// exactly as before: the hash of what kooper applies does not change, so an
// upgrade of kooper does not apply every tenant's objects once more.
func TestRenderLeavesACanonicalObjectAsWritten(t *testing.T) {
	g := NewWithT(t)
	objs, err := (&Renderer{}).Render(context.Background(), ArchiveFromBytes(packageChart(t, testChartDir, nil)), kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	web := find(objs, "Deployment", "t1-web")
	g.Expect(web).NotTo(BeNil())
	g.Expect(web.Object["spec"]).To(Equal(map[string]any{
		"replicas": int64(1),
		"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/component": "web"}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/component": "web"}},
			"spec": map[string]any{"containers": []any{map[string]any{
				"name": "web", "image": "registry.example.com/crm:1.2.0",
				"env": []any{map[string]any{"name": "CRM_NAMESPACE", "value": "tenant-t1"}},
			}}},
		},
	}))
}

// Two renders that write the same volume claim otherwise ("1024Mi" and
// "1Gi") do not change it: a plan pair was refused for an immutable change
// that the API server, which stores both as "1Gi", would never see.
func TestImmutableChangesComparesWhatTheAPIServerStores(t *testing.T) {
	redis := func(storage string, extra map[string]any) *unstructured.Unstructured {
		claim := map[string]any{"metadata": map[string]any{"name": "data"},
			"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": storage}}}}
		for k, v := range extra {
			claim["spec"].(map[string]any)[k] = v
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "redis"},
			"spec": map[string]any{"serviceName": "redis", "volumeClaimTemplates": []any{claim}},
		}}
	}
	g := NewWithT(t)
	from := []*unstructured.Unstructured{redis("1024Mi", map[string]any{"volumeName": ""})}
	g.Expect(ImmutableChanges(from, []*unstructured.Unstructured{redis("1Gi", nil)})).To(BeEmpty(), "the same claim, written otherwise")
	g.Expect(ImmutableChanges(from, []*unstructured.Unstructured{redis("2Gi", nil)})).To(Equal([]string{"StatefulSet/redis spec.volumeClaimTemplates"}),
		"a bigger claim is still a change")
}

// renderTemplates renders, for tenant t1, a chart whose templates are
// exactly templates.
func renderTemplates(t *testing.T, templates []*chart.File) []*unstructured.Unstructured {
	t.Helper()
	archive := ArchiveFromBytes(packageChart(t, testChartDir, func(c *chart.Chart) { c.Templates = templates }))
	objs, err := (&Renderer{}).Render(context.Background(), archive, kooperValues(), testOptions())
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return objs
}

// fieldAt reads the value at path in obj, through maps and (by index)
// lists.
func fieldAt(obj any, path []string) (any, bool) {
	for _, p := range path {
		switch o := obj.(type) {
		case map[string]any:
			v, ok := o[p]
			if !ok {
				return nil, false
			}
			obj = v
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(o) {
				return nil, false
			}
			obj = o[i]
		default:
			return nil, false
		}
	}
	return obj, true
}
