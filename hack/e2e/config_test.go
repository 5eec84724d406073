package e2e

import (
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// expectProbesAndConfig checks what the sample product's readinessProbe,
// livenessProbe and config give the tenant in namespace ns on plan sku: the
// rendered file in the ConfigMap kooper-config, and the probes, the volume
// and the checksum in the spec of a pod of the Deployment's current
// template. kwok runs no probe and mounts nothing, so this is as far as the
// local cluster can see: the pods were admitted (restricted Pod Security)
// and scheduled with them.
func expectProbesAndConfig(g Gomega, e *env, ns, instanceID, sku string) {
	g.Eventually(func(g Gomega) {
		cm := &corev1.ConfigMap{}
		g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: "kooper-config"}, cm)).To(Succeed())
		g.Expect(cm.Data).To(HaveKeyWithValue("crm.yaml", And(
			ContainSubstring("instanceId: "+instanceID+"\n"),
			ContainSubstring("namespace: "+ns+"\n"),
			ContainSubstring("plan: "+sku+"\n"))))

		checksum := getDeployment(g, e, ns).Spec.Template.Annotations[saasv1alpha1.ConfigChecksumAnnotation]
		g.Expect(checksum).To(HaveLen(64))
		pods := &corev1.PodList{}
		g.Expect(e.stack.Client.List(e.ctx, pods, client.InNamespace(ns),
			client.MatchingLabels{saasv1alpha1.InstanceIDLabel: instanceID})).To(Succeed())
		g.Expect(pods.Items).To(ContainElement(And(
			HaveField("ObjectMeta.Annotations", HaveKeyWithValue(saasv1alpha1.ConfigChecksumAnnotation, checksum)),
			HaveField("Spec.Volumes", ContainElement(HaveField("VolumeSource.ConfigMap.Name", "kooper-config"))),
			HaveField("Spec.Containers", ContainElement(And(
				HaveField("VolumeMounts", ContainElement(corev1.VolumeMount{Name: "kooper-config", MountPath: "/etc/crm", ReadOnly: true})),
				HaveField("ReadinessProbe.HTTPGet.Path", "/ready"),
				HaveField("ReadinessProbe.HTTPGet.Port", intstr.FromString("http")),
				HaveField("ReadinessProbe.PeriodSeconds", BeEquivalentTo(5)),
				HaveField("LivenessProbe.HTTPGet.Path", "/healthz"),
				HaveField("LivenessProbe.InitialDelaySeconds", BeEquivalentTo(10)),
			))),
		)), "no pod of the current template carries the probes and the configuration volume")
	}).Should(Succeed())
}
