package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// metadataLists counts the lists of object metadata sent to the API
// server: the tenant reconciler sends them only to rebuild an inventory
// (recoverInventory).
type metadataLists struct {
	client.Reader
	lists atomic.Int32
}

func (m *metadataLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*metav1.PartialObjectMetadataList); ok {
		m.lists.Add(1)
	}
	return m.Reader.List(ctx, list, opts...)
}

// A tenant with no inventory recorded whose namespace held nothing of the
// kinds a release removes (a simulated debug tenant runs no workload) was
// remembered by UID when it was released or deleted (foundNothing), and
// only a later pass of the tenant forgot it: a deleted tenant has none, so
// the tenant controller kept an entry for each such tenant deleted, by
// hand or by its debug TTL, for the life of the leader. Nothing is kept of
// a tenant once it is gone. It runs on a control plane of its own, with a
// tenant controller whose memory the test reads.
func TestADeletedTenantLeavesNothingInFoundNothing(t *testing.T) {
	mgr, c := ownManager(t, ownControlPlane(t))
	reader := &metadataLists{Reader: mgr.GetAPIReader()}
	r := &SaaSTenantReconciler{
		Client: mgr.GetClient(), Reader: reader, Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("kooper-saastenant"), Clock: clocktesting.NewFakeClock(time.Now()),
		Orders:  MarketplaceOrderClients(marketplace.server.URL),
		Options: TenantOptions{SecretNamespace: operatorNamespace, IngressNamespace: "ingress-nginx", FieldOwner: fieldOwner},
	}
	NewWithT(t).Expect(r.SetupWithManager(mgr)).To(Succeed())
	startOwnManager(t, mgr)

	remembered := func(tenant *saasv1alpha1.SaaSTenant) bool {
		_, ok := r.foundNothing.byUID.Load(tenant.UID)
		return ok
	}
	for _, tc := range []struct {
		name string
		// beforeDeletion brings the ready tenant to where it is deleted.
		beforeDeletion func(g *WithT, tenant *saasv1alpha1.SaaSTenant)
		// rebuildsOnDeletion: no release is recorded, so the deletion
		// looks for an inventory to rebuild, and finds nothing.
		rebuildsOnDeletion bool
	}{
		{"deleted", func(*WithT, *saasv1alpha1.SaaSTenant) {}, true},
		{"released, then deleted", func(g *WithT, tenant *saasv1alpha1.SaaSTenant) {
			g.Eventually(func() error {
				tn := &saasv1alpha1.SaaSTenant{}
				if err := c.Get(testContext(t), client.ObjectKeyFromObject(tenant), tn); err != nil {
					return err
				}
				tn.Spec.State = saasv1alpha1.StateReleased
				return c.Update(testContext(t), tn)
			}).Should(Succeed())
			g.Eventually(func(g Gomega) {
				tn := &saasv1alpha1.SaaSTenant{}
				g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(tenant), tn)).To(Succeed())
				g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.ReleasedCondition)).To(BeTrue())
			}).Should(Succeed())
			g.Expect(remembered(tenant)).To(BeTrue(), "the release found nothing, and remembers it while the tenant lives")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProductIn(t, c, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Debug = &saasv1alpha1.DebugPolicy{Handling: saasv1alpha1.DebugSimulate, SKUCode: "basic"}
			})
			tenant := newTenantIn(t, c, product, "basic", func(tn *saasv1alpha1.SaaSTenant) { tn.Spec.Mode = saasv1alpha1.ModeDebug })
			g.Eventually(func(g Gomega) {
				g.Expect(c.Get(testContext(t), client.ObjectKeyFromObject(tenant), tenant)).To(Succeed())
				g.Expect(tenant.Status.Namespace).NotTo(BeEmpty())
				g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.ReadyCondition)).To(BeTrue())
			}).Should(Succeed())
			g.Expect(tenant.Status.Inventory).To(BeNil(), "a simulated debug tenant records no inventory")
			tc.beforeDeletion(g, tenant)

			listed := reader.lists.Load()
			g.Expect(c.Delete(testContext(t), tenant)).To(Succeed())
			g.Eventually(func() bool {
				return apierrors.IsNotFound(c.Get(testContext(t), client.ObjectKeyFromObject(tenant), &saasv1alpha1.SaaSTenant{}))
			}).Should(BeTrue(), "the tenant goes")
			if tc.rebuildsOnDeletion {
				g.Expect(reader.lists.Load()).To(BeNumerically(">", listed), "the deletion looked for an inventory to rebuild")
			}
			g.Expect(remembered(tenant)).To(BeFalse(), "nothing is kept of tenant %s once it is gone", tenant.UID)
		})
	}
}
