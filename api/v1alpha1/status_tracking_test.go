package v1alpha1_test

import (
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Every status kooper writes is one atomic value to the API server's field
// tracking (+structType=atomic): a status write records one managed field
// for the whole status, not one per field and condition (1.6 KB of a
// provisioned SaaSTenant's 4.8 KB before), and a merge patch still changes
// only what it names.
func TestAStatusWriteRecordsOneManagedField(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, sample := range []string{"saas_v1alpha1_saasproduct.yaml", "saas_v1alpha1_saastenant.yaml", "saas_v1alpha1_license.yaml"} {
		obj := readObjects(t, filepath.Join(root, "config", "samples", sample))[0]
		t.Run(obj.GetKind(), func(t *testing.T) {
			g := NewWithT(t)
			name := "tracking-" + strings.ToLower(obj.GetKind())
			obj.SetName(name)
			if obj.GetKind() == "SaaSTenant" {
				g.Expect(unstructured.SetNestedField(obj.Object, name, "spec", "instanceId")).To(Succeed())
			}
			g.Expect(k8sClient.Create(ctx(t), obj)).To(Succeed())

			ready := `{"type":"Ready","status":"False","reason":"Progressing","message":"applying","lastTransitionTime":"2026-12-04T00:00:00Z"}`
			for _, patch := range []string{`{"status":{"conditions":[` + ready + `]}}`, `{"status":{"observedGeneration":1}}`} {
				g.Expect(k8sClient.Status().Patch(ctx(t), obj, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
			}

			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(obj.GroupVersionKind())
			g.Expect(k8sClient.Get(ctx(t), client.ObjectKeyFromObject(obj), got)).To(Succeed())
			conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			g.Expect(conditions).To(HaveLen(1), "the second merge patch kept the first's condition")
			generation, _, _ := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
			g.Expect(generation).To(Equal(int64(1)))
			var tracked []string
			for _, m := range got.GetManagedFields() {
				if m.Subresource == "status" {
					tracked = append(tracked, m.FieldsV1.GetRawString())
				}
			}
			g.Expect(tracked).To(ConsistOf(`{"f:status":{}}`))
		})
	}
}

// No kind of kooper's is left out: every CRD of kooper's group the API
// server serves (testenv installs config/crd/bases; the chart's CRDs are
// copies, hack/sync-chart.sh, which CI holds to them with make
// verify-generated) has an atomic status.
func TestEveryStatusIsAtomic(t *testing.T) {
	g := NewWithT(t)
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	g.Expect(k8sClient.List(ctx(t), crds)).To(Succeed())
	kinds := 0
	for _, crd := range crds.Items {
		if crd.Spec.Group != saasv1alpha1.GroupVersion.Group {
			continue
		}
		kinds++
		for _, v := range crd.Spec.Versions {
			status, ok := v.Schema.OpenAPIV3Schema.Properties["status"]
			if !ok {
				continue
			}
			g.Expect(status.XMapType).To(HaveValue(Equal("atomic")), "%s %s's status", crd.Name, v.Name)
		}
	}
	g.Expect(kinds).To(BeNumerically(">=", 5))
}
