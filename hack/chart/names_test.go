package chart

import (
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/validate/content"
)

// The longest inputs a chart name derives from (docs/naming.md): Helm's longest release
// name, a namespace's longest name, and values.schema.json's longest fullnameOverride.
const (
	longestRelease   = "release-at-the-maximum-length-helm-allows-of-53-chars"           // 53
	longestNamespace = "tenant-operators-namespace-at-the-longest-a-namespace-may-be-63" // 63
	longestFullname  = "kooper-fullname-override-of-43-characters-x"                     // 43
)

var (
	// A DNS-1035 label: a Service's name, and what a Deployment's should be (its Pods'
	// hostnames derive from it; the API server warns otherwise). A Namespace's is a
	// DNS-1123 label, which the first character aside is the same.
	dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// A DNS-1123 subdomain: every other kind's name (at most 253 characters).
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// TestNamesAtTheirLimits renders the chart with every object it can make and each input a
// name derives from at its maximum, and checks every object's name against its kind's limit,
// every name distinct within its kind and namespace, and every label value within 63.
func TestNamesAtTheirLimits(t *testing.T) {
	every := []string{
		"ingress.enabled=true", "ingress.tls.certManagerIssuer=letsencrypt",
		"prometheusRule.enabled=true", "grafanaDashboard.enabled=true",
		"product.enabled=true", "product.name=crm", "product.spec.productId=OFFI1",
		"product.spec.keysSecretName=crm-keys", "product.spec.plans[0].skuCode=basic",
	}
	for _, tc := range []struct {
		name, release, namespace string
		set                      []string
	}{
		{"53-character release name, 63-character namespace, ServiceMonitor", longestRelease, longestNamespace,
			append([]string{"serviceMonitor.enabled=true"}, every...)},
		{"43-character fullnameOverride, PodMonitor", "kooper", "kooper-system",
			append([]string{"fullnameOverride=" + longestFullname, "podMonitor.enabled=true",
				"podMonitor.bearerTokenSecret.name=prometheus-token"}, every...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", tc.release, "charts/kooper", "--namespace", tc.namespace}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			docs := parseDocs(t, out)
			seen := map[string]bool{}
			for _, d := range docs {
				kind, _ := d["kind"].(string)
				meta, _ := d["metadata"].(object)
				name, _ := meta["name"].(string)
				namespace, _ := meta["namespace"].(string)
				switch kind {
				case "Service", "Deployment", "Namespace":
					if !dnsLabel.MatchString(name) {
						t.Errorf("%s %q (%d characters) is not a DNS label of at most 63", kind, name, len(name))
					}
				case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
					// RBAC names are path segments (Kubernetes' ValidateRBACName), which may
					// hold a colon: the aggregated roles are saas.kooper.io:view and :edit.
					if problems := content.IsPathSegmentName(name); len(name) > 253 || len(problems) > 0 {
						t.Errorf("%s %q (%d characters) is not an RBAC name of at most 253: %v", kind, name, len(name), problems)
					}
				default:
					if len(name) > 253 || !dnsSubdomain.MatchString(name) {
						t.Errorf("%s %q (%d characters) is not a DNS subdomain of at most 253", kind, name, len(name))
					}
				}
				key := strings.Join([]string{kind, namespace, name}, "/")
				if seen[key] {
					t.Errorf("two objects are %s", key)
				}
				seen[key] = true
				labels, _ := meta["labels"].(object)
				for k, v := range labels {
					if s, _ := v.(string); len(s) > 63 {
						t.Errorf("%s %q: label %s=%q has %d characters, more than 63", kind, name, k, s, len(s))
					}
				}
			}
			if ns := only(t, docs, "Namespace"); get(t, ns, "metadata", "name") == tc.namespace {
				t.Errorf("the directory namespace is the release namespace %s", tc.namespace)
			}
			for _, kind := range []string{"Service", "Deployment", "Ingress", "ConfigMap", "PrometheusRule", "ValidatingAdmissionPolicy", "FlowSchema"} {
				if len(ofKind(docs, kind)) == 0 {
					t.Errorf("no %s rendered: the test no longer covers it", kind)
				}
			}
		})
	}
}
