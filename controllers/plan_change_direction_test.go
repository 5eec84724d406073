package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// claimRender is an example render holding one PersistentVolumeClaim
// "data" of size.
func claimRender(sku, size string) planRender {
	c := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": map[string]any{"name": "data"},
		"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": size}}},
	}}
	return planRender{skuCode: sku, objects: []*unstructured.Unstructured{c}}
}

// objectRender is an example render holding one object of kind and name
// "web" with spec.
func objectRender(sku, apiVersion, kind string, spec map[string]any) planRender {
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "web"}, "spec": spec,
	}}
	return planRender{skuCode: sku, objects: []*unstructured.Unstructured{o}}
}

// A claim may grow but not shrink: a plan change is refused only towards
// the smaller plan, whichever order the plans come in, and the receiver
// answers the upgrade. Changes kooper makes by replacing the object (a
// Deployment's selector, a Job's template) refuse no plan change.
func TestPlanChangesAreRefusedOnlyTheWayTheyStall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		renders    []planRender
		want       []saasv1alpha1.PlanPair
		message    string
		refused    [][2]string
		notRefused [][2]string
	}{{
		name:       "the bigger claim later",
		renders:    []planRender{claimRender("basic", "10Gi"), claimRender("pro", "20Gi")},
		want:       []saasv1alpha1.PlanPair{{SKUCodes: []string{"basic", "pro"}, From: "pro"}},
		message:    "a change from plan pro to plan basic changes PersistentVolumeClaim/data spec.resources.requests.storage",
		refused:    [][2]string{{"pro", "basic"}},
		notRefused: [][2]string{{"basic", "pro"}},
	}, {
		name:       "the bigger claim first",
		renders:    []planRender{claimRender("pro", "20Gi"), claimRender("basic", "10240Mi")},
		want:       []saasv1alpha1.PlanPair{{SKUCodes: []string{"pro", "basic"}, From: "pro"}},
		message:    "a change from plan pro to plan basic changes PersistentVolumeClaim/data spec.resources.requests.storage",
		refused:    [][2]string{{"pro", "basic"}},
		notRefused: [][2]string{{"basic", "pro"}},
	}, {
		name:       "the same size written otherwise",
		renders:    []planRender{claimRender("basic", "10Gi"), claimRender("pro", "10240Mi")},
		notRefused: [][2]string{{"basic", "pro"}, {"pro", "basic"}},
	}, {
		name: "a StatefulSet's service name, either way",
		renders: []planRender{objectRender("basic", "apps/v1", "StatefulSet", map[string]any{"serviceName": "a"}),
			objectRender("pro", "apps/v1", "StatefulSet", map[string]any{"serviceName": "b"})},
		want:    []saasv1alpha1.PlanPair{{SKUCodes: []string{"basic", "pro"}}},
		message: "plans basic and pro render StatefulSet/web spec.serviceName differently",
		refused: [][2]string{{"basic", "pro"}, {"pro", "basic"}},
	}, {
		name: "a Deployment's selector, which kooper replaces",
		renders: []planRender{objectRender("basic", "apps/v1", "Deployment", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "a"}}}),
			objectRender("pro", "apps/v1", "Deployment", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "b"}}})},
		notRefused: [][2]string{{"basic", "pro"}, {"pro", "basic"}},
	}, {
		name: "a Job's template, which kooper replaces",
		renders: []planRender{objectRender("basic", "batch/v1", "Job", map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never"}}}),
			objectRender("pro", "batch/v1", "Job", map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "OnFailure"}}})},
		notRefused: [][2]string{{"basic", "pro"}, {"pro", "basic"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			pairs, changes := planChangesRefused(tc.renders)
			g.Expect(pairs).To(Equal(tc.want))
			if tc.message == "" {
				g.Expect(changes).To(BeEmpty())
			} else {
				g.Expect(changes).To(Equal([]string{tc.message}))
			}
			status := saasv1alpha1.SaaSProductStatus{RefusedPlanChanges: pairs}
			for _, c := range tc.refused {
				g.Expect(status.PlanChangeRefused(c[0], c[1])).To(BeTrue(), "%s to %s", c[0], c[1])
			}
			for _, c := range tc.notRefused {
				g.Expect(status.PlanChangeRefused(c[0], c[1])).To(BeFalse(), "%s to %s", c[0], c[1])
			}
		})
	}
}
