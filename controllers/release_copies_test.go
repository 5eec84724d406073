package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// copyablePullSecret is an image-pull Secret in kooper's namespace that the
// merchant lets kooper copy into tenant namespaces.
func copyablePullSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("pull-%d", tenantSeq.Add(1)),
			Labels: map[string]string{saasv1alpha1.CopyToTenantsLabel: "true"}},
		Type:       corev1.SecretTypeDockerConfigJson,
		StringData: map[string]string{corev1.DockerConfigJsonKey: `{"auths":{"swr.example.com":{"auth":"dTpw"}}}`},
	}
}

// TestAReleasedTenantKeepsNoCopyOfTheProductsSecrets: the copies of the
// product's TLS certificate (with its private key) and registry
// credentials serve only pods and an Ingress, which release removes. Left
// behind, they would sit in the retained namespace for the whole retention
// (for ever under retentionDays 0), readable by whoever may read it. The
// buyer's data (the PVC) and the tenant's credentials Secret stay.
func TestAReleasedTenantKeepsNoCopyOfTheProductsSecrets(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	tls, pull := copyableTLSSecret(), copyablePullSecret()
	g.Expect(k8sClient.Create(ctx, tls)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, pull)).To(Succeed())
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Workload.Ingress.TLSSecretName = tls.Name
		p.Spec.Workload.ImagePullSecretName = pull.Name
		p.Spec.Lifecycle.Release.RetentionDays = ptr.To[int32](10)
	})
	tenant := readyTenant(t, product, "basic")
	ns := "tenant-" + tenant.Name
	getObject(t, &corev1.Secret{}, ns, tenantobjects.TLSSecretName)
	getObject(t, &corev1.Secret{}, ns, tenantobjects.ImagePullSecretName)

	setState(t, tenant.Name, saasv1alpha1.StateReleased)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RetainingDataReason))
	workloadRemoved(t, ns)
	for _, name := range []string{tenantobjects.TLSSecretName, tenantobjects.ImagePullSecretName} {
		g.Eventually(absent(t, &corev1.Secret{}, ns, name)).Should(BeTrue(), "release removes the copy %s", name)
	}
	getObject(t, &corev1.Secret{}, ns, tenantobjects.CredentialsSecretName)
	getObject(t, &corev1.PersistentVolumeClaim{}, ns, tenantobjects.DataVolumeName)
	getObject(t, &corev1.Secret{}, operatorNamespace, tls.Name)
	getObject(t, &corev1.Secret{}, operatorNamespace, pull.Name)
}
