package tenantobjects

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status is kstatus' judgement (the library Flux and kpt use) of obj, a
// typed object of kind gvk as read back from the API server or a cache:
// objects from a cache carry no kind of their own, and kstatus judges a
// Deployment, StatefulSet, Job or claim by rules of its kind. It fails
// when obj does not convert or kstatus cannot read it.
func Status(obj client.Object, gvk schema.GroupVersionKind) (*status.Result, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return status.Compute(u)
}

// Current reports whether Status finds obj current; false when obj is nil
// or Status fails.
func Current(obj client.Object, gvk schema.GroupVersionKind) bool {
	if obj == nil {
		return false
	}
	res, err := Status(obj, gvk)
	return err == nil && res.Status == status.CurrentStatus
}
