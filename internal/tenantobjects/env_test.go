package tenantobjects

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// TestEnvKooperVariablesWin renders a product stored before the schema
// refused variables named KOOPER_*, whose env sets the variables kooper
// sets itself. The kubelet takes the last of duplicate names, and a
// server-side apply refuses them (env is a list map keyed by name), so
// each of kooper's variables must appear once, with kooper's value: the
// tenant's own instanceId, the plan's SKU and the credentials Secret's
// keys, which are what appInfo hands the buyer. The product's other
// variables stay, in their order.
func TestEnvKooperVariablesWin(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	product.Spec.Workload.Env = []saasv1alpha1.EnvVar{
		{Name: "LOG_LEVEL", Value: "info"},
		{Name: InstanceIDEnv, Value: "the-same-for-every-tenant"},
		{Name: skuCodeEnv, Value: "gold"},
		{Name: "FEATURE_X", Value: "on"},
		{Name: adminUsernameEnv, Value: "admin"},
		{Name: adminPasswordEnv, Value: "not-the-buyers-password"},
		{Name: "KOOPER_THEME", Value: "dark"},
	}
	d := goldenTenant(product)

	app := d.deployment().Spec.Template.Spec.Containers[0]
	g.Expect(app.Name).To(Equal(AppName))
	env := app.Env

	byName := map[string][]corev1.EnvVar{}
	var names []string
	for _, e := range env {
		byName[e.Name] = append(byName[e.Name], e)
		names = append(names, e.Name)
	}
	for _, name := range []string{InstanceIDEnv, skuCodeEnv, adminUsernameEnv, adminPasswordEnv} {
		g.Expect(byName[name]).To(HaveLen(1), "variable %s, in %v", name, names)
	}
	g.Expect(byName[InstanceIDEnv][0].Value).To(Equal(d.Tenant.Spec.InstanceID))
	g.Expect(byName[skuCodeEnv][0].Value).To(Equal(d.Plan.SKUCode))
	for name, key := range map[string]string{adminUsernameEnv: saasv1alpha1.CredentialsUsernameKey, adminPasswordEnv: saasv1alpha1.CredentialsPasswordKey} {
		e := byName[name][0]
		g.Expect(e.Value).To(BeEmpty(), name)
		g.Expect(e.ValueFrom).NotTo(BeNil(), name)
		g.Expect(e.ValueFrom.SecretKeyRef).To(Equal(&corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: CredentialsSecretName}, Key: key}), name)
	}
	g.Expect(names).To(Equal([]string{InstanceIDEnv, skuCodeEnv, adminUsernameEnv, adminPasswordEnv,
		"LOG_LEVEL", "FEATURE_X", "KOOPER_THEME"}), "kooper's first, then the product's others in their order")
}

// TestImagePullSecretsNameEachSecretOnce renders a product whose
// namespaceImagePullSecretName names kooper's own copy of its
// imagePullSecretName (kooper-image-pull), stored before the schema
// refused that: imagePullSecrets is a list map keyed by name, and a
// server-side apply refuses a name twice. Both entries name the same
// Secret, so one is enough.
func TestImagePullSecretsNameEachSecretOnce(t *testing.T) {
	g := NewWithT(t)
	product := goldenProduct()
	product.Spec.Workload.NamespaceImagePullSecretName = ImagePullSecretName
	d := goldenTenant(product)

	g.Expect(d.deployment().Spec.Template.Spec.ImagePullSecrets).To(Equal([]corev1.LocalObjectReference{{Name: ImagePullSecretName}}))

	product.Spec.Workload.NamespaceImagePullSecretName = "default-secret"
	g.Expect(d.deployment().Spec.Template.Spec.ImagePullSecrets).To(Equal(
		[]corev1.LocalObjectReference{{Name: ImagePullSecretName}, {Name: "default-secret"}}), "a Secret of another name is added")
}
