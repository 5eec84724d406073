package chartrender

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kooperValues are the values kooper adds for tenant t1.
func kooperValues() map[string]any {
	return map[string]any{"kooper": map[string]any{"instanceId": "t1"}}
}

func TestRender(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	tests := []struct {
		name   string
		values map[string]any
		opts   Options
		check  func(g Gomega, objs []*unstructured.Unstructured)
	}{
		{
			name:   "every part, sorted, test hook and NOTES.txt dropped",
			values: kooperValues(),
			opts:   testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				g.Expect(ids(objs)).To(Equal([]string{
					"ConfigMap/t1-config",
					"Service/t1-web",
					"Deployment/t1-web",
					"Deployment/t1-worker",
					"StatefulSet/t1-redis",
					"Job/t1-migrate",
					"Ingress/t1-web",
				}))
				for _, o := range objs {
					g.Expect(o.GetNamespace()).To(Equal("tenant-t1"), "%s/%s", o.GetKind(), o.GetName())
				}
			},
		},
		{
			name:   "release, capabilities and values reach the templates",
			values: kooperValues(),
			opts:   testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				cm := find(objs, "ConfigMap", "t1-config")
				g.Expect(cm).NotTo(BeNil())
				g.Expect(cm.Object["data"]).To(Equal(map[string]any{
					"instanceId":  "t1",
					"namespace":   "tenant-t1",
					"plan":        "basic",
					"kubeVersion": "v1.37.2",
					"isInstall":   "true",
					"revision":    "1",
				}))
				web := find(objs, "Deployment", "t1-web")
				g.Expect(web).NotTo(BeNil())
				g.Expect(web.GetLabels()).To(HaveKeyWithValue("kooper.io/instance-id", "t1"))
				g.Expect(web.Object["spec"]).To(HaveKeyWithValue("replicas", int64(1)))
				ing := find(objs, "Ingress", "t1-web")
				g.Expect(ing).NotTo(BeNil())
				rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
				g.Expect(rules).To(HaveLen(1))
				g.Expect(rules[0]).To(HaveKeyWithValue("host", "t1.crm.example.com"))
			},
		},
		{
			name:   "replicas per plan",
			values: MergeValues(map[string]any{"web": map[string]any{"replicas": 3}, "worker": map[string]any{"replicas": 2}}, kooperValues()),
			opts:   testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				g.Expect(find(objs, "Deployment", "t1-web").Object["spec"]).To(HaveKeyWithValue("replicas", int64(3)))
				g.Expect(find(objs, "Deployment", "t1-worker").Object["spec"]).To(HaveKeyWithValue("replicas", int64(2)))
			},
		},
		{
			name:   "the StatefulSet keeps its volumeClaimTemplate",
			values: MergeValues(map[string]any{"redis": map[string]any{"storage": "5Gi"}}, kooperValues()),
			opts:   testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				vcts, _, _ := unstructured.NestedSlice(find(objs, "StatefulSet", "t1-redis").Object, "spec", "volumeClaimTemplates")
				g.Expect(vcts).To(HaveLen(1))
				storage, _, _ := unstructured.NestedString(vcts[0].(map[string]any), "spec", "resources", "requests", "storage")
				g.Expect(storage).To(Equal("5Gi"))
			},
		},
		{
			name:   "other hooks are kept as ordinary objects",
			values: kooperValues(),
			opts:   testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				job := find(objs, "Job", "t1-migrate")
				g.Expect(job).NotTo(BeNil())
				g.Expect(job.GetAnnotations()).To(HaveKeyWithValue("helm.sh/hook", "pre-install,pre-upgrade"))
				g.Expect(find(objs, "Pod", "t1-test-connection")).To(BeNil())
			},
		},
		{
			name: "test hooks dropped in every spelling, an object in the tenant's namespace kept",
			values: MergeValues(kooperValues(), map[string]any{"extraObjects": []any{
				hookPod("p1", "test-success"),
				hookPod("p2", "pre-install, test-failure"),
				map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s", "namespace": "tenant-t1"}},
			}}),
			opts: testOptions(),
			check: func(g Gomega, objs []*unstructured.Unstructured) {
				g.Expect(ids(objs)).NotTo(ContainElement(HavePrefix("Pod/")))
				g.Expect(ids(objs)[0]).To(Equal("Secret/s"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			objs, err := r.Render(context.Background(), archive, tt.values, tt.opts)
			g.Expect(err).NotTo(HaveOccurred())
			tt.check(g, objs)
		})
	}
}

func hookPod(name, hook string) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "annotations": map[string]any{"helm.sh/hook": hook}},
	}
}

func TestRenderValuesPrecedence(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	product := map[string]any{"image": "registry.example.com/crm:2.0.0", "web": map[string]any{"replicas": 2, "host": "crm.example.org"}}
	plan := map[string]any{"plan": "gold", "web": map[string]any{"replicas": 4}}
	tests := []struct {
		name                 string
		values               map[string]any
		wantImage, wantPlan  string
		wantReplicas         int64
		wantHost, wantWorker string
	}{
		{
			name:      "the chart's values.yaml alone",
			values:    kooperValues(),
			wantImage: "registry.example.com/crm:1.2.0", wantPlan: "basic", wantReplicas: 1,
			wantHost: "t1.crm.example.com",
		},
		{
			name:      "product over the chart",
			values:    MergeValues(product, kooperValues()),
			wantImage: "registry.example.com/crm:2.0.0", wantPlan: "basic", wantReplicas: 2,
			wantHost: "t1.crm.example.org",
		},
		{
			name:      "plan over product over the chart",
			values:    MergeValues(product, plan, kooperValues()),
			wantImage: "registry.example.com/crm:2.0.0", wantPlan: "gold", wantReplicas: 4,
			wantHost: "t1.crm.example.org",
		},
		{
			name:      "kooper's over the plan",
			values:    MergeValues(product, plan, map[string]any{"kooper": map[string]any{"instanceId": "forged"}}, kooperValues()),
			wantImage: "registry.example.com/crm:2.0.0", wantPlan: "gold", wantReplicas: 4,
			wantHost: "t1.crm.example.org",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			objs, err := r.Render(context.Background(), archive, tt.values, testOptions())
			g.Expect(err).NotTo(HaveOccurred())
			web := find(objs, "Deployment", "t1-web")
			g.Expect(web.Object["spec"]).To(HaveKeyWithValue("replicas", tt.wantReplicas))
			containers := nested(t, web, "spec", "template", "spec", "containers").([]any)
			g.Expect(containers[0]).To(HaveKeyWithValue("image", tt.wantImage))
			g.Expect(nested(t, find(objs, "ConfigMap", "t1-config"), "data", "plan")).To(Equal(tt.wantPlan))
			g.Expect(nested(t, find(objs, "ConfigMap", "t1-config"), "data", "instanceId")).To(Equal("t1"))
			rules := nested(t, find(objs, "Ingress", "t1-web"), "spec", "rules").([]any)
			g.Expect(rules[0]).To(HaveKeyWithValue("host", tt.wantHost))
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	obj := func(apiVersion, kind, namespace, name string) map[string]any {
		md := map[string]any{"name": name}
		if namespace != "" {
			md["namespace"] = namespace
		}
		return map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	}
	tests := []struct {
		name  string
		extra []any
		want  []string
	}{
		{
			name:  "a ClusterRole",
			extra: []any{obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "admin")},
			want:  []string{"rbac.authorization.k8s.io/ClusterRole admin: " + ReasonKindNotAllowed},
		},
		{
			name:  "a Namespace",
			extra: []any{obj("v1", "Namespace", "", "tenant-t2")},
			want:  []string{"core/Namespace tenant-t2: " + ReasonKindNotAllowed},
		},
		{
			name:  "an object in another namespace",
			extra: []any{obj("v1", "ConfigMap", "tenant-t2", "steal")},
			want:  []string{`core/ConfigMap steal: ` + ReasonOtherNamespace + ` ("tenant-t2")`},
		},
		{
			name: "every refused object listed, sorted",
			extra: []any{
				obj("networking.k8s.io/v1", "NetworkPolicy", "", "open"),
				obj("v1", "ResourceQuota", "", "big"),
				obj("rbac.authorization.k8s.io/v1", "RoleBinding", "", "rb"),
				obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "wh"),
				obj("apps/v1", "Deployment", "kube-system", "evil"),
				obj("v1", "ConfigMap", "", "t1-config"),
			},
			want: []string{
				"admissionregistration.k8s.io/ValidatingWebhookConfiguration wh: " + ReasonKindNotAllowed,
				`apps/Deployment evil: ` + ReasonOtherNamespace + ` ("kube-system")`,
				"core/ConfigMap t1-config: " + ReasonDuplicate,
				"core/ResourceQuota big: " + ReasonKindNotAllowed,
				"networking.k8s.io/NetworkPolicy open: " + ReasonKindNotAllowed,
				"rbac.authorization.k8s.io/RoleBinding rb: " + ReasonKindNotAllowed,
			},
		},
		{
			name:  "an object without a name",
			extra: []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"generateName": "x-"}}},
			want:  []string{"core/ConfigMap : " + ReasonNoName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			_, err := r.Render(context.Background(), archive, MergeValues(kooperValues(), map[string]any{"extraObjects": tt.extra}), testOptions())
			var refused *RefusedError
			g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
			got := make([]string, len(refused.Objects))
			for i, o := range refused.Objects {
				got[i] = o.String()
			}
			g.Expect(got).To(Equal(tt.want))
			for _, w := range tt.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

func TestRenderRefusesCRDsDirectory(t *testing.T) {
	g := NewWithT(t)
	tgz := packageChart(t, testChartDir, func(c *chart.Chart) {
		c.Files = append(c.Files, &chart.File{Name: "crds/widgets.yaml", Data: []byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n")})
	})
	var r Renderer
	_, err := r.Render(context.Background(), ArchiveFromBytes(tgz), kooperValues(), testOptions())
	var refused *RefusedError
	g.Expect(errors.As(err, &refused)).To(BeTrue(), "error %v", err)
	g.Expect(refused.Objects).To(HaveLen(1))
	g.Expect(refused.Objects[0].String()).To(HavePrefix("apiextensions.k8s.io/CustomResourceDefinition crm/crds/widgets.yaml: "))
}

func TestRenderDeterministic(t *testing.T) {
	g := NewWithT(t)
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	values := MergeValues(kooperValues(), map[string]any{"extraObjects": []any{
		map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "b"}},
		map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "a"}},
		map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": map[string]any{"name": "web"}},
		map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "crm"}},
	}})
	var first []*unstructured.Unstructured
	for i := range 5 {
		var r Renderer // a new Renderer each time: no cache
		objs, err := r.Render(context.Background(), archive, values, testOptions())
		g.Expect(err).NotTo(HaveOccurred())
		if i == 0 {
			first = objs
			continue
		}
		g.Expect(objs).To(Equal(first))
	}
	g.Expect(ids(first)).To(Equal([]string{
		"ServiceAccount/crm", "Secret/a", "Secret/b", "ConfigMap/t1-config", "Service/t1-web",
		"Deployment/t1-web", "Deployment/t1-worker", "StatefulSet/t1-redis", "Job/t1-migrate",
		"PodDisruptionBudget/web", "Ingress/t1-web",
	}))
}

func TestRenderCache(t *testing.T) {
	g := NewWithT(t)
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	ctx := context.Background()
	probe := &Renderer{}
	_, err := probe.Render(ctx, archive, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	r := &Renderer{ResultCacheBytes: probe.results.Bytes() * 5 / 2} // two such results, never three

	first, err := r.Render(ctx, archive, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.loads.Load()).To(Equal(int64(1)))
	g.Expect(r.renders.Load()).To(Equal(int64(1)))

	// Equal values (a different map): served from the cache.
	first[0].SetName("changed by the caller")
	again, err := r.Render(ctx, ArchiveFromBytes(archive.Bytes()), kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(1)), "equal values render once")
	g.Expect(again[0].GetName()).To(Equal("t1-config"), "the cache holds its own copy")

	// Other values, other options: rendered, the chart loaded once.
	_, err = r.Render(ctx, archive, MergeValues(kooperValues(), map[string]any{"plan": "gold"}), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	opts := testOptions()
	opts.KubeVersion = "v1.36.0"
	_, err = r.Render(ctx, archive, kooperValues(), opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(3)))
	g.Expect(r.loads.Load()).To(Equal(int64(1)), "one load per digest")

	// The cache is bounded: the first result (least recently used) is gone.
	_, err = r.Render(ctx, archive, kooperValues(), testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.renders.Load()).To(Equal(int64(4)))

	// A refusal is not cached.
	bad := MergeValues(kooperValues(), map[string]any{"extraObjects": []any{
		map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}},
	}})
	for range 2 {
		_, err = r.Render(ctx, archive, bad, testOptions())
		g.Expect(err).To(HaveOccurred())
	}
	g.Expect(r.renders.Load()).To(Equal(int64(6)))
}

func TestRenderConcurrent(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, testChartDir, nil))
	var r Renderer
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			values := MergeValues(kooperValues(), map[string]any{"web": map[string]any{"replicas": i % 3}})
			_, err := r.Render(context.Background(), archive, values, testOptions())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	g := NewWithT(t)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(r.loads.Load()).To(BeNumerically("<=", 8))
}

func TestRenderErrors(t *testing.T) {
	good := packageChart(t, testChartDir, nil)
	library := packageChart(t, testChartDir, func(c *chart.Chart) { c.Metadata.Type = "library" })
	failing := packageChart(t, testChartDir, func(c *chart.Chart) {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/fail.yaml", Data: []byte(`{{ required "web.secret is required" .Values.web.secret }}`)})
	})
	notObject := packageChart(t, testChartDir, func(c *chart.Chart) {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/scalar.yaml", Data: []byte("just a string\n")})
	})
	tests := []struct {
		name    string
		archive Archive
		values  map[string]any
		opts    Options
		wantErr string
		wantIs  error
	}{
		{name: "zero archive", archive: Archive{}, opts: testOptions(), wantErr: "empty chart archive"},
		{name: "empty bytes", archive: ArchiveFromBytes(nil), opts: testOptions(), wantErr: "empty chart archive"},
		{name: "not gzip", archive: ArchiveFromBytes([]byte("apiVersion: v1\nkind: ConfigMap\n")), opts: testOptions(), wantErr: "not a gzipped chart archive"},
		{name: "gzip, not a tar", archive: ArchiveFromBytes(gzipped(t, []byte("hello"))), opts: testOptions(), wantErr: "not a valid chart archive"},
		{name: "truncated", archive: ArchiveFromBytes(good[:len(good)/2]), opts: testOptions(), wantErr: "not a gzipped chart archive"},
		{name: "oversize", archive: ArchiveFromBytes(make([]byte, MaxArchiveBytes+1)), opts: testOptions(), wantErr: "over 10485760", wantIs: ErrArchiveTooLarge},
		{name: "unpacks too large", archive: ArchiveFromBytes(gzipped(t, make([]byte, MaxUnpackedBytes+1))), opts: testOptions(), wantErr: "unpacks to over", wantIs: ErrArchiveTooLarge},
		{name: "library chart", archive: ArchiveFromBytes(library), opts: testOptions(), wantErr: "library chart"},
		{name: "template error", archive: ArchiveFromBytes(failing), values: kooperValues(), opts: testOptions(), wantErr: "web.secret is required"},
		{name: "document not an object", archive: ArchiveFromBytes(notObject), values: kooperValues(), opts: testOptions(), wantErr: "templates/scalar.yaml, document 1"},
		{name: "no release name", archive: ArchiveFromBytes(good), opts: Options{Namespace: "n", KubeVersion: "1.37"}, wantErr: "release name"},
		{name: "no namespace", archive: ArchiveFromBytes(good), opts: Options{ReleaseName: "t1", KubeVersion: "1.37"}, wantErr: "namespace"},
		{name: "no Kubernetes version", archive: ArchiveFromBytes(good), opts: Options{ReleaseName: "t1", Namespace: "n"}, wantErr: "Kubernetes version"},
		{name: "values not JSON", archive: ArchiveFromBytes(good), values: map[string]any{"f": func() {}}, opts: testOptions(), wantErr: "not JSON values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var r Renderer
			_, err := r.Render(context.Background(), tt.archive, tt.values, tt.opts)
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
			if tt.wantIs != nil {
				g.Expect(err).To(MatchError(tt.wantIs))
			}
		})
	}
}

func TestRenderCanceled(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var r Renderer
	_, err := r.Render(ctx, ArchiveFromBytes(packageChart(t, testChartDir, nil)), nil, testOptions())
	g.Expect(err).To(MatchError(context.Canceled))
}

func TestAllowedKinds(t *testing.T) {
	g := NewWithT(t)
	kinds := AllowedKinds()
	g.Expect(kinds).To(HaveLen(12))
	kinds[0].Kind = "ClusterRole"
	g.Expect(AllowedKinds()[0].Kind).To(Equal("ServiceAccount"), "AllowedKinds returns a copy")
	var names []string
	for _, gk := range AllowedKinds() {
		names = append(names, gk.String())
	}
	g.Expect(strings.Join(names, " ")).To(Equal("ServiceAccount Secret ConfigMap PersistentVolumeClaim Service " +
		"Deployment.apps StatefulSet.apps Job.batch CronJob.batch HorizontalPodAutoscaler.autoscaling " +
		"PodDisruptionBudget.policy Ingress.networking.k8s.io"))
}

func gzipped(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
