package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// CRDSchema is the OpenAPI schema at path in the generated CRD of kind
// plural (config/crd/bases/saas.kooper.io_<plural>.yaml); a path element
// "[]" steps into a list's items. It fails the test when the file or the
// path is not there. Tests of a bound kooper keeps in code compare it with
// the schema's, so the two cannot drift apart.
func CRDSchema(t testing.TB, plural string, path ...string) map[string]any {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "saas.kooper.io_"+plural+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil || len(crd.Spec.Versions) != 1 {
		t.Fatalf("%s: %v (%d versions)", plural, err, len(crd.Spec.Versions))
	}
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, p := range path {
		var next any
		if p == "[]" {
			next = schema["items"]
		} else if props, ok := schema["properties"].(map[string]any); ok {
			next = props[p]
		}
		if schema, _ = next.(map[string]any); schema == nil {
			t.Fatalf("%s: no schema at %s", plural, strings.Join(path, "."))
		}
	}
	return schema
}

// CRDMaxLength is the maxLength of the string at path in plural's CRD
// (CRDSchema), in characters.
func CRDMaxLength(t testing.TB, plural string, path ...string) int {
	t.Helper()
	n, ok := CRDSchema(t, plural, path...)["maxLength"].(float64)
	if !ok {
		t.Fatalf("%s: no maxLength at %s", plural, strings.Join(path, "."))
	}
	return int(n)
}
