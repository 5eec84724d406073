package controllers

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilstrings "k8s.io/utils/strings"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// plansCondition checks that every plan's quota holds its tenant at the
// peak of a rollout. kooper never changes the merchant's quota: a plan
// whose quota cannot hold replicas plus the rolling update's surge pod
// stalls every rollout of its tenants for ever (the surge pod is refused,
// and 25% of fewer than four replicas leaves none unavailable), so it is
// reported here, on the product, where the merchant looks.
func plansCondition(product *saasv1alpha1.SaaSProduct) metav1.Condition {
	cond := metav1.Condition{Type: saasv1alpha1.PlansValidCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.SucceededReason, Message: "Every plan's quota holds its tenants at the peak of a rollout"}
	switch {
	case product.Spec.Chart != nil && product.Spec.Workload == nil:
		// What a chart's tenant runs is known only once it renders: each
		// plan's quota holds the chart's objects, and a tenant whose pods
		// it refuses says so (Available).
		cond.Message = "Plans of a chart are not checked against their quotas: each quota bounds what the chart runs for a tenant"
		return cond
	case product.Spec.Workload == nil:
		cond.Message = "No plan runs a workload"
		return cond
	}
	if unshared := replicasOnOneNodeVolume(product); len(unshared) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.VolumeNotSharedReason
		cond.Message = utilstrings.ShortenString(strings.Join(unshared, "; ")+
			": a "+string(tenantobjects.AccessMode(product.Spec.Workload.Storage))+" volume attaches to one node, so the other replicas cannot start (Multi-Attach); "+
			"give these plans replicas: 1, or make the volume ReadWriteMany", 32768)
		return cond
	}
	var problems []string
	for i := range product.Spec.Plans {
		problems = append(problems, tenantobjects.QuotaShortfalls(product.Spec.Workload, &product.Spec.Plans[i])...)
	}
	if len(problems) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, saasv1alpha1.QuotaTooSmallReason
		cond.Message = utilstrings.ShortenString(strings.Join(problems, "; ")+"; raise the quota, or lower the replicas or resources", 32768)
	}
	return cond
}

// replicasOnOneNodeVolume names each plan that runs more than one replica on
// a volume that is not ReadWriteMany. The schema refuses such a product
// since issue 28; one stored before is reported here, where the merchant
// looks, and its tenants keep running as they are.
func replicasOnOneNodeVolume(product *saasv1alpha1.SaaSProduct) []string {
	storage := product.Spec.Workload.Storage
	if storage == nil || tenantobjects.AccessMode(storage) == corev1.ReadWriteMany {
		return nil
	}
	var plans []string
	for _, p := range product.Spec.Plans {
		if p.Replicas > 1 {
			plans = append(plans, fmt.Sprintf("plan %s runs %d replicas", p.SKUCode, p.Replicas))
		}
	}
	return plans
}
