// Package apply writes Kubernetes objects with server-side apply under one
// field owner, and skips the write when the cache already holds every field
// the caller sets. The tenant controller applies a tenant's objects through
// it.
//
// Its rules: an apply patch carries no status, no empty creation time and no
// null values, so kooper claims only the fields it sets; an object whose
// cached copy already has every desired value is not written, so a restart
// over thousands of tenants costs cache reads, not applies; but an object
// whose last apply (recorded as a hash in an annotation) differs from the
// desired one is written, even when the cached copy holds every desired
// value, so that server-side apply removes the fields no longer desired; a
// removal of an object that is already gone succeeds. It talks to the API
// server only through the client it is given.
//
// In a namespace the caller just made (FreshNamespace), with
// CreatedAnnotation set, objects are created rather than applied: a create
// costs the API server about half what a server-side apply that creates
// does (docs/benchmarks.md). Its fields then belong to the owner's Update
// manager, which an apply would never take from; so the annotation marks
// such an object, and before the next apply changes it, its managed fields
// are converted to the owner's Apply manager (client-go's csaupgrade), so
// that a field the owner stops setting is removed, as for any object it
// applied. A create answered that its own namespace is not found is tried
// again for about a second (CreateRetryingNamespaceMiss): some API servers
// refuse creates in a namespace made a moment before.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Applier writes objects with server-side apply under the field owner
// Owner, forcing ownership, so a hand-edited field is put back. Client,
// Scheme and Owner are required; Reader and Uncached are optional.
type Applier struct {
	// Client reads the cached objects and writes every change.
	Client client.Client
	// Reader reads the objects for which Uncached is true: kinds or
	// namespaces the cache does not hold (tenant Secrets, say).
	Reader client.Reader
	// Uncached reports an object to be read through Reader rather than
	// Client; nil means every object is read through Client.
	Uncached func(client.Object) bool
	// HashAnnotation, when set, is the annotation that records a hash of
	// what was last applied (see Apply); empty leaves fields the desired
	// object stops setting in place until another field changes.
	HashAnnotation string
	// FreshNamespace, when true, says the objects' namespace held nothing
	// of the Owner's before (the caller just made it): an object Uncached
	// reports is then written without being read first, saving a request
	// per object. Were the caller wrong, the object is written once more
	// with the same content, which server-side apply makes harmless.
	FreshNamespace bool
	// CreatedAnnotation, when set, makes Apply create the objects of a
	// FreshNamespace instead of applying them, marked with this annotation
	// (value CreatedValue) until an apply converts their managed fields
	// (see the package doc). An object found to exist is applied as ever.
	CreatedAnnotation string
	// Hashes, when not nil, receives under "Kind/name" the hash of the last
	// apply (HashAnnotation's value) of every object Apply writes or finds
	// in step: a caller that reads the object back from a cache can tell a
	// copy from before this apply by it.
	Hashes map[string]string
	// Written, when not nil, remembers the uncached objects this process
	// wrote, so that a later pass within its TTL does not read one back
	// while its desired hash is unchanged (see Memo). Needs HashAnnotation.
	Written *Memo
	// Scheme knows the Go type of every object applied.
	Scheme *runtime.Scheme
	// Owner is the field manager of every apply, e.g. "kooper".
	Owner string
}

// Apply makes obj exist as desired and reports whether it wrote: false
// when the current object already has every field obj sets (fields others
// added are ignored) and, with HashAnnotation, records the same last apply.
// An object that records no last apply (applied before HashAnnotation was
// set) is taken as in step while it has every field obj sets: that spares
// a restart from writing every object once. obj's status is never applied.
// It fails when obj's kind is not in Scheme, or when the read or the apply
// fails; the error names the kind and key.
func (a *Applier) Apply(ctx context.Context, obj client.Object) (bool, error) {
	desired, err := desiredMap(obj)
	if err != nil {
		return false, err
	}
	if err := a.recordHash(desired); err != nil {
		return false, err
	}
	hash, _, _ := unstructured.NestedString(desired, "metadata", "annotations", a.HashAnnotation)
	if a.Hashes != nil && a.HashAnnotation != "" {
		kind, _ := desired["kind"].(string)
		a.Hashes[kind+"/"+obj.GetName()] = hash
	}
	fresh := a.FreshNamespace
	if fresh && a.CreatedAnnotation != "" {
		switch err := a.create(ctx, desired); {
		case err == nil:
			a.rememberWritten(obj, hash)
			return true, nil
		case !apierrors.IsAlreadyExists(err):
			return false, err
		}
		fresh = false // the caller was wrong: read it and apply, as anywhere
	}
	if !fresh && a.uncached(obj) && a.writtenInStep(obj, hash) {
		return false, nil
	}
	if !fresh || !a.uncached(obj) {
		current, err := a.cached(ctx, obj)
		if err != nil {
			return false, err
		}
		if current != nil && a.inStep(desired, current) {
			return false, nil
		}
		if current != nil && a.wasCreated(current) {
			if err := a.convertManagedFields(ctx, obj); err != nil {
				return false, err
			}
		}
	}
	u := &unstructured.Unstructured{Object: desired}
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(a.Owner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("failed to apply %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(obj), err)
	}
	a.rememberWritten(obj, hash)
	return true, nil
}

// rememberWritten tells Written that obj, when uncached, was just written
// with last apply hash hash.
func (a *Applier) rememberWritten(obj client.Object, hash string) {
	if a.Written == nil || !a.uncached(obj) {
		return
	}
	if gk, ok := a.groupKind(obj); ok {
		a.Written.wrote(gk, client.ObjectKeyFromObject(obj), hash)
	}
}

// writtenInStep reports whether Written vouches for obj as this process
// wrote it with last apply hash hash.
func (a *Applier) writtenInStep(obj client.Object, hash string) bool {
	gk, ok := a.groupKind(obj)
	return ok && a.Written.inStep(gk, client.ObjectKeyFromObject(obj), hash)
}

func (a *Applier) groupKind(obj client.Object) (schema.GroupKind, bool) {
	gvk, err := apiutil.GVKForObject(obj, a.Scheme)
	return gvk.GroupKind(), err == nil
}

// CreatedValue is CreatedAnnotation's value on an object Apply created.
const CreatedValue = "Update"

// create creates desired, marked with CreatedAnnotation, under the owner.
func (a *Applier) create(ctx context.Context, desired map[string]any) error {
	obj := TypedOrUnstructured(a.Scheme, desired) // a copy: marking it leaves desired as it is
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[a.CreatedAnnotation] = CreatedValue
	obj.SetAnnotations(annotations)
	if err := CreateRetryingNamespaceMiss(ctx, a.Client, obj, client.FieldOwner(a.Owner)); err != nil {
		kind, _ := desired["kind"].(string)
		return fmt.Errorf("failed to create %s %s: %w", kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// staleNamespaceBackoff bounds the tries of a create answered with its own
// namespace's NotFound: 4 tries, about 0.7 s of waits in all, longer than
// an API server's informer usually lags behind its own write.
var staleNamespaceBackoff = wait.Backoff{Steps: 4, Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1}

// CreateRetryingNamespaceMiss creates obj through c, and tries again,
// within staleNamespaceBackoff, while the API server answers that obj's own
// namespace is not found. kube-apiserver 1.30 to 1.34 without
// kubernetes/kubernetes#135359 (fixed in 1.35.0, 1.34.3, 1.33.7 and
// 1.32.11; never in 1.30 and 1.31) reads the namespace of a request that a
// ValidatingAdmissionPolicy matches from its informer only, so a create a
// moment after the namespace's own is refused with NotFound until that
// informer sees it (kooper's policy matches every kind the controllers
// create). A namespace that really is gone still fails, with the API
// server's answer, once the tries are spent or ctx ends; any other error,
// and a cluster-scoped obj, is returned at once.
func CreateRetryingNamespaceMiss(ctx context.Context, c client.Writer, obj client.Object, opts ...client.CreateOption) error {
	backoff := staleNamespaceBackoff
	for tries := 1; ; tries++ {
		err := c.Create(ctx, obj, opts...)
		if err == nil || tries >= staleNamespaceBackoff.Steps || !namespaceNotFound(err, obj.GetNamespace()) {
			return err
		}
		retry := time.NewTimer(backoff.Step())
		select {
		case <-ctx.Done():
			retry.Stop()
			return err
		case <-retry.C:
		}
	}
}

// namespaceNotFound reports whether err is a NotFound for namespace itself
// (not for the object, nor for something it names): the policy's lister
// names the resource "namespace", a live read "namespaces".
func namespaceNotFound(err error, namespace string) bool {
	var status apierrors.APIStatus
	if namespace == "" || !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	details := status.Status().Details
	return details != nil && details.Group == "" && details.Name == namespace &&
		(details.Kind == "namespace" || details.Kind == "namespaces")
}

// TypedOrUnstructured is a copy of desired as the Go type scheme has for
// its kind, so that a client sends a built-in kind as protobuf: creates
// sent as JSON cost the tenant controller about a quarter of its CPU in
// encoding the requests and decoding the answers into maps
// (docs/benchmarks.md). Where scheme has no Go type, or desired sets a field
// the Go type lacks (a chart written for a newer Kubernetes, say: the
// conversion would drop it without a word), it is an Unstructured copy,
// sent as JSON.
func TypedOrUnstructured(scheme *runtime.Scheme, desired map[string]any) client.Object {
	u := &unstructured.Unstructured{Object: desired}
	if typed, err := scheme.New(u.GroupVersionKind()); err == nil {
		obj, ok := typed.(client.Object)
		_, generic := typed.(runtime.Unstructured)
		if ok && !generic && runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(desired, obj, true) == nil {
			return obj
		}
	}
	return &unstructured.Unstructured{Object: runtime.DeepCopyJSON(desired)}
}

// wasCreated reports whether current carries CreatedAnnotation: its
// fields still belong to the owner's Update manager.
func (a *Applier) wasCreated(current client.Object) bool {
	if a.CreatedAnnotation == "" {
		return false
	}
	_, found := current.GetAnnotations()[a.CreatedAnnotation]
	return found
}

// convertManagedFields gives the owner's Apply manager the fields its
// Update manager holds on obj's stored copy (read through Reader: the
// cache keeps no managed fields), in one JSON patch that fails if the
// object changed since the read. The apply that follows then removes what
// the owner no longer sets, CreatedAnnotation included.
func (a *Applier) convertManagedFields(ctx context.Context, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, a.Scheme)
	if err != nil {
		return err
	}
	if a.Reader == nil {
		return fmt.Errorf("%s %s was created, not applied: reading its managed fields needs the Applier's Reader", gvk.Kind, client.ObjectKeyFromObject(obj))
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gvk)
	if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return fmt.Errorf("failed to read the managed fields of %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(a.Owner), a.Owner)
	if err != nil || patch == nil {
		return err
	}
	if err := a.Client.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("failed to give the managed fields of %s %s to the apply manager: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// recordHash puts the hash of desired into its HashAnnotation; without
// HashAnnotation it changes nothing.
func (a *Applier) recordHash(desired map[string]any) error {
	if a.HashAnnotation == "" {
		return nil
	}
	data, err := json.Marshal(desired) // maps marshal with sorted keys: the same object, the same bytes
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	return unstructured.SetNestedField(desired, hex.EncodeToString(sum[:16]), "metadata", "annotations", a.HashAnnotation)
}

// inStep reports whether current (a typed object) needs no apply: it has
// every desired field, the recorded hash included, or, recording no hash
// at all, every other desired field.
func (a *Applier) inStep(desired map[string]any, current client.Object) bool {
	if holdsFields(desired, current) {
		return true
	}
	if a.HashAnnotation == "" {
		return false
	}
	if _, recorded := current.GetAnnotations()[a.HashAnnotation]; recorded {
		return false
	}
	// desired without the hash: shallow copies down to the annotations,
	// which recordHash made maps.
	meta, ok := desired["metadata"].(map[string]any)
	annotations, ok2 := meta["annotations"].(map[string]any)
	if !ok || !ok2 {
		return false
	}
	unrecorded, meta, annotations := maps.Clone(desired), maps.Clone(meta), maps.Clone(annotations)
	delete(annotations, a.HashAnnotation)
	meta["annotations"], unrecorded["metadata"] = annotations, meta
	return holdsFields(unrecorded, current)
}

// Remove deletes the object with obj's kind and key if it exists, and
// reports whether it asked for a deletion. An object already gone, or gone
// between the read and the delete, is no error.
func (a *Applier) Remove(ctx context.Context, obj client.Object) (bool, error) {
	current, err := a.cached(ctx, obj)
	if err != nil || current == nil {
		return false, err
	}
	if err := a.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("failed to delete %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	if gk, ok := a.groupKind(obj); ok && a.Written != nil {
		a.Written.Forget(gk, client.ObjectKeyFromObject(obj))
	}
	return true, nil
}

// cached returns the object with obj's kind and key as its Go type, read
// from the cache (or from Reader when Uncached says so), or nil if there is
// none. A cached object shares its maps and slices with the cache: only
// read it.
func (a *Applier) cached(ctx context.Context, obj client.Object) (client.Object, error) {
	gvk, err := apiutil.GVKForObject(obj, a.Scheme)
	if err != nil {
		return nil, err
	}
	typed, err := a.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	current, ok := typed.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a Kubernetes object", gvk)
	}
	var reader client.Reader = a.Client
	// The cached object is only read (holdsFields): not copying it first
	// saves a copy per object on every reconcile, which a restart over
	// 10,000 tenants pays for each of their objects.
	opts := []client.GetOption{client.UnsafeDisableDeepCopy}
	if a.uncached(obj) {
		reader, opts = a.Reader, nil
	}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), current, opts...); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(obj), err)
	}
	// The cache returns apiVersion and kind; a direct read of a typed
	// object does not, and without them no object read that way would ever
	// hold every desired field: each reconcile would apply it again. (Get
	// filled current with a shallow copy: setting them leaves the cache's
	// object as it is.)
	current.GetObjectKind().SetGroupVersionKind(gvk)
	return current, nil
}

func (a *Applier) uncached(obj client.Object) bool {
	return a.Uncached != nil && a.Uncached(obj)
}

// desiredMap is obj as an apply patch: no status, and no empty creation
// time. obj itself is left as it is.
func desiredMap(obj client.Object) (map[string]any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		obj = u.DeepCopy() // the converter would return u's own map
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	// Before pruneNulls, which would drop a null stringData value that the
	// API server stores as an empty one.
	if err := foldStringData(m); err != nil {
		return nil, err
	}
	pruneNulls(m)
	return m, nil
}

// foldStringData writes a Secret's stringData into its data, base64
// encoded, as the API server does on a write (stringData wins over data).
// The API server never returns stringData, so a Secret applied with it
// would never look in step and would be applied on every reconcile.
//
// It decodes stringData as the API server does, into a map of strings: a
// null value is stored as an empty one, and any other value that is not a
// string (an unquoted `port: 5432` or `enabled: true` in a chart's
// template) refuses the Secret, with m left as it was, as a 422 Invalid
// StatusError naming the Secret and each such stringData.<key>, without
// the value. Were it dropped instead, the Secret would lack the key where
// kubectl apply would have failed.
func foldStringData(m map[string]any) error {
	if m["apiVersion"] != "v1" || m["kind"] != "Secret" {
		return nil
	}
	strs, ok := m["stringData"].(map[string]any)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(strs)) {
		if reason := notAString(strs[k]); reason != "" {
			// A stand-in for the value, which may be secret: quoted, it lets
			// redact.Reason keep the detail (the fix) for the tenant's condition.
			errs = append(errs, field.Invalid(field.NewPath("stringData", k), "(value not shown)", reason))
		}
	}
	if len(errs) > 0 {
		name, _, _ := unstructured.NestedString(m, "metadata", "name")
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, name, errs)
	}
	data, _ := m["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range strs {
		str, _ := v.(string) // or null, stored empty
		data[k] = base64.StdEncoding.EncodeToString([]byte(str))
	}
	m["data"] = data
	delete(m, "stringData")
	return nil
}

// notAString is why the API server refuses v as a stringData value (what
// it is, and how a chart fixes it), or "" for a string or null.
func notAString(v any) string {
	switch v.(type) {
	case nil, string:
		return ""
	case bool:
		return "is a boolean, not a string; quote it in the chart"
	case int, int32, int64, float32, float64, json.Number:
		return "is a number, not a string; quote it in the chart"
	case map[string]any:
		return "is an object, not a string"
	case []any:
		return "is a list, not a string"
	default:
		return "is not a string"
	}
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
