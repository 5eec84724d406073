package tenantobjects

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestNoticeConfigMap(t *testing.T) {
	tenant := &saasv1alpha1.SaaSTenant{Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: "i-1", ProductName: "crm"}}
	expiry := metav1.NewTime(time.Date(2026, 12, 8, 18, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	cases := []struct {
		name   string
		notice saasv1alpha1.ExpiryNotice
		want   map[string]string
	}{
		{name: "a threshold crossed, the time in UTC",
			notice: saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageExpiring, ExpireTime: expiry, ThresholdSeconds: 604800},
			want:   map[string]string{"stage": "Expiring", "expireTime": "2026-12-08T10:00:00Z", "thresholdSeconds": "604800"}},
		{name: "the grace period: no threshold",
			notice: saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageGrace, ExpireTime: expiry},
			want:   map[string]string{"stage": "Grace", "expireTime": "2026-12-08T10:00:00Z", "thresholdSeconds": "0"}},
		{name: "expired",
			notice: saasv1alpha1.ExpiryNotice{Stage: saasv1alpha1.ExpiryStageExpired, ExpireTime: expiry},
			want:   map[string]string{"stage": "Expired", "expireTime": "2026-12-08T10:00:00Z", "thresholdSeconds": "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			cm := NoticeConfigMap(tenant, "tenant-i-1", &tc.notice)
			g.Expect(cm.TypeMeta).To(Equal(metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}))
			g.Expect(cm.Name).To(Equal("kooper-notice"))
			g.Expect(cm.Namespace).To(Equal("tenant-i-1"))
			g.Expect(cm.Labels).To(Equal(Labels(tenant)))
			g.Expect(cm.Data).To(Equal(tc.want))
		})
	}
}

// The notice is mounted for a product that asks for it beside its
// directory, and only there: every other product's pods are as before
// (TestRenderingWithoutProbesOrConfigIsUnchanged pins a directory product
// without it).
func TestNoticeMount(t *testing.T) {
	podOf := func(d *Desired) corev1.PodSpec {
		present, _ := d.Objects()
		for _, obj := range present {
			if dep, ok := obj.(*appsv1.Deployment); ok {
				return dep.Spec.Template.Spec
			}
		}
		t.Fatal("no Deployment rendered")
		return corev1.PodSpec{}
	}
	hasNotice := func(pod corev1.PodSpec) bool {
		for _, v := range pod.Volumes {
			if v.Name == NoticeVolumeName {
				return true
			}
		}
		return false
	}
	cases := []struct {
		name   string
		change func(*saasv1alpha1.SaaSProduct)
		want   bool
	}{
		{name: "a directory with expiryNotice Mounted", want: true,
			change: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Directory.ExpiryNotice = saasv1alpha1.NoticeMounted }},
		{name: "a directory with expiryNotice NotMounted",
			change: func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Workload.Directory.ExpiryNotice = saasv1alpha1.NoticeNotMounted
			}},
		{name: "a directory without the field (a product stored before it)", change: func(*saasv1alpha1.SaaSProduct) {}},
		{name: "no directory", change: func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Directory = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := goldenProduct()
			tc.change(product)
			pod := podOf(goldenTenant(product))
			g.Expect(hasNotice(pod)).To(Equal(tc.want))
			var mounts []corev1.VolumeMount
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.Name == NoticeVolumeName {
					mounts = append(mounts, m)
				}
			}
			if !tc.want {
				g.Expect(mounts).To(BeEmpty())
				return
			}
			g.Expect(mounts).To(ConsistOf(corev1.VolumeMount{Name: NoticeVolumeName, MountPath: "/etc/kooper/notice", ReadOnly: true}))
			g.Expect(pod.Volumes).To(ContainElement(corev1.Volume{Name: NoticeVolumeName, VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "kooper-notice"}, Optional: ptr.To(true)}}}))
		})
	}
}
