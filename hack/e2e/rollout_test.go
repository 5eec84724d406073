package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localcluster"
	"github.com/kooper-io/kooper/internal/localstack"
)

// The product whose tenants the rollout step updates: a light copy of the
// sample product (no volume, so its tenants leave the local cluster's few
// volumes to the others), with a productId of its own.
const (
	rolloutProduct   = "crm-rollout"
	rolloutProductID = "E2EROLLOUT0000000001"
	rolloutTenants   = 10
	rolloutWave      = 3
)

// testRollout buys ten tenants, then gives the product a version whose
// pods never become Ready (an image tagged localcluster.NeverReadyImageTag,
// which the local cluster's kwok leaves unready: the test sets no failure
// by hand). The first wave of three tenants gets it and the rollout pauses
// at that wave's deadline, the other seven untouched; then a good version
// resumes it and reaches every tenant, in four waves. The ten tenants are
// left running: the later steps pass alongside them.
func testRollout(t *testing.T, e *env) {
	g := NewWithT(t)
	g.Expect(e.stack.CreateLightProduct(e.ctx, rolloutProduct, rolloutProductID, func(spec *saasv1alpha1.SaaSProductSpec) {
		spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(rolloutWave)), ProgressDeadlineSeconds: ptr.To[int32](20)}
	})).To(Succeed())

	url := strings.TrimSuffix(e.stack.ReceiverURL, localstack.Product) + rolloutProduct
	orders := make([]string, rolloutTenants)
	for i := range orders {
		orders[i] = orderID("rollout")
		out, err := e.stack.Sim(e.ctx, "new-instance", "--url", url, "--sim-url", e.stack.SimURL, "--order-id", orders[i],
			"--product-id", rolloutProductID, "--sku", basicSKU)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}
	var names []string
	g.Eventually(func(g Gomega) {
		names = names[:0]
		for _, order := range orders {
			tenant, err := e.stack.TenantForOrder(e.ctx, order)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tenant).NotTo(BeNil(), "no tenant for order %s", order)
			g.Expect(isReady(tenant)).To(BeTrue(), "tenant %s is not Ready", tenant.Name)
			names = append(names, tenant.Name)
		}
	}).Should(Succeed())
	slices.Sort(names)

	// Every tenant runs the first revision.
	oldImage := getRolloutProduct(g, e).Spec.Workload.Image
	repository := oldImage[:strings.LastIndex(oldImage, ":")]
	var oldRevision string
	generations := map[string]int64{}
	g.Eventually(func(g Gomega) {
		product := getRolloutProduct(g, e)
		g.Expect(product.Status.Rollout).NotTo(BeNil())
		oldRevision = product.Status.Rollout.CurrentRevision
		g.Expect(oldRevision).NotTo(BeEmpty())
		for _, name := range names {
			tenant := getTenant(g, e, name)
			g.Expect(tenant.Status.Revision).To(Equal(oldRevision), name)
			d := getDeployment(g, e, tenant.Status.Namespace)
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(oldImage), name)
			generations[name] = d.Generation
		}
	}).Should(Succeed())

	// The bad version: the first wave gets it, and the rollout pauses.
	badImage := repository + ":" + localcluster.NeverReadyImageTag
	setImage(g, e, badImage)
	var badRevision string
	g.Eventually(func(g Gomega) {
		product := getRolloutProduct(g, e)
		rollout := product.Status.Rollout
		g.Expect(rollout).NotTo(BeNil())
		g.Expect(rollout.UpdateRevision).NotTo(Equal(oldRevision))
		cond := apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(saasv1alpha1.WaveFailedReason), cond.Message)
		g.Expect(rollout.State).To(Equal(saasv1alpha1.RolloutPaused))
		g.Expect(rollout.Progress).To(Equal("0/10"))
		g.Expect(rollout.Wave).To(BeEquivalentTo(1))
		g.Expect(rollout.CurrentRevision).To(Equal(oldRevision))
		badRevision = rollout.UpdateRevision
	}).Should(Succeed())
	wave := expectPaused(g, e, names, badRevision, oldRevision, oldImage, badImage, generations)
	g.Expect(wave).To(HaveLen(rolloutWave))
	g.Eventually(func(g Gomega) {
		list := &eventsv1.EventList{}
		g.Expect(e.stack.Client.List(e.ctx, list)).To(Succeed())
		g.Expect(list.Items).To(ContainElement(And(
			HaveField("Regarding.Name", rolloutProduct),
			HaveField("Reason", saasv1alpha1.WaveFailedReason),
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Note", And(ContainSubstring(badRevision), ContainSubstring(wave[0]), ContainSubstring(wave[1]), ContainSubstring(wave[2]))),
		)))
	}).Should(Succeed())
	out, err := e.stack.Kubectl(e.ctx, "get", "saasproduct", rolloutProduct)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`(?m)^` + rolloutProduct + `\s.*\s0/10\s+Paused\s`))
	// Paused, it stays so: no other tenant is told to update.
	g.Consistently(func(g Gomega) {
		g.Expect(getRolloutProduct(g, e).Status.Rollout.State).To(Equal(saasv1alpha1.RolloutPaused))
		g.Expect(expectPaused(g, e, names, badRevision, oldRevision, oldImage, badImage, generations)).To(Equal(wave))
	}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())

	// A good version resumes the rollout, and it reaches every tenant.
	goodImage := repository + ":rollout-good"
	setImage(g, e, goodImage)
	g.Eventually(func(g Gomega) {
		product := getRolloutProduct(g, e)
		rollout := product.Status.Rollout
		g.Expect(rollout).NotTo(BeNil())
		g.Expect(apimeta.IsStatusConditionTrue(product.Status.Conditions, saasv1alpha1.RolledOutCondition)).To(BeTrue(),
			"RolledOut: %v", apimeta.FindStatusCondition(product.Status.Conditions, saasv1alpha1.RolledOutCondition))
		g.Expect(rollout.UpdateRevision).NotTo(BeElementOf(oldRevision, badRevision))
		g.Expect(rollout.CurrentRevision).To(Equal(rollout.UpdateRevision))
		g.Expect(rollout.Progress).To(Equal("10/10"))
		g.Expect(rollout.State).To(Equal(saasv1alpha1.RolloutComplete))
		g.Expect(rollout.Wave).To(BeEquivalentTo(4), "not in waves of %d", rolloutWave) // 3+3+3+1
		for _, name := range names {
			tenant := getTenant(g, e, name)
			g.Expect(isReady(tenant)).To(BeTrue(), name)
			g.Expect(tenant.Status.Revision).To(Equal(rollout.UpdateRevision), name)
			d := getDeployment(g, e, tenant.Status.Namespace)
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(goodImage), name)
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation), name)
			g.Expect(d.Status.UpdatedReplicas).To(BeEquivalentTo(1), name)
			g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1), name)
		}
	}).WithTimeout(3 * time.Minute).Should(Succeed())
}

// expectPaused checks the tenants of a rollout paused on its first wave
// to revision bad: the wave's tenants are told to run it and their
// Deployments have badImage, with a pod that is not Ready; every other
// tenant runs revision old, Ready, its Deployment unchanged since
// generations were read. It returns the wave's tenants, sorted.
func expectPaused(g Gomega, e *env, names []string, bad, old, oldImage, badImage string, generations map[string]int64) []string {
	var wave []string
	for _, name := range names {
		tenant := getTenant(g, e, name)
		d := getDeployment(g, e, tenant.Status.Namespace)
		image := d.Spec.Template.Spec.Containers[0].Image
		if tenant.Annotations[saasv1alpha1.RevisionAnnotation] == "" {
			g.Expect(tenant.Status.Revision).To(Equal(old), name)
			g.Expect(isReady(tenant)).To(BeTrue(), name)
			g.Expect(image).To(Equal(oldImage), name)
			g.Expect(d.Generation).To(Equal(generations[name]), "tenant %s's Deployment changed", name)
			g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(1), name)
			continue
		}
		wave = append(wave, name)
		g.Expect(tenant.Annotations).To(HaveKeyWithValue(saasv1alpha1.RevisionAnnotation, bad), name)
		g.Expect(tenant.Annotations).To(HaveKeyWithValue(saasv1alpha1.RolloutWaveAnnotation, "1"), name)
		g.Expect(apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.AvailableCondition)).To(BeFalse(), name)
		g.Expect(image).To(Equal(badImage), name)
		// kwok left the new version's pod unready: nobody set that by hand.
		pods := &corev1.PodList{}
		g.Expect(e.stack.Client.List(e.ctx, pods, client.InNamespace(tenant.Status.Namespace))).To(Succeed())
		g.Expect(pods.Items).To(ContainElement(And(
			HaveField("Spec.Containers", ContainElement(HaveField("Image", badImage))),
			WithTransform(podReady, BeFalse()),
		)), "tenant %s has no unready pod of %s", name, badImage)
	}
	return wave
}

func podReady(pod corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func getRolloutProduct(g Gomega, e *env) *saasv1alpha1.SaaSProduct {
	product := &saasv1alpha1.SaaSProduct{}
	g.Expect(e.stack.Client.Get(e.ctx, client.ObjectKey{Name: rolloutProduct}, product)).To(Succeed())
	return product
}

// setImage gives the rollout product's workload image, as a merchant
// releasing a new version of the app does.
func setImage(g Gomega, e *env, image string) {
	product := getRolloutProduct(g, e)
	patch := client.MergeFrom(product.DeepCopy())
	product.Spec.Workload.Image = image
	g.Expect(e.stack.Client.Patch(e.ctx, product, patch)).To(Succeed())
}
