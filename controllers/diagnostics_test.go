package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/rollout"
)

// Messages that tell a person what to do must name what helps: each test
// here pins a message that once pointed at a cause or fix that was wrong.

// A paused rollout goes on only for a new spec.rollout.resume, a new
// revision or completion: other changes of the product (a plan's
// resources, the deadline) leave it paused, so the message names only
// what makes a new revision (internal/rollout.RevisionOf).
func TestAPausedRolloutNamesOnlyWhatResumesIt(t *testing.T) {
	g := NewWithT(t)
	product := &saasv1alpha1.SaaSProduct{}
	setRolloutStatus(product, rollout.Decision{State: rollout.State{Update: "crm-abc", Wave: 2, Paused: true}, Failed: []string{"i-1"}})
	c := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition)
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Reason).To(Equal(saasv1alpha1.WaveFailedReason))
	g.Expect(c.Message).NotTo(ContainSubstring("change the product"))
	g.Expect(c.Message).To(ContainSubstring("set spec.rollout.resume to a new value, or change spec.workload, spec.chart or a chart plan's values (a new revision), to go on"))
	g.Expect(c.Message).To(HaveSuffix("not healthy: i-1"))
}

// statefulSetRender is an example render holding one StatefulSet "web"
// whose serviceName is service (a field no plan change may change, and
// kooper does not replace a StatefulSet for).
func statefulSetRender(sku, service string) planRender {
	d := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"serviceName": service},
	}}
	return planRender{skuCode: sku, objects: []*unstructured.Unstructured{d}}
}

// A plan change refused is one more problem of the plans, not the only
// one: a chart product whose plans also hold a quota the API server
// refuses keeps ResourcesRefused, with the refused change in the message,
// whether the chart was checked this pass or not; PlanChangeRefused is the
// reason only when nothing else is wrong.
func TestPlansValidKeepsAFreshProblemBesideARefusedPlanChange(t *testing.T) {
	chartProduct := func(quota string) *saasv1alpha1.SaaSProduct {
		return &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{
			Chart: &saasv1alpha1.ChartTemplate{SecretRef: &saasv1alpha1.ChartSecretRef{Name: "chart"}},
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic"},
				{SKUCode: "pro", Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(quota)}}},
		}}
	}
	renders := []planRender{statefulSetRender("basic", "a"), statefulSetRender("pro", "b")}
	const planChange = "plans basic and pro render StatefulSet/web spec.serviceName differently"
	plansValid := func(s *productState) metav1.Condition {
		r := &SaaSProductReconciler{}
		r.checkPlans(testContext(t), s)
		c := apimeta.FindStatusCondition(s.conds, saasv1alpha1.PlansValidCondition)
		if c == nil {
			t.Fatal("no PlansValid")
		}
		return *c
	}
	// withStored is product as a pass that checked the chart left it.
	withStored := func(product *saasv1alpha1.SaaSProduct) *saasv1alpha1.SaaSProduct {
		checked := &productState{product: product, chart: &saasv1alpha1.ResolvedChart{Digest: "sha256:1"}, planRenders: renders}
		product.Status.Conditions = []metav1.Condition{plansValid(checked)}
		product.Status.RefusedPlanChanges = checked.refusedPlanChanges
		return product
	}

	t.Run("the chart checked this pass", func(t *testing.T) {
		g := NewWithT(t)
		product := chartProduct("-1")
		c := plansValid(&productState{product: product, chart: &saasv1alpha1.ResolvedChart{Digest: "sha256:1"}, planRenders: renders})
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(saasv1alpha1.ResourcesRefusedReason))
		g.Expect(c.Message).To(And(ContainSubstring("plan pro: quota pods -1 is negative"), ContainSubstring(planChange)))
	})
	t.Run("the chart not checked this pass", func(t *testing.T) {
		g := NewWithT(t)
		product := withStored(chartProduct("1"))
		product.Spec.Plans[1].Quota[corev1.ResourcePods] = resource.MustParse("-1")
		c := plansValid(&productState{product: product})
		g.Expect(c.Reason).To(Equal(saasv1alpha1.ResourcesRefusedReason))
		g.Expect(c.Message).To(And(ContainSubstring("plan pro: quota pods -1 is negative"), ContainSubstring(planChange)))
	})
	t.Run("the fresh problem mended while the chart is not checked", func(t *testing.T) {
		g := NewWithT(t)
		product := withStored(chartProduct("-1"))
		product.Spec.Plans[1].Quota[corev1.ResourcePods] = resource.MustParse("1")
		c := plansValid(&productState{product: product})
		g.Expect(c.Reason).To(Equal(saasv1alpha1.PlanChangeRefusedReason))
		g.Expect(c.Message).To(HavePrefix(planChange))
		g.Expect(c.Message).NotTo(ContainSubstring("negative"))
	})
}

// A deleted tenant's TombstoneRecorded Event says how its later callbacks
// are answered: 000000 for most, but 000002 for changeInstanceCheck and
// getLicenseAsync, which need the instance live (webhook goneError).
func TestTheTombstoneEventSaysWhichCallbacksAreRefused(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	tenant := newTenant(t, product, "basic", withIssuedID)
	eventuallyTenant(t, tenant.Name, provisioned)
	g.Expect(k8sClient.Delete(testContext(t), tenant)).To(Succeed())
	expectEventSaying(t, tenant.Name, saasv1alpha1.TombstoneRecordedReason, "000002 for changeInstanceCheck and getLicenseAsync")
}

// A directory whose instance has no tenant is not kept for ever: it goes,
// with its users, after the unclaimed TTL; and an instanceId that is no
// object name can never have a tenant.
func TestADirectoryWaitingForItsInstanceSaysWhenItGoes(t *testing.T) {
	cases := []struct {
		name, instanceID string
		ttl              time.Duration
		want             []string
	}{
		{name: "an instance not bought yet", instanceID: fmt.Sprintf("i-later%d", tenantSeq.Add(1)), ttl: 720 * time.Hour,
			want: []string{"does not exist yet", "deleted with its users if no SaaSTenant comes within 720h0m0s of its creation (--directory-unclaimed-ttl)"}},
		{name: "no TTL", instanceID: fmt.Sprintf("i-later%d", tenantSeq.Add(1)),
			want: []string{"does not exist yet", "kept until it does (--directory-unclaimed-ttl 0)"}},
		{name: "an instanceId no tenant can have", instanceID: "Not_A_Name", ttl: time.Hour,
			want: []string{`instance "Not_A_Name" is not a valid object name, so no SaaSTenant can ever have it`,
				"deleted with its users 1h0m0s after its creation (--directory-unclaimed-ttl)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r, _ := unclaimedReconciler(tc.ttl, time.Now())
			d := &saasv1alpha1.SaaSDirectory{Spec: saasv1alpha1.SaaSDirectorySpec{InstanceID: tc.instanceID, ProductName: "crm"}}
			_, reason, msg, err := r.tenantTarget(testContext(t), d)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(reason).To(Equal(saasv1alpha1.WaitingForInstanceReason))
			for _, w := range tc.want {
				g.Expect(msg).To(ContainSubstring(w))
			}
		})
	}
}

// A package that funds no tenant yet says among which tenants it looks
// (those of its product, or with linkBy Customer of any), and one whose
// order names no buyer says it can never be linked.
func TestAWaitingPackageSaysWhichTenantsItCanFund(t *testing.T) {
	cases := []struct {
		name     string
		linkBy   saasv1alpha1.PackageLinkBy
		customer string
		want     string
	}{
		{name: "linkBy CustomerAndProduct", linkBy: saasv1alpha1.LinkByCustomerAndProduct, customer: "buyer",
			want: "The buyer has no pay-per-use tenant (chargingMode OnDemand) of SaaSProduct %q that is not released; the package will fund the next one"},
		{name: "linkBy Customer", linkBy: saasv1alpha1.LinkByCustomer, customer: "buyer",
			want: "The buyer has no pay-per-use tenant (chargingMode OnDemand) of any SaaSProduct (linkBy Customer) that is not released; the package will fund the next one"},
		{name: "no customerId", linkBy: saasv1alpha1.LinkByCustomer, customer: "",
			want: "Query Order named no buyer (customerId) for the package's order: it can be linked to no pay-per-use tenant, and funds none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
				p.Spec.Metering = &saasv1alpha1.MeteringSpec{Meters: []saasv1alpha1.Meter{{Name: "duration", Unit: "hour", Source: saasv1alpha1.MeterTenantHours}}}
				p.Spec.Packages = &saasv1alpha1.PackagesSpec{LinkBy: tc.linkBy}
				p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{SKUCode: "pkg-1.5h", Package: &saasv1alpha1.PackageTerms{Quota: "1.5"}})
			})
			customer := tc.customer
			if customer != "" {
				customer = fmt.Sprintf("buyer-%d", tenantSeq.Add(1))
			}
			pkg := newTenant(t, product, "pkg-1.5h", func(tn *saasv1alpha1.SaaSTenant) {
				marketplace.addOrderCharged(tn.Spec.OrderID, product.Spec.ProductID, "pkg-1.5h", "20991231235959", koogallery.ChargingOnDemandPackage)
				marketplace.setBuyer(tn.Spec.OrderID, customer, 0)
			})
			want := tc.want
			if tc.linkBy == saasv1alpha1.LinkByCustomerAndProduct {
				want = fmt.Sprintf(tc.want, product.Name)
			}
			waiting := eventuallyTenant(t, pkg.Name, hasCondition(saasv1alpha1.AvailableCondition, metav1.ConditionFalse, saasv1alpha1.WaitingForPayPerUseTenantReason))
			g.Expect(apimeta.FindStatusCondition(waiting.Status.Conditions, saasv1alpha1.AvailableCondition).Message).To(Equal(want))
		})
	}
}

// An order that cannot be resolved for want of the product's AK/SK says
// so by its reason (as KeysAvailable does on the product), not
// OrderQueryFailed, which docs/operations.md says passes once the
// marketplace answers again; it is still retried, as no watch of the keys
// Secret wakes the tenant.
func TestAnOrderWithoutKeysSaysWhichKeysAreMissing(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	incomplete := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: fmt.Sprintf("half-keys-%d", tenantSeq.Add(1))},
		Data:       map[string][]byte{saasv1alpha1.AccessKeyIDSecretKey: []byte("ak")},
	}
	g.Expect(k8sClient.Create(ctx, incomplete)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), incomplete) })
	cases := []struct {
		name, secret, wantReason string
	}{
		{name: "no keys Secret", secret: fmt.Sprintf("no-keys-%d", tenantSeq.Add(1)), wantReason: saasv1alpha1.KeysSecretNotFoundReason},
		{name: "no secretAccessKey", secret: incomplete.Name, wantReason: saasv1alpha1.KeysSecretIncompleteReason},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			product := &saasv1alpha1.SaaSProduct{Spec: saasv1alpha1.SaaSProductSpec{KeysSecretName: tc.secret}}
			_, _, err := marketplaceCredentials(ctx, k8sClient, operatorNamespace, product)
			g.Expect(err).To(HaveOccurred())
			var conds []metav1.Condition
			retried := recordOrderFailure(&conds, 1, time.Now(), err)
			g.Expect(apimeta.FindStatusCondition(conds, saasv1alpha1.OrderResolvedCondition).Reason).To(Equal(tc.wantReason))
			var paced *retryAfterError
			g.Expect(retried).To(And(HaveOccurred(), Not(BeAssignableToTypeOf(paced))), "retried on the rate limiter")
		})
	}
}
