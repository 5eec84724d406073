package tenantobjects

import (
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
)

// The volumes of a joint-operation workload (spec.workload.directory,
// spec §7): the enterprise's SSO settings and its directory.
const (
	// MountedUserShards and MountedDepartmentShards are how many shards a
	// workload mounts: 64 user shards of 256 KiB hold some 80,000 users of
	// typical size, 16 department shards some 40,000 departments. The
	// receiver keeps a directory within them while it fits (directory.Apply);
	// a larger one is still delivered and readable through the API,
	// tenant.json lists every shard, and the directory's Delivered condition
	// says how many entries the pods cannot read.
	MountedUserShards       = directory.MountedUserShards
	MountedDepartmentShards = directory.MountedDepartmentShards
	// SSOVolumeName names the volume of the SSO Secret, mounted at
	// <mountPath>/sso.
	SSOVolumeName = "kooper-sso"
	// DirectoryVolumeName names the volume projecting the directory's
	// Secrets, mounted at <mountPath>/directory.
	DirectoryVolumeName = "kooper-directory"
)

// directoryVolumes are the volumes of a joint-operation workload. Every
// source is an optional Secret: the pod starts before the enterprise is
// synced (or without one), and the kubelet adds the files once they are
// delivered. The directory holds users' personal data, so it is delivered
// in Secrets, never ConfigMaps.
func directoryVolumes() []corev1.Volume {
	sources := []corev1.VolumeProjection{optionalSecret(saasv1alpha1.DirectorySecretName)}
	for _, p := range []struct {
		part  directory.Part
		count int
	}{{directory.Users, MountedUserShards}, {directory.Departments, MountedDepartmentShards}} {
		for i := 0; i < p.count; i++ {
			sources = append(sources, optionalSecret(fmt.Sprintf("%s-%s-%03d", saasv1alpha1.DirectorySecretName, p.part, i)))
		}
	}
	return []corev1.Volume{
		{Name: SSOVolumeName, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: saasv1alpha1.SSOSecretName, Optional: ptr.To(true)}}},
		{Name: DirectoryVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}},
	}
}

func optionalSecret(name string) corev1.VolumeProjection {
	return corev1.VolumeProjection{Secret: &corev1.SecretProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: ptr.To(true)}}
}

// directoryMounts mount them read-only under mountPath.
func directoryMounts(mountPath string) []corev1.VolumeMount {
	return []corev1.VolumeMount{
		{Name: SSOVolumeName, MountPath: path.Join(mountPath, "sso"), ReadOnly: true},
		{Name: DirectoryVolumeName, MountPath: path.Join(mountPath, "directory"), ReadOnly: true},
	}
}
