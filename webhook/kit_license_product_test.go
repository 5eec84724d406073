package webhook

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A kit call naming another product's licence instance is refused 000003,
// as one naming another product's SaaSTenant is, and as a basic callback
// naming either is: before, the kit's check read only SaaSTenants, so a
// tenantSync naming a licence instance of another product was stored, the
// enterprise's personal data delivered nowhere. A licence of the call's own
// product is let through.
func TestAKitCallNamingAnotherProductsLicenceIsRefused(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	other := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	instanceID, _ := other.buy(t)
	g.Expect(k8sClient.Get(ctxFor(t), client.ObjectKey{Name: instanceID}, &saasv1alpha1.License{})).To(Succeed(),
		"the other product's purchase is a License")
	_, tenantID := kitIDs()

	expectKitCallsRefusedAsAnotherProducts(t, f, instanceID, tenantID)

	own, ownTenant := kitIDs()
	g.Expect(k8sClient.Create(ctxFor(t), &saasv1alpha1.License{
		ObjectMeta: metav1.ObjectMeta{Name: own},
		Spec:       saasv1alpha1.LicenseSpec{InstanceID: own, ProductName: f.product.Name, OrderID: "CS" + own},
	})).To(Succeed())
	expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(own, ownTenant, 1))
}
