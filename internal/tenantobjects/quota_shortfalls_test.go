package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestQuotaShortfalls(t *testing.T) {
	q := resource.MustParse
	cpu := func(request, limit string) *saasv1alpha1.ContainerResources {
		r := &saasv1alpha1.ContainerResources{}
		if request != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: q(request)}
		}
		if limit != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: q(limit)}
		}
		return r
	}
	storage := &saasv1alpha1.StorageTemplate{Size: q("10Gi"), MountPath: "/data"}
	cases := []struct {
		name      string
		storage   *saasv1alpha1.StorageTemplate
		replicas  int32
		resources *saasv1alpha1.ContainerResources
		sso       *saasv1alpha1.WorkloadSSO
		quota     corev1.ResourceList
		want      []string // substrings, one per shortfall; none when empty
	}{
		{name: "the SSO gateway's default resources count in every pod", replicas: 1, resources: cpu("500m", "500m"),
			sso:   &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}},
			quota: corev1.ResourceList{corev1.ResourceRequestsCPU: q("1")}, want: []string{"requests.cpu=1 cannot hold the 1020m of the 2 pods of a rolling update (1 replicas and 1 surge), each with its SSO gateway"}},
		{name: "with room for the gateway", replicas: 1, resources: cpu("500m", "500m"), sso: &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}},
			quota: corev1.ResourceList{corev1.ResourceRequestsCPU: q("1020m"), corev1.ResourceLimitsCPU: q("1400m")}},
		{name: "3 replicas and a surge pod do not fit in 3 pods", replicas: 3,
			quota: corev1.ResourceList{corev1.ResourcePods: q("3")},
			want:  []string{"plan p: quota pods=3 cannot hold the 4 pods of a rolling update (3 replicas and 1 surge)"}},
		{name: "they fit in 4", replicas: 3, quota: corev1.ResourceList{corev1.ResourcePods: q("4")}},
		{name: "one replica needs room for its surge pod too", replicas: 1,
			quota: corev1.ResourceList{corev1.ResourcePods: q("1")}, want: []string{"pods=1 cannot hold the 2 pods"}},
		{name: "Recreate, with a volume, has no surge", storage: storage, replicas: 3,
			quota: corev1.ResourceList{corev1.ResourcePods: q("3"), corev1.ResourcePersistentVolumeClaims: q("1"), corev1.ResourceRequestsStorage: q("10Gi")}},
		{name: "the surge pod's requests count", replicas: 3, resources: cpu("500m", ""),
			quota: corev1.ResourceList{corev1.ResourceRequestsCPU: q("1500m")}, want: []string{"requests.cpu=1500m cannot hold the 2 of the 4 pods"}},
		{name: "an unset request is the limit", replicas: 2, resources: cpu("", "1"),
			quota: corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceLimitsCPU: q("3")}, want: []string{"quota cpu=2 cannot hold the 3 of the 3 pods"}},
		{name: "a compute quota the containers do not set refuses every pod", replicas: 1, resources: cpu("100m", ""),
			quota: corev1.ResourceList{corev1.ResourceLimitsCPU: q("4")}, want: []string{"quota limits.cpu is set but container app sets none"}},
		// The trial of issue 32: the gateway's default resources hid an app
		// that sets none, and every pod was refused.
		{name: "an app that sets no resources beside the SSO gateway refuses every pod", replicas: 1,
			sso:   &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}},
			quota: corev1.ResourceList{corev1.ResourceRequestsCPU: q("4")}, want: []string{"quota requests.cpu is set but container app sets none"}},
		{name: "a gateway that sets no resources gets the app's from kooper's LimitRange", replicas: 1, resources: cpu("100m", "100m"),
			sso:   &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Resources: &saasv1alpha1.ContainerResources{}}},
			quota: corev1.ResourceList{corev1.ResourceRequestsCPU: q("4")}},
		{name: "a gateway whose resources leave out a quota's, and an app that sets none either", replicas: 1,
			sso: &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{Resources: &saasv1alpha1.ContainerResources{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("10m")}}}},
			quota: corev1.ResourceList{corev1.ResourceRequestsMemory: q("1Gi")},
			want:  []string{"quota requests.memory is set but containers app and kooper-gateway set none"}},
		{name: "the claim counts", storage: storage, replicas: 1,
			quota: corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: q("0"), corev1.ResourceRequestsStorage: q("5Gi")},
			want:  []string{"persistentvolumeclaims=0 cannot hold the data volume's 1", "requests.storage=5Gi cannot hold the data volume's 10Gi"}},
		// Object counts: every tenant namespace holds kooper's Deployment,
		// its ReplicaSets (a rollout keeps the API server's default
		// revisionHistoryLimit of 10 old ones beside the current and the new
		// one), the credentials Secret, and kube-controller-manager's
		// kube-root-ca.crt beside the expiry notice.
		{name: "a count quota below kooper's own objects", replicas: 1, quota: corev1.ResourceList{"count/deployments.apps": q("0")},
			want: []string{"plan p: quota count/deployments.apps=0 cannot hold what every tenant namespace holds, at least 1: Deployment app"}},
		{name: "one Deployment fits", replicas: 1, quota: corev1.ResourceList{"count/deployments.apps": q("1")}},
		{name: "a rollout's ReplicaSets", replicas: 1, quota: corev1.ResourceList{"count/replicasets.apps": q("11")},
			want: []string{"quota count/replicasets.apps=11 cannot hold what every tenant namespace holds, at least 12: the 12 ReplicaSets of " +
				"Deployment app during a rollout (the 10 old ones its revisionHistoryLimit keeps, the current one and the new one)"}},
		{name: "the expiry notice beside kube-root-ca.crt", replicas: 1, quota: corev1.ResourceList{corev1.ResourceConfigMaps: q("1")},
			want: []string{"quota configmaps=1 cannot hold what every tenant namespace holds, at least 2: ConfigMap kooper-notice " +
				"(while an expiry notice is due), ConfigMap kube-root-ca.crt (kube-controller-manager's)"}},
		{name: "the credentials Secret", replicas: 1, quota: corev1.ResourceList{"count/secrets": q("0")},
			want: []string{"quota count/secrets=0 cannot hold what every tenant namespace holds, at least 1: Secret kooper-credentials"}},
		{name: "quotas of kinds kooper makes none of are not judged", replicas: 1, quota: corev1.ResourceList{"count/jobs.batch": q("0")}},
		{name: "no replicas, nothing to hold", replicas: 0, quota: corev1.ResourceList{corev1.ResourcePods: q("0")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			w := &saasv1alpha1.WorkloadTemplate{Storage: tc.storage, SSO: tc.sso}
			got := QuotaShortfalls(w, &saasv1alpha1.Plan{SKUCode: "p", Replicas: tc.replicas, Resources: tc.resources, Quota: tc.quota})
			g.Expect(got).To(HaveLen(len(tc.want)), "%q", got)
			for i, want := range tc.want {
				g.Expect(got[i]).To(ContainSubstring(want))
			}
		})
	}
}

// A plan whose quota leaves no room for the surge pod of a rolling update
// would stall every rollout of its tenants: the product says so, and the
// merchant's quota is left as it is.
