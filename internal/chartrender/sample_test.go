package chartrender

import (
	"context"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// sampleChartDir is the sample product's chart (config/samples), which
// merchants copy: it must render, per plan, what a tenant namespace admits.
const sampleChartDir = "../../config/samples/charts/crm-suite"

// sampleKooperValues are the values kooper gives tenant t1 (docs/chart-tenants.md).
func sampleKooperValues() map[string]any {
	return map[string]any{"kooper": map[string]any{
		"instanceId": "t1", "namespace": "tenant-t1", "skuCode": "pro", "host": "t1.crm-suite.example.com",
		"frontEndUrl": "https://t1.crm-suite.example.com", "credentialsSecretName": "kooper-credentials",
	}}
}

func TestTheSampleChartRendersEveryPartPerPlan(t *testing.T) {
	archive := ArchiveFromBytes(packageChart(t, sampleChartDir, nil))
	cases := []struct {
		name     string
		plan     map[string]any
		want     []string
		replicas int64
		emptyDir bool
		// clusterIP is the web Service's: None (headless) by default.
		clusterIP string
	}{
		{name: "the chart's defaults", want: []string{
			"ConfigMap/t1-config", "Service/t1-redis", "Service/t1-web", "Deployment/t1-web", "Deployment/t1-worker",
			"StatefulSet/t1-redis", "Ingress/t1-web"}, replicas: 1, clusterIP: "None"},
		{name: "a plan without the worker, on a cluster without storage",
			plan:     map[string]any{"worker": map[string]any{"enabled": false}, "redis": map[string]any{"persistence": map[string]any{"enabled": false}}},
			want:     []string{"ConfigMap/t1-config", "Service/t1-redis", "Service/t1-web", "Deployment/t1-web", "StatefulSet/t1-redis", "Ingress/t1-web"},
			replicas: 1, emptyDir: true, clusterIP: "None"},
		{name: "a plan of three web replicas, behind a web Service with a cluster IP", plan: map[string]any{"web": map[string]any{"replicas": 3, "clusterIP": ""}}, want: []string{
			"ConfigMap/t1-config", "Service/t1-redis", "Service/t1-web", "Deployment/t1-web", "Deployment/t1-worker",
			"StatefulSet/t1-redis", "Ingress/t1-web"}, replicas: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Renderer
			objs, err := r.Render(context.Background(), archive, MergeValues(tc.plan, sampleKooperValues()), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(objs); !equalStrings(got, tc.want) {
				t.Fatalf("rendered %v, want %v", got, tc.want)
			}
			web := find(objs, "Deployment", "t1-web")
			if n, _, _ := unstructured.NestedInt64(web.Object, "spec", "replicas"); n != tc.replicas {
				t.Errorf("web replicas %d, want %d", n, tc.replicas)
			}
			if ip, _, _ := unstructured.NestedString(find(objs, "Service", "t1-web").Object, "spec", "clusterIP"); ip != tc.clusterIP {
				t.Errorf("web Service clusterIP %q, want %q", ip, tc.clusterIP)
			}
			redis := find(objs, "StatefulSet", "t1-redis")
			claims, _, _ := unstructured.NestedSlice(redis.Object, "spec", "volumeClaimTemplates")
			if tc.emptyDir == (len(claims) > 0) {
				t.Errorf("redis volume claims %v with persistence off = %v", claims, tc.emptyDir)
			}
			host, _, _ := unstructured.NestedSlice(find(objs, "Ingress", "t1-web").Object, "spec", "rules")
			if len(host) != 1 || host[0].(map[string]any)["host"] != "t1.crm-suite.example.com" {
				t.Errorf("Ingress rules %v, want the host kooper gave", host)
			}
		})
	}
}

// Kooper's tenant namespaces enforce Pod Security "restricted": every
// container of the sample must meet it, or its pods are refused.
func TestTheSampleChartsContainersMeetPodSecurityRestricted(t *testing.T) {
	var r Renderer
	objs, err := r.Render(context.Background(), ArchiveFromBytes(packageChart(t, sampleChartDir, nil)), sampleKooperValues(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, o := range objs {
		containers, found, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if !found {
			continue
		}
		for _, c := range containers {
			sc, _ := c.(map[string]any)["securityContext"].(map[string]any)
			drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop")
			seccomp, _, _ := unstructured.NestedString(sc, "seccompProfile", "type")
			if sc["runAsNonRoot"] != true || sc["allowPrivilegeEscalation"] != false || !equalStrings(drop, []string{"ALL"}) || seccomp != "RuntimeDefault" {
				t.Errorf("%s/%s: container securityContext %v does not meet restricted", o.GetKind(), o.GetName(), sc)
			}
			checked++
		}
	}
	if checked != 3 {
		t.Errorf("checked %d containers, want 3 (web, worker, redis)", checked)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every plan change the sample product allows can be applied: between any
// two of its plans, an object both render keeps the fields the API server
// will not change (a StatefulSet's volumeClaimTemplates, a selector, a
// Job's template), or the tenant would stall with ObjectInvalid on upgrade.
func TestTheSampleProductsPlansChangeNothingImmutable(t *testing.T) {
	data, err := os.ReadFile("../../config/samples/saas_v1alpha1_saasproduct_chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var product struct {
		Spec struct {
			Chart struct {
				Values map[string]any `json:"values"`
			} `json:"chart"`
			Plans []struct {
				SKUCode string         `json:"skuCode"`
				Values  map[string]any `json:"values"`
			} `json:"plans"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &product); err != nil {
		t.Fatal(err)
	}
	archive := ArchiveFromBytes(packageChart(t, sampleChartDir, nil))
	renders := map[string][]*unstructured.Unstructured{}
	for _, plan := range product.Spec.Plans {
		var r Renderer
		objs, err := r.Render(context.Background(), archive, MergeValues(product.Spec.Chart.Values, plan.Values, sampleKooperValues()), testOptions())
		if err != nil {
			t.Fatalf("plan %s: %v", plan.SKUCode, err)
		}
		renders[plan.SKUCode] = objs
	}
	for from, a := range renders {
		for to, b := range renders {
			if changes := ImmutableChanges(a, b); len(changes) > 0 {
				t.Errorf("plan %s → %s changes what the API server will not: %v", from, to, changes)
			}
		}
	}
}
