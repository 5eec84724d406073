package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// egressCondition says whether a SaaS product's tenants, a workload or a
// chart, may connect to anything beyond what every tenant may (see
// networkPolicy).
func egressCondition(product *saasv1alpha1.SaaSProduct) metav1.Condition {
	field := egressField(product)
	if n := len(product.Spec.TenantEgress()); n > 0 {
		rules := "rules"
		if n == 1 {
			rules = "rule"
		}
		return metav1.Condition{Type: saasv1alpha1.EgressRestrictedCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.EgressAllowListReason, Message: fmt.Sprintf("Each tenant may also connect to what the %d %s of %s allow", n, rules, field)}
	}
	return metav1.Condition{Type: saasv1alpha1.EgressRestrictedCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.EgressRestrictedReason, Message: "Each tenant may connect only to " + defaultEgress(product) + ": " + field + " lists nothing else"}
}

// egressField is the field of product's egress allow list.
func egressField(product *saasv1alpha1.SaaSProduct) string {
	if product.Spec.Workload == nil && product.Spec.Chart != nil {
		return "spec.chart.egress"
	}
	return "spec.workload.egress"
}

// defaultEgress names what every tenant of a product may connect to: a
// joint-operation workload also reaches TCP 443 outside the cluster; a
// chart's tenants never do.
func defaultEgress(product *saasv1alpha1.SaaSProduct) string {
	if w := product.Spec.Workload; w != nil && w.Directory != nil {
		return "DNS, its own namespace and TCP 443 outside the cluster"
	}
	return "DNS and its own namespace"
}

// tenantsNamed names one tenant, or counts several and names the first
// maxHoldersNamed.
func tenantsNamed(names []string) string {
	if len(names) == 1 {
		return "tenant " + names[0]
	}
	named := names[:min(len(names), maxHoldersNamed)]
	who := fmt.Sprintf("%d tenants (%s", len(names), strings.Join(named, ", "))
	if more := len(names) - len(named); more > 0 {
		who += fmt.Sprintf(" and %d more", more)
	}
	return who + ")"
}

// warnEgressRestricted emits a Warning Event when a product's
// EgressRestricted turned True while it has tenants that are not released:
// their egress has just been cut to what every tenant may. That is the
// first reconcile after upgrading from a kooper whose tenant
// NetworkPolicies did not restrict egress (the condition did not exist),
// or the product's allow list removed. Once, on the transition: the
// condition stays True after, so a failure to list the tenants (from the
// cache) is logged, not retried.
func (r *SaaSProductReconciler) warnEgressRestricted(ctx context.Context, product *saasv1alpha1.SaaSProduct, was *metav1.Condition) {
	if (was != nil && was.Status == metav1.ConditionTrue) || !product.DeletionTimestamp.IsZero() ||
		!apimeta.IsStatusConditionTrue(product.Status.Conditions, saasv1alpha1.EgressRestrictedCondition) {
		return
	}
	tenants := &saasv1alpha1.SaaSTenantList{}
	// Read only: 10,000 tenants are not deep-copied to name ten of them.
	if err := r.List(ctx, tenants, client.MatchingFields{productNameIndex: product.Name}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the tenants whose egress is now restricted", "SaaSProduct", product.Name)
		return
	}
	var running []string
	for _, t := range tenants.Items {
		if t.Spec.State != saasv1alpha1.StateReleased && t.DeletionTimestamp.IsZero() && t.Status.Package == nil {
			running = append(running, t.Name)
		}
	}
	if len(running) == 0 {
		return // nothing had egress to lose
	}
	note := "Egress of " + tenantsNamed(running) + " is now restricted: each may connect only to " + defaultEgress(product) +
		"; list what else they reach (databases, APIs, mail) in " + egressField(product)
	r.Recorder.Eventf(product, nil, corev1.EventTypeWarning, saasv1alpha1.EgressRestrictedReason, "RestrictEgress", "%s", note)
}
