// Package chart tests the Helm chart in charts/kooper with the pinned Helm binary
// (bin/helm-<version>/helm, built by hack/build-tools.sh). The chart is not a Go package,
// so its tests live here.
package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

const helmVersion = "v3.22.0"

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// helm returns the pinned Helm binary, skipping the test when it has not been built.
func helm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin", "helm-"+helmVersion, "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("Helm %s not found at %s (build it with hack/build-tools.sh): %v", helmVersion, bin, err)
	}
	return bin
}

// runHelm runs Helm in the repository root with a private Helm home, and returns stdout
// and, on failure, an error carrying stderr.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	cmd.Dir = repoRoot(t)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String() + stdout.String())
	}
	return stdout.String(), nil
}

type object = map[string]any

// parseDocs splits rendered manifests into objects, dropping empty documents.
func parseDocs(t *testing.T, manifests string) []object {
	t.Helper()
	var docs []object
	for _, doc := range strings.Split("\n"+manifests, "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if o != nil {
			docs = append(docs, o)
		}
	}
	return docs
}

func ofKind(docs []object, kind string) []object {
	var out []object
	for _, d := range docs {
		if d["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

// only returns the single object of kind, failing the test otherwise.
func only(t *testing.T, docs []object, kind string) object {
	t.Helper()
	objs := ofKind(docs, kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(objs))
	}
	return objs[0]
}

// get follows a path of map keys and slice indexes through a decoded object.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", path, path[:i])
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: no index %d at %v", path, k, path[:i])
			}
			v = s[k]
		}
	}
	return v
}

func readYAML(t *testing.T, path string) object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o object
	if err := yaml.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return o
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", []string{"lint", "charts/kooper"}},
		{"strict", []string{"lint", "--strict", "charts/kooper"}},
		{"strict with every option", []string{"lint", "--strict", "charts/kooper",
			"--set", "ingress.enabled=true,ingress.tls.certManagerIssuer=letsencrypt,serviceMonitor.enabled=true",
			"--set", "product.enabled=true,product.name=crm,product.spec.productId=OFFI1,product.spec.keysSecretName=crm-keys",
			"--set", "product.spec.plans[0].skuCode=basic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := runHelm(t, tc.args...); err != nil {
				t.Fatalf("helm %s: %v", strings.Join(tc.args, " "), err)
			} else if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Fatalf("helm lint reported problems:\n%s", out)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		name    string
		set     []string
		wantErr string // substring of the error; empty means success
		check   func(t *testing.T, docs []object)
	}{
		{name: "defaults", check: func(t *testing.T, docs []object) {
			checkDeployments(t, docs)
			checkCRDs(t, root, docs, true)
			checkGeneratedRBAC(t, root, docs, "kooper-system-directory")
			checkRBAC(t, docs)
			pdb := only(t, docs, "PodDisruptionBudget")
			if got := get(t, pdb, "spec", "minAvailable"); got != float64(1) {
				t.Errorf("PDB minAvailable = %v, want 1", got)
			}
			if got := get(t, pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/component"); got != "receiver" {
				t.Errorf("PDB selects component %v, want the receiver", got)
			}
			svc := named(t, docs, "Service", "kooper")
			ports := map[string]any{}
			for _, p := range get(t, svc, "spec", "ports").([]any) {
				ports[p.(object)["name"].(string)] = p.(object)["port"]
			}
			if len(ports) != 1 || ports["http-receiver"] != float64(80) {
				t.Errorf("Service ports = %v, want http-receiver 80 alone", ports)
			}
			if got := get(t, svc, "spec", "selector", "app.kubernetes.io/component"); got != "receiver" {
				t.Errorf("Service selects component %v, want the receiver", got)
			}
			for _, component := range []string{"receiver", "controllers"} {
				metrics := named(t, docs, "Service", "kooper-"+component+"-metrics")
				if got := get(t, metrics, "spec", "selector", "app.kubernetes.io/component"); got != component {
					t.Errorf("%s's metrics Service selects component %v", component, got)
				}
				if got := get(t, metrics, "spec", "ports", 0, "name"); got != "https-metrics" || get(t, metrics, "spec", "type") != "ClusterIP" {
					t.Errorf("%s's metrics Service port %v, type %v; want https-metrics, ClusterIP", component, got, get(t, metrics, "spec", "type"))
				}
			}
			if n := len(ofKind(docs, "NetworkPolicy")); n != 2 {
				t.Errorf("rendered %d NetworkPolicies, want the receiver's and the controllers'", n)
			}
			ns := only(t, docs, "Namespace")
			if get(t, ns, "metadata", "name") != "kooper-system-directory" ||
				get(t, ns, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
				t.Errorf("directory Namespace = %v, want kooper-system-directory, kept on uninstall", get(t, ns, "metadata"))
			}
			for _, kind := range []string{"Ingress", "ServiceMonitor", "SaaSProduct"} {
				if n := len(ofKind(docs, kind)); n != 0 {
					t.Errorf("%s rendered by default (%d)", kind, n)
				}
			}
		}},
		{name: "crds disabled", set: []string{"crds.enabled=false"}, check: func(t *testing.T, docs []object) {
			if n := len(ofKind(docs, "CustomResourceDefinition")); n != 0 {
				t.Errorf("crds.enabled=false rendered %d CRDs", n)
			}
		}},
		{name: "crds not kept", set: []string{"crds.keep=false"}, check: func(t *testing.T, docs []object) {
			checkCRDs(t, root, docs, false)
		}},
		{name: "mistyped key", set: []string{"replicaCount2=3"}, wantErr: "replicaCount2"},
		{name: "mistyped nested key", set: []string{"ingress.tls.certManagerIsuer=x"}, wantErr: "certManagerIsuer"},
		{name: "product without keys Secret", set: []string{"product.enabled=true", "product.name=crm"}, wantErr: "keysSecretName"},
		{name: "one replica has no PDB", set: []string{"replicaCount=1"}, check: func(t *testing.T, docs []object) {
			if n := len(ofKind(docs, "PodDisruptionBudget")); n != 0 {
				t.Errorf("replicaCount=1 rendered a PodDisruptionBudget")
			}
		}},
		{name: "directory namespace", set: []string{"directoryNamespace.name=kooper-directory"}, check: func(t *testing.T, docs []object) {
			checkGeneratedRBAC(t, root, docs, "kooper-directory")
			for _, c := range []string{"receiver", "controllers"} {
				if args := containerArgs(t, docs, c); !contains(args, "--directory-namespace=kooper-directory") {
					t.Errorf("%s args %v lack --directory-namespace=kooper-directory", c, args)
				}
			}
			if got := get(t, only(t, docs, "Namespace"), "metadata", "name"); got != "kooper-directory" {
				t.Errorf("directory Namespace = %v", got)
			}
		}},
		{name: "directory namespace made elsewhere", set: []string{"directoryNamespace.create=false"}, check: func(t *testing.T, docs []object) {
			if n := len(ofKind(docs, "Namespace")); n != 0 {
				t.Errorf("directoryNamespace.create=false rendered %d Namespaces", n)
			}
			checkGeneratedRBAC(t, root, docs, "kooper-system-directory")
		}},
		{name: "directory namespace is the release namespace", set: []string{"directoryNamespace.name=kooper-system"}, wantErr: "must differ from the release namespace"},
		{name: "existing ServiceAccounts without names", set: []string{"serviceAccount.create=false"}, wantErr: "serviceAccount.receiverName is required"},
		{name: "existing ServiceAccounts", set: []string{"serviceAccount.create=false", "serviceAccount.receiverName=r", "serviceAccount.controllersName=c"},
			check: func(t *testing.T, docs []object) {
				if n := len(ofKind(docs, "ServiceAccount")); n != 0 {
					t.Errorf("serviceAccount.create=false rendered %d ServiceAccounts", n)
				}
				for c, want := range map[string]string{"receiver": "r", "controllers": "c"} {
					if got := get(t, named(t, docs, "Deployment", "kooper-"+c), "spec", "template", "spec", "serviceAccountName"); got != want {
						t.Errorf("%s runs as %v, want %s", c, got, want)
					}
				}
				if got := get(t, named(t, docs, "RoleBinding", "kooper-leader-election"), "subjects", 0, "name"); got != "c" {
					t.Errorf("leader election bound to %v, want the controllers' c", got)
				}
			}},
		{name: "marketplace URLs", set: []string{"marketplaceURLs={https://a.example.com,https://b.example.com}"}, check: func(t *testing.T, docs []object) {
			args := containerArgs(t, docs, "controllers")
			for _, want := range []string{"--marketplace-url=https://a.example.com", "--marketplace-url=https://b.example.com"} {
				if !contains(args, want) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
		}},
		{name: "ingress", set: []string{"ingress.enabled=true", "ingress.host=koogallery.acme.com", "ingress.className=nginx",
			"ingress.tls.certManagerIssuer=letsencrypt"}, check: func(t *testing.T, docs []object) {
			ing := only(t, docs, "Ingress")
			if got := get(t, ing, "spec", "ingressClassName"); got != "nginx" {
				t.Errorf("ingressClassName = %v", got)
			}
			if got := get(t, ing, "spec", "rules", 0, "host"); got != "koogallery.acme.com" {
				t.Errorf("host = %v", got)
			}
			if got := get(t, ing, "metadata", "annotations", "cert-manager.io/cluster-issuer"); got != "letsencrypt" {
				t.Errorf("cert-manager annotation = %v", got)
			}
			if got := get(t, ing, "spec", "tls", 0, "secretName"); got != "kooper-receiver-tls" {
				t.Errorf("TLS secretName = %v", got)
			}
			if got := get(t, ing, "spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "name"); got != "http-receiver" {
				t.Errorf("backend port = %v", got)
			}
		}},
		{name: "ingress with existing TLS Secret", set: []string{"ingress.enabled=true", "ingress.tls.secretName=my-tls"}, check: func(t *testing.T, docs []object) {
			ing := only(t, docs, "Ingress")
			if got := get(t, ing, "spec", "tls", 0, "secretName"); got != "my-tls" {
				t.Errorf("TLS secretName = %v", got)
			}
			// The receiver's largest body through NGINX, and no cert-manager
			// annotation without an issuer.
			if a, ok := get(t, ing, "metadata", "annotations").(map[string]any); !ok || len(a) != 1 || a["nginx.ingress.kubernetes.io/proxy-body-size"] != "8m" {
				t.Errorf("annotations = %v, want only proxy-body-size 8m", a)
			}
		}},
		{name: "service monitor", set: []string{"serviceMonitor.enabled=true"}, check: func(t *testing.T, docs []object) {
			sm := only(t, docs, "ServiceMonitor")
			if got := get(t, sm, "apiVersion"); got != "monitoring.coreos.com/v1" {
				t.Errorf("apiVersion = %v", got)
			}
			if got := get(t, sm, "spec", "endpoints", 0, "port"); got != "https-metrics" {
				t.Errorf("endpoint port = %v", got)
			}
		}},
		{name: "product", set: []string{"product.enabled=true", "product.name=crm", "product.spec.productId=OFFI846204237451911168",
			"product.spec.keysSecretName=crm-marketplace-keys", "product.spec.plans[0].skuCode=basic",
			"product.spec.urls.frontEndUrl=https://{{.InstanceID}}.crm.example.com"}, check: func(t *testing.T, docs []object) {
			// The product arrives as a manifest in the products ConfigMap, which
			// the operator applies; it must be a SaaSProduct with known fields only.
			cm := only(t, docs, "ConfigMap")
			if got := get(t, cm, "metadata", "name"); got != "kooper-products" {
				t.Errorf("ConfigMap name = %v", got)
			}
			manifest, _ := get(t, cm, "data", "crm.yaml").(string)
			var p saasv1alpha1.SaaSProduct
			if err := yaml.UnmarshalStrict([]byte(manifest), &p); err != nil {
				t.Fatalf("data[crm.yaml] is not a SaaSProduct: %v\n%s", err, manifest)
			}
			if p.APIVersion != "saas.kooper.io/v1alpha1" || p.Kind != "SaaSProduct" || p.Name != "crm" {
				t.Errorf("apiVersion, kind, name = %q, %q, %q", p.APIVersion, p.Kind, p.Name)
			}
			if p.Spec.KeysSecretName != "crm-marketplace-keys" {
				t.Errorf("keysSecretName = %q", p.Spec.KeysSecretName)
			}
			if len(p.Spec.Plans) != 1 || p.Spec.Plans[0].SKUCode != "basic" {
				t.Errorf("plans = %+v", p.Spec.Plans)
			}
			if p.Spec.URLs == nil || p.Spec.URLs.FrontEndURL != "https://{{.InstanceID}}.crm.example.com" {
				t.Errorf("urls = %+v, want the Go template left as is", p.Spec.URLs)
			}
			if args := containerArgs(t, docs, "controllers"); !slices.Contains(args, "--products-configmap=kooper-products") {
				t.Errorf("controllers' args %v lack --products-configmap=kooper-products", args)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "kooper", "charts/kooper", "--namespace", "kooper-system"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("helm template with %v succeeded, want an error mentioning %q", tc.set, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v does not mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			tc.check(t, parseDocs(t, out))
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// named returns the single object of kind with name, failing the test otherwise.
func named(t *testing.T, docs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, d := range ofKind(docs, kind) {
		if get(t, d, "metadata", "name") == name {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %s, got %d", kind, name, len(found))
	}
	return found[0]
}

// containerArgs returns the arguments of a component's Deployment (receiver or controllers).
func containerArgs(t *testing.T, docs []object, component string) []string {
	t.Helper()
	var args []string
	for _, a := range get(t, named(t, docs, "Deployment", "kooper-"+component), "spec", "template", "spec", "containers", 0, "args").([]any) {
		args = append(args, a.(string))
	}
	return args
}

// checkDeployments checks the two Deployments of the defaults: the receiver (2 replicas,
// not elected) and the controllers (1 replica, elected), each under its own account, with
// the same secure pod settings.
func checkDeployments(t *testing.T, docs []object) {
	t.Helper()
	if n := len(ofKind(docs, "Deployment")); n != 2 {
		t.Fatalf("rendered %d Deployments, want the receiver's and the controllers'", n)
	}
	common := []string{
		"--namespace=$(POD_NAMESPACE)",
		"--directory-namespace=kooper-system-directory",
		"--metrics-bind-address=:8443",
		"--metrics-secure=true",
		"--health-probe-bind-address=:8081",
		"--zap-log-level=info",
	}
	for _, tc := range []struct {
		component string
		replicas  float64
		want      []string
		wantNot   []string // flags, by name, of the other component
	}{
		// Neither component has a client-side rate limit by default: the
		// receiver answers up to 500 callbacks a second, a create each, and
		// the controllers' 200 a second once held provisioning back (issue 26).
		{"receiver", 2, []string{"--components=receiver", "--receiver-bind-address=:8082", "--pending-result-code=000000",
			"--signature-window=60s", "--stale-freeze-margin=1h", "--kube-api-qps=-1", "--kube-api-burst=1000"},
			[]string{"--leader-elect", "--max-concurrent-reconciles", "--marketplace-url"}},
		{"controllers", 1, []string{"--components=controllers", "--leader-elect=true", "--max-concurrent-reconciles=8",
			"--ingress-controller-namespace=kube-system", "--directory-unclaimed-ttl=720h", "--kube-api-qps=-1", "--kube-api-burst=400"},
			[]string{"--receiver-bind-address", "--pending-result-code", "--marketplace-url"}},
	} {
		d := named(t, docs, "Deployment", "kooper-"+tc.component)
		if got := get(t, d, "spec", "replicas"); got != tc.replicas {
			t.Errorf("%s replicas = %v, want %v", tc.component, got, tc.replicas)
		}
		if got := get(t, d, "spec", "template", "spec", "serviceAccountName"); got != "kooper-"+tc.component {
			t.Errorf("%s runs as ServiceAccount %v, want kooper-%s", tc.component, got, tc.component)
		}
		if got := get(t, d, "spec", "selector", "matchLabels", "app.kubernetes.io/component"); got != tc.component {
			t.Errorf("%s selector component = %v", tc.component, got)
		}
		args := containerArgs(t, docs, tc.component)
		for _, want := range append(slices.Clone(common), tc.want...) {
			if !contains(args, want) {
				t.Errorf("%s args %v lack %s", tc.component, args, want)
			}
		}
		for _, a := range args {
			for _, not := range tc.wantNot {
				if strings.HasPrefix(a, not) {
					t.Errorf("%s: unexpected %s by default", tc.component, a)
				}
			}
		}
		checkPod(t, tc.component, d)
	}
}

// checkPod checks a Deployment's probes, resources and security contexts.
func checkPod(t *testing.T, component string, d object) {
	t.Helper()
	c := get(t, d, "spec", "template", "spec", "containers", 0).(object)
	if got := get(t, c, "env", 0, "valueFrom", "fieldRef", "fieldPath"); got != "metadata.namespace" {
		t.Errorf("%s: POD_NAMESPACE fieldRef = %v", component, got)
	}
	for _, p := range []struct{ probe, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
		if got := get(t, c, p.probe, "httpGet", "path"); got != p.path {
			t.Errorf("%s: %s path = %v, want %s", component, p.probe, got, p.path)
		}
		if got := get(t, c, p.probe, "httpGet", "port"); got != "http-probes" {
			t.Errorf("%s: %s port = %v", component, p.probe, got)
		}
	}
	var probePort any
	for _, p := range get(t, c, "ports").([]any) {
		if p.(object)["name"] == "http-probes" {
			probePort = p.(object)["containerPort"]
		}
	}
	if probePort != float64(8081) {
		t.Errorf("%s: http-probes port = %v, want 8081", component, probePort)
	}
	for _, r := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			if get(t, c, "resources", r, res) == nil {
				t.Errorf("%s: resources.%s.%s unset", component, r, res)
			}
		}
	}
	sc := get(t, c, "securityContext")
	for _, w := range []struct {
		path []any
		want any
	}{
		{[]any{"runAsNonRoot"}, true},
		{[]any{"allowPrivilegeEscalation"}, false},
		{[]any{"readOnlyRootFilesystem"}, true},
		{[]any{"capabilities", "drop"}, []any{"ALL"}},
		{[]any{"seccompProfile", "type"}, "RuntimeDefault"},
	} {
		if got := get(t, sc, w.path...); !reflect.DeepEqual(got, w.want) {
			t.Errorf("%s: container securityContext %v = %v, want %v", component, w.path, got, w.want)
		}
	}
	psc := get(t, d, "spec", "template", "spec", "securityContext")
	if get(t, psc, "runAsNonRoot") != true || get(t, psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: pod securityContext = %v, want runAsNonRoot and seccomp RuntimeDefault", component, psc)
	}
}

func checkCRDs(t *testing.T, root string, docs []object, keep bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	want := map[string]object{}
	for _, f := range files {
		crd := readYAML(t, f)
		want[get(t, crd, "metadata", "name").(string)] = crd
	}
	crds := ofKind(docs, "CustomResourceDefinition")
	if len(crds) != len(want) {
		t.Errorf("rendered %d CRDs, want %d", len(crds), len(want))
	}
	for _, crd := range crds {
		name := get(t, crd, "metadata", "name").(string)
		src, ok := want[name]
		if !ok {
			t.Errorf("CRD %s is not in config/crd/bases", name)
			continue
		}
		if !reflect.DeepEqual(crd["spec"], src["spec"]) {
			t.Errorf("CRD %s spec differs from config/crd/bases; run hack/sync-chart.sh", name)
		}
		got, _ := get(t, crd, "metadata", "annotations").(object)["helm.sh/resource-policy"].(string)
		if keep && got != "keep" {
			t.Errorf("CRD %s: helm.sh/resource-policy = %q, want keep", name, got)
		}
		if !keep && got != "" {
			t.Errorf("CRD %s: helm.sh/resource-policy = %q with crds.keep=false", name, got)
		}
	}
}

// readYAMLDocs reads a multi-document YAML file.
func readYAMLDocs(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseDocs(t, string(b))
}

// checkGeneratedRBAC checks that the chart renders, for each component, exactly the roles
// controller-gen generated from its markers (config/rbac/<component>/role.yaml), with their
// rules unchanged, the markers' namespaces mapped to the release's (kooper-system) and the
// directory namespace, and each bound to that component's own ServiceAccount only.
func checkGeneratedRBAC(t *testing.T, root string, docs []object, directoryNamespace string) {
	t.Helper()
	namespaces := map[string]string{"": "", "kooper-system": "kooper-system", "kooper-directory": directoryNamespace}
	for _, component := range []string{"receiver", "controllers"} {
		name := "kooper-" + component
		generated := readYAMLDocs(t, filepath.Join(root, "config", "rbac", component, "role.yaml"))
		if len(generated) == 0 {
			t.Fatalf("config/rbac/%s/role.yaml has no roles", component)
		}
		for _, src := range generated {
			kind := src["kind"].(string)
			srcNS, _ := get(t, src, "metadata", "namespace").(string)
			ns, ok := namespaces[srcNS]
			if !ok {
				t.Errorf("config/rbac/%s/role.yaml: %s in namespace %s, which the chart does not map", component, kind, srcNS)
				continue
			}
			var role, binding object
			for _, d := range ofKind(docs, kind) {
				if dns, _ := get(t, d, "metadata", "namespace").(string); get(t, d, "metadata", "name") == name && dns == ns {
					role = d
				}
			}
			for _, d := range ofKind(docs, kind+"Binding") {
				if dns, _ := get(t, d, "metadata", "namespace").(string); get(t, d, "metadata", "name") == name && dns == ns {
					binding = d
				}
			}
			if role == nil || binding == nil {
				t.Errorf("the chart renders no %s %s (or no binding) in namespace %q for config/rbac/%s/role.yaml; run hack/sync-chart.sh", kind, name, ns, component)
				continue
			}
			if !reflect.DeepEqual(role["rules"], src["rules"]) {
				t.Errorf("%s %s rules differ from config/rbac/%s/role.yaml; run hack/sync-chart.sh\n got: %v\nwant: %v", kind, name, component, role["rules"], src["rules"])
			}
			if get(t, binding, "roleRef", "kind") != kind || get(t, binding, "roleRef", "name") != name {
				t.Errorf("%sBinding %s refers to %v", kind, name, get(t, binding, "roleRef"))
			}
			want := []any{object{"kind": "ServiceAccount", "name": name, "namespace": "kooper-system"}}
			if !reflect.DeepEqual(get(t, binding, "subjects"), want) {
				t.Errorf("%sBinding %s subjects = %v, want only the %s's ServiceAccount", kind, name, get(t, binding, "subjects"), component)
			}
		}
	}
	// Nothing else grants rights, bar the controllers' leader election, and the
	// metrics reader and the roles aggregated into view and edit, which the chart
	// binds to no one (the scraper's owner, or the cluster's defaults, do).
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, d := range ofKind(docs, kind) {
			n := get(t, d, "metadata", "name")
			if kind == "ClusterRole" && n == "kooper-metrics-reader" {
				want := []any{object{"nonResourceURLs": []any{"/metrics"}, "verbs": []any{"get"}}}
				if !reflect.DeepEqual(get(t, d, "rules"), want) {
					t.Errorf("metrics reader rules = %v, want get on /metrics alone", get(t, d, "rules"))
				}
				for _, b := range ofKind(docs, "ClusterRoleBinding") {
					if get(t, b, "roleRef", "name") == n {
						t.Errorf("the chart binds the metrics reader to %v", get(t, b, "subjects"))
					}
				}
				continue
			}
			if kind == "ClusterRole" && (n == aggregatedView || n == aggregatedEdit) {
				checkAggregated(t, docs, d)
				continue
			}
			if n != "kooper-receiver" && n != "kooper-controllers" && n != "kooper-leader-election" {
				t.Errorf("the chart renders %s %v, which no RBAC marker generated", kind, n)
			}
		}
	}
	if n := len(ofKind(docs, "ServiceAccount")); n != 2 {
		t.Errorf("rendered %d ServiceAccounts, want the receiver's and the controllers'", n)
	}
}

// checkAggregated checks a ClusterRole aggregated into Kubernetes' default roles: bound by
// the chart to no one, and granting nothing on directories (personal data) nor any write
// but on products.
func checkAggregated(t *testing.T, docs []object, role object) {
	t.Helper()
	name := get(t, role, "metadata", "name")
	for _, b := range append(ofKind(docs, "ClusterRoleBinding"), ofKind(docs, "RoleBinding")...) {
		if get(t, b, "roleRef", "name") == name {
			t.Errorf("the chart binds %v to %v", name, get(t, b, "subjects"))
		}
	}
	for _, r := range get(t, role, "rules").([]any) {
		rule := r.(object)
		for _, res := range rule["resources"].([]any) {
			if strings.HasPrefix(res.(string), "saasdirectories") {
				t.Errorf("%v grants %v on SaaSDirectories, which hold personal data", name, rule["verbs"])
			}
			for _, verb := range rule["verbs"].([]any) {
				write := verb != "get" && verb != "list" && verb != "watch"
				if write && res != "saasproducts" {
					t.Errorf("%v grants %v on %v", name, verb, res)
				}
			}
		}
	}
}

// checkRBAC checks the leader-election Role, bound to the controllers' account alone.
func checkRBAC(t *testing.T, docs []object) {
	t.Helper()
	role := named(t, docs, "Role", "kooper-leader-election")
	if get(t, role, "metadata", "namespace") != "kooper-system" {
		t.Errorf("leader-election Role namespace = %v", get(t, role, "metadata", "namespace"))
	}
	// By <group>/<resource>. client-go's Lease lock gets, creates and updates its Lease; the
	// recorder controller-runtime gives it writes core/v1 Events about the Lease (created,
	// then patched as they repeat). The controllers' ClusterRole has the events.k8s.io ones.
	verbs := map[string][]any{}
	for _, r := range get(t, role, "rules").([]any) {
		for _, group := range r.(object)["apiGroups"].([]any) {
			for _, res := range r.(object)["resources"].([]any) {
				verbs[fmt.Sprintf("%v/%v", group, res)] = r.(object)["verbs"].([]any)
			}
		}
	}
	wantVerbs := map[string][]any{
		"coordination.k8s.io/leases": {"get", "create", "update"},
		"/events":                    {"create", "patch"},
	}
	if !reflect.DeepEqual(verbs, wantVerbs) {
		t.Errorf("leader-election Role verbs = %v, want %v", verbs, wantVerbs)
	}
	rb := named(t, docs, "RoleBinding", "kooper-leader-election")
	if get(t, rb, "roleRef", "name") != get(t, role, "metadata", "name") {
		t.Errorf("RoleBinding refers to %v", get(t, rb, "roleRef", "name"))
	}
	want := []any{object{"kind": "ServiceAccount", "name": "kooper-controllers", "namespace": "kooper-system"}}
	if !reflect.DeepEqual(get(t, rb, "subjects"), want) {
		t.Errorf("leader-election RoleBinding subjects = %v, want only the controllers' ServiceAccount", get(t, rb, "subjects"))
	}
}

// TestNotes renders NOTES.txt (which helm template skips) through a copy of the chart.
func TestNotes(t *testing.T) {
	root := repoRoot(t)
	chart := filepath.Join(t.TempDir(), "kooper")
	src := filepath.Join(root, "charts", "kooper")
	if err := os.CopyFS(chart, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(chart, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(chart, "templates", "NOTES.txt")); err != nil {
		t.Fatal(err)
	}
	tpl := `{{- define "test.notes" }}` + string(notes) + `{{- end }}`
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include \"test.notes\" . | quote }}\n"
	if err := os.WriteFile(filepath.Join(chart, "templates", "_test_notes.tpl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chart, "templates", "test-notes.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"placeholders", nil, "https://<receiver host>/koogallery/<SaaSProduct name>"},
		{"ingress and product", []string{"ingress.enabled=true", "ingress.host=koogallery.acme.com", "product.enabled=true",
			"product.name=crm", "product.spec.productId=OFFI1", "product.spec.keysSecretName=crm-keys", "product.spec.plans[0].skuCode=basic"},
			"https://koogallery.acme.com/koogallery/crm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "kooper", chart, "--namespace", "kooper-system", "--show-only", "templates/test-notes.yaml"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			got, _ := get(t, only(t, parseDocs(t, out), "ConfigMap"), "data", "notes").(string)
			if !strings.Contains(got, tc.want) {
				t.Errorf("NOTES lack %q:\n%s", tc.want, got)
			}
		})
	}
}

// TestSchemaClosed checks that every object in values.schema.json with named properties
// rejects unknown keys, so a mistyped value fails the install.
func TestSchemaClosed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "kooper", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema object
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	var walk func(path string, s object)
	walk = func(path string, s object) {
		if props, ok := s["properties"].(object); ok {
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is %v, want false", path, s["additionalProperties"])
			}
			for k, v := range props {
				if o, ok := v.(object); ok {
					walk(path+"."+k, o)
				}
			}
		}
		if items, ok := s["items"].(object); ok {
			walk(path+"[]", items)
		}
	}
	walk("$", schema)

	// Every key of values.yaml is in the schema (the schema would reject it otherwise, but
	// this names the key).
	values := readYAML(t, filepath.Join(repoRoot(t), "charts", "kooper", "values.yaml"))
	var check func(path string, v object, s object)
	check = func(path string, v object, s object) {
		props, _ := s["properties"].(object)
		for k, val := range v {
			ps, ok := props[k].(object)
			if !ok {
				// A map's own keys (a label selector's matchLabels) are its additionalProperties.
				if _, isMap := s["additionalProperties"].(object); isMap {
					continue
				}
				t.Errorf("values.yaml key %s%s is not in values.schema.json", path, k)
				continue
			}
			if m, ok := val.(object); ok {
				check(path+k+".", m, ps)
			}
		}
	}
	check("", values, schema)
}

// TestProductSpecFields keeps product.spec's closed list of fields in values.schema.json
// equal to SaaSProduct.spec's fields in the CRD.
func TestProductSpecFields(t *testing.T) {
	root := repoRoot(t)
	crd := readYAML(t, filepath.Join(root, "config", "crd", "bases", "saas.kooper.io_saasproducts.yaml"))
	b, err := os.ReadFile(filepath.Join(root, "charts", "kooper", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema object
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string {
		var out []string
		for k := range m.(object) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	want := keys(get(t, crd, "spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties"))
	got := keys(get(t, schema, "properties", "product", "properties", "spec", "properties"))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values.schema.json product.spec fields = %v, want the CRD's %v", got, want)
	}
}

func TestSyncChartCheck(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	cmd := exec.Command(bash, filepath.Join("hack", "sync-chart.sh"), "--check")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/sync-chart.sh --check: %v\n%s", err, out)
	}
}

// TestUnittestCoversTemplates checks that every manifest template is named by a
// helm-unittest suite in charts/kooper/tests (run them with hack/chart-unittest.sh), so a
// new template cannot arrive untested. NOTES.txt is checked by TestNotes.
func TestUnittestCoversTemplates(t *testing.T) {
	chart := filepath.Join(repoRoot(t), "charts", "kooper")
	tested := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(chart, "tests"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.yaml") {
			return err
		}
		var suite struct {
			Templates []string `json:"templates"`
			Tests     []struct {
				Template string `json:"template"`
			} `json:"tests"`
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &suite); err != nil {
			return errors.New(path + ": " + err.Error())
		}
		names := suite.Templates
		for _, tc := range suite.Tests {
			names = append(names, tc.Template)
		}
		for _, n := range names {
			tested[strings.TrimPrefix(n, "templates/")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	templates := filepath.Join(chart, "templates")
	err = filepath.WalkDir(templates, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		rel, _ := filepath.Rel(templates, path)
		if !tested[filepath.ToSlash(rel)] {
			t.Errorf("templates/%s is in no helm-unittest suite under charts/kooper/tests", filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
