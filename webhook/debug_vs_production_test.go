package webhook

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// asDebug marks a callback body as the Seller Console debugging tool sends
// it (spec §1.9: testFlag "1").
func asDebug(body string) string {
	return strings.TrimSuffix(body, "}") + `,"testFlag":"1"}`
}

func releaseBody(id, orderID string) string {
	return fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q,"orderId":%q,"orderLineId":"%s-000001"}`, id, orderID, orderID)
}

// getRecord reads instance id of f's product: a SaaSTenant, or a License
// for a License product.
func (f *fixture) getRecord(t *testing.T, id string) client.Object {
	t.Helper()
	record := newSubscription(f.product).object
	NewWithT(t).Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, record)).To(Succeed())
	return record
}

func recordSpec(record client.Object) any {
	switch o := record.(type) {
	case *saasv1alpha1.SaaSTenant:
		return o.Spec
	case *saasv1alpha1.License:
		return o.Spec
	}
	return nil
}

// A saved debug case that names a real buyer's instance (the dial test
// replays saved cases twice a day) must never release, freeze, shorten or
// upgrade it: debug requests are processed against test data (spec §1.9).
func TestADebugCallbackLeavesAProductionInstanceAlone(t *testing.T) {
	callbacks := []struct {
		name string
		body func(id string) string
	}{
		{"releaseInstance", func(id string) string { return releaseBody(id, newOrderID()) }},
		{"updateInstanceStatus FREEZE", func(id string) string { return statusBody(id, "FREEZE") }},
		{"refreshInstance UNSUBSCRIBE_RENEWAL_PERIOD", func(id string) string {
			return refreshBody(id, newOrderID(), "UNSUBSCRIBE_RENEWAL_PERIOD", "20200101000000")
		}},
		{"refreshInstance RENEWAL", func(id string) string { return refreshBody(id, newOrderID(), "RENEWAL", "20990101000000") }},
		{"upgradeInstance", func(id string) string { return upgradeBody(id, newOrderID()) }},
	}
	for _, productType := range []saasv1alpha1.ProductType{saasv1alpha1.ProductTypeSaaS, saasv1alpha1.ProductTypeLicense} {
		f := newProductFixture(t, productType)
		for _, cb := range callbacks {
			t.Run(fmt.Sprintf("%s of a %s product", cb.name, productType), func(t *testing.T) {
				g := NewWithT(t)
				id, _ := f.buy(t)
				before := f.getRecord(t, id)

				a := f.call(t, asDebug(cb.body(id)))
				g.Expect(a.Code).To(Equal("000000"), a.Msg)

				after := f.getRecord(t, id)
				g.Expect(apiequality.Semantic.DeepEqual(recordSpec(after), recordSpec(before))).To(BeTrue(),
					"spec changed by a debug callback:\nbefore %+v\nafter  %+v", recordSpec(before), recordSpec(after))
				g.Expect(after.GetResourceVersion()).To(Equal(before.GetResourceVersion()))
				g.Eventually(func() []eventsv1.Event { return eventsAbout(t, id, saasv1alpha1.DebugRequestIgnoredReason) }).ShouldNot(BeEmpty())
			})
		}
		t.Run(fmt.Sprintf("a debug release of a %s product's debug instance", productType), func(t *testing.T) {
			g := NewWithT(t)
			a := f.call(t, newInstanceBody(newOrderID(), `"testFlag":"1"`))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)

			id := a.InstanceID
			a = f.call(t, asDebug(releaseBody(id, newOrderID())))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			record := newSubscription(f.product)
			g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, record.object)).To(Succeed())
			g.Expect(*record.state).To(Equal(saasv1alpha1.StateReleased))
		})
	}
}
