package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	schemacel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/kooper-io/kooper/internal/testenv"
)

// oldestSupportedKubernetesMinor is the oldest Kubernetes 1.x the CRDs must
// install on. docs/operations/cce.md ("The cluster") promises Kubernetes
// 1.30 for the chart's defaults and older clusters with admissionPolicy and
// receiver.priorityAndFairness turned off; 1.28 is the oldest of those, as
// an API server before it does not know a validation rule's fieldPath.
const oldestSupportedKubernetesMinor = 28

// chartDefaultsKubernetesMinor is the oldest Kubernetes 1.x the chart's
// defaults install on (the ValidatingAdmissionPolicy, GA in 1.30).
const chartDefaultsKubernetesMinor = 30

// TestCRDRulesCompileOnTheOldestSupportedKubernetes compiles every CEL rule
// of the generated CRDs as an older API server does when the CRD is
// created: a rule new to the server may use only the CEL functions of the
// previous minor (its compatibility version, the rollback window), so a
// function added in a later release (isCIDR, 1.30) makes a 1.30 server
// refuse the whole CRD with "undeclared reference", and `helm install`
// fails. The environment is this module's, cut down to that version's
// function set; cost estimates are today's.
func TestCRDRulesCompileOnTheOldestSupportedKubernetes(t *testing.T) {
	crds := readCRDs(t)
	servers := []struct {
		name  string
		minor uint
	}{
		{"the oldest supported server, admission policy and FlowSchema off", oldestSupportedKubernetesMinor},
		{"the oldest server for the chart's defaults", chartDefaultsKubernetesMinor},
	}
	for _, server := range servers {
		// A server checks rules it has not stored yet against the function
		// set of its compatibility version, one minor back.
		envSet := environment.MustBaseEnvSet(version.MajorMinor(1, server.minor-1))
		t.Run(fmt.Sprintf("Kubernetes 1.%d, %s", server.minor, server.name), func(t *testing.T) {
			for _, crd := range crds {
				for _, v := range crd.Spec.Versions {
					if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
						continue
					}
					root := structuralSchema(t, crd.Name, v.Schema.OpenAPIV3Schema)
					for _, problem := range ruleCompileProblems(root, "", true, envSet) {
						t.Errorf("%s %s: %s", crd.Name, v.Name, problem)
					}
				}
			}
		})
	}
}

// readCRDs reads config/crd/bases/*.yaml, the CRDs controller-gen makes
// and the chart installs.
func readCRDs(t *testing.T) []apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	crds := make([]apiextensionsv1.CustomResourceDefinition, 0, len(files))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		crds = append(crds, crd)
	}
	return crds
}

// structuralSchema converts a served version's schema as the API server
// does before it compiles the rules.
func structuralSchema(t *testing.T, crd string, schema *apiextensionsv1.JSONSchemaProps) *structuralschema.Structural {
	t.Helper()
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(schema, &internal, nil); err != nil {
		t.Fatalf("%s: %v", crd, err)
	}
	s, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatalf("%s: not a structural schema: %v", crd, err)
	}
	return s
}

// ruleCompileProblems compiles the rules of s and of every schema below it
// with the new-expressions environment of envSet, and returns one line per
// rule that does not compile: its JSON path (".spec.workload", "[*]" for
// list items, ".*" for map values), the rule and the compiler's message.
// isRoot is true for the object's root and for embedded resources, whose
// metadata CEL sees as name and generateName only.
func ruleCompileProblems(s *structuralschema.Structural, path string, isRoot bool, envSet *environment.EnvSet) []string {
	var problems []string
	if len(s.XValidations) > 0 {
		problems = append(problems, compileRules(s, path, isRoot, envSet)...)
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		child := s.Properties[name]
		problems = append(problems, ruleCompileProblems(&child, path+"."+name, child.XEmbeddedResource, envSet)...)
	}
	if s.Items != nil {
		problems = append(problems, ruleCompileProblems(s.Items, path+"[*]", s.Items.XEmbeddedResource, envSet)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
		values := s.AdditionalProperties.Structural
		problems = append(problems, ruleCompileProblems(values, path+".*", values.XEmbeddedResource, envSet)...)
	}
	return problems
}

func compileRules(s *structuralschema.Structural, path string, isRoot bool, envSet *environment.EnvSet) []string {
	where := path
	if where == "" {
		where = "<root>"
	}
	declType := model.SchemaDeclType(s, isRoot)
	results, err := schemacel.Compile(s, declType, celconfig.PerCallLimit, envSet, schemacel.NewExpressionsEnvLoader())
	if err != nil {
		return []string{fmt.Sprintf("%s: the rules cannot be compiled: %v", where, err)}
	}
	var problems []string
	for i, result := range results {
		if result.Error != nil {
			problems = append(problems, fmt.Sprintf("%s: rule %q: %s", where, s.XValidations[i].Rule, result.Error.Detail))
		}
		if result.MessageExpressionError != nil {
			problems = append(problems, fmt.Sprintf("%s: messageExpression %q: %s",
				where, s.XValidations[i].MessageExpression, result.MessageExpressionError.Detail))
		}
	}
	return problems
}
