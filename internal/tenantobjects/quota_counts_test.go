package tenantobjects

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// TestQuotaShortfallsCountWhatATenantNamespaceHolds checks each
// object-count quota of a plan against what a tenant namespace of the
// golden product holds: kooper's objects (Objects), the Secrets and
// ConfigMaps it writes elsewhere (credentials, expiry notice, the
// joint-operation SSO and directory), and what kube-controller-manager
// makes in every namespace or for kooper's objects. A quota below it
// refuses a create mid-way: the apply stops at the first 403, the expiry
// notice is never delivered, a directory shard is refused.
func TestQuotaShortfallsCountWhatATenantNamespaceHolds(t *testing.T) {
	q := resource.MustParse
	const holds = "cannot hold what every tenant namespace holds, "
	cases := []struct {
		name   string
		change func(w *saasv1alpha1.WorkloadTemplate)
		quota  corev1.ResourceList
		want   []string // whole shortfalls, in the order of the quota's names
	}{
		{name: "kooper's Secrets, the copies and the joint-operation's", quota: corev1.ResourceList{corev1.ResourceSecrets: q("4")},
			want: []string{"plan basic: quota secrets=4 " + holds + "at least 5: Secret kooper-image-pull, Secret kooper-tls, " +
				"Secret kooper-credentials, Secret kooper-sso, Secret kooper-directory (and one more per shard of the enterprise's directory)"}},
		{name: "they fit", quota: corev1.ResourceList{corev1.ResourceSecrets: q("5"), "count/secrets": q("5")}},
		{name: "no copies, no directory: the credentials alone",
			change: func(w *saasv1alpha1.WorkloadTemplate) {
				w.ImagePullSecretName, w.Ingress.TLSSecretName, w.Directory = "", "", nil
			},
			quota: corev1.ResourceList{corev1.ResourceSecrets: q("1")}},
		{name: "the configuration files' ConfigMap", change: func(w *saasv1alpha1.WorkloadTemplate) {
			w.Config = &saasv1alpha1.WorkloadConfig{MountPath: "/etc/app", Files: []saasv1alpha1.ConfigFile{{Name: "app.yaml", Content: "a: 1"}}}
		}, quota: corev1.ResourceList{"count/configmaps": q("2")},
			want: []string{"plan basic: quota count/configmaps=2 " + holds + "at least 3: ConfigMap kooper-config, " +
				"ConfigMap kooper-notice (while an expiry notice is due), ConfigMap kube-root-ca.crt (kube-controller-manager's)"}},
		{name: "a LoadBalancer Service", change: func(w *saasv1alpha1.WorkloadTemplate) { w.Ingress.ServiceType = corev1.ServiceTypeLoadBalancer },
			quota: corev1.ResourceList{corev1.ResourceServices: q("0"), corev1.ResourceServicesLoadBalancers: q("0"), corev1.ResourceServicesNodePorts: q("0")},
			want: []string{
				"plan basic: quota services=0 " + holds + "at least 1: Service app",
				"plan basic: quota services.loadbalancers=0 " + holds + "at least 1: Service app (type LoadBalancer)",
				"plan basic: quota services.nodeports=0 " + holds + "at least 1: Service app's 1 node port (type LoadBalancer)",
			}},
		{name: "a NodePort Service of two ports", change: func(w *saasv1alpha1.WorkloadTemplate) {
			w.Ingress.ServiceType = corev1.ServiceTypeNodePort
			w.Ports = append(w.Ports, saasv1alpha1.WorkloadPort{Name: "admin", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
		}, quota: corev1.ResourceList{corev1.ResourceServicesNodePorts: q("1"), corev1.ResourceServicesLoadBalancers: q("0")},
			want: []string{"plan basic: quota services.nodeports=1 " + holds + "at least 2: Service app's 2 node ports (type NodePort)"}},
		{name: "the other kinds kooper applies", quota: corev1.ResourceList{
			"count/ingresses.networking.k8s.io": q("0"), "count/networkpolicies.networking.k8s.io": q("0"), "count/persistentvolumeclaims": q("0")},
			want: []string{
				"plan basic: quota count/ingresses.networking.k8s.io=0 " + holds + "at least 1: Ingress app",
				"plan basic: quota count/networkpolicies.networking.k8s.io=0 " + holds + "at least 1: NetworkPolicy kooper-isolation",
				"plan basic: quota count/persistentvolumeclaims=0 " + holds + "at least 1: PersistentVolumeClaim data",
			}},
		{name: "what kube-controller-manager makes", quota: corev1.ResourceList{
			"count/serviceaccounts": q("0"), "count/endpoints": q("0"), "count/endpointslices.discovery.k8s.io": q("0")},
			want: []string{
				"plan basic: quota count/endpoints=0 " + holds + "at least 1: Endpoints app (kube-controller-manager's, for Service app)",
				"plan basic: quota count/endpointslices.discovery.k8s.io=0 " + holds +
					"at least 1: an EndpointSlice of Service app (kube-controller-manager's)",
				"plan basic: quota count/serviceaccounts=0 " + holds + "at least 1: ServiceAccount default (kube-controller-manager's)",
			}},
		{name: "a Recreate rollout's ReplicaSets too", quota: corev1.ResourceList{"count/replicasets.apps": q("12")}},
		{name: "the quota never counts against its own create", quota: corev1.ResourceList{corev1.ResourceQuotas: q("0")}},
		{name: "count/pods is the pods at the peak of a rollout", change: func(w *saasv1alpha1.WorkloadTemplate) { w.Storage = nil },
			quota: corev1.ResourceList{"count/pods": q("2")},
			want:  []string{"plan basic: quota count/pods=2 cannot hold the 3 pods of a rolling update (2 replicas and 1 surge)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			if tc.change != nil {
				tc.change(product.Spec.Workload)
			}
			plan := &product.Spec.Plans[0]
			plan.Quota = tc.quota
			g.Expect(QuotaShortfalls(product.Spec.Workload, plan)).To(Equal(tc.want))
		})
	}
}

// TestChartQuotaCountShortfalls checks a chart plan's object-count quotas
// against its example render beside kooper's own objects: each Deployment
// the chart renders keeps its own revisionHistoryLimit of ReplicaSets, each
// Service of type LoadBalancer takes a node port per port.
func TestChartQuotaCountShortfalls(t *testing.T) {
	g := NewWithT(t)
	q := resource.MustParse
	product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: "wiki"}, Spec: saasv1alpha1.SaaSProductSpec{
		NamespacePrefix: "wiki", Chart: &saasv1alpha1.ChartTemplate{},
		Plans: []saasv1alpha1.Plan{{SKUCode: "team", Quota: corev1.ResourceList{
			"count/replicasets.apps": q("4"), corev1.ResourceServicesNodePorts: q("1"), corev1.ResourceConfigMaps: q("2"),
			corev1.ResourceSecrets: q("2"), "count/statefulsets.apps": q("0")}}},
	}}
	rendered := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{
			"type": "LoadBalancer", "selector": map[string]any{"app": "web"},
			"ports": []any{map[string]any{"name": "http", "port": int64(80)}, map[string]any{"name": "https", "port": int64(443)}}}}},
		{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
			"spec": map[string]any{"revisionHistoryLimit": int64(3)}}},
	}
	const holds = "cannot hold what every tenant namespace holds, "
	g.Expect(ChartQuotaCountShortfalls(product, &product.Spec.Plans[0], rendered)).To(Equal([]string{
		"plan team: quota configmaps=2 " + holds + "at least 3: ConfigMap settings, ConfigMap kooper-notice (while an expiry notice is due), " +
			"ConfigMap kube-root-ca.crt (kube-controller-manager's)",
		"plan team: quota count/replicasets.apps=4 " + holds + "at least 5: the 5 ReplicaSets of Deployment web during a rollout " +
			"(the 3 old ones its revisionHistoryLimit keeps, the current one and the new one)",
		"plan team: quota services.nodeports=1 " + holds + "at least 2: Service web's 2 node ports (type LoadBalancer)",
	}), "the Secrets db and kooper-credentials fit in 2; the chart renders no StatefulSet")
	g.Expect(ChartQuotaCountShortfalls(product, &saasv1alpha1.Plan{SKUCode: "free", Quota: corev1.ResourceList{corev1.ResourcePods: q("0")}},
		rendered)).To(BeEmpty(), "no count quota: pods and compute are the chart's to fit")
}

// TestCountQuotasAtWhatATenantHoldsAdmitItAll asks a real kube-apiserver's
// ResourceQuota admission: a quota whose every count entry is what kooper
// says the golden tenant's namespace holds admits all of it, counting each
// object under the same names and numbers, and refuses one more Secret
// with 403 exceeded quota, as it refused kooper's own writes before the
// count entries were checked. envtest runs no kube-controller-manager: the
// test makes what it would (kube-root-ca.crt, the default ServiceAccount,
// the ReplicaSets of a rollout, the Service's Endpoints and EndpointSlice),
// and sets the quota's status as its quota controller would.
func TestCountQuotasAtWhatATenantHoldsAdmitItAll(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	product := goldenProduct()
	product.Spec.Workload.Ingress.ServiceType = corev1.ServiceTypeLoadBalancer
	d := exampleTenant(product, &product.Spec.Plans[0])
	present, _ := d.Objects()
	held := heldObjects(present, product)
	counts := namespaceCounts(held)
	g.Expect(counts).To(HaveKey(corev1.ResourceName("count/replicasets.apps")))

	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace}})).To(Succeed())
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: ResourceQuotaName},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{}}}
	for name, need := range counts {
		quota.Spec.Hard[name] = *resource.NewQuantity(need.n, resource.DecimalSI)
	}
	g.Expect(c.Create(ctx, quota)).To(Succeed())
	quota.Status.Hard, quota.Status.Used = quota.Spec.Hard.DeepCopy(), corev1.ResourceList{}
	for name := range quota.Spec.Hard {
		quota.Status.Used[name] = resource.MustParse("0")
	}
	g.Expect(c.Status().Update(ctx, quota)).To(Succeed())

	create := func(obj client.Object) error {
		obj = obj.DeepCopyObject().(client.Object)
		obj.SetNamespace(d.Namespace)
		return c.Create(ctx, obj)
	}
	var deployment *appsv1.Deployment
	first := true
	for _, h := range held {
		if _, isQuota := h.obj.(*corev1.ResourceQuota); isQuota {
			continue
		}
		what := h.obj.GetObjectKind().GroupVersionKind().Kind + " " + h.obj.GetName()
		if first {
			// The admission may not see the quota's status at once.
			g.Eventually(func() error { return create(h.obj) }).WithTimeout(30*time.Second).Should(Succeed(), what)
			first = false
		} else {
			g.Expect(create(h.obj)).To(Succeed(), what)
		}
		if dep, ok := h.obj.(*appsv1.Deployment); ok {
			deployment = dep
		}
	}
	g.Expect(deployment).NotTo(BeNil())
	// What kube-controller-manager makes for the Deployment during a
	// rollout, and for the Service.
	for i := range counts["count/replicasets.apps"].n {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", AppName, i)},
			Spec: appsv1.ReplicaSetSpec{Replicas: new(int32), Selector: deployment.Spec.Selector, Template: deployment.Spec.Template}}
		g.Expect(create(rs)).To(Succeed(), "ReplicaSet %d", i)
	}
	// kube-controller-manager still writes an Endpoints beside each Service's
	// EndpointSlice, and a count quota counts it.
	g.Expect(create(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: AppName}})).To(Succeed()) //nolint:staticcheck // as kube-controller-manager does
	g.Expect(create(&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: AppName + "-slice"},
		AddressType: discoveryv1.AddressTypeIPv4})).To(Succeed())

	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(quota), quota)).To(Succeed())
	for name, need := range counts {
		used := quota.Status.Used[name]
		g.Expect(used.Value()).To(Equal(need.n), "the API server's count of %s", name)
	}
	err = create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "one-more"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	g.Expect(err).To(MatchError(ContainSubstring("exceeded quota")))
}
