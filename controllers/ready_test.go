package controllers

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Tests of Ready as a summary of the other conditions, and of the access
// details a tenant keeps once they were delivered, each from an input that
// failed before.

// changeProduct patches the stored product as the merchant would.
func changeProduct(t *testing.T, name string, change func(*saasv1alpha1.SaaSProduct)) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		product := &saasv1alpha1.SaaSProduct{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product); err != nil {
			return err
		}
		patch := client.MergeFrom(product.DeepCopy())
		change(product)
		return k8sClient.Patch(testContext(t), product, patch)
	}).Should(Succeed())
}

// A Ready tenant whose objects can no longer be applied is not Ready: Ready
// turns False in the same status write as Provisioned, with its reason and
// message, and comes back once the product is put right.
func TestReadyTurnsFalseWithProvisionedWhenApplyingFails(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(*saasv1alpha1.SaaSProduct)
		mend  func(*saasv1alpha1.SaaSProduct)
		want  string
	}{{
		// The CRD takes any resource name; a ResourceQuota takes only
		// the standard ones (the merchant meant requests.nvidia.com/gpu).
		name:  "the plan's quota names a resource no ResourceQuota may hold",
		spoil: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Plans[0].Quota["gpus"] = resource.MustParse("1") },
		mend:  func(p *saasv1alpha1.SaaSProduct) { delete(p.Spec.Plans[0].Quota, "gpus") },
		want:  "ResourceQuota",
	}, {
		// A claim that is not bound (none is in envtest, nor on a cluster
		// whose class binds on first consumer before the pod runs) refuses
		// any change of its size.
		name:  "the storage grows, which the tenant's claim refuses",
		spoil: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage.Size = resource.MustParse("2Gi") },
		mend:  func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Storage.Size = resource.MustParse("1Gi") },
		want:  "PersistentVolumeClaim",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, nil)
			tenant := readyTenant(t, product, "basic")

			changeProduct(t, product.Name, tc.spoil)
			// The API server refuses the object as invalid: only the
			// product can mend it, so the tenant stalls, not retries.
			failed := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.ObjectInvalidReason))
			hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.ObjectInvalidReason)(g, failed)
			hasCondition(saasv1alpha1.StalledCondition, metav1.ConditionTrue, saasv1alpha1.ObjectInvalidReason)(g, failed)
			ready := apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ReadyCondition)
			g.Expect(ready.Message).To(ContainSubstring(tc.want))
			g.Expect(ready.Message).To(Equal(apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message))

			changeProduct(t, product.Name, tc.mend)
			eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
		})
	}
}

// queriedAppInfo asks the receiver for the tenant as the marketplace polls it.
func queriedAppInfo(t *testing.T, product *saasv1alpha1.SaaSProduct, id string) *koogallery.AppInfo {
	t.Helper()
	a := callback(t, product, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	if a.Code != "000000" || len(a.Info) != 1 {
		return nil
	}
	return a.Info[0].AppInfo
}

// Once a tenant's access details were delivered, a rollout that leaves it
// without available replicas (here: a new image the Deployment controller
// has not rolled out) makes it not Ready, but queryInstance still answers
// with its URLs and credentials.
func TestAccessDetailsStayDeliveredWhileTheWorkloadRollsOut(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, allAtOnce)
	never := newTenant(t, product, "basic", nil)
	eventuallyTenant(t, never.Name, provisioned)
	g.Expect(queriedAppInfo(t, product, never.Name)).To(BeNil(), "a tenant never Ready is pending")

	tenant := readyTenant(t, product, "basic")
	delivered := eventuallyTenant(t, tenant.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Status.FirstReadyTime).NotTo(BeNil())
	})
	g.Eventually(func() *koogallery.AppInfo { return queriedAppInfo(t, product, tenant.Name) }).ShouldNot(BeNil())

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.0" })
	rolling := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason))
	hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WorkloadUnavailableReason)(g, rolling)
	g.Expect(rolling.Status.FirstReadyTime).To(Equal(delivered.Status.FirstReadyTime), "set once, never moved")
	// The receiver reads the manager's cache, which catches up with the
	// stored Ready=False within the default Consistently duration.
	g.Consistently(func() *koogallery.AppInfo { return queriedAppInfo(t, product, tenant.Name) }).ShouldNot(BeNil())
	app := queriedAppInfo(t, product, tenant.Name)
	g.Expect(app.FrontEndURL).To(Equal("https://" + tenant.Name + ".crm.example.com"))
	g.Expect(koogallery.Decrypt(completeKeys[saasv1alpha1.BasicKeySecretKey], koogallery.EncryptAES256, app.UserName)).To(Equal("admin"))
}

// A Ready licence whose renewed key cannot be stored (its Secret was made
// immutable, as some backup tools and policies do) is not Ready: Issued and
// Ready turn False together, and the licence recovers once the Secret can
// be written again.
func TestLicenceReadyTurnsFalseWithIssuedWhenItsKeyCannotBeStored(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	l := eventuallyLicense(t, newLicense(t, product, "basic").Name, licenseReady)
	secret := &corev1.Secret{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: operatorNamespace, Name: LicenseSecretName(l.Name)}, secret)).To(Succeed())
	patch := client.MergeFrom(secret.DeepCopy())
	secret.Immutable = ptr.To(true)
	g.Expect(k8sClient.Patch(testContext(t), secret, patch)).To(Succeed())

	renewed := metav1.NewTime(time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC))
	updateLicense(t, l.Name, func(l *saasv1alpha1.License) {
		l.Spec.Orders = append(l.Spec.Orders, saasv1alpha1.AppliedOrder{OrderID: "RENEW-" + l.Name, Activity: saasv1alpha1.ActivityRefreshInstance,
			Scene: saasv1alpha1.SceneRenewal, ExpireTime: &renewed, ReceivedTime: metav1.Now()})
		l.Spec.NotAfter = &renewed
	})
	failed := eventuallyLicense(t, l.Name, licenseHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.IssueFailedReason))
	licenseHas(saasv1alpha1.IssuedCondition, metav1.ConditionFalse, saasv1alpha1.IssueFailedReason)(g, failed)
	g.Expect(apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ReadyCondition).Message).To(ContainSubstring("immutable"))

	// An immutable Secret can only be deleted; the licence issues its key again.
	g.Expect(k8sClient.Delete(testContext(t), secret)).To(Succeed())
	eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseReady(g, l)
		g.Expect(l.Status.NotAfter.Time).To(BeTemporally("==", renewed.Time))
	})
}

// A delivered directory whose next sync cannot be written into the tenant
// namespace (its index Secret was made immutable by hand) is not Ready:
// Delivered and Ready turn False together, and the delivery recovers once
// the Secret is gone.
func TestDirectoryReadyTurnsFalseWithDeliveredWhenDeliveryFails(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-stuck"
	sync := func(orgs ...string) {
		body := kitBody(tenant.Name, tenantID, `"orgInfoList":`+strconv.Quote(kitOrgs(orgs...)))
		g.Expect(kitCall(t, product.Name, koogallery.KitAllOrgSync, body)).To(Equal("000000"))
	}
	sync("root", "a")
	eventuallyDirectory(t, tenant.Name, tenantID, func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		directoryHas(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)(g, d)
		g.Expect(d.Status.Departments).To(Equal(int32(2)))
	})
	index := getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.DirectorySecretName)
	patch := client.MergeFrom(index.DeepCopy())
	index.Immutable = ptr.To(true)
	g.Expect(k8sClient.Patch(testContext(t), index, patch)).To(Succeed())

	sync("root", "a", "b")
	failed := eventuallyDirectory(t, tenant.Name, tenantID, directoryHas(saasv1alpha1.ReadyCondition, metav1.ConditionFalse, saasv1alpha1.DeliveryFailedReason))
	directoryHas(saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.DeliveryFailedReason)(g, failed)
	g.Expect(apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.ReadyCondition).Message).To(ContainSubstring("immutable"))

	g.Expect(k8sClient.Delete(testContext(t), index)).To(Succeed())
	eventuallyDirectory(t, tenant.Name, tenantID, directoryHas(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	g.Expect(string(getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.DirectorySecretName).Data["tenant.json"])).To(ContainSubstring(`"departments": 3`))
}

func directoryHas(condType string, status metav1.ConditionStatus, reason string) func(Gomega, *saasv1alpha1.SaaSDirectory) {
	return func(g Gomega, d *saasv1alpha1.SaaSDirectory) {
		c := apimeta.FindStatusCondition(d.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil(), "condition %s", condType)
		g.Expect(c.Status).To(Equal(status), "condition %s: %s", condType, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", condType, c.Message)
	}
}
