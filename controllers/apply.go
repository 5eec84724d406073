package controllers

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// applier writes a tenant's objects with server-side apply under one field
// owner, so a hand-edited field is put back. It first compares the desired
// object with the cached one and writes nothing when every field kooper
// sets already has its value: a restart over thousands of tenants costs
// cache reads, not applies.
type applier struct {
	client client.Client
	// uncached reads the kinds the cache does not hold (tenant Secrets).
	uncached func(client.Object) bool
	reader   client.Reader
	scheme   *runtime.Scheme
	owner    string
}

// apply makes obj exist as desired and reports whether it wrote.
func (a *applier) apply(ctx context.Context, obj client.Object) (bool, error) {
	desired, err := desiredMap(obj)
	if err != nil {
		return false, err
	}
	current, err := a.cached(ctx, obj)
	if err != nil {
		return false, err
	}
	if current != nil && isSubset(desired, current) {
		return false, nil
	}
	u := &unstructured.Unstructured{Object: desired}
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(a.owner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("failed to apply %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// remove deletes obj if the cache has it.
func (a *applier) remove(ctx context.Context, obj client.Object) (bool, error) {
	current, err := a.cached(ctx, obj)
	if err != nil || current == nil {
		return false, err
	}
	if err := a.client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("failed to delete %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}

// cached returns the cached object with obj's kind and key as a map, or nil.
func (a *applier) cached(ctx context.Context, obj client.Object) (map[string]any, error) {
	gvk, err := apiutil.GVKForObject(obj, a.scheme)
	if err != nil {
		return nil, err
	}
	typed, err := a.scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	current := typed.(client.Object)
	var reader client.Reader = a.client
	if a.uncached != nil && a.uncached(obj) {
		reader = a.reader
	}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(current)
}

// desiredMap is obj as an apply patch: no status, and no empty creation time.
func desiredMap(obj client.Object) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	pruneNulls(m)
	return m, nil
}

// pruneNulls drops null values (zero times of nested templates, say), which
// an apply would otherwise claim.
func pruneNulls(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			pruneNulls(e)
		}
	case []any:
		for _, e := range t {
			pruneNulls(e)
		}
	}
}

// isSubset reports whether every field of desired has the same value in
// actual. Lists must match element by element; fields the API server or
// someone else added are ignored.
func isSubset(desired, actual any) bool {
	switch d := desired.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return len(d) == 0 && actual == nil
		}
		for k, dv := range d {
			if !isSubset(dv, a[k]) {
				return false
			}
		}
		return true
	case []any:
		a, ok := actual.([]any)
		if !ok || len(a) != len(d) {
			return false
		}
		for i := range d {
			if !isSubset(d[i], a[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(desired, actual)
	}
}
