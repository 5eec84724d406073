package webhook

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A kit call signed with one product's kitKey that names another product's
// instance (typed into the Seller Console's debugging tool, say) is refused
// 000003, as a basic callback for another product's instance is: before, its
// directory was stored, holding the other enterprise's users for as long as
// that tenant lived, delivered nowhere. An instance kooper does not have is
// still let through (the seller's test tenant has no order).
func TestAKitCallNamingAnotherProductsInstanceIsRefused(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	other := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	instanceID, _ := other.buy(t)
	g.Eventually(func() error {
		return receiver.reader.Get(ctxFor(t), client.ObjectKey{Name: instanceID}, &saasv1alpha1.SaaSTenant{})
	}).Should(Succeed(), "the receiver's cache has the other product's tenant")
	_, tenantID := kitIDs()

	expectKitCallsRefusedAsAnotherProducts(t, f, instanceID, tenantID)

	unknown, unknownTenant := kitIDs()
	expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(unknown, unknownTenant, 1))
}

// expectKitCallsRefusedAsAnotherProducts sends a tenantSync and an
// authSync naming instanceID, another product's instance, for tenantID:
// each is answered 000003 and no directory is stored.
func expectKitCallsRefusedAsAnotherProducts(t *testing.T, f *fixture, instanceID, tenantID string) {
	t.Helper()
	g := NewWithT(t)
	for _, call := range []struct {
		name koogallery.KitInterface
		body string
	}{
		{koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1)},
		{koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 2, 1)},
	} {
		a := f.kit(t, call.name, call.body)
		g.Expect(a.Code).To(Equal(string(koogallery.ResultInstanceNotFound)), "%s: %s", call.name, a.Msg)
	}
	err := k8sClient.Get(ctxFor(t), client.ObjectKey{Name: DirectoryName(instanceID, tenantID)}, &saasv1alpha1.SaaSDirectory{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no directory is stored for another product's instance: %v", err)
}
