package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Tests of a paused rollout and its revisions against the changes kooper
// or the API server make on their own: a new --gateway-image at a kooper
// upgrade, a schema default added to the CRD, and the garbage collector
// deleting a product's revisions.

// pausedUpgradeProduct is a product whose tenants (by name) all run
// oldRevision, healthy, the rollout complete on it, whose spec now names
// a new image, with an SSO gateway that names no image (kooper's
// --gateway-image is pinned into its revisions), in waves of one tenant
// with a ten-second progress deadline.
func pausedUpgradeProduct(name string, tenants ...string) []client.Object {
	objs := productWithANewImage(name, 1, tenants...)
	product := objs[0].(*saasv1alpha1.SaaSProduct)
	product.Spec.Workload.SSO = &saasv1alpha1.WorkloadSSO{Gateway: &saasv1alpha1.SSOGateway{}}
	product.Spec.Rollout.ProgressDeadlineSeconds = ptr.To(int32(10))
	return objs
}

// pauseFirstWave takes the rollout of product to a paused first wave:
// wave 1 tells the first tenant in name order, which never becomes
// healthy, and the deadline passes. It returns the status then recorded.
func pauseFirstWave(ctx context.Context, g Gomega, r *RolloutReconciler, c client.Client, advance func(time.Duration), product string) *saasv1alpha1.RolloutStatus {
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
	g.Expect(err).NotTo(HaveOccurred())
	s, _ := rolledOutOf(ctx, g, c, product)
	g.Expect(s.Wave).To(Equal(int32(1)))
	advance(11 * time.Second)
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
	g.Expect(err).NotTo(HaveOccurred())
	s, cond := rolledOutOf(ctx, g, c, product)
	g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused))
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.WaveFailedReason), cond.Message)
	return s
}

// toldAnything lists the tenants of names that c holds told a revision.
func toldAnything(ctx context.Context, g Gomega, c client.Client, names ...string) []string {
	var told []string
	for _, name := range names {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(c.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
		if _, ok := tn.Annotations[saasv1alpha1.RevisionAnnotation]; ok {
			told = append(told, name)
		}
	}
	return told
}

// TestAKooperUpgradeKeepsAPausedRolloutPaused: a product with an SSO
// gateway that names no image has kooper's --gateway-image pinned into its
// revisions, so a `helm upgrade` of kooper that changes the flag gave the
// product's revision a new name, which the rollout took for the merchant's
// new version: the pause ended, and the next step told the next wave of
// paying tenants to run the version the failed wave was down on. A
// paused rollout stays paused across it, across a later edit of the
// product that makes no new version, and across an upgrade that comes
// with such an edit; a new version from the merchant still starts a new
// rollout.
func TestAKooperUpgradeKeepsAPausedRolloutPaused(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const product, failed, second, third = "upgrade-paused", "upgrade-paused-a", "upgrade-paused-b", "upgrade-paused-c"
	r, base, recorder, clk := rolloutOnFakeClient(pausedUpgradeProduct(product, failed, second, third),
		func(client.WithWatch) interceptor.Funcs { return interceptor.Funcs{} })
	r.GatewayImage = "registry.example.com/kooper:1.0"
	step := func() {
		t.Helper()
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
		g.Expect(err).NotTo(HaveOccurred())
	}
	paused := pauseFirstWave(ctx, g, r, base, clk.Step, product)
	g.Expect(toldAnything(ctx, g, base, failed, second, third)).To(Equal([]string{failed}))
	told := toldRevisions(ctx, g, base, failed, second, third)

	// The kooper upgrade: a new --gateway-image. Each step after it, right
	// away and past the progress deadline, leaves the rollout paused and
	// tells no tenant anything.
	r.GatewayImage = "registry.example.com/kooper:1.1"
	for i := range 3 {
		step()
		s, cond := rolledOutOf(ctx, g, base, product)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused), "step %d: %s", i, cond.Message)
		g.Expect(cond.Reason).To(Equal(saasv1alpha1.WaveFailedReason), "step %d: %s", i, cond.Message)
		g.Expect(s.CurrentRevision).To(Equal(paused.CurrentRevision), "step %d: new buyers still get the version the others run", i)
		g.Expect(toldRevisions(ctx, g, base, failed, second, third)).To(Equal(told), "step %d", i)
		clk.Step(time.Minute)
	}
	g.Expect(withReason(recorded(recorder, nil), corev1.EventTypeNormal, saasv1alpha1.WaveStartedReason)).To(HaveLen(1), "wave 1 alone")

	// An edit that makes no new version leaves it paused too.
	changeFake(ctx, g, base, product, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Rollout.ProgressDeadlineSeconds = ptr.To(int32(20)) })
	step()
	s, cond := rolledOutOf(ctx, g, base, product)
	g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused), cond.Message)
	g.Expect(toldRevisions(ctx, g, base, failed, second, third)).To(Equal(told))

	// An upgrade that brings an edit of the product with it (products in
	// kooper's own Helm release) leaves it paused too.
	r.GatewayImage = "registry.example.com/kooper:1.2"
	changeFake(ctx, g, base, product, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Rollout.ProgressDeadlineSeconds = ptr.To(int32(30)) })
	step()
	s, cond = rolledOutOf(ctx, g, base, product)
	g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused), cond.Message)
	g.Expect(toldRevisions(ctx, g, base, failed, second, third)).To(Equal(told))

	// The merchant's new version starts a new rollout, from its first wave.
	changeFake(ctx, g, base, product, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.1" })
	step()
	s, cond = rolledOutOf(ctx, g, base, product)
	g.Expect(s.State).To(Equal(saasv1alpha1.RolloutRollingOut), cond.Message)
	g.Expect(s.Wave).To(Equal(int32(1)))
	g.Expect(toldAnything(ctx, g, base, failed, second, third)).To(Equal([]string{failed}), "the first tenant in name order, told the new version")
	tn := &saasv1alpha1.SaaSTenant{}
	g.Expect(base.Get(ctx, client.ObjectKey{Name: failed}, tn)).To(Succeed())
	g.Expect(tn.Annotations).To(HaveKeyWithValue(saasv1alpha1.RevisionAnnotation, s.UpdateRevision))
}

// TestASchemaDefaultAddedKeepsAPausedRolloutPaused: a kooper upgrade that
// adds a +kubebuilder:default inside spec.workload makes the API server
// return the field filled on every read, with no change of the product's
// generation: the revision kooper hashes from it gets a new name. (A
// revision's name is a hash of the product's spec as read, defaults
// filled in, so the names cannot ignore a default added later.) The
// rollout paused on the product's spec as it is stays paused.
func TestASchemaDefaultAddedKeepsAPausedRolloutPaused(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const product, failed, other = "default-paused", "default-paused-a", "default-paused-b"
	defaulted := false
	r, base, _, clk := rolloutOnFakeClient(pausedUpgradeProduct(product, failed, other), func(client.WithWatch) interceptor.Funcs {
		return interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			// The API server fills the new default in on read.
			if p, ok := obj.(*saasv1alpha1.SaaSProduct); ok && defaulted && p.Spec.Workload != nil && p.Spec.Workload.ImagePullPolicy == "" {
				p.Spec.Workload.ImagePullPolicy = corev1.PullIfNotPresent
			}
			return nil
		}}
	})
	pauseFirstWave(ctx, g, r, base, clk.Step, product)
	before := &saasv1alpha1.SaaSProduct{}
	g.Expect(base.Get(ctx, client.ObjectKey{Name: product}, before)).To(Succeed())
	told := toldRevisions(ctx, g, base, failed, other)

	defaulted = true
	for i := range 3 {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
		g.Expect(err).NotTo(HaveOccurred())
		s, cond := rolledOutOf(ctx, g, base, product)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused), "step %d: %s", i, cond.Message)
		g.Expect(toldRevisions(ctx, g, base, failed, other)).To(Equal(told), "step %d", i)
		clk.Step(time.Minute)
	}
	after := &saasv1alpha1.SaaSProduct{}
	g.Expect(base.Get(ctx, client.ObjectKey{Name: product}, after)).To(Succeed())
	g.Expect(after.Generation).To(Equal(before.Generation), "the product's spec as stored did not change")
}

// toldRevisions are the revision and wave each tenant of names that c
// holds was told, by name.
func toldRevisions(ctx context.Context, g Gomega, c client.Client, names ...string) map[string]string {
	told := map[string]string{}
	for _, name := range names {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(c.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
		told[name] = tn.Annotations[saasv1alpha1.RevisionAnnotation] + " wave " + tn.Annotations[saasv1alpha1.RolloutWaveAnnotation]
	}
	return told
}

// changeFake changes product's spec in the fake client c as the merchant
// would, with the new generation the API server would give it.
func changeFake(ctx context.Context, g Gomega, c client.Client, name string, change func(*saasv1alpha1.SaaSProduct)) {
	p := &saasv1alpha1.SaaSProduct{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: name}, p)).To(Succeed())
	change(p)
	p.Generation++
	g.Expect(c.Update(ctx, p)).To(Succeed())
	stored := &saasv1alpha1.SaaSProduct{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: name}, stored)).To(Succeed())
	g.Expect(stored.Generation).To(Equal(p.Generation), "the fake client keeps the generation given")
}

// TestARevisionLostWhileARolloutIsPausedKeepsTenantsOnTheirRevision: a
// product's revisions carry an owner reference to it, so `kubectl delete
// saasproduct --cascade=foreground` (or a GitOps prune in the foreground)
// has the garbage collector delete them at once, while the product itself
// waits for its tenants. A tenant whose revision was gone applied the
// product's newest instead: with the rollout paused on a bad version,
// every tenant moved onto it at once, outside any wave. A tenant that runs
// a revision no longer stored keeps the objects it runs and stalls,
// saying why, until the rollout tells it a revision.
func TestARevisionLostWhileARolloutIsPausedKeepsTenantsOnTheirRevision(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(1)), ProgressDeadlineSeconds: ptr.To(int32(10))}
	})
	var tenants []*saasv1alpha1.SaaSTenant
	for range 3 {
		tenants = append(tenants, readyTenant(t, product, "basic"))
	}
	allRolledOut(t, product.Name, 3)
	first, _ := rolloutOf(g, t, product.Name)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.0" })
	var wave1 []string
	g.Eventually(func(g Gomega) {
		wave1 = onImage(g, t, tenants, "registry.example.com/crm:2.0")
		g.Expect(wave1).To(HaveLen(1))
	}).Should(Succeed())
	restoreClockAfter(t)
	fakeClock.Step(11 * time.Second)
	poke(t, product)
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused))
	}).Should(Succeed())

	// The garbage collector deletes the revision the others run.
	old := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: first.CurrentRevision}}
	g.Expect(k8sClient.Delete(testContext(t), old)).To(Succeed())
	var others []*saasv1alpha1.SaaSTenant
	for _, tn := range tenants {
		if tn.Name != wave1[0] {
			others = append(others, tn)
			poke(t, tn) // any event reconciles them
		}
	}
	g.Consistently(func(g Gomega) {
		for _, tn := range others {
			got := &saasv1alpha1.SaaSTenant{}
			g.Expect(k8sClient.Get(testContext(t), client.ObjectKeyFromObject(tn), got)).To(Succeed())
			g.Expect(got.Status.Revision).To(Equal(first.CurrentRevision), tn.Name)
			g.Expect(imageOf(g, t, tn.Name)).To(Equal("registry.example.com/crm:1.0"), tn.Name)
		}
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused))
	}).WithTimeout(3 * time.Second).Should(Succeed())
	for _, tn := range others {
		eventuallyTenant(t, tn.Name, func(g Gomega, got *saasv1alpha1.SaaSTenant) {
			g.Expect(got.Annotations).To(HaveKey(saasv1alpha1.ReconcileRequestedAnnotation))
			stalled := apimeta.FindStatusCondition(got.Status.Conditions, saasv1alpha1.StalledCondition)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(saasv1alpha1.RevisionNotFoundReason), stalled.Message)
		})
	}
}
