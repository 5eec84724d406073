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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// refusingPolicy installs a ValidatingAdmissionPolicy, as a cluster's
// policy engine would, that refuses creating objects of resource
// (namespaces, secrets, networkpolicies or deployments) labelled as product's, with message; it returns once the API
// server enforces it (a policy takes effect a moment after it is stored).
// The policy goes with the test.
func refusingPolicy(t *testing.T, group, resource, product, message string) {
	t.Helper()
	g := NewWithT(t)
	installDenyingPolicy(t, refusingPolicyName(resource, product),
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`!has(object.metadata.labels) || !(%q in object.metadata.labels) || object.metadata.labels[%q] != %q`,
				saasv1alpha1.ProductLabel, saasv1alpha1.ProductLabel, product),
			Message: message,
		})
	meta := metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: "default", Labels: map[string]string{saasv1alpha1.ProductLabel: product}}
	var obj client.Object
	switch resource {
	case "deployments":
		obj = &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "probe"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}}}
	case "secrets":
		obj = &corev1.Secret{ObjectMeta: meta}
	case "networkpolicies":
		obj = &networkingv1.NetworkPolicy{ObjectMeta: meta}
	case "namespaces":
		meta.Namespace = ""
		obj = &corev1.Namespace{ObjectMeta: meta}
	default:
		t.Fatalf("refusingPolicy has no probe for %s", resource)
	}
	g.Eventually(func() bool {
		err := k8sClient.Create(testContext(t), obj.DeepCopyObject().(client.Object), client.DryRunAll)
		return admissionRefusal(err)
	}).Should(BeTrue(), "the policy is enforced")
}

// installDenyingPolicy stores a ValidatingAdmissionPolicy named name, as a
// cluster's policy engine would, that refuses the requests rule matches
// where validation's expression is false, bound with Deny. lift deletes
// both, as an administrator lifting the policy would; it runs at the
// test's end too. The API server enforces a policy a moment after it is
// stored: each caller probes for it with a request it refuses.
func installDenyingPolicy(t *testing.T, name string, rule admissionregistrationv1.RuleWithOperations, validation admissionregistrationv1.Validation) (lift func()) {
	t.Helper()
	g := NewWithT(t)
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule}}},
			Validations:      []admissionregistrationv1.Validation{validation},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	g.Expect(k8sClient.Create(testContext(t), policy)).To(Succeed())
	g.Expect(k8sClient.Create(testContext(t), binding)).To(Succeed())
	lift = func() {
		g.Expect(client.IgnoreNotFound(k8sClient.Delete(testContext(t), binding))).To(Succeed())
		g.Expect(client.IgnoreNotFound(k8sClient.Delete(testContext(t), policy))).To(Succeed())
	}
	t.Cleanup(lift)
	return lift
}

func refusingPolicyName(resource, product string) string {
	return fmt.Sprintf("refuse-%s-%s", resource, product)
}

// refusedTenant buys a tenant of a new product whose objects of resource
// a policy refuses with message (refusingPolicy), and returns it once its
// Provisioned says AdmissionRefused, with that condition's message and the
// product's name, for stopRefusing.
func refusedTenant(t *testing.T, group, resource, message string) (tenant *saasv1alpha1.SaaSTenant, msg, product string) {
	t.Helper()
	p := newTenantProduct(t, nil)
	refusingPolicy(t, group, resource, p.Name, message)
	tenant = newTenant(t, p, "basic", nil)
	refused := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.AdmissionRefusedReason))
	return tenant, apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message, p.Name
}

// stopRefusing deletes the policies refusingPolicy installed for product,
// as a cluster administrator excluding kooper's tenants would.
func stopRefusing(t *testing.T, resource, product string) {
	t.Helper()
	name := refusingPolicyName(resource, product)
	g := NewWithT(t)
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(testContext(t),
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(testContext(t),
		&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
}

// TestATenantNamespaceTheClustersAdmissionRefusesIsSaid: a policy engine
// refusing the tenant's namespace (a required label, a Pod Security level
// it set otherwise) left the tenant Provisioned False "Provisioning", the
// refusal only in Reconciling; once the policy let it be, kooper made the
// namespace and said, with a Warning Event NamespaceRecreated, that a
// namespace of the tenant had been deleted and its data was gone: there
// had never been one. Now Provisioned says AdmissionRefused naming the
// policy (not its message, which may quote the object), a Warning Event says it too, and nothing claims data
// was lost.
func TestATenantNamespaceTheClustersAdmissionRefusesIsSaid(t *testing.T) {
	g := NewWithT(t)
	tenant, msg, product := refusedTenant(t, "", "namespaces", "platform policy: every namespace needs a cost-center label")
	g.Expect(msg).To(ContainSubstring("Namespace tenant-" + tenant.Name))
	// The policy is named; its message, which may quote the object, is not shown.
	g.Expect(msg).To(ContainSubstring("ValidatingAdmissionPolicy '" + refusingPolicyName("namespaces", product) + "'"))
	g.Expect(msg).NotTo(ContainSubstring("platform policy: every namespace needs a cost-center label"))
	g.Eventually(tenantEvents(t, tenant.Name, saasv1alpha1.AdmissionRefusedReason)).Should(BeNumerically(">=", 1))

	stopRefusing(t, "namespaces", product)
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(tenantEvents(t, tenant.Name, saasv1alpha1.NamespaceRecreatedReason)()).To(BeZero(),
		"a namespace whose first create was refused held no data")
}

// TestATenantCredentialsSecretTheClustersAdmissionRefusesIsSaid: a policy
// refusing the tenant's credentials Secret (created, not applied, before
// the other objects) showed Provisioned False "Provisioning" like any
// failure; it is AdmissionRefused naming the policy, and the
// tenant is provisioned once the policy lets it be.
func TestATenantCredentialsSecretTheClustersAdmissionRefusesIsSaid(t *testing.T) {
	g := NewWithT(t)
	tenant, msg, product := refusedTenant(t, "", "secrets", "platform policy: Secrets only from the vault operator")
	g.Expect(msg).To(ContainSubstring("failed to create the credentials Secret in tenant-" + tenant.Name))
	g.Expect(msg).To(ContainSubstring("ValidatingAdmissionPolicy '" + refusingPolicyName("secrets", product) + "'"))
	g.Expect(msg).NotTo(ContainSubstring("platform policy: Secrets only from the vault operator"))

	stopRefusing(t, "secrets", product)
	eventuallyTenant(t, tenant.Name, provisioned)
}

// TestATenantDeploymentTheClustersAdmissionRefusesLeavesTheRestApplied: a
// ValidatingAdmissionPolicy refusing the tenant's Deployment (an image
// from a registry it does not allow, say; with no reason of its own, the
// API server answers 422 Invalid) stalled the tenant as ObjectInvalid,
// "only a change of the product, the plan or the chart can help": a
// stalled tenant is not retried, so lifting the policy provisioned nothing
// until something else changed. Now Provisioned says
// AdmissionRefused naming the Deployment and the policy, every
// other object is applied, and the tenant is provisioned once the policy
// lets it be.
func TestATenantDeploymentTheClustersAdmissionRefusesLeavesTheRestApplied(t *testing.T) {
	g := NewWithT(t)
	tenant, msg, product := refusedTenant(t, "apps", "deployments", "platform policy: images only from swr.cn-north-4.myhuaweicloud.com")
	ns := "tenant-" + tenant.Name
	g.Expect(msg).To(ContainSubstring("Deployment " + tenantobjects.AppName + ": ValidatingAdmissionPolicy"))
	g.Expect(msg).To(ContainSubstring("ValidatingAdmissionPolicy '" + refusingPolicyName("deployments", product) + "'"))
	g.Expect(msg).NotTo(ContainSubstring("platform policy: images only from swr.cn-north-4.myhuaweicloud.com"))
	getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
	g.Expect(apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{}))).To(BeTrue())

	stopRefusing(t, "deployments", product)
	eventuallyTenant(t, tenant.Name, provisioned)
	getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
}

// TestAPodSecurityVersionPinnedByTheClusterIsLeftAlone: kooper labelled
// each tenant namespace pod-security.kubernetes.io/enforce-version=latest.
// A cluster that pins the version (Kubernetes advises it; a policy engine
// mutating every namespace does it) had kooper put latest back on the next
// pass, or, when the mutation happens in admission, write the namespace
// again on every pass. kooper no longer sets the version (without one,
// Pod Security enforces the latest), so a pinned one stays.
func TestAPodSecurityVersionPinnedByTheClusterIsLeftAlone(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)
	pin := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce-version":"v1.30"}}}`)
	g.Expect(k8sClient.Patch(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		client.RawPatch(types.MergePatchType, pin), client.FieldOwner("policy-engine"))).To(Succeed())

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	labels := getObject(t, &corev1.Namespace{}, "", ns).Labels
	g.Expect(labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce-version", "v1.30"))
	g.Expect(labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
}
