package chartrender

import (
	"encoding/base64"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// A Secret's data or a ConfigMap's binaryData written as valid base64 in
// another form than Go writes it (a YAML `|` block's trailing newline,
// base64 wrapped at 76 characters as `base64` and openssl write it) is
// rendered in the canonical form the API server stores: it decodes the
// text to bytes and encodes them again. Before, normalize kept the whole
// object as written and kooper, comparing that text with the stored one,
// applied the Secret on every pass.
func TestNormalizeWritesBase64AsTheAPIServerStoresIt(t *testing.T) {
	long := strings.Repeat("a long secret value, ", 5) // 105 bytes: 140 base64 characters
	canonical := base64.StdEncoding.EncodeToString([]byte(long))
	wrapped := canonical[:76] + "\n" + canonical[76:] + "\n"
	cases := map[string]struct{ doc, field string }{
		"Secret data, a | block": {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: |\n    aHVudGVyMg==\n  long: |\n" +
			indent(wrapped, "    ") + "  cpu: 100m\n  other: aHVudGVyMg==\n", "data"},
		"ConfigMap binaryData, a | block": {"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  text: \"aHVudGVyMg==\\n\"\nbinaryData:\n  password: |\n    aHVudGVyMg==\n  long: |\n" +
			indent(wrapped, "    ") + "  cpu: 100m\n  other: aHVudGVyMg==\n", "binaryData"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			obj, err := decode(c.doc)
			g.Expect(err).NotTo(HaveOccurred())
			got := normalize(obj)
			g.Expect(got.Object[c.field]).To(Equal(map[string]any{
				"password": "aHVudGVyMg==",
				"long":     canonical,
				// "100m" is base64 (of 3 bytes) and no quantity here: it stays.
				"cpu":   "100m",
				"other": "aHVudGVyMg==",
			}))
			if c.field == "binaryData" {
				g.Expect(got.Object["data"]).To(Equal(map[string]any{"text": "aHVudGVyMg==\n"}), "a string is no base64: as written")
			}
		})
	}
}

// A StatefulSet's volumeClaimTemplates that name their apiVersion and kind
// (charts add them for Argo CD) keep them: the API server writes every
// claim template out with apiVersion v1 and kind PersistentVolumeClaim
// (chart_settles_test.go in controllers reads one back), so they are
// stored as written. The rest of the object is normalized as any other.
// (Only a protobuf read, the cache's, lacks them: internal/apply's
// holdsFields takes that into account.)
func TestNormalizeKeepsTheTypeMetaOfAClaimTemplate(t *testing.T) {
	g := NewWithT(t)
	obj, err := decode("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n" +
		"  volumeClaimTemplates:\n    - apiVersion: v1\n      kind: PersistentVolumeClaim\n      metadata: {name: data}\n" +
		"      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1024Mi}}}\n")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(normalize(obj).Object["spec"]).To(Equal(map[string]any{
		"serviceName": "db",
		"volumeClaimTemplates": []any{map[string]any{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim",
			"metadata": map[string]any{"name": "data"},
			"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"},
				"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}},
		}},
	}))
}

// A reference to another object keeps its apiVersion and kind: they are
// its fields, which the API server stores, not a nested object's TypeMeta.
func TestNormalizeKeepsAReferencesAPIVersionAndKind(t *testing.T) {
	g := NewWithT(t)
	obj, err := decode("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  maxReplicas: 3\n" +
		"  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(normalize(obj).Object["spec"]).To(HaveKeyWithValue("scaleTargetRef",
		map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}))
}

// indent puts prefix before each line of s.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}
