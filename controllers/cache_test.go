package controllers

import (
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The cache keeps a tenant's ResourceQuota without what the quota
// controller counts as used: kooper never reads it, and at 10,000 tenants
// it is megabytes. The spec, which kooper compares with what it applies,
// stays, and a hand edit of it is still put back.
func TestCachedQuotasHoldNoUsage(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := eventuallyTenant(t, newTenant(t, product, "basic", nil).Name, provisioned)
	key := client.ObjectKey{Namespace: tenant.Status.Namespace, Name: tenantobjects.ResourceQuotaName}

	// envtest runs no quota controller: count the usage as it would.
	quota := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}
	g.Expect(k8sClient.Status().Update(testContext(t), quota)).To(Succeed())

	g.Eventually(func(g Gomega) {
		cached := &corev1.ResourceQuota{}
		g.Expect(cachedClient.Get(testContext(t), key, cached)).To(Succeed())
		g.Expect(cached.ResourceVersion).To(Equal(quota.ResourceVersion), "the cache has seen the status update")
		g.Expect(cached.Status).To(Equal(corev1.ResourceQuotaStatus{}))
		g.Expect(cached.Spec.Hard).To(Equal(quota.Spec.Hard))
	}).Should(Succeed())

	edited := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
	want := edited.Spec.Hard.DeepCopy()
	edited.Spec.Hard[corev1.ResourcePods] = resource.MustParse("999")
	g.Expect(k8sClient.Update(testContext(t), edited)).To(Succeed())
	g.Eventually(func() corev1.ResourceList {
		return getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name).Spec.Hard
	}).Should(Equal(want), "a hand edit of the quota is put back")
}

// The Secret informers, one for kooper's namespace and one for kooper's
// own Secrets in every other namespace, miss no event: each of 100
// rotations (50 in kooper's namespace, 50 tenant copies) is seen, and a
// Secret of a tenant namespace that kooper did not make is not cached.
func TestSecretInformersMissNoRotation(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	secrets, err := cache.New(testEnv.Config, func() cache.Options {
		o := CacheOptions(operatorNamespace)
		o.Scheme = testEnv.Scheme
		return o
	}())
	g.Expect(err).NotTo(HaveOccurred())
	informer, err := secrets.GetInformer(ctx, &corev1.Secret{})
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	rotated := map[string]bool{}
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		if s, ok := obj.(*corev1.Secret); ok && string(s.Data["v"]) == "2" {
			mu.Lock()
			defer mu.Unlock()
			rotated[s.Namespace+"/"+s.Name] = true
		}
	}})
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = secrets.Start(ctx) }()
	g.Expect(secrets.WaitForCacheSync(ctx)).To(BeTrue())

	tenantNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rotation-"}}
	g.Expect(k8sClient.Create(ctx, tenantNS)).To(Succeed())
	managed := map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}
	var all []*corev1.Secret
	for i := range 50 {
		all = append(all,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("rotation-%d-%d", tenantSeq.Add(1), i)}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS.Name, Name: fmt.Sprintf("copy-%d", i), Labels: managed}})
	}
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS.Name, Name: "default-secret"}}
	for _, s := range append(all, foreign) {
		s.Data = map[string][]byte{"v": []byte("1")}
		g.Expect(k8sClient.Create(ctx, s)).To(Succeed())
	}
	for _, s := range append(all, foreign) {
		s.Data = map[string][]byte{"v": []byte("2")}
		g.Expect(k8sClient.Update(ctx, s)).To(Succeed())
	}
	g.Eventually(func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(rotated)
	}).Should(Equal(len(all)), "every rotation seen, the Secret kooper did not make not among them")
	mu.Lock()
	defer mu.Unlock()
	g.Expect(rotated).NotTo(HaveKey(tenantNS.Name + "/default-secret"))
}
