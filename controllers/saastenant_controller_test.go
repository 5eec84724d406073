package controllers

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

var tenantSeq atomic.Int64

// newTenantProduct creates a SaaS product with two plans (basic: 1 replica;
// pro: 3) and its keys Secret.
func newTenantProduct(t *testing.T, change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
	t.Helper()
	return newTenantProductIn(t, k8sClient, change)
}

func newTenantProductIn(t *testing.T, k8sClient client.Client, change func(*saasv1alpha1.SaaSProduct)) *saasv1alpha1.SaaSProduct {
	t.Helper()
	g := NewWithT(t)
	name := fmt.Sprintf("tp-%d", tenantSeq.Add(1))
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID:      "OFFI" + strconv.FormatInt(tenantSeq.Add(1), 10),
			KeysSecretName: name + "-keys",
			URLs:           &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.crm.example.com", AdminURL: "https://{{.InstanceID}}.crm.example.com/admin"},
			Workload: &saasv1alpha1.WorkloadTemplate{
				Image: "registry.example.com/crm:1.0",
				Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
				Env:   []saasv1alpha1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
				Resources: &saasv1alpha1.ContainerResources{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				// Shared storage: the pro plan runs 3 replicas (issue 28).
				Storage: &saasv1alpha1.StorageTemplate{Size: resource.MustParse("1Gi"), MountPath: "/data", AccessMode: corev1.ReadWriteMany},
				Ingress: &saasv1alpha1.IngressTemplate{ClassName: "nginx"},
			},
			Plans: []saasv1alpha1.Plan{
				{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
				{SKUCode: "pro", Replicas: 3, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("15")},
					Resources: &saasv1alpha1.ContainerResources{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}},
			},
		},
	}
	if change != nil {
		change(product)
	}
	g.Expect(k8sClient.Create(testContext(t), keysSecret(operatorNamespace, product.Spec.KeysSecretName, completeKeys))).To(Succeed())
	g.Expect(k8sClient.Create(testContext(t), product)).To(Succeed())
	return product
}

// newTenant records a purchase of sku as the receiver would, with the
// order known to the fake marketplace.
// allAtOnce makes a product's changes reach all its tenants in one wave.
func allAtOnce(p *saasv1alpha1.SaaSProduct) {
	p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromString("100%"))}
}

func newTenant(t *testing.T, product *saasv1alpha1.SaaSProduct, sku string, change func(*saasv1alpha1.SaaSTenant)) *saasv1alpha1.SaaSTenant {
	t.Helper()
	return newTenantIn(t, k8sClient, product, sku, change)
}

func newTenantIn(t *testing.T, k8sClient client.Client, product *saasv1alpha1.SaaSProduct, sku string, change func(*saasv1alpha1.SaaSTenant)) *saasv1alpha1.SaaSTenant {
	t.Helper()
	n := tenantSeq.Add(1)
	orderID := fmt.Sprintf("CS%dORDER", n)
	marketplace.addOrder(orderID, product.Spec.ProductID, sku, "20991231235959")
	id := fmt.Sprintf("i-%d", n)
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{
			InstanceID: id, ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001",
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: orderID, OrderLineID: orderID + "-000001",
				Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}},
		},
	}
	if change != nil {
		change(tenant)
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), tenant)).To(Succeed())
	return tenant
}

// eventuallyTenant waits until check passes on the tenant as stored.
func eventuallyTenant(t *testing.T, name string, check func(g Gomega, tenant *saasv1alpha1.SaaSTenant)) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := &saasv1alpha1.SaaSTenant{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tenant)).To(Succeed())
		check(g, tenant)
	}).Should(Succeed())
	return tenant
}

func hasCondition(condType string, status metav1.ConditionStatus, reason string) func(Gomega, *saasv1alpha1.SaaSTenant) {
	return func(g Gomega, tenant *saasv1alpha1.SaaSTenant) {
		c := apimeta.FindStatusCondition(tenant.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil(), "condition %s", condType)
		g.Expect(c.Status).To(Equal(status), "condition %s: %s", condType, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", condType, c.Message)
	}
}

func provisioned(g Gomega, tenant *saasv1alpha1.SaaSTenant) {
	hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, tenant)
}

// poke asks for a reconcile, as `kubectl annotate` would.
func poke(t *testing.T, tenant client.Object) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, saasv1alpha1.ReconcileRequestedAnnotation, strconv.FormatInt(time.Now().UnixNano(), 10)))
	NewWithT(t).Expect(k8sClient.Patch(testContext(t), tenant, client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

// updateTenant changes a tenant's spec as the receiver would.
func updateTenant(t *testing.T, name string, change func(*saasv1alpha1.SaaSTenant)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		tenant := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, tenant); err != nil {
			return err
		}
		change(tenant)
		return k8sClient.Update(testContext(t), tenant)
	}).Should(Succeed())
}

func getObject[T client.Object](t *testing.T, obj T, namespace, name string) T {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, obj)
	}).Should(Succeed())
	return obj
}

func deploymentReplicas(t *testing.T, namespace string) func() (int32, error) {
	return func() (int32, error) {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, d); err != nil {
			return -1, err
		}
		return ptr.Deref(d.Spec.Replicas, 1), nil
	}
}

// markAvailable plays the Deployment controller, which envtest lacks.
func markAvailable(t *testing.T, namespace string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		d := &appsv1.Deployment{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, d); err != nil {
			return err
		}
		rolledOut(d)
		return k8sClient.Status().Update(testContext(t), d)
	}).Should(Succeed())
}

// TestTheLimitRangeIsMadeOnlyForAContainerThatNeedsIt: a tenant whose SSO
// gateway sets less than the plan's resources gets the LimitRange that
// gives them to it; once the gateway sets them too, the LimitRange goes,
// as it goes from a tenant an earlier build made it for (issue 26).
func TestTheLimitRangeIsMadeOnlyForAContainerThatNeedsIt(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Storage = nil
		p.Spec.Workload.Resources.Limits[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		p.Spec.Workload.Directory = &saasv1alpha1.DirectoryMount{MountPath: "/etc/kooper"}
		p.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	})
	tenant := newTenant(t, product, "basic", nil)
	ns := "tenant-" + tenant.Name
	eventuallyTenant(t, tenant.Name, provisioned)

	limits := getObject(t, &corev1.LimitRange{}, ns, tenantobjects.LimitRangeName)
	g.Expect(limits.Spec.Limits[0].Default).To(HaveKeyWithValue(corev1.ResourceEphemeralStorage, resource.MustParse("1Gi")),
		"the gateway's defaults set no ephemeral-storage")

	g.Eventually(func() error {
		current := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), current); err != nil {
			return err
		}
		current.Spec.Workload.SSO.Gateway.Resources = &saasv1alpha1.ContainerResources{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
				corev1.ResourceEphemeralStorage: resource.MustParse("100Mi")},
		}
		return k8sClient.Update(testContext(t), current)
	}).Should(Succeed())
	g.Eventually(absent(t, &corev1.LimitRange{}, ns, tenantobjects.LimitRangeName)).Should(BeTrue())
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Spec.Containers).To(HaveLen(2))
	g.Expect(deployment.Spec.Template.Spec.Containers[1].Resources.Limits).To(HaveKey(corev1.ResourceEphemeralStorage))
}

func TestTenantIsProvisionedFromItsOrder(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	ns := "tenant-" + tenant.Name

	got := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(got.Finalizers).To(ContainElement(saasv1alpha1.Finalizer))
	g.Expect(got.Status.Order).NotTo(BeNil())
	g.Expect(got.Status.Order.SKUCode).To(Equal("basic"))
	g.Expect(got.Status.Order.ChargingMode).To(Equal(saasv1alpha1.ChargingPeriod))
	g.Expect(got.Status.Order.CustomerName).To(Equal("mock_user_01"))
	g.Expect(got.Status.SKUCode).To(Equal("basic"))
	g.Expect(got.Status.ExpireTime.Time).To(BeTemporally("==", time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)))
	g.Expect(got.Status.Namespace).To(Equal(ns))
	g.Expect(got.Status.FrontEndURL).To(Equal("https://" + tenant.Name + ".crm.example.com"))
	g.Expect(got.Status.AdminURL).To(Equal("https://" + tenant.Name + ".crm.example.com/admin"))
	g.Expect(got.Status.CredentialsSecretName).To(Equal(tenantobjects.CredentialsSecretName))
	hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, got)
	hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason)(g, got)
	hasCondition(saasv1alpha1.ReconcilingCondition, metav1.ConditionTrue, saasv1alpha1.ProgressingReason)(g, got)

	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.ManagedByLabel, saasv1alpha1.ManagedByValue))
	g.Expect(namespace.OwnerReferences).To(BeEmpty(), "no garbage collection may reach tenant data")

	quota := getObject(t, &corev1.ResourceQuota{}, ns, tenantobjects.ResourceQuotaName)
	g.Expect(quota.Spec.Hard.Pods().String()).To(Equal("5"))
	g.Expect(absent(t, &corev1.LimitRange{}, ns, tenantobjects.LimitRangeName)()).To(BeTrue(),
		"the app's container sets the plan's resources: a LimitRange would change no pod")

	policy := getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	g.Expect(policy.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}))
	g.Expect(policy.Spec.Ingress[0].From).To(HaveLen(3)) // its namespace, the ingress controller's, the monitoring's
	g.Expect(policy.Spec.Ingress[0].From[1].NamespaceSelector.MatchLabels).To(HaveKeyWithValue("kubernetes.io/metadata.name", "ingress-nginx"))
	g.Expect(policy.Spec.Egress).To(HaveLen(2)) // DNS and its namespace: the rules are TestTenantNetworkPolicy's

	g.Expect(absent(t, &corev1.ServiceAccount{}, ns, tenantobjects.AppName)()).To(BeTrue(), "a new tenant's pods run as the namespace's default ServiceAccount")
	creds := getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	g.Expect(string(creds.Data[saasv1alpha1.CredentialsUsernameKey])).To(Equal("admin"))
	g.Expect(creds.Data[saasv1alpha1.CredentialsPasswordKey]).To(HaveLen(24))

	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(*deployment.Spec.Replicas).To(Equal(int32(1)))
	g.Expect(deployment.Spec.Template.Spec.ServiceAccountName).To(BeEmpty())
	g.Expect(deployment.Spec.Template.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
	g.Expect(deployment.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType), "an RWO volume needs Recreate")
	container := deployment.Spec.Template.Spec.Containers[0]
	g.Expect(container.Image).To(Equal("registry.example.com/crm:1.0"))
	g.Expect(container.Resources.Requests.Cpu().String()).To(Equal("100m"))
	g.Expect(*container.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(*deployment.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(container.Env).To(ContainElement(corev1.EnvVar{Name: tenantobjects.InstanceIDEnv, Value: tenant.Name}))
	g.Expect(container.Env).To(ContainElement(corev1.EnvVar{Name: "LOG_LEVEL", Value: "info"}))
	g.Expect(container.VolumeMounts).To(ContainElement(HaveField("MountPath", "/data")))
	g.Expect(deployment.OwnerReferences).To(BeEmpty())

	service := getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
	g.Expect(service.Spec.Ports[0].Port).To(Equal(int32(8080)))
	ingress := getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)
	g.Expect(ingress.Spec.Rules[0].Host).To(Equal(tenant.Name + ".crm.example.com"))
	g.Expect(*ingress.Spec.IngressClassName).To(Equal("nginx"))
	pvc := getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	g.Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))

	markAvailable(t, ns)
	ready := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(apimeta.FindStatusCondition(ready.Status.Conditions, saasv1alpha1.ReconcilingCondition)).To(BeNil())
	g.Expect(ready.Status.ObservedGeneration).To(Equal(ready.Generation))
	expectTenantEvent(t, tenant.Name, corev1.EventTypeNormal, "Ready")
	g.Expect(marketplace.queries(tenant.Spec.OrderID)).To(Equal(1), "an order is resolved once")
}

// TestATenantEarlierBuildsMadeKeepsItsServiceAccount: earlier builds of
// kooper ran every tenant's pods as a ServiceAccount app of its own. Such a
// tenant keeps it through kooper's later applies of its Deployment (taking
// it out of the pod template would restart its pods on an upgrade of
// kooper); once its Deployment runs as the namespace's default, the
// leftover goes.
func TestATenantEarlierBuildsMadeKeepsItsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)

	// What an earlier build made: the pod template names app, which exists.
	// Once the template names it, kooper applies the account itself, and
	// may make it before this test does.
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	named := client.MergeFrom(deployment.DeepCopy())
	deployment.Spec.Template.Spec.ServiceAccountName = tenantobjects.AppName
	g.Expect(k8sClient.Patch(testContext(t), deployment, named)).To(Succeed())
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenantobjects.AppName, Labels: deployment.Labels},
		AutomountServiceAccountToken: ptr.To(false)}
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(testContext(t), account))).To(Succeed())

	// A freeze applies the Deployment again: the template keeps its account.
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	deployment = getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Spec.ServiceAccountName).To(Equal(tenantobjects.AppName), "no rollout of an earlier build's tenant")
	g.Expect(absent(t, &corev1.ServiceAccount{}, ns, tenantobjects.AppName)()).To(BeFalse(), "the account its pods run as stays")

	// Made again (deleted by hand), the Deployment runs as default.
	g.Expect(k8sClient.Delete(testContext(t), deployment)).To(Succeed())
	g.Eventually(func() (string, error) {
		d := &appsv1.Deployment{}
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, d)
		if err == nil && d.UID == deployment.UID {
			return "", errors.New("not deleted yet")
		}
		return d.Spec.Template.Spec.ServiceAccountName, err
	}).Should(BeEmpty())
	g.Eventually(absent(t, &corev1.ServiceAccount{}, ns, tenantobjects.AppName)).Should(BeTrue(), "the leftover account goes")
}

// provisionedTenant buys a tenant of a new product's basic plan and waits
// until it is provisioned; it returns the tenant and its namespace.
func provisionedTenant(t *testing.T) (*saasv1alpha1.SaaSTenant, string) {
	t.Helper()
	tenant := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	return tenant, "tenant-" + tenant.Name
}

func TestCredentialsAreNeverRegenerated(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)
	first := getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)

	poke(t, tenant)
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	again := getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	g.Expect(again.Data).To(Equal(first.Data))
	g.Expect(again.ResourceVersion).To(Equal(first.ResourceVersion))
}

func TestHandEditedDriftIsPutBack(t *testing.T) {
	g := NewWithT(t)
	_, ns := provisionedTenant(t)

	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	deployment.Spec.Replicas = ptr.To[int32](7)
	g.Expect(k8sClient.Update(testContext(t), deployment)).To(Succeed())
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))

	policy := getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	g.Expect(k8sClient.Delete(testContext(t), policy)).To(Succeed())
	g.Eventually(func() error {
		return k8sClient.Get(testContext(t), client.ObjectKeyFromObject(policy), &networkingv1.NetworkPolicy{})
	}).Should(Succeed())
}

func TestAReconcileWithNothingToDoWritesNothing(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	stored := eventuallyTenant(t, tenant.Name, provisioned)

	poke(t, tenant)
	poked := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.ResourceVersion).NotTo(Equal(stored.ResourceVersion))
	})
	g.Consistently(func() (string, error) {
		d := &appsv1.Deployment{}
		err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(deployment), d)
		return d.ResourceVersion, err
	}).Should(Equal(deployment.ResourceVersion))
	g.Consistently(func() (string, error) {
		tn := &saasv1alpha1.SaaSTenant{}
		err := k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), tn)
		return tn.ResourceVersion, err
	}).Should(Equal(poked.ResourceVersion))
}

func TestMissingProductStallsAndRecovers(t *testing.T) {
	g := NewWithT(t)
	// The product's id is known before it exists, so the order the
	// tenant resolves names it from the start: the controller may resolve
	// the order the moment the product appears.
	ghost := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("late-%d", tenantSeq.Add(1))},
		Spec: saasv1alpha1.SaaSProductSpec{ProductID: fmt.Sprintf("OFFILATE%d", tenantSeq.Add(1))}}
	tenant := newTenant(t, ghost, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ProductNotFoundReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring(ghost.Name))
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ProductNotFoundReason)

	newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Name, p.Spec.ProductID, p.Spec.KeysSecretName = ghost.Name, ghost.Spec.ProductID, ghost.Name+"-keys"
	})
	recovered := eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(apimeta.FindStatusCondition(recovered.Status.Conditions, saasv1alpha1.StalledCondition)).To(BeNil())
	expectTenantEvent(t, tenant.Name, corev1.EventTypeNormal, "Recovered")
	expectEventSaying(t, tenant.Name, "Recovered", saasv1alpha1.ProductNotFoundReason)
}

func TestMissingPlanStallsAndRecovers(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "gold", nil)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.PlanNotFoundReason))

	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Plans = append(product.Spec.Plans, saasv1alpha1.Plan{SKUCode: "gold", Replicas: 2})
	g.Expect(k8sClient.Patch(testContext(t), product, patch)).To(Succeed())
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Eventually(deploymentReplicas(t, "tenant-"+tenant.Name)).Should(Equal(int32(2)))
}

func TestAnOrderTheMarketplaceDoesNotKnowIsRetried(t *testing.T) {
	product := newTenantProduct(t, nil)
	orderID := fmt.Sprintf("CS%dLATE", tenantSeq.Add(1))
	id := fmt.Sprintf("i-%d", tenantSeq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec:       saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name, OrderID: orderID, OrderLineID: orderID + "-000001"},
	}
	NewWithT(t).Expect(k8sClient.Create(testContext(t), tenant)).To(Succeed())
	eventuallyTenant(t, id, hasCondition(saasv1alpha1.OrderResolvedCondition, metav1.ConditionFalse, saasv1alpha1.OrderQueryFailedReason))

	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", "20991231235959")
	eventuallyTenant(t, id, provisioned)
}

func TestFreezeScalesToZeroKeepsDataAndUnfreezeRestores(t *testing.T) {
	g := NewWithT(t)
	tenant := newTenant(t, newTenantProduct(t, nil), "pro", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(3)))

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByMarketplaceReason))
	g.Expect(frozen.Status.FrozenReplicas).To(ConsistOf(saasv1alpha1.WorkloadReplicas{Kind: "Deployment", Name: tenantobjects.AppName, Replicas: 3}))
	hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.FrozenByMarketplaceReason)(g, frozen)
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	expectTenantEvent(t, tenant.Name, corev1.EventTypeNormal, saasv1alpha1.FrozenByMarketplaceReason)

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateActive })
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(3)))
	unfrozen := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.FrozenCondition)).To(BeNil())
	})
	g.Expect(unfrozen.Status.FrozenReplicas).To(BeEmpty())
	expectTenantEvent(t, tenant.Name, corev1.EventTypeNormal, "Unfrozen")
}

func TestFreezeCanKeepTheWorkloadAndDropTheIngress(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Freeze.Behavior = saasv1alpha1.FreezeDisableIngress
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateFrozen })
	g.Eventually(func() bool {
		err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &networkingv1.Ingress{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue())
	g.Consistently(deploymentReplicas(t, ns)).Should(Equal(int32(1)))
}

func TestUpgradeSwitchesThePlan(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	upgrade := fmt.Sprintf("CS%dUPGRADE", tenantSeq.Add(1))
	marketplace.addOrder(upgrade, product.Spec.ProductID, "pro", "20991231235959")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: upgrade, OrderLineID: upgrade + "-000001",
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: metav1.Now()})
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) { g.Expect(tn.Status.SKUCode).To(Equal("pro")) })
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(3)))
	g.Eventually(func() string {
		return getObject(t, &corev1.ResourceQuota{}, ns, tenantobjects.ResourceQuotaName).Spec.Hard.Pods().String()
	}).Should(Equal("15"))
	deployment := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName)
	g.Expect(deployment.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String()).To(Equal("500m"))
}

func TestRenewalChangeAndTrialConversionSwitchThePlanButRenewalDoesNot(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)

	renewal := fmt.Sprintf("CS%dRENEW", tenantSeq.Add(1))
	marketplace.addOrder(renewal, product.Spec.ProductID, "pro", "20991231235959")
	expiry := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.ExpireTime = &expiry
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: renewal, Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewal, ExpireTime: &expiry, ReceivedTime: metav1.Now()})
	})
	renewed := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.ExpireTime).NotTo(BeNil())
		g.Expect(tn.Status.ExpireTime.Time).To(BeTemporally("==", expiry.Time))
	})
	g.Expect(renewed.Status.SKUCode).To(Equal("basic"), "a plain renewal keeps the plan")
	g.Expect(marketplace.queries(renewal)).To(BeZero(), "a plain renewal needs no Query Order")

	change := fmt.Sprintf("CS%dCHANGE", tenantSeq.Add(1))
	marketplace.addOrder(change, product.Spec.ProductID, "pro", "20991231235959")
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) {
		tn.Spec.Orders = append(tn.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: change, Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewalChange, ReceivedTime: metav1.Now()})
	})
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) { g.Expect(tn.Status.SKUCode).To(Equal("pro")) })
}

func TestExpirySafetyNetFreezesAnExpiredTenant(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Expiry.GraceSeconds = ptr.To[int32](3600) })
	restoreClockAfter(t)
	expiry := metav1.NewTime(fakeClock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second))
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &expiry })
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	// Just past expiry, within the grace period: still serving.
	fakeClock.SetTime(expiry.Add(30 * time.Minute))
	poke(t, tenant)
	g.Consistently(deploymentReplicas(t, ns)).Should(Equal(int32(1)))

	fakeClock.SetTime(expiry.Add(61 * time.Minute))
	poke(t, tenant)
	frozen := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.FrozenCondition, metav1.ConditionTrue, saasv1alpha1.FrozenByExpiryReason))
	hasCondition(saasv1alpha1.ExpiredCondition, metav1.ConditionTrue, saasv1alpha1.ExpiredReason)(g, frozen)
	g.Expect(frozen.Spec.State).To(Equal(saasv1alpha1.StateActive), "the safety net never writes the marketplace's spec")
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(0)))
	expectTenantEvent(t, tenant.Name, corev1.EventTypeWarning, saasv1alpha1.ExpiredReason)

	// A late renewal moves the expiry and the tenant serves again.
	later := metav1.NewTime(expiry.AddDate(1, 0, 0))
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.ExpireTime = &later })
	g.Eventually(deploymentReplicas(t, ns)).Should(Equal(int32(1)))
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(apimeta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ExpiredCondition)).To(BeNil())
	})
}

func TestReleaseRemovesTheWorkloadAndRetainsTheDataForItsDays(t *testing.T) {
	g := NewWithT(t)
	restoreClockAfter(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10) })
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	released := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	g.Expect(released.Status.RetainUntil).NotTo(BeNil())
	g.Expect(released.Status.RetainUntil.Time).To(BeTemporally("~", fakeClock.Now().Add(10*24*time.Hour), time.Minute))
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}} {
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, obj))
		}).Should(BeTrue(), "%T must go", obj)
	}
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation))
	g.Expect(namespace.DeletionTimestamp).To(BeNil())

	// Nine days on, the data is still there; past ten, the namespace goes.
	fakeClock.Step(9 * 24 * time.Hour)
	poke(t, namespace)
	g.Consistently(func() *metav1.Time { return getObject(t, &corev1.Namespace{}, "", ns).DeletionTimestamp }).Should(BeNil())
	fakeClock.Step(2 * 24 * time.Hour)
	poke(t, namespace)
	g.Eventually(func() *metav1.Time { return getObject(t, &corev1.Namespace{}, "", ns).DeletionTimestamp }).ShouldNot(BeNil())
}

func TestReleaseWithDeleteDeletesTheDataAtOnce(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Lifecycle.Release.RetentionPolicy = saasv1alpha1.DeleteData
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	updateTenant(t, tenant.Name, func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.State = saasv1alpha1.StateReleased })
	g.Eventually(func() *metav1.Time {
		return getObject(t, &corev1.Namespace{}, "", "tenant-"+tenant.Name).DeletionTimestamp
	}).ShouldNot(BeNil())
	expectMarkedForDeletion(t, "tenant-"+tenant.Name)
	// envtest runs no namespace controller: the namespace stays
	// Terminating, as one whose objects' finalizers hold it does on a real
	// cluster. The data is not deleted yet, and the condition says so.
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.DeletingDataReason))

	finishNamespaceDeletion(t, "tenant-"+tenant.Name)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.DataDeletedReason))
}

// finishNamespaceDeletion does what the namespace controller, which envtest
// lacks, does once a Terminating namespace is empty: it clears its
// spec.finalizers, and the API server removes it.
func finishNamespaceDeletion(t *testing.T, name string) {
	t.Helper()
	g := NewWithT(t)
	clientset, err := kubernetes.NewForConfig(testEnv.Config)
	g.Expect(err).NotTo(HaveOccurred())
	ns, err := clientset.CoreV1().Namespaces().Get(testContext(t), name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	ns.Spec.Finalizers = nil
	_, err = clientset.CoreV1().Namespaces().Finalize(testContext(t), ns, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() bool {
		_, err := clientset.CoreV1().Namespaces().Get(testContext(t), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}).Should(BeTrue())
}

func TestDeletingATenantByHandReleasesItWithoutHanging(t *testing.T) {
	g := NewWithT(t)
	tenant, ns := provisionedTenant(t)

	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue(), "the finalizer must not hold the tenant in Terminating")
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation), "Retain: the data is kept for the retention period")
	g.Expect(apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: tenantobjects.AppName}, &appsv1.Deployment{}))).To(BeTrue())
}

func TestDebugTenantsGoAfterTheirTTL(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Debug = &saasv1alpha1.DebugPolicy{TTLSeconds: ptr.To[int32](3600), SKUCode: "basic"}
	})
	orderID := fmt.Sprintf("CS%dDEBUG", tenantSeq.Add(1)) // unknown to Query Order, like the debugger's
	id := fmt.Sprintf("i-%d", tenantSeq.Add(1))
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: id},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id, ProductName: product.Name, OrderID: orderID,
			OrderLineID: orderID + "-000001", Mode: saasv1alpha1.ModeDebug},
	}
	g.Expect(k8sClient.Create(testContext(t), tenant)).To(Succeed())
	debug := eventuallyTenant(t, id, provisioned)
	g.Expect(debug.Status.Order.OrderType).To(Equal("DEBUG"))
	g.Expect(debug.Status.SKUCode).To(Equal("basic"))

	restoreClockAfter(t)
	fakeClock.Step(2 * time.Hour)
	poke(t, tenant)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())
	g.Eventually(func() *metav1.Time { return getObject(t, &corev1.Namespace{}, "", "tenant-"+id).DeletionTimestamp }).ShouldNot(BeNil(),
		"debug data is never kept")
	expectMarkedForDeletion(t, "tenant-"+id)
}

// expectMarkedForDeletion checks that a namespace deleted at once carried the
// delete-after annotation first: the chart's admission policy lets the
// controllers delete only a namespace marked so before the request.
func expectMarkedForDeletion(t *testing.T, ns string) {
	t.Helper()
	namespace := getObject(t, &corev1.Namespace{}, "", ns)
	NewWithT(t).Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.DeleteAfterAnnotation),
		"a namespace is marked with %s before it is deleted", saasv1alpha1.DeleteAfterAnnotation)
}

// TestSimulatedDebugTenantsRunNoWorkload: nor do they get a copy of the
// product's certificate, whose private key their namespace has no use for
// (the marketplace's dial test buys debug instances twice a day).
func TestSimulatedDebugTenantsRunNoWorkload(t *testing.T) {
	g := NewWithT(t)
	secret := copyableTLSSecret()
	g.Expect(k8sClient.Create(testContext(t), secret)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Debug = &saasv1alpha1.DebugPolicy{Handling: saasv1alpha1.DebugSimulate, SKUCode: "basic"}
		p.Spec.Workload.Ingress.TLSSecretName = secret.Name
	})
	tenant := newTenant(t, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Mode = saasv1alpha1.ModeDebug })
	ready := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(ready.Status.CredentialsSecretName).NotTo(BeEmpty())
	g.Consistently(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: "tenant-" + tenant.Name, Name: tenantobjects.AppName}, &appsv1.Deployment{}))
	}).Should(BeTrue())
	g.Expect(absent(t, &corev1.Secret{}, "tenant-"+tenant.Name, tenantobjects.TLSSecretName)()).To(BeTrue(), "no copy of the certificate")
}

// With maxUnavailableTenants 100%, a product change reaches every tenant
// in one wave, healthy or not (docs/rollout.md).
func TestProductChangesRollOutToItsTenants(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, allAtOnce)
	first := newTenant(t, product, "basic", nil)
	second := newTenant(t, product, "pro", nil)
	eventuallyTenant(t, first.Name, provisioned)
	eventuallyTenant(t, second.Name, provisioned)

	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Workload.Image = "registry.example.com/crm:2.0"
	g.Expect(k8sClient.Patch(testContext(t), product, patch)).To(Succeed())
	for _, tn := range []*saasv1alpha1.SaaSTenant{first, second} {
		g.Eventually(func() string {
			return getObject(t, &appsv1.Deployment{}, "tenant-"+tn.Name, tenantobjects.AppName).Spec.Template.Spec.Containers[0].Image
		}).Should(Equal("registry.example.com/crm:2.0"))
	}
}

// restoreClockAfter puts the shared fake clock back to the real time when
// the test ends, so the next test starts from now.
func restoreClockAfter(t *testing.T) {
	t.Cleanup(func() { fakeClock.SetTime(time.Now()) })
}

// expectTenantEvent waits for an Event about the tenant.
func expectTenantEvent(t *testing.T, name, eventType, reason string) {
	t.Helper()
	expectEvent(t, name, eventType, reason)
}
