package tenantobjects

import (
	"path"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The tenant's expiry notice (status.expiryNotice) as the app reads it.
const (
	// NoticeVolumeName names the volume of the kooper-notice ConfigMap,
	// mounted at <mountPath>/notice for a product with
	// spec.workload.directory.expiryNotice Mounted.
	NoticeVolumeName = "kooper-notice"
	// Keys of the kooper-notice ConfigMap, one file each under the mount.
	NoticeStageKey            = "stage"
	NoticeExpireTimeKey       = "expireTime"
	NoticeThresholdSecondsKey = "thresholdSeconds"
)

// NoticeConfigMap is the kooper-notice ConfigMap of tenant t in namespace
// for notice: stage (Expiring, Grace or Expired), expireTime (RFC 3339,
// UTC) and thresholdSeconds (the notice threshold crossed, "0" outside
// stage Expiring). It has its TypeMeta set, for server-side apply.
func NoticeConfigMap(t *saasv1alpha1.SaaSTenant, namespace string, notice *saasv1alpha1.ExpiryNotice) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: saasv1alpha1.NoticeConfigMapName, Namespace: namespace, Labels: Labels(t)},
		Data: map[string]string{
			NoticeStageKey:            string(notice.Stage),
			NoticeExpireTimeKey:       notice.ExpireTime.UTC().Format(time.RFC3339),
			NoticeThresholdSecondsKey: strconv.Itoa(int(notice.ThresholdSeconds)),
		},
	}
}

// noticeVolume projects the kooper-notice ConfigMap, for a product with
// spec.workload.directory.expiryNotice Mounted only: the pods of every
// other product are unchanged by it. It is optional: the
// ConfigMap exists only while a notice is due, and the kubelet adds and
// removes the files as it comes and goes, without a restart.
func noticeVolume() corev1.Volume {
	return corev1.Volume{Name: NoticeVolumeName, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: saasv1alpha1.NoticeConfigMapName}, Optional: ptr.To(true)}}}
}

// noticeMount mounts it read-only at <mountPath>/notice.
func noticeMount(mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: NoticeVolumeName, MountPath: path.Join(mountPath, "notice"), ReadOnly: true}
}
