package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// Issue 28: what kwok and envtest accept but a real cluster (CCE) needs.

// secretData reads a Secret's data, or nil when it is missing.
func secretData(t *testing.T, namespace, name string) func() map[string][]byte {
	return func() map[string][]byte {
		s := &corev1.Secret{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
			return nil
		}
		return s.Data
	}
}

// A rotated certificate reaches every tenant at once, not at the next full
// resync, and a copy deleted or edited in a tenant namespace is put back.
func TestCopiedSecretsFollowRotationAndArePutBack(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	source := copyableTLSSecret()
	g.Expect(k8sClient.Create(ctx, source)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Ingress.TLSSecretName = source.Name })
	tenants := []*saasv1alpha1.SaaSTenant{newTenant(t, product, "basic", nil), newTenant(t, product, "basic", nil)}
	for _, tn := range tenants {
		eventuallyTenant(t, tn.Name, provisioned)
	}

	rotated := map[string][]byte{corev1.TLSCertKey: []byte("renewed certificate"), corev1.TLSPrivateKeyKey: []byte("renewed key")}
	patch := client.MergeFrom(source.DeepCopy())
	source.Data, source.StringData = rotated, nil
	g.Expect(k8sClient.Patch(ctx, source, patch)).To(Succeed())
	for _, tn := range tenants {
		g.Eventually(secretData(t, "tenant-"+tn.Name, tenantobjects.TLSSecretName)).Should(Equal(rotated), "tenant %s", tn.Name)
	}

	first, second := "tenant-"+tenants[0].Name, "tenant-"+tenants[1].Name
	g.Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: first, Name: tenantobjects.TLSSecretName}})).To(Succeed())
	g.Eventually(secretData(t, first, tenantobjects.TLSSecretName)).Should(Equal(rotated), "a deleted copy is made again")

	edited := getObject(t, &corev1.Secret{}, second, tenantobjects.TLSSecretName)
	patch = client.MergeFrom(edited.DeepCopy())
	edited.Data = map[string][]byte{corev1.TLSCertKey: []byte("someone else's"), corev1.TLSPrivateKeyKey: []byte("key")}
	g.Expect(k8sClient.Patch(ctx, edited, patch)).To(Succeed())
	g.Eventually(secretData(t, second, tenantobjects.TLSSecretName)).Should(Equal(rotated), "an edited copy is put back")
}

// A credentials Secret deleted by hand comes back with the same values,
// which the buyer got in appInfo: never new ones.
func TestDeletedCredentialsComeBackUnchanged(t *testing.T) {
	g := NewWithT(t)
	tenant := newTenant(t, newTenantProduct(t, nil), "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	before := secretData(t, ns, tenantobjects.CredentialsSecretName)()
	g.Expect(before).To(HaveKey(saasv1alpha1.CredentialsPasswordKey))

	g.Expect(k8sClient.Delete(testContext(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenantobjects.CredentialsSecretName}})).To(Succeed())
	g.Eventually(secretData(t, ns, tenantobjects.CredentialsSecretName)).Should(Equal(before))
}

// A product's new storage class, access mode or smaller size is for new
// tenants: an existing tenant keeps its claim as it is and stays
// provisioned, where the API server would refuse the change (and the
// tenant would stall over it).
func TestAStorageChangeLeavesExistingClaimsAsTheyAre(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, allAtOnce)
	old := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, old.Name, provisioned)
	claim := getObject(t, &corev1.PersistentVolumeClaim{}, "tenant-"+old.Name, tenantobjects.DataVolumeName)

	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Workload.Storage = &saasv1alpha1.StorageTemplate{Size: resource.MustParse("512Mi"), MountPath: "/data",
		StorageClassName: "csi-disk-topology", AccessMode: corev1.ReadWriteOnce}
	product.Spec.Plans[1].Replicas = 1 // pro: one replica on a disk
	product.Spec.Workload.Image = "registry.example.com/crm:2.0"
	g.Expect(k8sClient.Patch(testContext(t), product, patch)).To(Succeed())

	// The old tenant took the product's change (its new image)...
	g.Eventually(func() string {
		return getObject(t, &appsv1.Deployment{}, "tenant-"+old.Name, tenantobjects.AppName).Spec.Template.Spec.Containers[0].Image
	}).Should(Equal("registry.example.com/crm:2.0"))
	eventuallyTenant(t, old.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.StalledCondition)), "nothing was refused")
	})
	// ...but its claim is the one it had.
	kept := getObject(t, &corev1.PersistentVolumeClaim{}, "tenant-"+old.Name, tenantobjects.DataVolumeName)
	g.Expect(kept.Spec.AccessModes).To(Equal(claim.Spec.AccessModes))
	g.Expect(kept.Spec.StorageClassName).To(Equal(claim.Spec.StorageClassName))
	g.Expect(kept.Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))

	// A new buyer gets the new storage once a wave is healthy on it
	// (docs/rollout.md): envtest runs no Deployment controller.
	markAvailable(t, "tenant-"+old.Name)
	g.Eventually(func(g Gomega) {
		p := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(product), p)).To(Succeed())
		g.Expect(p.Status.Rollout).NotTo(BeNil())
		g.Expect(p.Status.Rollout.CurrentRevision).To(Equal(p.Status.Rollout.UpdateRevision))
	}).Should(Succeed())
	fresh := newTenant(t, product, "pro", nil)
	eventuallyTenant(t, fresh.Name, provisioned)
	made := getObject(t, &corev1.PersistentVolumeClaim{}, "tenant-"+fresh.Name, tenantobjects.DataVolumeName)
	g.Expect(made.Spec.AccessModes).To(ConsistOf(corev1.ReadWriteOnce))
	g.Expect(made.Spec.StorageClassName).To(Equal(ptr.To("csi-disk-topology")))
}

// CCE's cce ingress class: the product's ELB annotations on each tenant's
// Ingress, a NodePort Service, CCE's default-secret for the image; and
// back, an annotation dropped from the product leaves the Ingresses and
// the Service returns to ClusterIP.
func TestTenantsBehindCCEsLoadBalancer(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.NamespaceImagePullSecretName = "default-secret"
		p.Spec.Workload.Ingress = &saasv1alpha1.IngressTemplate{ClassName: "cce", ServiceType: corev1.ServiceTypeNodePort,
			Annotations: map[string]string{"kubernetes.io/elb.class": "performance", "kubernetes.io/elb.id": "0b4e9b3f", "kubernetes.io/elb.port": "443"},
			AllowFrom:   []saasv1alpha1.IPBlock{{CIDR: "100.125.0.0/16"}}}
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	ing := getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)
	g.Expect(ing.Annotations).To(HaveKeyWithValue("kubernetes.io/elb.id", "0b4e9b3f"))
	g.Expect(ing.Annotations).To(HaveKeyWithValue("kubernetes.io/elb.port", "443"))
	svc := getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
	g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
	g.Expect(svc.Spec.Ports[0].NodePort).NotTo(BeZero())
	pod := getObject(t, &appsv1.Deployment{}, ns, tenantobjects.AppName).Spec.Template.Spec
	g.Expect(pod.ImagePullSecrets).To(ConsistOf(corev1.LocalObjectReference{Name: "default-secret"}))
	policy := getObject(t, &networkingv1.NetworkPolicy{}, ns, tenantobjects.NetworkPolicyName)
	g.Expect(policy.Spec.Ingress[0].From).To(ContainElement(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "100.125.0.0/16"}}))

	patch := client.MergeFrom(product.DeepCopy())
	delete(product.Spec.Workload.Ingress.Annotations, "kubernetes.io/elb.port")
	product.Spec.Workload.Ingress.ServiceType = corev1.ServiceTypeClusterIP
	g.Expect(k8sClient.Patch(testContext(t), product, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ing := getObject(t, &networkingv1.Ingress{}, ns, tenantobjects.AppName)
		g.Expect(ing.Annotations).NotTo(HaveKey("kubernetes.io/elb.port"))
		g.Expect(ing.Annotations).To(HaveKey("kubernetes.io/elb.id"))
		svc := getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
		g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))
		g.Expect(svc.Spec.Ports[0].NodePort).To(BeZero())
	}).Should(Succeed())
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.StalledCondition)))
	})
}

// A headless tenant Service (clusterIP None) has no cluster IP. A cluster
// IP can be neither added to a Service nor taken from it, so a product that
// changes its mind recreates each tenant's Service, both ways, and the
// tenant does not stall on the API server's refusal.
func TestHeadlessTenantServicesAreRecreatedWhenTheProductChanges(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Ingress.ClusterIP = corev1.ClusterIPNone
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name
	headless := getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
	g.Expect(headless.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))

	setClusterIP := func(clusterIP string) {
		changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Ingress.ClusterIP = clusterIP })
	}
	setClusterIP("")
	var allocated *corev1.Service
	g.Eventually(func(g Gomega) {
		allocated = getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
		g.Expect(allocated.Spec.ClusterIP).NotTo(BeElementOf("", corev1.ClusterIPNone))
	}).Should(Succeed(), "the Service recreated with a cluster IP")
	g.Expect(allocated.UID).NotTo(Equal(headless.UID))

	setClusterIP(corev1.ClusterIPNone)
	g.Eventually(func(g Gomega) {
		svc := getObject(t, &corev1.Service{}, ns, tenantobjects.AppName)
		g.Expect(svc.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
		g.Expect(svc.UID).NotTo(Equal(allocated.UID))
	}).Should(Succeed(), "the Service recreated headless")
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.StalledCondition)))
		g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.ProvisionedCondition)).To(BeTrue())
	})
}

// An ELB range the API server would refuse stalls the product's tenants
// with the reason, before anything is made.
func TestAnInvalidLoadBalancerRangeStallsTheTenant(t *testing.T) {
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Ingress.AllowFrom = []saasv1alpha1.IPBlock{{CIDR: "100.125.0.1/16"}}
	})
	tenant := newTenant(t, product, "basic", nil)
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.IngressSourceInvalidReason))
	NewWithT(t).Expect(stalled.Status.Namespace).To(BeEmpty())
}

// Growing a bound claim whose class does not allow expansion: the API
// server forbids it (403, from the PersistentVolumeClaimResize
// admission), which retrying cannot change. The tenant stalls with the
// API server's reason, and a product asking for the old size again frees
// it.
func TestAClaimThatCannotGrowStallsTheTenant(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fixed-%d", tenantSeq.Add(1))},
		Provisioner: "example.com/none", AllowVolumeExpansion: ptr.To(false)}
	g.Expect(k8sClient.Create(ctx, class)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		allAtOnce(p)
		p.Spec.Workload.Storage.StorageClassName = class.Name
	})
	tenant := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, tenant.Name, provisioned)
	ns := "tenant-" + tenant.Name

	// Play the volume controller, which envtest lacks: bind the claim.
	claim := getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + tenant.Name},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: claim.Spec.AccessModes, StorageClassName: class.Name,
			ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: claim.Name, UID: claim.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + tenant.Name}}}}
	g.Expect(k8sClient.Create(ctx, pv)).To(Succeed())
	claim.Spec.VolumeName = pv.Name
	g.Expect(k8sClient.Update(ctx, claim)).To(Succeed())
	claim.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: claim.Spec.AccessModes,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	g.Expect(k8sClient.Status().Update(ctx, claim)).To(Succeed())

	grow := func(size string) {
		g.Eventually(func() error {
			p := &saasv1alpha1.SaaSProduct{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(product), p); err != nil {
				return err
			}
			p.Spec.Workload.Storage.Size = resource.MustParse(size)
			return k8sClient.Update(ctx, p)
		}).Should(Succeed())
	}
	grow("2Gi")
	stalled := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ObjectInvalidReason))
	g.Expect(apimeta.FindStatusCondition(stalled.Status.Conditions, saasv1alpha1.StalledCondition).Message).To(ContainSubstring("can be resized"))

	grow("1Gi")
	eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		provisioned(g, tn)
		g.Expect(tn.Status.Conditions).NotTo(ContainElement(HaveField("Type", saasv1alpha1.StalledCondition)))
	})
}
