package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// The rollout reconciler runs here on a fake client, as in
// TestARevisionTheAPIServerRefusesIsReported: the manager's own would take
// the same steps in envtest, and what these tests count (each patch, each
// Event, each retry) would be shared with it.

// oldRevision is the revision the tenants of productWithANewImage run.
const oldRevision = "noise-old-revision"

// productWithANewImage is a product whose tenants (by name) all run
// oldRevision, healthy, the rollout complete on it, and whose spec now
// names a new image: its next step starts wave 1, of waveSize tenants in
// name order.
func productWithANewImage(name string, waveSize int32, tenants ...string) []client.Object {
	n := int32(len(tenants))
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 2},
		Spec: saasv1alpha1.SaaSProductSpec{Type: saasv1alpha1.ProductTypeSaaS, ProductID: "OFFINOISE", KeysSecretName: "keys",
			Workload: &saasv1alpha1.WorkloadTemplate{Image: "registry.example.com/crm:2.0"},
			Rollout:  &saasv1alpha1.RolloutPolicy{MaxUnavailableTenants: ptr.To(intstr.FromInt32(waveSize))}},
		Status: saasv1alpha1.SaaSProductStatus{
			Rollout: &saasv1alpha1.RolloutStatus{CurrentRevision: oldRevision, UpdateRevision: oldRevision, Wave: 1,
				State: saasv1alpha1.RolloutComplete, Tenants: n, UpdatedTenants: n, Progress: fmt.Sprintf("%d/%d", n, n)},
			Conditions: []metav1.Condition{{Type: saasv1alpha1.RolledOutCondition, Status: metav1.ConditionTrue,
				Reason: saasv1alpha1.SucceededReason, ObservedGeneration: 2, LastTransitionTime: metav1.Now()}},
		},
	}
	objs := []client.Object{product}
	for _, tenant := range tenants {
		objs = append(objs, &saasv1alpha1.SaaSTenant{
			ObjectMeta: metav1.ObjectMeta{Name: tenant},
			Spec:       saasv1alpha1.SaaSTenantSpec{ProductName: name},
			Status: saasv1alpha1.SaaSTenantStatus{Revision: oldRevision, Conditions: []metav1.Condition{{
				Type: saasv1alpha1.AvailableCondition, Status: metav1.ConditionTrue, Reason: "Available", LastTransitionTime: metav1.Now()}}},
		})
	}
	return objs
}

// rolloutOnFakeClient builds the rollout reconciler on a fake client
// holding objs: it writes through the client funcs intercept, and reads
// around the cache (Reader) from the fake client itself. It returns the
// fake client too, for a test's other writers and its checks.
func rolloutOnFakeClient(objs []client.Object, funcs func(base client.WithWatch) interceptor.Funcs) (*RolloutReconciler, client.WithWatch, *events.FakeRecorder, *clocktesting.FakeClock) {
	base := fake.NewClientBuilder().WithScheme(testEnv.Scheme).WithObjects(objs...).
		WithStatusSubresource(&saasv1alpha1.SaaSProduct{}, &saasv1alpha1.SaaSTenant{}).
		WithIndex(&saasv1alpha1.SaaSTenant{}, productNameIndex,
			func(obj client.Object) []string { return []string{obj.(*saasv1alpha1.SaaSTenant).Spec.ProductName} }).
		Build()
	c := interceptor.NewClient(base, funcs(base))
	recorder := events.NewFakeRecorder(100)
	clk := clocktesting.NewFakeClock(time.Now())
	r := &RolloutReconciler{Client: c, Reader: base, Recorder: recorder, Clock: clk, Namespace: operatorNamespace,
		tenants: productTenantsReader{consistent: c}}
	return r, base, recorder, clk
}

// isTenant reports whether obj is SaaSTenant name.
func isTenant(obj client.Object, name string) bool {
	_, ok := obj.(*saasv1alpha1.SaaSTenant)
	return ok && obj.GetName() == name
}

// rolledOutOf reads product's status.rollout and RolledOut from c.
func rolledOutOf(ctx context.Context, g Gomega, c client.Client, product string) (*saasv1alpha1.RolloutStatus, *metav1.Condition) {
	p := &saasv1alpha1.SaaSProduct{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: product}, p)).To(Succeed())
	g.Expect(p.Status.Rollout).NotTo(BeNil())
	cond := apimeta.FindStatusCondition(p.Status.Conditions, saasv1alpha1.RolledOutCondition)
	g.Expect(cond).NotTo(BeNil())
	return p.Status.Rollout, cond
}

// recorded adds the Events recorder holds to seen, and returns seen.
func recorded(recorder *events.FakeRecorder, seen []string) []string {
	for {
		select {
		case e := <-recorder.Events:
			seen = append(seen, e)
		default:
			return seen
		}
	}
}

// withReason are the Events of seen of type and reason.
func withReason(seen []string, eventType, reason string) []string {
	var out []string
	for _, e := range seen {
		if strings.HasPrefix(e, eventType+" "+reason+" ") {
			out = append(out, e)
		}
	}
	return out
}

// TestARolloutMarkThatMeetsAConflictIsRetried: a tenant touched by
// another writer (the receiver's renewal, the tenant or metering
// controller, a kubectl annotate) between the rollout's read and its mark
// made the mark's optimistic lock fail with 409, and the tenant counted as
// untold: RolledOut TenantsNotTold quoting "the object has been modified",
// a Warning Event and an error in the log, and, while the rest of the wave
// waited, the tenant was not marked again. A conflict is retried, reading
// the tenant from the API server (the cache may not show that write yet).
func TestARolloutMarkThatMeetsAConflictIsRetried(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const product, touched, other = "conflicted-mark", "conflicted-mark-a", "conflicted-mark-b"
	r, base, recorder, _ := rolloutOnFakeClient(productWithANewImage(product, 2, touched, other), func(base client.WithWatch) interceptor.Funcs {
		var cachedCopy *saasv1alpha1.SaaSTenant // the cache's copy, from before the other writer's
		return interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*saasv1alpha1.SaaSTenant); ok && cachedCopy != nil && key.Name == touched {
					cachedCopy.DeepCopyInto(obj.(*saasv1alpha1.SaaSTenant))
					return nil
				}
				return c.Get(ctx, key, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if cachedCopy == nil && isTenant(obj, touched) {
					cachedCopy = &saasv1alpha1.SaaSTenant{}
					if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cachedCopy); err != nil {
						return err
					}
					// Another writer's annotation lands between the read and the mark.
					fresh := cachedCopy.DeepCopy()
					metav1.SetMetaDataAnnotation(&fresh.ObjectMeta, "example.com/renewed", "yes")
					if err := base.Update(ctx, fresh); err != nil {
						return err
					}
					return apierrors.NewConflict(saasv1alpha1.GroupVersion.WithResource("saastenants").GroupResource(), touched,
						errors.New("the object has been modified; please apply your changes to the latest version and try again"))
				}
				return c.Patch(ctx, obj, patch, opts...)
			},
		}
	})

	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
	g.Expect(err).NotTo(HaveOccurred())
	s, cond := rolledOutOf(ctx, g, base, product)
	g.Expect(s.Wave).To(Equal(int32(1)))
	for _, name := range []string{touched, other} {
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(base.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
		g.Expect(tn.Annotations).To(HaveKeyWithValue(saasv1alpha1.RevisionAnnotation, s.UpdateRevision), name)
		g.Expect(tn.Annotations).To(HaveKeyWithValue(saasv1alpha1.RolloutWaveAnnotation, "1"), name)
	}
	tn := &saasv1alpha1.SaaSTenant{}
	g.Expect(base.Get(ctx, client.ObjectKey{Name: touched}, tn)).To(Succeed())
	g.Expect(tn.Annotations).To(HaveKeyWithValue("example.com/renewed", "yes"), "the other writer's change is kept")
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.ProgressingReason), cond.Message)
	g.Expect(withReason(recorded(recorder, nil), corev1.EventTypeWarning, saasv1alpha1.TenantsNotToldReason)).To(BeEmpty())
}

// TestAWaveOfOnlyRefusedTenantsDoesNotFlap: a wave whose every tenant the
// cluster refuses (a change freeze) is retried with back-off under its own
// number, and each retry flipped RolledOut to Progressing and back to
// TenantsNotTold in two status writes, moved status.rollout.waveStartTime
// to the retry's time, and raised a WaveStarted and a TenantsNotTold Event
// again. Retried, it writes nothing and says nothing new; the wave starts,
// its progress deadline counting, when the refusal ends and a tenant is
// told.
func TestAWaveOfOnlyRefusedTenantsDoesNotFlap(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const product, frozen, later = "refused-wave", "refused-wave-a", "refused-wave-b"
	refusing, statusWrites := true, 0
	r, base, recorder, clk := rolloutOnFakeClient(productWithANewImage(product, 1, frozen, later), func(client.WithWatch) interceptor.Funcs {
		return interceptor.Funcs{
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if refusing && isTenant(obj, frozen) {
					return apierrors.NewForbidden(saasv1alpha1.GroupVersion.WithResource("saastenants").GroupResource(), frozen,
						errors.New("ValidatingAdmissionPolicy 'freeze-revision' with binding 'freeze-revision' denied request: change freeze"))
				}
				return c.Patch(ctx, obj, patch, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				statusWrites++
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}
	})
	step := func() error {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: product}})
		return err
	}

	g.Expect(step()).To(MatchError(ContainSubstring("change freeze")))
	s, cond := rolledOutOf(ctx, g, base, product)
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.TenantsNotToldReason), cond.Message)
	g.Expect(s.Wave).To(Equal(int32(1)))
	g.Expect(s.WaveStartTime).NotTo(BeNil())
	started, firstWrites := s.WaveStartTime.Time, statusWrites

	for retry := range 3 {
		clk.Step(time.Minute) // the controller's back-off
		g.Expect(step()).To(MatchError(ContainSubstring("change freeze")), "retry %d", retry)
		s, cond := rolledOutOf(ctx, g, base, product)
		g.Expect(cond.Reason).To(Equal(saasv1alpha1.TenantsNotToldReason), "retry %d: %s", retry, cond.Message)
		g.Expect(s.Wave).To(Equal(int32(1)), "retry %d", retry)
		g.Expect(s.WaveStartTime.Time).To(BeTemporally("==", started), "retry %d: the wave told no tenant yet", retry)
	}
	g.Expect(statusWrites).To(Equal(firstWrites), "a retry that changes nothing writes nothing")
	seen := recorded(recorder, nil)
	g.Expect(withReason(seen, corev1.EventTypeNormal, saasv1alpha1.WaveStartedReason)).To(HaveLen(1), "%q", seen)
	g.Expect(withReason(seen, corev1.EventTypeWarning, saasv1alpha1.TenantsNotToldReason)).To(HaveLen(1), "%q", seen)

	// The freeze lifted, the retry tells the tenant: the wave starts now,
	// so its progress deadline is not spent on the freeze.
	refusing = false
	clk.Step(time.Minute)
	g.Expect(step()).To(Succeed())
	s, cond = rolledOutOf(ctx, g, base, product)
	g.Expect(cond.Reason).To(Equal(saasv1alpha1.ProgressingReason), cond.Message)
	g.Expect(s.Wave).To(Equal(int32(1)))
	g.Expect(s.WaveStartTime.Time).To(BeTemporally("~", clk.Now(), time.Second))
	g.Expect(toldIn(ctx, g, base, frozen)).To(Equal("1"))
	g.Expect(statusWrites).To(Equal(firstWrites+1), "the tell is recorded in one write")
	seen = recorded(recorder, seen)
	g.Expect(withReason(seen, corev1.EventTypeNormal, saasv1alpha1.WaveStartedReason)).To(HaveLen(1), "one WaveStarted for the wave: %q", seen)
}

// toldIn is the wave tenant was told its revision in, as c holds it.
func toldIn(ctx context.Context, g Gomega, c client.Client, tenant string) string {
	tn := &saasv1alpha1.SaaSTenant{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: tenant}, tn)).To(Succeed())
	return tn.Annotations[saasv1alpha1.RolloutWaveAnnotation]
}
