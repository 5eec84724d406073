package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// imageOf is the image of a tenant's app Deployment.
func imageOf(g Gomega, t *testing.T, tenant string) string {
	d := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: "tenant-" + tenant, Name: tenantobjects.AppName}, d)).To(Succeed())
	return d.Spec.Template.Spec.Containers[0].Image
}

// rolloutOf reads the product's rollout status and RolledOut condition.
func rolloutOf(g Gomega, t *testing.T, name string) (*saasv1alpha1.RolloutStatus, *metav1.Condition) {
	p := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, p)).To(Succeed())
	g.Expect(p.Status.Rollout).NotTo(BeNil())
	return p.Status.Rollout, apimeta.FindStatusCondition(p.Status.Conditions, saasv1alpha1.RolledOutCondition)
}

// allRolledOut waits for product's rollout to have its n tenants on its
// newest revision, healthy (RolledOut True).
func allRolledOut(t *testing.T, product string, n int) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.Progress).To(Equal(fmt.Sprintf("%d/%d", n, n)))
	}).Should(Succeed())
}

// onImage lists the tenants whose Deployment runs image.
func onImage(g Gomega, t *testing.T, tenants []*saasv1alpha1.SaaSTenant, image string) []string {
	var names []string
	for _, tn := range tenants {
		if imageOf(g, t, tn.Name) == image {
			names = append(names, tn.Name)
		}
	}
	slices.Sort(names)
	return names
}

// A new image reaches a product's tenants in waves of maxUnavailableTenants.
// A wave whose tenants do not become available within the progress deadline
// pauses the rollout, with a condition and an Event, and the remaining
// tenants keep the old image, as does a tenant bought meanwhile; resuming
// starts the next wave, and with healthy tenants the rollout completes.
func TestANewImageRollsOutInWavesAndPausesOnAFailedWave(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(2)), ProgressDeadlineSeconds: ptr.To(int32(10))}
	})
	var tenants []*saasv1alpha1.SaaSTenant
	for range 5 {
		tenants = append(tenants, readyTenant(t, product, "basic"))
	}
	allRolledOut(t, product.Name, 5)
	first, _ := rolloutOf(g, t, product.Name)

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = "registry.example.com/crm:2.0" })
	var wave1 []string
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(1)))
		wave1 = onImage(g, t, tenants, "registry.example.com/crm:2.0")
		g.Expect(wave1).To(HaveLen(2))
	}).Should(Succeed())

	// Nothing makes the new pods available: past the deadline the wave
	// fails and pauses.
	restoreClockAfter(t)
	fakeClock.Step(11 * time.Second)
	poke(t, product)
	g.Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutPaused))
		g.Expect(c.Reason).To(Equal(saasv1alpha1.WaveFailedReason))
		g.Expect(c.Message).To(ContainSubstring(wave1[0]))
		g.Expect(s.CurrentRevision).To(Equal(first.CurrentRevision), "no wave was healthy on the new revision")
	}).Should(Succeed())
	expectEventSaying(t, product.Name, saasv1alpha1.WaveFailedReason, wave1[0])
	g.Consistently(func(g Gomega) {
		g.Expect(onImage(g, t, tenants, "registry.example.com/crm:2.0")).To(Equal(wave1), "the rest stay on 1.0")
	}).Should(Succeed())

	// A tenant bought while the rollout is paused gets the version the
	// rollout has reached: still 1.0.
	late := newTenant(t, product, "basic", nil)
	got := eventuallyTenant(t, late.Name, provisioned)
	g.Expect(got.Status.Revision).To(Equal(first.CurrentRevision))
	g.Expect(imageOf(g, t, late.Name)).To(Equal("registry.example.com/crm:1.0"))
	tenants = append(tenants, late)

	// Resumed, the next wave starts; made available, every wave passes.
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Rollout.Resume = "after-review" })
	g.Eventually(func(g Gomega) {
		for _, name := range onImage(g, t, tenants, "registry.example.com/crm:2.0") {
			markAvailableIfNot(t, g, "tenant-"+name)
		}
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutComplete))
		g.Expect(s.CurrentRevision).To(Equal(s.UpdateRevision))
		g.Expect(s.Progress).To(Equal("6/6"))
	}).WithTimeout(time.Minute).Should(Succeed())
	g.Expect(onImage(g, t, tenants, "registry.example.com/crm:1.0")).To(BeEmpty())
	expectEvent(t, product.Name, corev1.EventTypeNormal, saasv1alpha1.RolloutResumedReason)
	expectEventSaying(t, product.Name, saasv1alpha1.WaveStartedReason, "Wave 2")
	expectEvent(t, product.Name, corev1.EventTypeNormal, saasv1alpha1.RolloutCompleteReason)

	// Once complete, the first revision no tenant runs any more is deleted;
	// an edit of the policy alone (no new revision) says nothing again.
	final, _ := rolloutOf(g, t, product.Name)
	g.Eventually(func(g Gomega) []string {
		var revisions appsv1.ControllerRevisionList
		g.Expect(k8sClient.List(testContext(t), &revisions, client.InNamespace(operatorNamespace),
			client.MatchingLabels{saasv1alpha1.ProductLabel: product.Name})).To(Succeed())
		var names []string
		for _, cr := range revisions.Items {
			names = append(names, cr.Name)
		}
		return names
	}).Should(ConsistOf(final.UpdateRevision))
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Rollout.ProgressDeadlineSeconds = ptr.To(int32(11)) })
	g.Consistently(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
		complete := 0
		for _, e := range list.Items {
			if e.Regarding.Name == product.Name && e.Reason == saasv1alpha1.RolloutCompleteReason {
				complete++
				if e.Series != nil {
					complete += int(e.Series.Count) - 1
				}
			}
		}
		g.Expect(complete).To(Equal(1), "one Event per rollout")
	}).WithTimeout(2 * time.Second).Should(Succeed())
}

// markAvailableIfNot marks a Deployment whose status lags its spec rolled
// out, as the Deployment controller would once its pods were ready.
func markAvailableIfNot(t *testing.T, g Gomega, namespace string) {
	d := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: namespace, Name: tenantobjects.AppName}, d)).To(Succeed())
	if d.Status.ObservedGeneration < d.Generation {
		rolledOut(d)
		g.Expect(k8sClient.Status().Update(testContext(t), d)).To(Succeed())
	}
}

// A chart product's new values reach its tenants in waves too: the tenant
// the rollout has not reached keeps rendering the revision it runs, plan
// values included, even when reconciled again.
func TestNewChartValuesRollOutInWavesAndTheRestKeepTheirRevision(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(1)), ProgressDeadlineSeconds: ptr.To(int32(10))}
	})
	resolveChart(t, product.Name, digest)
	first := newTenant(t, product, "pro", nil)
	second := newTenant(t, product, "pro", nil)
	webImage := func(g Gomega, id string) string {
		d := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: "tenant-" + id, Name: id + "-web"}, d)).To(Succeed())
		return d.Spec.Template.Spec.Containers[0].Image
	}
	for _, id := range []string{first.Name, second.Name} {
		g.Eventually(func(g Gomega) { g.Expect(webImage(g, id)).To(Equal("registry.example.com/crm:1.2.0")) }).Should(Succeed())
	}
	var before *saasv1alpha1.RolloutStatus
	g.Eventually(func(g Gomega) {
		before, _ = rolloutOf(g, t, product.Name)
		g.Expect(before.Tenants).To(Equal(int32(2)))
	}).Should(Succeed())

	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(`{"image":"registry.example.com/crm:2.0.0","report":{"enabled":true},"files":{"enabled":true}}`)
	})
	g.Eventually(func(g Gomega) {
		g.Expect(webImage(g, first.Name)).To(Equal("registry.example.com/crm:2.0.0"), "the first wave (name order)")
	}).Should(Succeed())
	// The second tenant, reconciled again, stays on its revision: the old
	// values, and its plan's three web replicas.
	poke(t, second)
	kept := eventuallyTenant(t, second.Name, func(g Gomega, tn *saasv1alpha1.SaaSTenant) {
		g.Expect(tn.Annotations).To(HaveKey(saasv1alpha1.ReconcileRequestedAnnotation))
		g.Expect(tn.Status.ObservedGeneration).To(Equal(tn.Generation))
	})
	g.Expect(kept.Status.Revision).To(Equal(before.CurrentRevision))
	g.Consistently(func(g Gomega) { g.Expect(webImage(g, second.Name)).To(Equal("registry.example.com/crm:1.2.0")) }).WithTimeout(2 * time.Second).Should(Succeed())
	d := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Namespace: "tenant-" + second.Name, Name: second.Name + "-web"}, d)).To(Succeed())
	g.Expect(ptr.Deref(d.Spec.Replicas, 0)).To(Equal(int32(3)))
	after, _ := rolloutOf(g, t, product.Name)
	g.Expect(after.UpdateRevision).NotTo(Equal(before.CurrentRevision))
	var revisions appsv1.ControllerRevisionList
	g.Expect(k8sClient.List(testContext(t), &revisions, client.InNamespace(operatorNamespace),
		client.MatchingLabels{saasv1alpha1.ProductLabel: product.Name})).To(Succeed())
	g.Expect(revisions.Items).To(HaveLen(2), "the revision each tenant runs")
	g.Expect(revisions.Items[0].OwnerReferences).To(ConsistOf(HaveField("Name", product.Name)), "they go with the product")
}

// A Deployment is available as kstatus judges it: not while a new
// ReplicaSet's pods are not ready and the old one still serves (the input:
// a new image whose pods never become ready counted as available, so a
// rollout wave passed on the old pods' health).
func TestDeploymentAvailableAsKstatusJudgesIt(t *testing.T) {
	rolled := func(change func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1))}}
		d.Generation = 2
		rolledOut(d)
		if change != nil {
			change(d)
		}
		return d
	}
	cases := []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"rolled out", rolled(nil), true},
		{"scaled to zero (frozen)", rolled(func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To(int32(0))
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0, 0, 0
		}), true},
		{"a new spec not observed yet", rolled(func(d *appsv1.Deployment) { d.Generation = 3 }), false},
		{"the new pod not ready, the old one serving", rolled(func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 1, 1, 1
		}), false},
		{"its progress deadline exceeded", rolled(func(d *appsv1.Deployment) {
			d.Status.Conditions[0].Status, d.Status.Conditions[0].Reason = corev1.ConditionFalse, "ProgressDeadlineExceeded"
		}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, msg := deploymentAvailable(c.d, true); got != c.want {
				t.Fatalf("available %v (%s), want %v", got, msg, c.want)
			}
		})
	}
	if got, _ := deploymentAvailable(nil, false); got {
		t.Fatal("a Deployment not created is not available")
	}
}

// A cached copy counts for a tenant's health only once it carries the hash
// of this reconcile's apply: a copy from before the apply would report the
// old version's health (a wave passed on it).
func TestACachedCopyFromBeforeTheApplyDoesNotCount(t *testing.T) {
	s := &tenantState{appliedHashes: map[string]string{"Deployment/app": "new"}}
	copyWith := func(hash string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
		if hash != "" {
			d.Annotations = map[string]string{saasv1alpha1.LastAppliedHashAnnotation: hash}
		}
		return d
	}
	cases := []struct {
		name string
		obj  *appsv1.Deployment
		kind string
		want bool
	}{
		{"the copy from before the apply", copyWith("old"), "Deployment", false},
		{"the copy of the apply", copyWith("new"), "Deployment", true},
		{"an object applied before kooper recorded hashes", copyWith(""), "Deployment", true},
		{"an object this reconcile did not apply", copyWith("old"), "StatefulSet", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := s.observedApplied(c.kind, c.obj); got != c.want {
				t.Fatalf("observedApplied = %v, want %v", got, c.want)
			}
		})
	}
}
