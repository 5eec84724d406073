package controllers

import (
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// The cache keeps a tenant's ResourceQuota without what the quota
// controller counts as used: kooper never reads it, and at 10,000 tenants
// it is megabytes. The spec, which kooper compares with what it applies,
// stays, and a hand edit of it is still put back. Ten recounts of the
// usage queue no pass of the tenant (unchangedInCache): the tenant
// controller reconciles a few times at most between the first recount and
// the pass that puts the hand edit back, not once a recount.
func TestCachedQuotasHoldNoUsage(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	// A tenant serving its plan: while a plan change rolls out, kooper keeps
	// the larger of the quota in force and the plan's (quotaInForce), and a
	// hand edit then stays until the workload is Available.
	tenant := eventuallyTenant(t, readyTenant(t, product, "basic").Name, provisioned)
	key := client.ObjectKey{Namespace: tenant.Status.Namespace, Name: tenantobjects.ResourceQuotaName}
	reconcilesBefore := tenantReconciles(t)

	// envtest runs no quota controller: count the usage as it would.
	for used := range 10 {
		quota := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard,
			Used: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(used+1), resource.DecimalSI)}}
		g.Expect(k8sClient.Status().Update(testContext(t), quota)).To(Succeed())

		g.Eventually(func(g Gomega) {
			cached := &corev1.ResourceQuota{}
			g.Expect(cachedClient.Get(testContext(t), key, cached)).To(Succeed())
			g.Expect(cached.ResourceVersion).To(Equal(quota.ResourceVersion), "the cache has seen the status update")
			g.Expect(cached.Status).To(Equal(corev1.ResourceQuotaStatus{}))
			g.Expect(cached.Spec.Hard).To(Equal(quota.Spec.Hard))
		}).Should(Succeed())
	}

	edited := getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name)
	want := edited.Spec.Hard.DeepCopy()
	edited.Spec.Hard[corev1.ResourcePods] = resource.MustParse("999")
	g.Expect(k8sClient.Update(testContext(t), edited)).To(Succeed())
	g.Eventually(func() corev1.ResourceList {
		return getObject(t, &corev1.ResourceQuota{}, key.Namespace, key.Name).Spec.Hard
	}).Should(Equal(want), "a hand edit of the quota is put back")
	// The edit's event came after every recount's, on the same informer:
	// each recount had been handled before the pass that put it back. The
	// count is every tenant's: no test of this package runs in parallel,
	// and an earlier test's tenant passes rarely meanwhile.
	passes := tenantReconciles(t) - reconcilesBefore
	t.Logf("%.0f tenant passes from ten usage recounts and one hand edit", passes)
	g.Expect(passes).To(BeNumerically("<", 5),
		"tenant passes from ten usage recounts and one hand edit")
}

// tenantReconciles is how many passes the tenant controller has made
// (controller-runtime's controller_runtime_reconcile_total), every tenant's.
func tenantReconciles(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "saastenant" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
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

// The cache drops the status a tenant's HorizontalPodAutoscalers,
// PodDisruptionBudgets, CronJobs, Ingresses and ResourceQuotas have
// rewritten by their controllers, which
// kooper never reads: kstatus, which judges a chart's objects for the
// tenant's Available, finds each as it would the whole object.
func TestDroppedStatusLeavesKstatusUnchanged(t *testing.T) {
	hpa := func(generation, observed int64) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: generation},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{ObservedGeneration: ptr.To(observed), CurrentReplicas: 3, DesiredReplicas: 4,
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue}}},
		}
	}
	pdb := func(generation, observed int64) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: generation},
			Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: observed, CurrentHealthy: 2, DesiredHealthy: 1, DisruptionsAllowed: 1},
		}
	}
	// Budgets and autoscalers their controllers find wanting: kstatus
	// judges neither by these counts and conditions, so the cache may drop
	// them. Were a kstatus to read them, these two cases would fail.
	unmetBudget := pdb(1, 1)
	unmetBudget.Status.CurrentHealthy, unmetBudget.Status.DesiredHealthy, unmetBudget.Status.DisruptionsAllowed = 0, 1, 0
	inactive := hpa(1, 1)
	inactive.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse}}
	cronJob := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report", Generation: 1},
		Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "report-1"}}, LastScheduleTime: &metav1.Time{}}}
	ingress := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}}}}}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "quota"},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}

	for _, tc := range []struct {
		name string
		obj  client.Object
		kind schema.GroupVersionKind
		want status.Status
	}{
		{"an autoscaler its controller has seen", hpa(2, 2), autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), status.CurrentStatus},
		{"an autoscaler changed since", hpa(3, 2), autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), status.InProgressStatus},
		{"a disruption budget its controller has seen", pdb(1, 1), policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), status.CurrentStatus},
		{"a disruption budget changed since", pdb(2, 1), policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), status.InProgressStatus},
		{"a disruption budget not met", unmetBudget, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), status.CurrentStatus},
		{"an autoscaler that cannot scale", inactive, autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), status.CurrentStatus},
		{"a CronJob running", cronJob, batchv1.SchemeGroupVersion.WithKind("CronJob"), status.CurrentStatus},
		{"an Ingress with an address", ingress, networkingv1.SchemeGroupVersion.WithKind("Ingress"), status.CurrentStatus},
		{"a quota in use", quota, corev1.SchemeGroupVersion.WithKind("ResourceQuota"), status.CurrentStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verdict := func(obj client.Object) status.Status {
				t.Helper()
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
				if err != nil {
					t.Fatal(err)
				}
				res, err := status.Compute(&unstructured.Unstructured{Object: u})
				if err != nil {
					t.Fatal(err)
				}
				return res.Status
			}
			tc.obj.GetObjectKind().SetGroupVersionKind(tc.kind)
			whole := verdict(tc.obj)
			out, err := withoutUnreadStatus(tc.obj.DeepCopyObject())
			if err != nil {
				t.Fatal(err)
			}
			cached := out.(client.Object)
			if got := verdict(cached); got != whole || got != tc.want {
				t.Fatalf("kstatus finds the cached object %s and the whole one %s; want both %s", got, whole, tc.want)
			}
			if apiequality.Semantic.DeepEqual(cached, tc.obj) {
				t.Fatal("the cache kept the whole status")
			}
		})
	}
}

// Only the kinds cached in kooper's namespace alone keep the index by
// namespace: every tenant object and every cluster-scoped kind would pay
// about 300 bytes an object for an index nothing reads
// (internal/informer). A List by namespace of a kind left out fails
// loudly; TestControllersCacheHoldsNoDirectoryShardSecrets lists Secrets
// across namespaces.
func TestOnlyKindsInKoopersNamespaceAreIndexedByNamespace(t *testing.T) {
	newInformer := CacheOptions(operatorNamespace).NewInformer
	asked := toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}
	indexed := func(obj runtime.Object) bool {
		_, ok := newInformer(&toolscache.ListWatch{}, obj, 0, asked).GetIndexer().GetIndexers()[toolscache.NamespaceIndex]
		return ok
	}
	for _, obj := range []runtime.Object{&corev1.ConfigMap{}, &appsv1.ControllerRevision{}} {
		if !indexed(obj) {
			t.Errorf("%T, cached in kooper's namespace alone, is not indexed by namespace", obj)
		}
	}
	for _, obj := range append([]client.Object{&corev1.Secret{}, &saasv1alpha1.SaaSTenant{}, &saasv1alpha1.License{}}, TenantChildTypes()...) {
		if indexed(obj) {
			t.Errorf("%T, cached beyond kooper's namespace, is indexed by namespace", obj)
		}
	}
}
