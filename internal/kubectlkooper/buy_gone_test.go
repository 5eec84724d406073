package kubectlkooper

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// buy of an order line whose debug tenant was deleted (its TTL, or by
// hand) fails at once and says why: the receiver answers the repeat 000000
// with the same instanceId and stores nothing (docs/lifecycle.md rule B),
// so no appInfo ever comes, and waiting out --timeout would only end in
// pointing to a tenant that is not there.
func TestBuyOfAGoneOrderLineSaysSoAtOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	product := newProduct(t, "buygone")

	done := make(chan result, 1)
	go func() {
		done <- kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGGONE1",
			"--poll-interval", "100ms", "--timeout", "30s")
	}()
	tenant := deliverTenant(t, product)
	var r result
	g.Eventually(done).Should(Receive(&r))
	g.Expect(r.code).To(Equal(ExitOK), r.output())

	// What the tenant controller's finalizer does when the tenant is
	// deleted: the tombstone, then the record goes.
	g.Expect(tombstone.Record(ctx, k8sClient, k8sClient, kooperNamespace, tenant.Name,
		tombstone.Entry{Product: product.Name, Kind: tombstone.KindTenant})).To(Succeed())
	g.Expect(k8sClient.Delete(ctx, tenant)).To(Succeed())
	g.Expect(k8sClient.Patch(ctx, tenant, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: tenant.Name}, &saasv1alpha1.SaaSTenant{}))
	}).Should(BeTrue())

	go func() {
		done <- kooper("buy", "--product", product.Name, "--receiver-url", receiverURL, "--order-id", "DEBUGGONE1",
			"--poll-interval", "100ms", "--timeout", "60s")
	}()
	g.Eventually(done).WithTimeout(15*time.Second).Should(Receive(&r), "fails well before --timeout 60s")
	g.Expect(r.code).To(Equal(ExitFailed), r.output())
	g.Expect(r.errOut).To(And(
		ContainSubstring("instance "+tenant.Name+" of order DEBUGGONE1 line DEBUGGONE1-1 was issued before and its SaaSTenant deleted"),
		ContainSubstring("never provisioned again"),
		ContainSubstring("buy without --order-id"),
	))
	g.Expect(r.out).To(MatchRegexp(`newInstance \(testFlag 1\) order DEBUGGONE1 line DEBUGGONE1-1: 000000 `))
	g.Expect(r.out).NotTo(Or(ContainSubstring("recorded"), ContainSubstring("queryInstance")))
	g.Expect(r.output()).NotTo(ContainSubstring("kubectl kooper describe"), "no tenant to describe")
	err := k8sClient.Get(ctx, types.NamespacedName{Name: tenant.Name}, &saasv1alpha1.SaaSTenant{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing provisioned again")
}
