package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Tests of a tenant whose isolation (its NetworkPolicy, its plan's
// ResourceQuota) the cluster's admission refuses: its serving objects
// wait for it, unless an earlier version of it still isolates.

// servingObjects are the workload's objects that serve buyers: held back
// while the tenant's namespace is not isolated.
func servingObjects() []client.Object {
	return []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}}
}

// TestARefusedNetworkPolicyHoldsBackTheServingObjects: a policy engine
// refusing the tenant's NetworkPolicy (one that forbids the 0.0.0.0/0
// egress block a directory product's policy has, say) left the tenant's
// other objects applied, as for any refused object: its Deployment,
// Service and Ingress served from a namespace no policy isolated,
// reachable from every namespace, with unrestricted egress. Now, while
// the namespace has no NetworkPolicy, they are not applied: Provisioned
// says AdmissionRefused naming the NetworkPolicy and that the serving
// objects wait for it. A freeze still happens; once the policy lets the
// NetworkPolicy be, the tenant is provisioned in full.
func TestARefusedNetworkPolicyHoldsBackTheServingObjects(t *testing.T) {
	g := NewWithT(t)
	tenant, msg, product := refusedTenant(t, "networking.k8s.io", "networkpolicies", "platform policy: no egress to 0.0.0.0/0")
	ns := "tenant-" + tenant.Name
	for _, obj := range servingObjects() {
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, obj)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T applied in a namespace without its NetworkPolicy: %v", obj, err)
	}
	g.Expect(msg).To(ContainSubstring("NetworkPolicy " + tenantobjects.NetworkPolicyName + ": ValidatingAdmissionPolicy '" +
		refusingPolicyName("networkpolicies", product) + "'"))
	g.Expect(msg).To(ContainSubstring("held back"))
	g.Expect(msg).NotTo(ContainSubstring("platform policy: no egress to 0.0.0.0/0"))
	// The isolation the cluster allows is there: the plan's quota.
	getObject(t, &corev1.ResourceQuota{}, ns, tenantobjects.ResourceQuotaName)

	// Stopping service never waits for provisioning.
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })

	stopRefusing(t, "networkpolicies", product)
	eventuallyTenant(t, tenant.Name, provisioned)
	getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	for _, obj := range servingObjects() {
		getObject(t, obj, ns, tenantobjects.AppName)
	}
}

// TestARefusedUpdateOfAnExistingNetworkPolicyLeavesTheServingObjectsApplied:
// the NetworkPolicy the tenant has still isolates it when the cluster
// refuses a change of it (a product's new allowFrom, say), so the
// serving objects are not held back for it: the product's other changes
// reach the workload, and Provisioned says AdmissionRefused naming the
// NetworkPolicy until the policy lets the change be.
func TestARefusedUpdateOfAnExistingNetworkPolicyLeavesTheServingObjectsApplied(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)
	product := tenant.Spec.ProductName
	name := fmt.Sprintf("refuse-networkpolicy-updates-%s", product)
	lift := installDenyingPolicy(t, name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"*"},
				Resources: []string{"networkpolicies"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`!has(object.metadata.labels) || !(%q in object.metadata.labels) || object.metadata.labels[%q] != %q`,
				saasv1alpha1.ProductLabel, saasv1alpha1.ProductLabel, product),
			Message: "platform policy: NetworkPolicies are frozen",
		})
	g.Eventually(func() bool {
		policy := &networkingv1.NetworkPolicy{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.NetworkPolicyName}, policy); err != nil {
			return false
		}
		return admissionRefusal(k8sClient.Update(testContext(t), policy, client.DryRunAll))
	}).Should(BeTrue(), "the policy is enforced")

	changeProduct(t, product, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Ingress.AllowFrom = []saasv1alpha1.IPBlock{{CIDR: "203.0.113.0/24"}}
		p.Spec.Workload.Env = append(p.Spec.Workload.Env, saasv1alpha1.EnvVar{Name: "FEATURE_X", Value: "on"})
	})
	refused := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.AdmissionRefusedReason))
	msg := apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message
	g.Expect(msg).To(ContainSubstring("NetworkPolicy " + tenantobjects.NetworkPolicyName + ": ValidatingAdmissionPolicy '" + name + "'"))
	g.Expect(msg).NotTo(ContainSubstring("held back"))
	g.Eventually(func() ([]corev1.EnvVar, error) {
		deployment := &appsv1.Deployment{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, deployment)
		if err != nil {
			return nil, err
		}
		return deployment.Spec.Template.Spec.Containers[0].Env, nil
	}).Should(ContainElement(corev1.EnvVar{Name: "FEATURE_X", Value: "on"}), "the serving objects are applied beside the refusal")
	for _, obj := range servingObjects() {
		getObject(t, obj, ns, tenantobjects.AppName)
	}

	lift()
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Eventually(func() (string, error) {
		policy := &networkingv1.NetworkPolicy{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.NetworkPolicyName}, policy)
		return fmt.Sprint(policy.Spec.Ingress), err
	}).Should(ContainSubstring("203.0.113.0/24"))
}
