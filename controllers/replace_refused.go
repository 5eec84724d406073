package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/kooper-io/kooper/internal/apply"
)

// Some changes the API server refuses in place (422), whatever the object
// holds: an immutable field (a Deployment's or a Job's selector, a Job's
// template, a Secret's type, the data of a Secret or ConfigMap marked
// immutable), or a combination it forbids (a Deployment turned Recreate
// that still holds the rollingUpdate the API server filled in at its
// creation, which no apply owns and pruneNulls cannot send as null).
// Retrying cannot help, and each stalled the tenant with ObjectInvalid for
// good. Where replacing the object loses nothing the tenant keeps (no
// data: never a StatefulSet or a claim), applyEach replaces it and applies
// it again, once, and the tenant gets a Normal Event saying so. All of it
// runs only on a refusal: the passes that apply nothing refused pay
// nothing.

// objectReplacedReason is the reason of the Normal Event that names an
// object kooper replaced because the API server refused to change it in
// place.
const objectReplacedReason = "ObjectReplaced"

// replacement is how an object the API server refused to change in place
// is made as desired.
type replacement int

const (
	// noReplacement: the refusal stands (the tenant stalls, ObjectInvalid).
	noReplacement replacement = iota
	// replaceStrategy: a merge patch sets a Deployment's strategy to
	// Recreate and removes its rollingUpdate, then the apply follows.
	replaceStrategy
	// replaceByRecreating: the object is deleted, conditional on the UID
	// and resourceVersion read, and applied anew.
	replaceByRecreating
)

// immutableMessage ends the API server's message for a field that never
// changes (apimachinery's FieldImmutableErrorMsg), and begins its message
// for the data of a Secret or ConfigMap marked immutable ("field is
// immutable when `immutable` is set").
const immutableMessage = "field is immutable"

// replacementFor decides, from the kind of the refused object, the desired
// object and the refusal's causes (refusal: the apply's 422, as
// apierrors.NewInvalid makes it, with a cause per field), whether a
// replacement makes the object as desired without losing what the tenant
// keeps, and says why in a few words for the Event. Every cause must be
// one the replacement removes: one that would refuse the object anew (an
// invalid image, say) leaves the refusal standing.
//
//   - Deployment: an immutable spec.selector (a switch to or from a chart
//     whose Deployment of the same name selects other pods) is recreated:
//     its pods restart, as a switch of what runs restarts them anyway. A
//     forbidden spec.strategy.rollingUpdate, desired Recreate without one,
//     has its strategy replaced, with no restart beyond the rollout.
//   - Secret, ConfigMap: an immutable field (a Secret's type, the data of
//     one marked immutable) is recreated; pods read them at start.
//   - Job: an immutable field (its template, say) is recreated: a Job is
//     one run, and a new template a new run (as Helm's
//     before-hook-creation deletes a hook's Job).
//   - Anything else, a StatefulSet above all (its claims hold data), is
//     not replaced.
func replacementFor(gk schema.GroupKind, desired client.Object, refusal error) (replacement, string) {
	causes := refusalCauses(refusal)
	if len(causes) == 0 {
		return noReplacement, ""
	}
	switch {
	case gk == deploymentKind:
		return deploymentReplacement(desired, causes)
	case slices.Contains(recreatedOnRefusal, gk):
		for _, c := range causes {
			if !immutableCause(c) {
				return noReplacement, ""
			}
		}
		return replaceByRecreating, "it holds a field that never changes"
	}
	return noReplacement, ""
}

// replacedOnRefusal reports whether kooper replaces an object of kind (a
// kind a chart may render) when the API server refuses to change it in
// place (replacementFor): the fields ImmutableChanges names for such a
// kind (a Deployment's selector, a Job's template, a Secret's type, the
// data of one marked immutable) are then changed, not a stall, and a plan
// change is not refused for them.
func replacedOnRefusal(kind string) bool {
	return kind == deploymentKind.Kind || slices.ContainsFunc(recreatedOnRefusal, func(gk schema.GroupKind) bool { return gk.Kind == kind })
}

// recreatedOnRefusal are the kinds replacementFor deletes and applies anew
// for any field that never changes (a Deployment is replaced for some
// fields only: deploymentReplacement).
var recreatedOnRefusal = []schema.GroupKind{secretKind, configMapKind, jobKind}

// deploymentReplacement is replacementFor for a Deployment.
func deploymentReplacement(desired client.Object, causes []metav1.StatusCause) (replacement, string) {
	selector := false
	for _, c := range causes {
		switch {
		case c.Field == "spec.selector" && immutableCause(c):
			selector = true
		case c.Field == "spec.strategy.rollingUpdate" && c.Type == forbiddenCause && recreateWithoutRollingUpdate(desired):
		default:
			return noReplacement, ""
		}
	}
	if selector {
		return replaceByRecreating, "its selector never changes"
	}
	return replaceStrategy, "it keeps a rollingUpdate nobody sets, which Recreate forbids"
}

// refusalCauses are the field causes of a 422 refusal, none for any other
// error.
func refusalCauses(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) {
		return nil
	}
	if details := status.Status().Details; details != nil {
		return details.Causes
	}
	return nil
}

// forbiddenCause is the type of a cause the API server forbids
// (field.ErrorTypeForbidden), which metav1 names no constant for.
const forbiddenCause = metav1.CauseType(field.ErrorTypeForbidden)

func immutableCause(c metav1.StatusCause) bool {
	return strings.Contains(c.Message, immutableMessage)
}

// recreateWithoutRollingUpdate reports a Deployment whose desired strategy
// is Recreate and sets no rollingUpdate: the rollingUpdate the API server
// refuses is then one the stored object keeps.
func recreateWithoutRollingUpdate(desired client.Object) bool {
	switch d := desired.(type) {
	case *appsv1.Deployment:
		return d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate == nil
	case *unstructured.Unstructured:
		strategy, _, _ := unstructured.NestedString(d.Object, "spec", "strategy", "type")
		_, found, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "strategy", "rollingUpdate")
		return strategy == string(appsv1.RecreateDeploymentStrategyType) && !found
	}
	return false
}

// replaceRefused makes obj as desired when the API server refused to
// change it in place (refusal, from a.Apply) and replacementFor finds a
// safe replacement: it replaces the object as stored (read from the cache,
// or from the API server when the cache misses it), conditional on the
// UID and resourceVersion read, and applies obj again, once, reading it
// from the API server. It returns nil once obj is applied; refusal itself
// when no replacement is safe; otherwise the error of the read, of the
// replacement (a Conflict when the object changed since the read, the
// cache's copy being stale: the tenant is reconciled again) or of the
// apply that follows (a refusal of it stands).
func replaceRefused(ctx context.Context, a *apply.Applier, obj client.Object, refusal error) error {
	gvk, err := apiutil.GVKForObject(obj, a.Scheme)
	if err != nil {
		return refusal
	}
	how, why := replacementFor(gvk.GroupKind(), obj, refusal)
	if how == noReplacement {
		return refusal
	}
	stored, err := storedObject(ctx, a, gvk, obj)
	if err != nil {
		return err
	}
	var done string
	if stored != nil { // else gone since the apply: the apply below creates it
		if done, err = replace(ctx, a, how, gvk, stored); err != nil {
			return fmt.Errorf("failed to replace %s %s, which the API server refuses to change in place: %w", gvk.Kind, obj.GetName(), err)
		}
	}
	if _, err := confirmingApplier(a).Apply(ctx, obj); err != nil {
		return err
	}
	if done != "" {
		reportReplaced(ctx, fmt.Sprintf("%s %s %s, since the API server refuses the change in place (%s): %s",
			gvk.Kind, obj.GetName(), done, why, apiMessage(refusal)))
	}
	return nil
}

// replace replaces stored as how says, and says what it did.
func replace(ctx context.Context, a *apply.Applier, how replacement, gvk schema.GroupVersionKind, stored client.Object) (string, error) {
	if how == replaceStrategy {
		return "had its strategy set to Recreate without the rollingUpdate left over", replaceDeploymentStrategy(ctx, a, stored)
	}
	return "was deleted and created anew", recreate(ctx, a, gvk, stored)
}

// storedObject is the object of obj's kind and key as the cache holds it
// (only read: not copied), or, when the cache does not hold it or the kind
// is not cached, as the API server does; nil when there is none.
func storedObject(ctx context.Context, a *apply.Applier, gvk schema.GroupVersionKind, obj client.Object) (client.Object, error) {
	typed, err := a.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	stored, ok := typed.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a Kubernetes object", gvk)
	}
	key := client.ObjectKeyFromObject(obj)
	if a.Uncached == nil || !a.Uncached(obj) {
		err := a.Client.Get(ctx, key, stored, client.UnsafeDisableDeepCopy)
		if !apierrors.IsNotFound(err) {
			return stored, err
		}
		// A copy whose labels someone removed is missing from the cache:
		// the API server refused an object it holds.
	}
	switch err := apiReader(a.Reader, a.Client).Get(ctx, key, stored); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return stored, nil
}

// replaceDeploymentStrategy sets stored's strategy to Recreate and removes
// its rollingUpdate, in a merge patch that fails with a Conflict if the
// Deployment changed since it was read: an apply cannot remove a field it
// does not own, nor send null.
func replaceDeploymentStrategy(ctx context.Context, a *apply.Applier, stored client.Object) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": stored.GetResourceVersion()},
		"spec":     map[string]any{"strategy": map[string]any{"type": appsv1.RecreateDeploymentStrategyType, "rollingUpdate": nil}},
	})
	if err != nil {
		return err
	}
	target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: stored.GetNamespace(), Name: stored.GetName()}}
	return a.Client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(a.Owner))
}

// recreate deletes stored, conditional on its UID and resourceVersion (a
// stale copy fails with a Conflict, as replaceServicesOfOtherClusterIP's
// deletion does), with its dependents in the background: a Job's default
// would orphan its pods. One already gone is no error.
func recreate(ctx context.Context, a *apply.Applier, gvk schema.GroupVersionKind, stored client.Object) error {
	uid, version := stored.GetUID(), stored.GetResourceVersion()
	target := &unstructured.Unstructured{}
	target.SetGroupVersionKind(gvk)
	target.SetNamespace(stored.GetNamespace())
	target.SetName(stored.GetName())
	err := a.Client.Delete(ctx, target, client.Preconditions{UID: &uid, ResourceVersion: &version},
		client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if a.Written != nil {
		a.Written.Forget(gvk.GroupKind(), client.ObjectKeyFromObject(target))
	}
	return nil
}

// confirmingApplier is a copy of a that reads every object from the API
// server: the cache still holds what was just replaced. It remembers
// nothing in a's Written, which only uncached kinds belong in.
func confirmingApplier(a *apply.Applier) *apply.Applier {
	c := *a
	c.Reader = apiReader(a.Reader, a.Client)
	c.Uncached = func(client.Object) bool { return true }
	c.Written = nil
	return &c
}

// refusalAdvice says what to do about a refusal kooper does not replace
// and someone can act on, or "": a StatefulSet's immutable fields (its
// volume claim templates, selector, service name), which kooper never
// recreates, for its pods and claims, with the command for the object
// named name in namespace.
func refusalAdvice(gk schema.GroupKind, namespace, name string, refusal error) string {
	if gk != statefulSetKind {
		return ""
	}
	for _, c := range refusalCauses(refusal) {
		if immutableCause(c) || c.Type == forbiddenCause {
			return "kooper does not recreate a StatefulSet, for its pods and claims: " +
				"kubectl -n " + namespace + " delete statefulset " + name + " --cascade=orphan keeps them, and kooper then creates it as desired"
		}
	}
	return ""
}

// replacedReporterKey keys the function that records a replacement's
// Event for the tenant being provisioned (withReplacedReporter).
type replacedReporterKey struct{}

// withReplacedReporter is ctx carrying report, which replaceRefused calls
// with the note of each replacement: applyEach, shared by the workload's
// and the chart's objects, knows neither the tenant nor the recorder.
func withReplacedReporter(ctx context.Context, report func(note string)) context.Context {
	return context.WithValue(ctx, replacedReporterKey{}, report)
}

// reportReplaced logs note and hands it to ctx's reporter, if any.
func reportReplaced(ctx context.Context, note string) {
	ctrl.LoggerFrom(ctx).Info("Replaced a tenant's object the API server refused to change in place", "note", note)
	if report, ok := ctx.Value(replacedReporterKey{}).(func(string)); ok {
		report(note)
	}
}
