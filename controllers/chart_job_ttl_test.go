package controllers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// ttlJobValues are the test chart's values with one more Job, seed, which
// asks Kubernetes to delete it the moment it finishes
// (ttlSecondsAfterFinished: 0), as many charts' hook Jobs do.
const ttlJobValues = `{"report":{"enabled":true},"files":{"enabled":true},"extraObjects":[
	{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"seed"},"spec":{"ttlSecondsAfterFinished":0,
	 "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"seed","image":"registry.example.com/crm:1.2.0"}]}}}}]}`

// completeJob marks a Job succeeded, as the Job controller (which envtest
// lacks) reports it.
func completeJob(j *batchv1.Job) {
	now := metav1.Now()
	j.Status.StartTime, j.Status.CompletionTime = &now, &now
	j.Status.Succeeded = 1
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
}

// expireFinishedJobs plays Kubernetes' TTL-after-finished controller,
// which envtest runs none of: it deletes every finished Job of namespace
// whose spec.ttlSecondsAfterFinished has run out, its pods in the
// background.
func expireFinishedJobs(t *testing.T, namespace string) {
	t.Helper()
	g := NewWithT(t)
	jobs := &batchv1.JobList{}
	g.Expect(k8sClient.List(testContext(t), jobs, client.InNamespace(namespace))).To(Succeed())
	for i := range jobs.Items {
		j := &jobs.Items[i]
		finished := finishedAt(j)
		if j.Spec.TTLSecondsAfterFinished == nil || finished == nil ||
			time.Now().Before(finished.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished)*time.Second)) {
			continue
		}
		err := k8sClient.Delete(testContext(t), j, client.PropagationPolicy(metav1.DeletePropagationBackground))
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
	}
}

// finishedAt is when j completed or failed; nil while it runs.
func finishedAt(j *batchv1.Job) *time.Time {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &c.LastTransitionTime.Time
		}
	}
	return nil
}

// A chart Job that asks to be deleted once finished (a hook Job with
// ttlSecondsAfterFinished) was deleted by Kubernetes, and kooper, finding
// the Job of its render and inventory missing, created it again: it ran
// again, was deleted again, for ever (with TTL 0, in a tight loop), and the
// tenant's Available and Ready flipped each time. kooper applies a chart's
// Jobs without the TTL: a finished Job stays, complete, and runs once.
func TestAChartJobWithATTLRunsOnceAndTheTenantStaysReady(t *testing.T) {
	g := NewWithT(t)
	_, tenant := newChartTenant(t, "basic", func(p *saasv1alpha1.SaaSProduct) {
		p.Spec.Chart.Values = jsonValues(ttlJobValues)
	})
	id, ns := tenant.Spec.InstanceID, "tenant-"+tenant.Name
	makeChartCurrent(t, ns, id)
	writeStatus(t, &batchv1.Job{}, ns, "seed", completeJob)
	ready := hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason)
	eventuallyTenant(t, tenant.Name, ready)
	first := getObject(t, &batchv1.Job{}, ns, "seed").UID
	written := jobWrites(tenant.Name)
	g.Expect(written).To(ContainElement(HaveSuffix("/jobs")), "the Jobs were created")

	expireFinishedJobs(t, ns)
	poke(t, tenant) // whatever the delete queues, a pass runs
	seedUID := func() types.UID {
		j := &batchv1.Job{}
		if err := k8sClient.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: "seed"}, j); apierrors.IsNotFound(err) {
			return "deleted"
		}
		return j.UID
	}
	g.Consistently(func(g Gomega) {
		expireFinishedJobs(t, ns)
		g.Expect(seedUID()).To(Equal(first), "the finished Job seed was deleted, or created again (a new UID), to run again")
		tn := &saasv1alpha1.SaaSTenant{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: tenant.Name}, tn)).To(Succeed())
		ready(g, tn)
	}, 5*time.Second, 250*time.Millisecond).Should(Succeed())
	g.Expect(getObject(t, &batchv1.Job{}, ns, "seed").Spec.TTLSecondsAfterFinished).To(BeNil(),
		"the Job is applied without the TTL that would have Kubernetes delete it")
	g.Expect(jobWrites(tenant.Name)).To(Equal(written), "the passes after find the Jobs in step: nothing applied again")
}

// jobWrites are kooper's writes of Jobs in the namespace of tenant name.
func jobWrites(name string) []string {
	var out []string
	for _, r := range requestsAbout(name) {
		if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/jobs") {
			out = append(out, r.Method+" "+r.URL.Path)
		}
	}
	return out
}
