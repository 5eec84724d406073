package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// freezeTenantRevision installs a ValidatingAdmissionPolicy, as a cluster's
// policy engine would for a customer under a change freeze, that refuses any
// update of SaaSTenant tenant changing its saas.kooper.io/revision
// annotation, with message. It returns once the API server enforces it, and
// a function that deletes it, as an administrator lifting the freeze would.
func freezeTenantRevision(t *testing.T, tenant, message string) (lift func()) {
	t.Helper()
	g := NewWithT(t)
	name := "freeze-revision-" + tenant
	annotation := saasv1alpha1.RevisionAnnotation
	lift = installDenyingPolicy(t, name,
		admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
				Resources: []string{"saastenants"}},
		},
		admissionregistrationv1.Validation{
			Expression: fmt.Sprintf(`object.metadata.name != %q || !has(object.metadata.annotations) || !(%q in object.metadata.annotations) ||
				(has(oldObject.metadata.annotations) && %q in oldObject.metadata.annotations &&
				 oldObject.metadata.annotations[%q] == object.metadata.annotations[%q])`,
				tenant, annotation, annotation, annotation, annotation),
			Message: message,
		})
	probe := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"probe"}}}`, annotation))
	g.Eventually(func() bool {
		err := k8sClient.Patch(testContext(t), &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}},
			client.RawPatch("application/merge-patch+json", probe), client.DryRunAll)
		return admissionRefusal(err)
	}).Should(BeTrue(), "the policy is enforced")
	return lift
}

// toldWave is the wave a tenant was told its revision in, "" if none.
func toldWave(g Gomega, t *testing.T, tenant string) string {
	tn := &saasv1alpha1.SaaSTenant{}
	g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant}, tn)).To(Succeed())
	return tn.Annotations[saasv1alpha1.RolloutWaveAnnotation]
}

// healthyOnNewRevision makes tenant's Deployment available once it runs
// image, as the Deployment controller would, and waits until the tenant
// reports product's newest revision, Available.
func healthyOnNewRevision(t *testing.T, product, tenant, image string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(imageOf(g, t, tenant)).To(Equal(image))
		markAvailableIfNot(t, g, "tenant-"+tenant)
		s, _ := rolloutOf(g, t, product)
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant}, tn)).To(Succeed())
		g.Expect(tn.Status.Revision).To(Equal(s.UpdateRevision))
		g.Expect(apimeta.IsStatusConditionTrue(tn.Status.Conditions, saasv1alpha1.AvailableCondition)).To(BeTrue())
	}).Should(Succeed())
}

// warningsNaming lists the notes of the Warning Events on object name that
// contain text.
func warningsNaming(g Gomega, t *testing.T, name, text string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, text) {
			notes = append(notes, e.Reason+": "+e.Note)
		}
	}
	return notes
}

// TestARolloutTellsTheOtherTenantsOfAWaveWhenTheClusterRefusesOne: a
// cluster policy refusing the revision annotation of one tenant (a change
// freeze for one customer) stopped the wave at that tenant: the tenants
// after it in name order were never told, and when it sorted first nobody
// was, Step picked the same tenants again and status.rollout.wave climbed
// on every retry, the refused tenant named only in the log. Now every
// other tenant of the wave is told, the refused one is named in RolledOut
// and a Warning Event, it is tried again with the next wave, and a wave of
// only refused tenants is retried with back-off under the same number;
// once the freeze is lifted the rollout completes.
func TestARolloutTellsTheOtherTenantsOfAWaveWhenTheClusterRefusesOne(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Rollout = &saasv1alpha1.RolloutPolicy{
			MaxUnavailableTenants: ptr.To(intstr.FromInt32(2)), ProgressDeadlineSeconds: ptr.To(int32(600))}
	})
	var names []string
	for range 3 {
		names = append(names, readyTenant(t, product, "basic").Name)
	}
	slices.Sort(names) // the order waves take them in
	frozen, others := names[0], names[1:]
	allRolledOut(t, product.Name, 3)
	const freeze = "change freeze: this customer's tenant is not updated until its audit ends"
	lift := freezeTenantRevision(t, frozen, freeze)

	const newImage = "registry.example.com/crm:2.0"
	changeProduct(t, product.Name, func(p *saasv1alpha1.SaaSProduct) { p.Spec.Workload.Image = newImage })
	// Wave 1 is the frozen tenant and the next: the next is told.
	g.Eventually(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(toldWave(g, t, others[0])).To(Equal("1"), "status.rollout.wave is %d", s.Wave)
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		_, c := rolloutOf(g, t, product.Name)
		g.Expect(c.Reason).To(Equal(saasv1alpha1.TenantsNotToldReason), c.Message)
		g.Expect(c.Message).To(ContainSubstring(frozen))
		// The policy is named; its message, which may quote the object, is not shown.
		g.Expect(c.Message).To(ContainSubstring("ValidatingAdmissionPolicy 'freeze-revision-" + frozen + "'"))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) []string { return warningsNaming(g, t, product.Name, frozen) }).
		Should(ContainElement(HavePrefix(saasv1alpha1.TenantsNotToldReason + ": ")))
	g.Consistently(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(1)), "the wave waits for its told tenant")
		g.Expect(c.Message).To(ContainSubstring(frozen), "the wave goes on: the tenant it could not tell is still named")
		g.Expect(toldWave(g, t, frozen)).To(BeEmpty())
	}).WithTimeout(2 * time.Second).Should(Succeed())

	// Wave 2 takes the frozen tenant again, with the last one.
	healthyOnNewRevision(t, product.Name, others[0], newImage)
	g.Eventually(func(g Gomega) { g.Expect(toldWave(g, t, others[1])).To(Equal("2")) }).Should(Succeed())

	// Wave 3 is the frozen tenant alone: retried, it keeps its number.
	healthyOnNewRevision(t, product.Name, others[1], newImage)
	g.Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(3)))
		g.Expect(c.Message).To(ContainSubstring(frozen))
	}).Should(Succeed())
	g.Consistently(func(g Gomega) {
		s, _ := rolloutOf(g, t, product.Name)
		g.Expect(s.Wave).To(Equal(int32(3)), "a wave retried is the same wave")
	}).WithTimeout(3 * time.Second).Should(Succeed())

	// The freeze lifted, the retry tells it, unprompted; healthy, the
	// rollout completes.
	lift()
	g.Eventually(func(g Gomega) { g.Expect(toldWave(g, t, frozen)).To(Equal("3")) }).WithTimeout(time.Minute).Should(Succeed())
	healthyOnNewRevision(t, product.Name, frozen, newImage)
	g.Eventually(func(g Gomega) {
		s, c := rolloutOf(g, t, product.Name)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(s.State).To(Equal(saasv1alpha1.RolloutComplete))
		g.Expect(s.Progress).To(Equal("3/3"))
	}).Should(Succeed())
}
