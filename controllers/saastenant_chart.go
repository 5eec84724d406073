package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// A tenant of a product with spec.chart (docs/chart-tenants.md): kooper's
// isolation objects (tenantobjects.Desired.Objects) plus the chart rendered
// for the tenant, applied beside them, recorded in status.inventory before
// anything is applied, and pruned when a render no longer has them.

const (
	// maxInventory is the schema's bound on status.inventory.
	maxInventory = chartrender.MaxRenderedObjects
	// maxFrozenReplicas is the schema's bound on status.frozenReplicas.
	maxFrozenReplicas = 64
	// maxNotCurrent is how many objects that are not current Available's
	// message names; the rest are counted.
	maxNotCurrent = 5
	// maxChartMessage caps a condition message built from a chart's
	// objects or errors.
	maxChartMessage = 2048
)

// The kinds the chart code treats apart.
var (
	deploymentKind  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	statefulSetKind = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	cronJobKind     = schema.GroupKind{Group: "batch", Kind: "CronJob"}
	jobKind         = schema.GroupKind{Group: "batch", Kind: "Job"}
	ingressKind     = schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}
	serviceKind     = schema.GroupKind{Kind: "Service"}
	pvcKind         = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	secretKind      = schema.GroupKind{Kind: "Secret"}
	configMapKind   = schema.GroupKind{Kind: "ConfigMap"}
)

// releasedKinds are the chart's workloads: release deletes them and keeps
// the rest (PVCs, Secrets, ConfigMaps, ServiceAccounts) for the retention.
var releasedKinds = []schema.GroupKind{
	deploymentKind, statefulSetKind, jobKind, cronJobKind,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, {Group: "policy", Kind: "PodDisruptionBudget"},
	serviceKind, ingressKind,
}

// statusless are the kinds kstatus always finds current: Available does
// not read them (and tenant ConfigMaps are not cached).
var statusless = []schema.GroupKind{secretKind, configMapKind, {Kind: "ServiceAccount"}}

// chartTenant reports whether a chart's objects may run in the tenant's
// namespace, so that stopping its service goes through stopChart: its
// product, while loaded, has a chart, or its record names objects a chart
// applied (the product switched to spec.workload, and no pass has pruned
// them yet: they serve until then).
func chartTenant(s *tenantState) bool {
	if s.product != nil && s.product.Spec.Chart != nil {
		return true
	}
	return len(s.tenant.Status.Inventory) > 0
}

// renderChart renders the product's chart, as the product resolved it,
// with the tenant's values. A product whose chart is not resolved yet makes
// the tenant wait (the product's watch brings it back when it is); a chart
// that holds objects a tenant may not hold, or does not render, stalls it.
// A simulated debug tenant renders nothing.
func (r *SaaSTenantReconciler) renderChart(ctx context.Context, s *tenantState, d *tenantobjects.Desired) ([]*unstructured.Unstructured, outcome) {
	product, t := s.product, s.tenant
	if d.Simulated {
		return nil, proceed()
	}
	if product.Status.Chart == nil || product.Status.Chart.Digest == "" {
		msg := fmt.Sprintf("Waiting for SaaSProduct %s's chart to be resolved", product.Name)
		if c := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.ChartReadyCondition); c != nil && c.Status == metav1.ConditionFalse {
			msg += ": " + c.Message // why it is not, as the product says
		}
		setCondition(t, saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ProgressingReason, capMessage(msg))
		// Stopping service does not wait for the chart (DESIGN.md rule 10).
		if err := r.freezeFromRecord(ctx, s); err != nil {
			return nil, failed(err)
		}
		return nil, done()
	}
	archive, err := r.Charts.Archive(ctx, r.Client, r.Options.SecretNamespace, product)
	if err != nil {
		return nil, failed(err)
	}
	values, err := chartValues(s, d)
	if err != nil {
		return nil, r.stall(t, saasv1alpha1.ChartRenderFailedReason, "SaaSProduct %q: %s", product.Name, capMessage(err.Error()))
	}
	objs, err := r.Charts.Renderer.Render(ctx, archive, values, chartrender.Options{
		ReleaseName: t.Spec.InstanceID, Namespace: d.Namespace, KubeVersion: r.Options.KubeVersion})
	var refused *chartrender.RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, r.stall(t, saasv1alpha1.ChartObjectRefusedReason, "SaaSProduct %q, chart %s: %s",
			product.Name, product.Status.Chart.Digest, capMessage(refused.Error()))
	case err != nil && ctx.Err() != nil:
		return nil, failed(err)
	case err != nil:
		return nil, r.stall(t, saasv1alpha1.ChartRenderFailedReason, "SaaSProduct %q, chart %s: %s",
			product.Name, product.Status.Chart.Digest, capMessage(err.Error()))
	case len(objs) > maxInventory:
		return nil, r.stall(t, saasv1alpha1.ChartRenderFailedReason, "SaaSProduct %q, chart %s renders %d objects; a tenant holds at most %d",
			product.Name, product.Status.Chart.Digest, len(objs), maxInventory)
	}
	return objs, proceed()
}

// chartValues are the tenant's values: the product's, the plan's, and
// kooper's own under the key kooper, each layer over the one before.
func chartValues(s *tenantState, d *tenantobjects.Desired) (map[string]any, error) {
	product, err := valuesOf(s.product.Spec.Chart.Values, "spec.chart.values")
	if err != nil {
		return nil, err
	}
	plan, err := valuesOf(s.plan.Values, "the values of plan "+s.plan.SKUCode)
	if err != nil {
		return nil, err
	}
	kooper := map[string]any{
		"instanceId":            s.tenant.Spec.InstanceID,
		"namespace":             d.Namespace,
		"skuCode":               s.plan.SKUCode,
		"frontEndUrl":           d.URLs.FrontEnd,
		"adminUrl":              d.URLs.Admin,
		"host":                  d.URLs.Host,
		"credentialsSecretName": tenantobjects.CredentialsSecretName,
		"sso":                   map[string]any{"secretName": saasv1alpha1.SSOSecretName},
		"directory":             map[string]any{"secretPrefix": saasv1alpha1.DirectorySecretName},
	}
	return chartrender.MergeValues(product, plan, map[string]any{"kooper": kooper}), nil
}

// valuesOf decodes one layer of values; it must be an object (or nothing).
func valuesOf(raw *apiextensionsv1.JSON, what string) (map[string]any, error) {
	if raw == nil || len(raw.Raw) == 0 || string(raw.Raw) == "null" {
		return nil, nil
	}
	var values map[string]any
	if err := json.Unmarshal(raw.Raw, &values); err != nil {
		return nil, fmt.Errorf("%s are not an object of values: %w", what, err)
	}
	return values, nil
}

// chartScale is a replica count set apart from the apply: the count of a
// Deployment or StatefulSet whose render leaves it open, or that an HPA of
// the render scales.
type chartScale struct {
	gk       schema.GroupKind
	name     string
	replicas int32
	// ifStopped sets the count only on a workload found at zero: an
	// unfrozen tenant's workload no count was recorded for.
	ifStopped bool
}

// shapeChart makes the render the tenant's: every object gets kooper's
// labels, and the freeze in force is applied to it. ScaleToZero: every
// Deployment and StatefulSet at zero replicas, every CronJob and Job
// suspended. DisableIngress: no Ingress, and no Service reachable from
// outside the cluster (tenantobjects.ReachableFromOutside: type
// LoadBalancer or NodePort); pruning then deletes them. Not
// frozen: a CronJob or Job whose render does not suspend it runs (suspend:
// false). Every Job runs once (runsOnce), and every StatefulSet keeps its
// claims (keepsClaims).
//
// A suspended Job runs no pods (those of one running at the freeze go),
// and stays in the apply: one that new values add is created suspended,
// and one whose template they change (immutable: replaceRefused creates it
// anew) is created anew suspended. Each ran at once in a tenant nobody
// pays for, with its services stopped, and failed; unfrozen, the failed
// Job was in step with its render and never ran again. Unfrozen, each
// runs; a Job that finished before the freeze stays finished (the Job
// controller leaves a finished Job alone).
//
// A Deployment or StatefulSet whose render leaves its count open, or that
// a HorizontalPodAutoscaler of the render scales (autoscaled), never has
// the count in kooper's apply: were kooper to apply the count the render
// gives beside an HPA, it would put it back on every pass while the HPA
// set its own, and the pods would flap for ever. Its count is set apart
// (scales): zero while frozen, and on unfreeze the count recorded before
// the freeze. One found at zero on an unfrozen tenant with no count
// recorded (a freeze whose record was lost, or beyond maxFrozenReplicas)
// runs again at the count the render gives, or 1 (restartStopped). (The
// apply that first leaves out a count kooper applied hands it over first:
// see countHandOver.)
func shapeChart(s *tenantState, rendered []*unstructured.Unstructured) ([]*unstructured.Unstructured, []chartScale) {
	t := s.tenant
	behavior := s.lifecycle.Freeze.Behavior
	out := make([]*unstructured.Unstructured, 0, len(rendered))
	var scales []chartScale
	scaled := autoscaled(rendered)
	for _, obj := range rendered {
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range tenantobjects.Labels(t) {
			labels[k] = v
		}
		obj.SetLabels(labels)
		gk := obj.GroupVersionKind().GroupKind()
		scalable := gk == deploymentKind || gk == statefulSetKind
		renderCount := renderedCount(obj) // before an HPA's count is left out
		if scalable && scaled[chartWorkload{gk: gk, namespace: obj.GetNamespace(), name: obj.GetName()}] {
			unstructured.RemoveNestedField(obj.Object, "spec", "replicas")
		}
		_, counted := replicasOf(obj)
		switch {
		case s.frozen && behavior == saasv1alpha1.FreezeDisableIngress && (gk == ingressKind || reachableService(obj)):
			continue
		case s.frozen && behavior == saasv1alpha1.FreezeScaleToZero && scalable && counted:
			_ = unstructured.SetNestedField(obj.Object, int64(0), "spec", "replicas") // obj is a map: cannot fail
		case s.frozen && behavior == saasv1alpha1.FreezeScaleToZero && scalable:
			scales = append(scales, chartScale{gk: gk, name: obj.GetName()})
		case s.frozen && behavior == saasv1alpha1.FreezeScaleToZero && (gk == cronJobKind || gk == jobKind):
			_ = unstructured.SetNestedField(obj.Object, true, "spec", "suspend")
		case !s.frozen && scalable && !counted:
			if i := frozenIndex(t, gk.Kind, obj.GetName()); i >= 0 {
				scales = append(scales, chartScale{gk: gk, name: obj.GetName(), replicas: t.Status.FrozenReplicas[i].Replicas})
			} else if renderCount > 0 {
				scales = append(scales, chartScale{gk: gk, name: obj.GetName(), replicas: renderCount, ifStopped: true})
			}
		case !s.frozen && (gk == cronJobKind || gk == jobKind):
			// Said out loud: an apply that leaves suspend out would find
			// the CronJob or Job a freeze suspended (stopChart's patch)
			// already holds every field it sets.
			if _, set, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "suspend"); !set {
				_ = unstructured.SetNestedField(obj.Object, false, "spec", "suspend")
			}
		}
		switch gk {
		case jobKind:
			runsOnce(obj)
		case statefulSetKind:
			keepsClaims(obj)
		}
		out = append(out, obj)
	}
	return out, scales
}

// runsOnce leaves out a Job's spec.ttlSecondsAfterFinished, so that the
// Job stays once finished, complete (a Succeeded pod counts against no
// quota). With it, Kubernetes' TTL controller deleted the finished Job;
// the Job was still in the render and the inventory, so the next pass
// created it again, and it ran again, for ever: in a tight loop with TTL 0,
// as many charts' hook Jobs ask, and the tenant's Available flipped each
// time. A CronJob's jobTemplate keeps its TTL: those Jobs are the
// CronJob's, which kooper neither applies nor watches.
func runsOnce(job *unstructured.Unstructured) {
	unstructured.RemoveNestedField(job.Object, "spec", "ttlSecondsAfterFinished")
}

// keepsClaims sets a StatefulSet's spec.persistentVolumeClaimRetentionPolicy
// to Retain, both whenDeleted and whenScaled, whatever the render says.
// With whenScaled: Delete, the StatefulSet controller deleted the buyer's
// claims as a ScaleToZero freeze scaled it to zero, though a freeze keeps
// the data; with whenDeleted: Delete, the garbage collector deleted them
// as release or pruning deleted the StatefulSet, at once instead of with
// the namespace when the retention ends. The field may change in place, so
// a StatefulSet applied with Delete before keeps its claims from the next
// apply on (the StatefulSet controller then takes its owner references
// off them).
func keepsClaims(statefulSet *unstructured.Unstructured) {
	retain := string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	policy := map[string]any{"whenDeleted": retain, "whenScaled": retain}
	// Fails only on a spec that is no object, which the API server refuses.
	_ = unstructured.SetNestedField(statefulSet.Object, policy, "spec", "persistentVolumeClaimRetentionPolicy")
}

// chartWorkload names a Deployment or StatefulSet of a render.
type chartWorkload struct {
	gk              schema.GroupKind
	namespace, name string
}

// hpaKind is the kind of a HorizontalPodAutoscaler, in any version.
var hpaKind = schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}

// autoscaled names the Deployments and StatefulSets that a
// HorizontalPodAutoscaler of the render scales: its spec.scaleTargetRef
// names the kind and name, in group apps (any version: the HPA controller
// finds its target by group and kind), and the HPA is in the same
// namespace (the render's are all the tenant's). An HPA whose reference
// does not parse, or names another group, scales nothing kooper applies.
func autoscaled(rendered []*unstructured.Unstructured) map[chartWorkload]bool {
	scaled := map[chartWorkload]bool{}
	for _, obj := range rendered {
		if obj.GroupVersionKind().GroupKind() != hpaKind {
			continue
		}
		ref, found, err := unstructured.NestedStringMap(obj.Object, "spec", "scaleTargetRef")
		if err != nil || !found {
			continue
		}
		gv, err := schema.ParseGroupVersion(ref["apiVersion"])
		if err != nil || gv.Group != deploymentKind.Group {
			continue
		}
		gk := schema.GroupKind{Group: gv.Group, Kind: ref["kind"]}
		if gk == deploymentKind || gk == statefulSetKind {
			scaled[chartWorkload{gk: gk, namespace: obj.GetNamespace(), name: ref["name"]}] = true
		}
	}
	return scaled
}

// reachableService reports whether obj is a Service of a type that takes
// traffic from outside the cluster (tenantobjects.ReachableFromOutside).
func reachableService(obj *unstructured.Unstructured) bool {
	if obj.GroupVersionKind().GroupKind() != serviceKind {
		return false
	}
	serviceType, _, _ := unstructured.NestedString(obj.Object, "spec", "type")
	return tenantobjects.ReachableFromOutside(corev1.ServiceType(serviceType))
}

// renderedCount is the count obj's render gives, 1 (the API server's
// default) when it sets none.
func renderedCount(obj *unstructured.Unstructured) int32 {
	if n, set := replicasOf(obj); set {
		return n
	}
	return 1
}

// replicasOf is obj's spec.replicas, and whether it is set.
func replicasOf(obj *unstructured.Unstructured) (int32, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, "spec", "replicas")
	if err != nil || !found {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return int32(n), true //nolint:gosec // a replica count
	case float64:
		return int32(n), true
	}
	return 0, false
}

// frozenIndex is the position of kind/name in status.frozenReplicas, -1 if absent.
func frozenIndex(t *saasv1alpha1.SaaSTenant, kind, name string) int {
	return slices.IndexFunc(t.Status.FrozenReplicas, func(w saasv1alpha1.WorkloadReplicas) bool {
		return w.Kind == kind && w.Name == name
	})
}

// recordChartFreeze remembers, before a ScaleToZero freeze applies zero,
// the count of each rendered Deployment and StatefulSet not yet recorded:
// what runs, read from the cache, or, when nothing runs, the render's count
// (the render's default, 1, when it sets none).
func (r *SaaSTenantReconciler) recordChartFreeze(ctx context.Context, s *tenantState, namespace string, rendered []*unstructured.Unstructured) error {
	t := s.tenant
	if !s.frozen || s.lifecycle.Freeze.Behavior != saasv1alpha1.FreezeScaleToZero {
		return nil
	}
	for _, obj := range rendered {
		gk := obj.GroupVersionKind().GroupKind()
		if (gk != deploymentKind && gk != statefulSetKind) || frozenIndex(t, gk.Kind, obj.GetName()) >= 0 {
			continue
		}
		count := renderedCount(obj)
		live, err := r.readChild(ctx, gk, namespace, obj.GetName())
		if err != nil {
			return err
		}
		if n, ok := liveReplicas(live); ok && n > 0 {
			// Zero can only be this freeze's own doing: keep the render's count.
			count = n
		}
		r.rememberReplicas(t, gk.Kind, obj.GetName(), count)
	}
	return nil
}

// recordFrozenReplicas writes status.frozenReplicas before a ScaleToZero
// freeze scales anything to zero, when this pass remembered counts the
// stored status lacks; otherwise nothing. Kept in memory until the pass's
// last status write, they were lost whenever that write was (a Conflict
// with the metering controller, which writes the same tenant on a FREEZE,
// or a crash): the next pass found every count at zero and recorded the
// render's, so an HPA's workload came back at 1. inventory, unless nil,
// goes in the same write (recordBeforeApply then has nothing to write).
// The write carries the resourceVersion t was read at, so a pass that read
// the tenant before another recorded counts fails with a Conflict instead
// of replacing them; t and s.stored take the new one. A tenant with no
// namespace recorded runs nothing yet: its first record (recordBeforeApply)
// carries the counts.
func (r *SaaSTenantReconciler) recordFrozenReplicas(ctx context.Context, s *tenantState, inventory []saasv1alpha1.InventoryEntry) error {
	t := s.tenant
	if !s.frozen || t.Status.Namespace == "" || slices.Equal(t.Status.FrozenReplicas, s.stored.Status.FrozenReplicas) {
		return nil
	}
	if inventory == nil {
		inventory = t.Status.Inventory
	}
	base := t.DeepCopy()
	// An inventory this pass rebuilt (recoverInventory) goes in the write too.
	base.Status.FrozenReplicas, base.Status.Inventory = s.stored.Status.FrozenReplicas, s.stored.Status.Inventory
	recorded := t.DeepCopy()
	recorded.Status.Inventory = inventory
	if err := r.Status().Patch(ctx, recorded, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("failed to record the replica counts before the freeze scales them to zero: %w", err)
	}
	t.Status.Inventory, t.ResourceVersion = inventory, recorded.ResourceVersion
	s.stored.Status.FrozenReplicas, s.stored.Status.Inventory = slices.Clone(t.Status.FrozenReplicas), slices.Clone(inventory)
	s.stored.ResourceVersion = recorded.ResourceVersion
	return nil
}

// rememberReplicas records one count, within the schema's bound.
func (r *SaaSTenantReconciler) rememberReplicas(t *saasv1alpha1.SaaSTenant, kind, name string, count int32) {
	if len(t.Status.FrozenReplicas) >= maxFrozenReplicas {
		return // beyond the bound, unfreeze applies the render's count
	}
	t.Status.FrozenReplicas = append(t.Status.FrozenReplicas, saasv1alpha1.WorkloadReplicas{Kind: kind, Name: name, Replicas: count})
}

// liveReplicas is the cached object's spec.replicas (1 when unset, as the
// API server defaults it); false without an object.
func liveReplicas(live *unstructured.Unstructured) (int32, bool) {
	if live == nil {
		return 0, false
	}
	if n, ok := replicasOf(live); ok {
		return n, true
	}
	return 1, true
}

// chartPlan is what a reconcile applies of a chart tenant's chart: the
// render, shaped for the tenant, and the inventory to record before it is
// applied.
type chartPlan struct {
	objects []*unstructured.Unstructured
	// scales are the counts set apart from the apply (shapeChart).
	scales []chartScale
	// desired names the objects; union adds what was applied before and is
	// not pruned yet.
	desired, union []saasv1alpha1.InventoryEntry
}

// recorded is the inventory to record before applying: nil without a chart.
func (p *chartPlan) recorded() []saasv1alpha1.InventoryEntry {
	if p == nil {
		return nil
	}
	return p.union
}

// planChart renders the chart for the tenant, remembers the counts a
// freeze is about to stop (from the render, before it is shaped), shapes
// the render and names what it holds with what was applied before. Counts
// it remembers are written, with that inventory, before it returns.
func (r *SaaSTenantReconciler) planChart(ctx context.Context, s *tenantState, d *tenantobjects.Desired) (*chartPlan, outcome) {
	rendered, o := r.renderChart(ctx, s, d)
	if !o.proceeds() {
		return nil, o
	}
	if err := r.recordChartFreeze(ctx, s, d.Namespace, rendered); err != nil {
		return nil, failed(err)
	}
	p := &chartPlan{}
	p.objects, p.scales = shapeChart(s, rendered)
	for _, obj := range p.objects {
		gk := obj.GroupVersionKind().GroupKind()
		p.desired = append(p.desired, saasv1alpha1.InventoryEntry{Group: gk.Group, Kind: gk.Kind, Name: obj.GetName()})
	}
	p.union = slices.Clone(s.tenant.Status.Inventory)
	for _, e := range p.desired {
		if !slices.Contains(p.union, e) {
			p.union = append(p.union, e)
		}
	}
	if len(p.union) > maxInventory {
		return nil, failed(fmt.Errorf("the chart's objects and those applied before are %d; a tenant records at most %d", len(p.union), maxInventory))
	}
	if p.desired == nil {
		p.desired = []saasv1alpha1.InventoryEntry{}
	}
	if err := r.recordFrozenReplicas(ctx, s, p.union); err != nil {
		return nil, failed(err)
	}
	return p, proceed()
}

// applyChart applies the plan's objects, whose inventory is recorded,
// deletes what the render no longer has (a PersistentVolumeClaim excepted:
// it stays, with the data, until the namespace goes) and keeps the new
// inventory for the status write. A crash at any point leaves a record
// that names every object.
func (r *SaaSTenantReconciler) applyChart(ctx context.Context, s *tenantState, p *chartPlan) error {
	t := s.tenant
	a := r.applier()
	a.FreshNamespace, a.Hashes = s.freshNamespace, s.appliedHashes
	a.Client = &countHandOver{Client: a.Client, reader: r.Reader, owner: r.Options.FieldOwner, counts: createdCounts(t.Status.Namespace, p.scales)}
	if !s.freshNamespace {
		if err := replaceServicesOfOtherClusterIP(ctx, r.Client, p.objects); err != nil {
			return err
		}
	}
	// Nothing is pruned while an object is refused: the inventory keeps
	// naming everything.
	if err := applyEach(ctx, a, p.objects); err != nil {
		return err
	}
	for _, sc := range p.scales {
		var err error
		if sc.ifStopped {
			err = r.restartStopped(ctx, t.Status.Namespace, sc)
		} else {
			err = r.patchChild(ctx, sc.gk, t.Status.Namespace, sc.name, []string{"spec", "replicas"}, int64(sc.replicas))
		}
		if err != nil {
			return err
		}
	}
	for _, e := range p.union {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		if slices.Contains(p.desired, e) || gk == pvcKind {
			continue
		}
		// Deleted without a look in the cache (one whose labels someone
		// removed is missing from it while it runs, the Ingress a freeze
		// withdraws, say): the inventory drops it next, so once per object.
		if err := r.deleteChild(ctx, gk, t.Status.Namespace, e.Name); err != nil {
			return err
		}
	}
	t.Status.Inventory = p.desired
	if !s.frozen {
		t.Status.FrozenReplicas = nil
	}
	return nil
}

// restartStopped sets the count of an unfrozen tenant's workload sc
// (sc.ifStopped) when it is found at zero: its render leaves the count
// open, so no apply brings it back, and no count was recorded to restore,
// so a paying tenant would run none of its pods.
// The cache decides that it runs, at no cost; a zero there is confirmed
// with the API server, since the cache may not have seen the scale-up of
// the unfreeze yet. The write carries the resourceVersion read: one that
// lost to another write (an HPA's) fails with a Conflict, and the next
// pass looks again.
func (r *SaaSTenantReconciler) restartStopped(ctx context.Context, namespace string, sc chartScale) error {
	cached, err := r.readChildObject(ctx, sc.gk, namespace, sc.name)
	if n, ok := specReplicas(cached); err != nil || !ok || n > 0 {
		return err
	}
	live, err := r.childObject(sc.gk, namespace, sc.name)
	if err != nil {
		return err
	}
	if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(live), live); err != nil {
		return client.IgnoreNotFound(err)
	}
	if n, ok := specReplicas(live); !ok || n > 0 {
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, live.GetResourceVersion(), sc.replicas)
	if err := r.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to scale %s %s/%s, found at zero with no count recorded, to %d: %w", sc.gk.Kind, namespace, sc.name, sc.replicas, err)
	}
	return nil
}

// specReplicas is the spec.replicas of a Deployment or StatefulSet (1 when
// unset, as the API server defaults it); false for any other object, or
// none.
func specReplicas(obj client.Object) (int32, bool) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return ptr.Deref(w.Spec.Replicas, 1), true
	case *appsv1.StatefulSet:
		return ptr.Deref(w.Spec.Replicas, 1), true
	}
	return 0, false
}

// countHandOver is the client a chart's objects are applied through. Its
// Apply of a Deployment or StatefulSet that leaves spec.replicas out (the
// count is left open, to an HPA) creates one there is none of at the count
// the pass sets apart for it (counts), and its Create does too; and it
// first hands the count over when kooper's apply still owns it (kooper
// applied a count before: an earlier render, or an earlier kooper, set
// one): server-side apply deletes a field its
// one owner stops applying, and the API server then defaults the count to
// 1, which stops every other pod until the HPA's next sync, ~15 s later.
// The hand-over is the one the Kubernetes documentation gives for handing
// a count to an HPA (server-side apply, "Transferring ownership"): an
// apply of the live count alone under another field manager,
// handOverManager, which shares the field until the HPA next changes the
// count and takes it. It costs a read of the object from the API server
// (the cache keeps no managed fields) only when kooper writes such a
// workload, and a write only the first time.
//
// A workload created with its count left open starts at the API server's
// default of 1, and the count the pass sets apart is set after the apply
// (applyChart), by a patch that skips when the cache shows the count
// already, or no object: a workload created anew (replaceRefused) while
// frozen ran a pod, the cache still showing the old one at zero; one
// created anew as the tenant unfroze stayed at 1 for good when the cache
// showed neither, the count recorded at the freeze being forgotten in the
// same pass. Created at its count, it runs what the pass wants from the
// start. kooper's apply (or create) then owns that count, which the next
// apply that leaves it out hands over, as above.
type countHandOver struct {
	client.Client
	// reader reads the object with its managed fields.
	reader client.Reader
	// owner is the field manager of kooper's applies.
	owner string
	// counts are the counts a workload of the render that this pass
	// creates starts at (createdCounts).
	counts map[chartWorkload]int32
}

// createdCounts are the counts scales sets apart for the workloads of
// namespace, as countHandOver creates them: zero while frozen, and the
// count recorded at the freeze as it unfreezes. One set only if found at
// zero (ifStopped) is left out: a new workload starts at the API server's
// default, until its HPA's first sync.
func createdCounts(namespace string, scales []chartScale) map[chartWorkload]int32 {
	counts := map[chartWorkload]int32{}
	for _, sc := range scales {
		if !sc.ifStopped {
			counts[chartWorkload{gk: sc.gk, namespace: namespace, name: sc.name}] = sc.replicas
		}
	}
	return counts
}

// handOverManager is the field manager a count is handed over to, after
// kooper's own.
func handOverManager(owner string) string {
	return owner + "-replicas-handover"
}

// Apply hands the count over (see countHandOver), or, when there is no
// object, sets the count it is created at; then applies obj.
func (c *countHandOver) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if content, ok := obj.(interface{ UnstructuredContent() map[string]any }); ok {
		u := &unstructured.Unstructured{Object: content.UnstructuredContent()}
		gk := u.GroupVersionKind().GroupKind()
		if _, counted := replicasOf(u); (gk == deploymentKind || gk == statefulSetKind) && !counted {
			exists, err := c.handOver(ctx, u.GroupVersionKind(), u.GetNamespace(), u.GetName())
			if err != nil {
				return err
			}
			if count, wanted := c.counts[chartWorkload{gk: gk, namespace: u.GetNamespace(), name: u.GetName()}]; wanted && !exists {
				// A copy: the caller's desired object stays as it is. It
				// is a map: setting the count cannot fail.
				u = u.DeepCopy()
				_ = unstructured.SetNestedField(u.Object, int64(count), "spec", "replicas")
				obj = client.ApplyConfigurationFromUnstructured(u)
			}
		}
	}
	return c.Client.Apply(ctx, obj, opts...)
}

// Create sets the count a workload whose count is left open is created
// at (see countHandOver), then creates obj: the Applier creates, rather
// than applies, the objects of a namespace made in this pass. obj is the
// Applier's copy.
func (c *countHandOver) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if count, wanted := c.counts[chartWorkload{gk: gvk.GroupKind(), namespace: obj.GetNamespace(), name: obj.GetName()}]; wanted {
		switch w := obj.(type) {
		case *appsv1.Deployment:
			if w.Spec.Replicas == nil {
				w.Spec.Replicas = &count
			}
		case *appsv1.StatefulSet:
			if w.Spec.Replicas == nil {
				w.Spec.Replicas = &count
			}
		case *unstructured.Unstructured:
			if _, counted := replicasOf(w); !counted {
				_ = unstructured.SetNestedField(w.Object, int64(count), "spec", "replicas") // w is a map: cannot fail
			}
		}
	}
	return c.Client.Create(ctx, obj, opts...)
}

// handOver applies the live count of the workload gvk namespace/name
// under handOverManager if kooper's applies own it; nothing when there is
// no such object or no count of kooper's. It reports whether the object
// exists. It fails when the read or the apply fails, but not on a
// conflict: the count changed since the read, so another manager (the
// HPA) owns it now, and kooper no longer does.
func (c *countHandOver) handOver(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (bool, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gvk)
	if err := c.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("failed to read the managed fields of %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	count, set := replicasOf(live)
	if !set || !countAppliedBy(live, c.owner) {
		return true, nil
	}
	handed := &unstructured.Unstructured{}
	handed.SetGroupVersionKind(gvk)
	handed.SetNamespace(namespace)
	handed.SetName(name)
	_ = unstructured.SetNestedField(handed.Object, int64(count), "spec", "replicas") // handed is a map: cannot fail
	err := c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(handed), client.FieldOwner(handOverManager(c.owner)))
	if err != nil && !apierrors.IsConflict(err) {
		return true, fmt.Errorf("failed to hand the count of %s %s/%s over: %w", gvk.Kind, namespace, name, err)
	}
	return true, nil
}

// countAppliedBy reports whether manager's applies own obj's
// spec.replicas, as its managed fields record.
func countAppliedBy(obj *unstructured.Unstructured, manager string) bool {
	for _, e := range obj.GetManagedFields() {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		if _, owned := fields.Spec["f:replicas"]; owned {
			return true
		}
	}
	return false
}

// childGVK is the version kooper reads a tenant's object of kind gk in:
// the one it caches (TenantChildTypes), or v1 for Secrets and ConfigMaps.
func (r *SaaSTenantReconciler) childGVK(gk schema.GroupKind) (schema.GroupVersionKind, bool) {
	if gk == secretKind || gk == configMapKind {
		return gk.WithVersion("v1"), true
	}
	r.childKindsOnce.Do(func() {
		r.childKinds = map[schema.GroupKind]schema.GroupVersionKind{}
		for _, child := range TenantChildTypes() {
			if gvk, err := apiutil.GVKForObject(child, r.Scheme); err == nil {
				r.childKinds[gvk.GroupKind()] = gvk
			}
		}
	})
	gvk, ok := r.childKinds[gk]
	return gvk, ok
}

// childObject is an empty typed object of kind gk called name in namespace.
func (r *SaaSTenantReconciler) childObject(gk schema.GroupKind, namespace, name string) (client.Object, error) {
	gvk, ok := r.childGVK(gk)
	if !ok {
		return nil, fmt.Errorf("kooper does not read %s objects", gk)
	}
	typed, err := r.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	obj, ok := typed.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a Kubernetes object", gvk)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	obj.SetNamespace(namespace)
	obj.SetName(name)
	return obj, nil
}

// readChild reads the tenant's object of kind gk from the cache (tenant
// Secrets and ConfigMaps from the API server), as an unstructured object;
// nil when there is none.
func (r *SaaSTenantReconciler) readChild(ctx context.Context, gk schema.GroupKind, namespace, name string) (*unstructured.Unstructured, error) {
	obj, err := r.readChildObject(ctx, gk, namespace, name)
	if err != nil || obj == nil {
		return nil, err
	}
	// The conversion copies what it reads into maps of its own, so the
	// cache's object, read without a copy, stays as it is.
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	return u, nil
}

// readChildObject is readChild's object as its Go type, with its kind set;
// nil when there is none. Read from the cache without a copy: the caller
// only reads it.
func (r *SaaSTenantReconciler) readChildObject(ctx context.Context, gk schema.GroupKind, namespace, name string) (client.Object, error) {
	obj, err := r.childObject(gk, namespace, name)
	if err != nil {
		return nil, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	var reader client.Reader = r.Client
	if r.notCached(obj) {
		reader = r.Reader
	}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to read %s %s/%s: %w", gk.Kind, namespace, name, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// removeChild deletes the tenant's object of kind gk, if the cache (or,
// for a Secret or ConfigMap, the API server) holds it. What it owns goes
// in the background (a Job's pods, say): the API server's default for a
// Job orphans them.
func (r *SaaSTenantReconciler) removeChild(ctx context.Context, gk schema.GroupKind, namespace, name string) error {
	live, err := r.readChild(ctx, gk, namespace, name)
	if err != nil || live == nil {
		return err
	}
	return r.deleteChild(ctx, gk, namespace, name)
}

// deleteChild deletes the tenant's object of kind gk, without asking the
// cache first; one already gone is no error.
func (r *SaaSTenantReconciler) deleteChild(ctx context.Context, gk schema.GroupKind, namespace, name string) error {
	obj, err := r.childObject(gk, namespace, name)
	if err != nil {
		return err
	}
	if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete %s %s/%s: %w", gk.Kind, namespace, name, err)
	}
	return nil
}

// observeChart sums up Available from kstatus over every object of the
// inventory, read from the cache: True when all are current; otherwise
// the message names each that is not, with kstatus's message.
func (r *SaaSTenantReconciler) observeChart(ctx context.Context, s *tenantState) outcome {
	t := s.tenant
	var notCurrent []string
	checked := 0
	for _, e := range t.Status.Inventory {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		if slices.Contains(statusless, gk) {
			continue
		}
		checked++
		obj, err := r.readChildObject(ctx, gk, t.Status.Namespace, e.Name)
		if err != nil {
			return failed(err)
		}
		if obj == nil {
			notCurrent = append(notCurrent, e.Kind+"/"+e.Name+": not created yet")
			continue
		}
		if !s.observedApplied(e.Kind, obj) {
			notCurrent = append(notCurrent, e.Kind+"/"+e.Name+": the change just applied is not observed yet")
			continue
		}
		res, err := tenantobjects.Status(obj, obj.GetObjectKind().GroupVersionKind())
		switch {
		case err != nil:
			notCurrent = append(notCurrent, fmt.Sprintf("%s/%s: %v", e.Kind, e.Name, err))
		case res.Status == status.InProgressStatus && waitsForUnfreeze(s, obj):
		case res.Status != status.CurrentStatus:
			notCurrent = append(notCurrent, fmt.Sprintf("%s/%s: %s", e.Kind, e.Name, res.Message))
		}
	}
	if len(notCurrent) == 0 {
		setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
			fmt.Sprintf("All %d objects of the chart with a status are current", checked))
		return proceed()
	}
	msg := fmt.Sprintf("%d of %d objects of the chart not current: %s", len(notCurrent), checked,
		strings.Join(notCurrent[:min(len(notCurrent), maxNotCurrent)], "; "))
	if more := len(notCurrent) - maxNotCurrent; more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	setCondition(t, saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason, capMessage(msg))
	return proceed()
}

// waitsForUnfreeze reports a Job a ScaleToZero freeze holds suspended
// (shapeChart): kstatus finds one that has not started in progress ("Job
// not started") until it runs, but a frozen tenant is healthy with nothing
// running, as with its Deployments at zero, or a rollout that reaches it
// would pause on it. One that failed is still not current.
func waitsForUnfreeze(s *tenantState, obj client.Object) bool {
	job, ok := obj.(*batchv1.Job)
	return ok && s.frozen && s.lifecycle != nil && s.lifecycle.Freeze.Behavior == saasv1alpha1.FreezeScaleToZero &&
		ptr.Deref(job.Spec.Suspend, false)
}

// capMessage keeps a condition message within maxChartMessage bytes.
func capMessage(msg string) string {
	if len(msg) <= maxChartMessage {
		return msg
	}
	return strings.ToValidUTF8(msg[:maxChartMessage], "") + " …"
}

// recordFreezeFromInventory remembers, for a freeze applied from the
// record, the count of each Deployment and StatefulSet of the inventory
// (rebuilt first when a restore lost it: recoverInventory) that runs and
// is not yet recorded, and writes them, with a rebuilt inventory, before
// stopChart scales anything (recordFrozenReplicas).
func (r *SaaSTenantReconciler) recordFreezeFromInventory(ctx context.Context, s *tenantState) error {
	t := s.tenant
	inventory, err := r.recoverInventory(ctx, t)
	if err != nil {
		return err
	}
	if s.lifecycle.Freeze.Behavior != saasv1alpha1.FreezeScaleToZero {
		return nil
	}
	for _, e := range inventory {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		if (gk != deploymentKind && gk != statefulSetKind) || frozenIndex(t, e.Kind, e.Name) >= 0 {
			continue
		}
		live, err := r.readChild(ctx, gk, t.Status.Namespace, e.Name)
		if err != nil {
			return err
		}
		if n, ok := liveReplicas(live); ok && n > 0 {
			r.rememberReplicas(t, e.Kind, e.Name, n)
		}
	}
	return r.recordFrozenReplicas(ctx, s, nil)
}

// stopChart stops a chart tenant's service from its inventory (rebuilt
// first when a restore lost it: recoverInventory): ScaleToZero scales every
// Deployment and StatefulSet to zero and suspends every CronJob and Job
// (a running Job's pods go; the apply that unfreezes says suspend: false,
// shapeChart); DisableIngress deletes every Ingress, and every Service the
// cache finds of type LoadBalancer or NodePort (removeReachableService).
// The single app's Deployment, Ingress or such Service stops too
// (stopWorkload): a tenant whose product
// switched from spec.workload keeps it until the chart's objects are
// applied. A rebuilt inventory beyond the bound is stopped whole, and then
// fails (overBound).
func (r *SaaSTenantReconciler) stopChart(ctx context.Context, t *saasv1alpha1.SaaSTenant, behavior saasv1alpha1.FreezeBehavior) error {
	namespace := t.Status.Namespace
	inventory, err := r.recoverInventory(ctx, t)
	if err != nil {
		return err
	}
	for _, e := range inventory {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		switch {
		case behavior == saasv1alpha1.FreezeDisableIngress && gk == ingressKind:
			if err := r.removeChild(ctx, gk, namespace, e.Name); err != nil {
				return err
			}
		case behavior == saasv1alpha1.FreezeDisableIngress && gk == serviceKind:
			if err := r.removeReachableService(ctx, namespace, e.Name); err != nil {
				return err
			}
		case behavior == saasv1alpha1.FreezeScaleToZero && (gk == deploymentKind || gk == statefulSetKind):
			if gk == statefulSetKind {
				if err := r.retainClaims(ctx, namespace, e.Name); err != nil {
					return err
				}
			}
			if err := r.patchChild(ctx, gk, namespace, e.Name, []string{"spec", "replicas"}, int64(0)); err != nil {
				return err
			}
		case behavior == saasv1alpha1.FreezeScaleToZero && (gk == cronJobKind || gk == jobKind):
			if err := r.patchChild(ctx, gk, namespace, e.Name, []string{"spec", "suspend"}, true); err != nil {
				return err
			}
		}
	}
	if err := r.stopWorkload(ctx, namespace, behavior); err != nil {
		return err
	}
	return overBound(namespace, inventory)
}

// removeReachableService deletes the tenant's Service name if the cache
// holds it with a type that takes traffic from outside the cluster
// (tenantobjects.ReachableFromOutside), as a DisableIngress freeze deletes
// an Ingress: the inventory names its kind and name only, so the type is
// read from the cache. A ClusterIP Service stays: it serves only the
// cluster. The apply that unfreezes creates it again.
func (r *SaaSTenantReconciler) removeReachableService(ctx context.Context, namespace, name string) error {
	obj, err := r.readChildObject(ctx, serviceKind, namespace, name)
	if err != nil {
		return err
	}
	svc, ok := obj.(*corev1.Service)
	if !ok || !tenantobjects.ReachableFromOutside(svc.Spec.Type) {
		return nil
	}
	return r.deleteChild(ctx, serviceKind, namespace, name)
}

// retainClaims sets a StatefulSet's claim retention to Retain on both
// counts, as keepsClaims does in the apply, before stopChart scales it to
// zero without an apply: one applied by a kooper before keepsClaims may
// still say whenScaled: Delete, and the StatefulSet controller would delete
// the buyer's claims at the freeze. Patched before the replicas, so the
// StatefulSet controller reads Retain by the time it scales down.
func (r *SaaSTenantReconciler) retainClaims(ctx context.Context, namespace, name string) error {
	retain := string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	for _, when := range []string{"whenScaled", "whenDeleted"} {
		if err := r.patchChild(ctx, statefulSetKind, namespace, name, []string{"spec", "persistentVolumeClaimRetentionPolicy", when}, retain); err != nil {
			return err
		}
	}
	return nil
}

// patchChild sets one field of the tenant's object with a merge patch,
// unless the cached object has it already or there is no object.
func (r *SaaSTenantReconciler) patchChild(ctx context.Context, gk schema.GroupKind, namespace, name string, path []string, value any) error {
	live, err := r.readChild(ctx, gk, namespace, name)
	if err != nil || live == nil {
		return err
	}
	if current, found, _ := unstructured.NestedFieldNoCopy(live.Object, path...); found && current == value {
		return nil
	}
	patch := map[string]any{}
	_ = unstructured.SetNestedField(patch, value, path...) // patch is a map: cannot fail
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	obj, err := r.childObject(gk, namespace, name)
	if err != nil {
		return err
	}
	if err := r.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to set %s of %s %s/%s: %w", strings.Join(path, "."), gk.Kind, namespace, name, err)
	}
	return nil
}

// removeChartWorkloads deletes the inventory's workloads on release and
// keeps the rest (PVCs, Secrets, ConfigMaps, ServiceAccounts) for the
// retention; the inventory keeps what is kept. Each workload is deleted
// without a look in the cache first: one whose labels someone removed is
// missing from the cache while it runs. The inventory then drops it, so
// this costs one request per workload, once per release. Until the
// release is recorded, an inventory a restore lost is rebuilt first
// (recoverInventory); a release recorded took the workloads already. A
// rebuilt inventory beyond the bound is removed whole, and then fails
// (overBound).
func (r *SaaSTenantReconciler) removeChartWorkloads(ctx context.Context, t *saasv1alpha1.SaaSTenant, namespace string) error {
	inventory := t.Status.Inventory
	if !releaseRecorded(t) {
		var err error
		if inventory, err = r.recoverInventory(ctx, t); err != nil {
			return err
		}
	}
	kept := make([]saasv1alpha1.InventoryEntry, 0, len(inventory))
	for _, e := range inventory {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		if !slices.Contains(releasedKinds, gk) {
			kept = append(kept, e)
			continue
		}
		if err := r.deleteChild(ctx, gk, namespace, e.Name); err != nil {
			return err
		}
	}
	if len(t.Status.Inventory) > 0 {
		t.Status.Inventory = kept
	}
	return overBound(namespace, inventory)
}

// inventoryPage is how many objects one list request of recoverInventory
// asks the API server for.
const inventoryPage = 100

// recoverInventory fills the tenant's status.inventory when it has none
// (nil: a restore from a backup without status lost it, and no
// provisioning pass has recorded it again; docs/lifecycle.md) and its
// namespace is known (recoverNamespace): freeze and release work from the
// inventory alone, and with none they stopped nothing while the chart's
// workloads served. It names every object of the kinds freeze and release
// act on (releasedKinds) in the namespace that carries kooper's
// managed-by label and the tenant's instance-id (shapeChart puts both on
// every object of a render), read from the API server, a page at a time: a
// cache behind a create would leave that object serving. The other kinds
// a chart may hold (Secrets, ConfigMaps, ServiceAccounts, claims) are left
// out: kooper's own objects of those kinds carry the same labels (the
// credentials, the expiry notice), and a later pass would prune them as
// the chart's; freeze and release keep them anyway, and the next render
// names the chart's again. The single app's Deployment, Service and
// Ingress carry the labels too, and are stopped or removed with the rest,
// as the chart tenant's they are not (a product switched from
// spec.workload). Found nothing, it records an empty inventory, so that
// the pass lists once, and remembers it (foundNothing), since the API
// server does not store an empty one.
//
// It returns what freeze and release act on: the inventory, recorded or
// rebuilt. A render holds at most maxInventory objects, so only objects
// labelled by hand can pass the schema's bound; found beyond it, all are
// returned and none is recorded: a cut inventory would leave the objects
// cut off serving (an Ingress, listed last), and the schema refuses a
// longer one. The caller acts on them all, then fails (overBound).
func (r *SaaSTenantReconciler) recoverInventory(ctx context.Context, t *saasv1alpha1.SaaSTenant) ([]saasv1alpha1.InventoryEntry, error) {
	if len(t.Status.Inventory) > 0 {
		r.foundNothing.forget(t) // recorded again since
	}
	if t.Status.Inventory != nil || t.Status.Namespace == "" {
		return t.Status.Inventory, nil
	}
	if r.foundNothing.before(t) {
		t.Status.Inventory = []saasv1alpha1.InventoryEntry{}
		return t.Status.Inventory, nil
	}
	found := []saasv1alpha1.InventoryEntry{}
	for _, gk := range releasedKinds {
		names, err := r.labelledChildren(ctx, gk, t)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			found = append(found, saasv1alpha1.InventoryEntry{Group: gk.Group, Kind: gk.Kind, Name: name})
		}
	}
	switch {
	case len(found) == 0:
		r.foundNothing.remember(t)
	case len(found) > maxInventory:
		return found, nil
	default:
		ctrl.LoggerFrom(ctx).Info("Rebuilt the tenant's lost inventory from its labelled objects", "namespace", t.Status.Namespace, "objects", len(found))
	}
	t.Status.Inventory = found
	return found, nil
}

// overBound is the error of a freeze or release that acted on a rebuilt
// inventory of more objects than a tenant records (recoverInventory); nil
// within the bound. It names the count; each pass lists and acts again
// until the objects labelled by hand lose kooper's labels or go.
func overBound(namespace string, inventory []saasv1alpha1.InventoryEntry) error {
	if len(inventory) <= maxInventory {
		return nil
	}
	return fmt.Errorf("namespace %s holds %d objects labelled as the tenant's (%s=%s and its %s), of the kinds freeze and release act on; "+
		"all were acted on, but a tenant records at most %d, so its inventory stays unrecorded: objects labelled by hand?",
		namespace, len(inventory), saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel, maxInventory)
}

// foundNothingMemory holds, by tenant UID, the namespace in which
// recoverInventory found nothing of the tenant's: the empty inventory it
// records is not stored (status.inventory is omitempty), so each pass of a
// frozen tenant with no inventory listed every kind again. Nothing of the
// tenant's appears there unrecorded since: a provisioning pass records its
// inventory before it applies anything, and a restore from a backup, which
// loses the inventory again, makes a tenant of another UID. An entry is a
// few bytes, for each tenant restored with nothing to rebuild (and each
// simulated debug tenant released, which holds nothing); a freeze or
// release that finds an inventory recorded again drops it, and so does the
// removal of the tenant's finalizer (removeFinalizer): a deleted tenant has
// no later pass, and its entry would stay for the life of the process. A
// tenant being deleted is not remembered at all: it has a pass or two
// left, and someone else may remove its finalizer, with no pass of
// kooper's to forget it. The zero value is ready to use.
type foundNothingMemory struct {
	byUID sync.Map // types.UID → namespace
}

// before reports whether recoverInventory found nothing in t's namespace
// before.
func (m *foundNothingMemory) before(t *saasv1alpha1.SaaSTenant) bool {
	namespace, ok := m.byUID.Load(t.UID)
	return ok && t.UID != "" && namespace == t.Status.Namespace
}

// remember remembers that t's namespace holds nothing of its.
func (m *foundNothingMemory) remember(t *saasv1alpha1.SaaSTenant) {
	if t.UID != "" && t.DeletionTimestamp.IsZero() {
		m.byUID.Store(t.UID, t.Status.Namespace)
	}
}

// forget drops what is remembered of t.
func (m *foundNothingMemory) forget(t *saasv1alpha1.SaaSTenant) {
	m.byUID.Delete(t.UID)
}

// labelledChildren names the objects of kind gk in t's namespace labelled
// as kooper's and t's, listed from the API server by metadata only, in
// pages of inventoryPage.
func (r *SaaSTenantReconciler) labelledChildren(ctx context.Context, gk schema.GroupKind, t *saasv1alpha1.SaaSTenant) ([]string, error) {
	gvk, ok := r.childGVK(gk)
	if !ok {
		return nil, fmt.Errorf("kooper does not read %s objects", gk)
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	selector := client.MatchingLabels{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.InstanceIDLabel: t.Spec.InstanceID}
	var names []string
	for {
		err := apiReader(r.Reader, r.Client).List(ctx, list, client.InNamespace(t.Status.Namespace), selector,
			client.Limit(inventoryPage), client.Continue(list.Continue))
		if err != nil {
			return nil, fmt.Errorf("failed to list the %s objects of namespace %s: %w", gk.Kind, t.Status.Namespace, err)
		}
		for i := range list.Items {
			names = append(names, list.Items[i].Name)
		}
		if list.Continue == "" {
			return names, nil
		}
	}
}

// removeSwitchedFrom removes, once what the tenant's product runs now is
// applied, what it ran before a switch between spec.workload and
// spec.chart (docs/chart-tenants.md): with a chart (p), the single app's
// objects; with a workload, what the chart's inventory still names. The
// order (apply, then remove) never leaves the tenant with nothing; both
// may serve for the moment between.
func (r *SaaSTenantReconciler) removeSwitchedFrom(ctx context.Context, s *tenantState, d *tenantobjects.Desired, p *chartPlan) error {
	if p != nil {
		return r.removeReplacedWorkload(ctx, s, d, p.desired)
	}
	return r.pruneChartInventory(ctx, s, d)
}

// removeReplacedWorkload removes from a chart tenant's namespace the single
// app's objects (tenantobjects.Desired.ReplacedByChart) but those the
// render holds itself (rendered). Each is looked up in the cache, at no
// cost; the ConfigMap, which the cache does not hold, only while the
// app's Deployment is there, which goes last: a chart tenant never made
// one pays no request. Nothing in a namespace made in this pass.
func (r *SaaSTenantReconciler) removeReplacedWorkload(ctx context.Context, s *tenantState, d *tenantobjects.Desired, rendered []saasv1alpha1.InventoryEntry) error {
	if s.freshNamespace {
		return nil
	}
	renders := func(gk schema.GroupKind, name string) bool {
		return slices.Contains(rendered, saasv1alpha1.InventoryEntry{Group: gk.Group, Kind: gk.Kind, Name: name})
	}
	live, err := r.deployment(ctx, d.Namespace, client.UnsafeDisableDeepCopy)
	if err != nil {
		return err
	}
	appLeft := live != nil && !renders(deploymentKind, tenantobjects.AppName)
	a := r.applier()
	for _, obj := range d.ReplacedByChart() {
		if renders(obj.GetObjectKind().GroupVersionKind().GroupKind(), obj.GetName()) || (r.notCached(obj) && !appLeft) {
			continue
		}
		if _, err := a.Remove(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// pruneChartInventory deletes, for a tenant whose product has
// spec.workload, every object its chart inventory still names (the
// product had spec.chart), and then clears the inventory. A
// PersistentVolumeClaim stays, with the data, until the namespace goes,
// as pruning a render keeps it; so does an object of the workload's own
// kind and name (the chart's Service app is the workload's now). Deleted
// without a look in the cache, as applyChart prunes: once per object.
func (r *SaaSTenantReconciler) pruneChartInventory(ctx context.Context, s *tenantState, d *tenantobjects.Desired) error {
	t := s.tenant
	if len(t.Status.Inventory) == 0 {
		return nil
	}
	present, _ := d.Objects()
	applied := func(gk schema.GroupKind, name string) bool {
		return slices.ContainsFunc(present, func(obj client.Object) bool {
			return obj.GetObjectKind().GroupVersionKind().GroupKind() == gk && obj.GetName() == name
		})
	}
	for _, e := range t.Status.Inventory {
		gk := schema.GroupKind{Group: e.Group, Kind: e.Kind}
		if gk == pvcKind || applied(gk, e.Name) {
			continue
		}
		if err := r.deleteChild(ctx, gk, t.Status.Namespace, e.Name); err != nil {
			return err
		}
	}
	t.Status.Inventory = nil
	return nil
}
