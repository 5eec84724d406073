package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/rollout"
)

// heldChartArchiveBytes is the chart archive a held revision carries in
// these tests: a chart Secret's largest, 1 MiB.
const heldChartArchiveBytes = 1 << 20

// heldTenant is a tenant of a chart product whose rollout holds it on an
// older revision, stored with its chart archive (the chart is kept in a
// Secret), while the product's spec and status.chart name a newer one.
type heldTenant struct {
	product *saasv1alpha1.SaaSProduct
	tenant  *saasv1alpha1.SaaSTenant
	// revision is the name of the revision the tenant is held on.
	revision string
}

// newHeldTenant makes a heldTenant of a product of its own (in memory
// only: selectRevision reads the product from the tenant's state) and
// stores its older revision under a name of its own.
func newHeldTenant() heldTenant {
	name := "held-" + string(uuid.NewUUID())[:8]
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: uuid.NewUUID()},
		Spec: saasv1alpha1.SaaSProductSpec{
			Type:  saasv1alpha1.ProductTypeSaaS,
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: name + "-chart"}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic", Values: &apiextensionsv1.JSON{Raw: []byte(`{"replicas":2}`)}}},
		},
		Status: saasv1alpha1.SaaSProductStatus{Chart: &saasv1alpha1.ResolvedChart{Digest: "sha256:" + hex.EncodeToString(make([]byte, 32))}},
	}
	revision := name + "-older"
	tenant := &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: "i-" + name, Annotations: map[string]string{saasv1alpha1.RevisionAnnotation: revision}},
		Spec:       saasv1alpha1.SaaSTenantSpec{ProductName: name},
		Status:     saasv1alpha1.SaaSTenantStatus{Revision: revision},
	}
	return heldTenant{product: product, tenant: tenant, revision: revision}
}

// heldRevisionContent is what a held revision holds: a chart archive of
// random bytes, its digest, and the plan's values.
type heldRevisionContent struct {
	archive []byte
	digest  string
	values  string
}

func newHeldRevisionContent(tb testing.TB, values string) heldRevisionContent {
	archive := make([]byte, heldChartArchiveBytes)
	if _, err := rand.Read(archive); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	return heldRevisionContent{archive: archive, digest: "sha256:" + hex.EncodeToString(sum[:]), values: values}
}

// store creates h's older revision with content c in kooper's namespace
// and waits until the manager's cache holds it (this one: a revision
// deleted and made again is in the cache under its new UID).
func (h heldTenant) store(ctx context.Context, tb testing.TB, c heldRevisionContent) *appsv1.ControllerRevision {
	tb.Helper()
	g := NewWithT(tb)
	cr, err := controllerRevision(h.product, operatorNamespace, h.revision, 1, rollout.Revision{
		Chart:         h.product.Spec.Chart,
		ResolvedChart: &saasv1alpha1.ResolvedChart{Digest: c.digest},
		PlanValues:    map[string]*apiextensionsv1.JSON{"basic": {Raw: []byte(c.values)}},
		ChartArchive:  c.archive,
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8sClient.Create(ctx, cr)).To(Succeed())
	g.Eventually(func(g Gomega) {
		cached := &appsv1.ControllerRevision{}
		g.Expect(cachedClient.Get(ctx, client.ObjectKeyFromObject(cr), cached)).To(Succeed())
		g.Expect(cached.UID).To(Equal(cr.UID))
	}).Should(Succeed())
	return cr
}

// pass runs selectRevision for h's tenant as a pass of it does, and
// returns the product as the pass is to work on it.
func (h heldTenant) pass(ctx context.Context, tb testing.TB, r *SaaSTenantReconciler) *saasv1alpha1.SaaSProduct {
	s := &tenantState{tenant: h.tenant, product: h.product}
	if o := r.selectRevision(ctx, s); o.kind != proceeding || s.revision != h.revision {
		tb.Fatalf("the pass of a held tenant: outcome %+v, revision %q, not %q", o, s.revision, h.revision)
	}
	return s.product
}

// heldTenantsReconciler is a tenant reconciler reading as Setup's does:
// through the manager's cache, around it when the cache does not have an
// object yet.
func heldTenantsReconciler() *SaaSTenantReconciler {
	return &SaaSTenantReconciler{Client: cachedClient, Reader: k8sClient, Charts: &Charts{},
		Options: TenantOptions{SecretNamespace: operatorNamespace}}
}

// BenchmarkAHeldTenantsRevisionPass measures what selecting its revision
// costs a pass of a tenant the rollout holds on an older revision of a
// chart product whose chart (1 MiB) comes from a Secret: every tenant not
// reached yet during a wave, every tenant of a paused rollout, all of them
// on a restart or a product edit. `go test ./controllers/ -run xxx -bench
// BenchmarkAHeldTenantsRevisionPass -benchmem -benchtime 50x`.
func BenchmarkAHeldTenantsRevisionPass(b *testing.B) {
	ctx := b.Context()
	h := newHeldTenant()
	cr := h.store(ctx, b, newHeldRevisionContent(b, `{"replicas":1}`))
	b.Cleanup(func() { _ = k8sClient.Delete(context.Background(), cr) })
	r := heldTenantsReconciler()
	h.pass(ctx, b, r) // the first pass of the revision decodes it
	b.ReportAllocs()
	for b.Loop() {
		h.pass(ctx, b, r)
	}
}

// A pass of a held tenant after the first costs far less than its
// revision's chart archive: the revision is not copied out of the cache,
// decoded and hashed again for each of the tenants it holds.
func TestAHeldTenantsPassAllocatesLessThanItsChart(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	h := newHeldTenant()
	cr := h.store(ctx, t, newHeldRevisionContent(t, `{"replicas":1}`))
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), cr) })
	r := heldTenantsReconciler()
	h.pass(ctx, t, r)
	result := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.pass(ctx, b, r)
		}
	})
	g.Expect(result.AllocedBytesPerOp()).To(BeNumerically("<", heldChartArchiveBytes/8),
		"bytes allocated by a pass of a held tenant (%s)", result.MemString())
}

// A revision deleted and made again under its name with other content
// (by hand, or by a rollout after the garbage collector took it) is read
// as it is now, not as it was remembered.
func TestARevisionRecreatedUnderItsNameIsDecodedAgain(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	h := newHeldTenant()
	r := heldTenantsReconciler()

	first := newHeldRevisionContent(t, `{"replicas":1}`)
	cr := h.store(ctx, t, first)
	for range 2 { // the second from memory
		p := h.pass(ctx, t, r)
		g.Expect(p.Status.Chart.Digest).To(Equal(first.digest))
		g.Expect(string(p.Spec.Plans[0].Values.Raw)).To(Equal(first.values))
	}

	g.Expect(k8sClient.Delete(ctx, cr)).To(Succeed())
	second := newHeldRevisionContent(t, `{"replicas":3}`)
	cr = h.store(ctx, t, second)
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), cr) })
	p := h.pass(ctx, t, r)
	g.Expect(p.Status.Chart.Digest).To(Equal(second.digest), "the chart of the revision as made again")
	g.Expect(string(p.Spec.Plans[0].Values.Raw)).To(Equal(second.values), "the values of the revision as made again")
	archive, err := r.Charts.Archive(ctx, k8sClient, operatorNamespace, p) // from memory: the chart Secret does not exist
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(archive.Bytes()).To(Equal(second.archive), "the chart archive of the revision as made again")
}
