package controllers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/testenv"
)

// What a new tenant costs the API server (issue 24's and issue 26's
// targets; docs/benchmarks.md). The first provisioning of a tenant is one
// status write that records what is about to be made, then one create per
// object and no read in its fresh namespace (tenant Secrets and ConfigMaps
// are not cached: a read would be a request), then the status write that
// records it provisioned.

// requestsAbout returns the manager's requests, watches aside, about the
// tenant called name and the objects in its namespace, in the order sent.
func requestsAbout(name string) []testenv.Request {
	return managerRequests.Requests(func(method string, u *url.URL) bool {
		return testenv.TenantRequests(method, u) &&
			(testenv.NamesObject(u.Path, "namespaces", "tenant-"+name) || testenv.NamesObject(u.Path, "saastenants", name))
	})
}

// firstProvisioning splits a new tenant's requests at its status writes:
// those before the first, and those between the first and the second (the
// first provisioning pass).
func firstProvisioning(t *testing.T, name string) (before, pass []testenv.Request) {
	t.Helper()
	status := func(r testenv.Request) bool {
		return r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/saastenants/"+name+"/status")
	}
	var writes []int
	requests := requestsAbout(name)
	for i, r := range requests {
		if status(r) {
			writes = append(writes, i)
		}
	}
	if len(writes) < 2 {
		t.Fatalf("tenant %s: %d status writes, want at least 2: %v", name, len(writes), describe(requests))
	}
	return requests[:writes[0]], requests[writes[0]+1 : writes[1]]
}

// inManagersCache waits until the manager's cache holds product, with the
// chart the API server stores for it now (resolved by hand), so that a
// tenant created next finds it on its first pass: the counts below take
// the first status write for the tenant's record, and a pass that missed
// the product (ProductNotFound) or its chart ("Waiting for … chart to be
// resolved") writes one more before it.
func inManagersCache(t *testing.T, product *saasv1alpha1.SaaSProduct) {
	t.Helper()
	g := NewWithT(t)
	key := types.NamespacedName{Name: product.Name}
	stored := &saasv1alpha1.SaaSProduct{}
	g.Expect(k8sClient.Get(testContext(t), key, stored)).To(Succeed())
	g.Eventually(func() (*saasv1alpha1.ResolvedChart, error) {
		cached := &saasv1alpha1.SaaSProduct{}
		err := cachedClient.Get(testContext(t), key, cached)
		return cached.Status.Chart, err
	}).Should(Equal(stored.Status.Chart))
}

func describe(requests []testenv.Request) []string {
	out := make([]string, 0, len(requests))
	for _, r := range requests {
		out = append(out, r.Method+" "+r.URL.Path)
	}
	return out
}

// expectOneWritePerObject checks a first provisioning pass: creates only
// (in a fresh namespace nothing is read, and nothing applied: a create costs
// the API server less), each sent as protobuf (every tenant object is of a
// built-in kind; JSON costs both sides more), the credentials among them,
// unread.
func expectOneWritePerObject(g Gomega, pass []testenv.Request) {
	for _, r := range pass {
		g.Expect(r.Method).To(Equal(http.MethodPost), "not a create in a fresh namespace: %v", describe(pass))
		g.Expect(r.ContentType).To(Equal(runtime.ContentTypeProtobuf), "%s %s not sent as protobuf", r.Method, r.URL.Path)
	}
	g.Expect(pass).To(ContainElement(HaveField("URL.Path", HaveSuffix("/secrets"))), "the credentials are created: %v", describe(pass))
}

func withFinalizer(tn *saasv1alpha1.SaaSTenant) {
	// As the receiver creates records.
	tn.Finalizers = []string{saasv1alpha1.Finalizer}
}

func TestANewChartTenantCostsOneRecordThenOneWritePerObject(t *testing.T) {
	g := NewWithT(t)
	product, digest := newChartProduct(t, nil)
	resolveChart(t, product.Name, digest)
	inManagersCache(t, product)
	tenant := newTenant(t, product, "basic", withFinalizer)
	tenant = eventuallyTenant(t, tenant.Name, provisioned)

	before, pass := firstProvisioning(t, tenant.Name)
	g.Expect(before).To(BeEmpty(), "nothing is made or read before the record: %v", describe(before))
	// The credentials, the quota and the NetworkPolicy, then the chart's
	// objects: the ConfigMap too, uncached, unread. (The namespace's create
	// goes to the collection, /api/v1/namespaces, and names no tenant.)
	expectOneWritePerObject(g, pass)
	g.Expect(pass).To(HaveLen(3+len(chartInventory(tenant.Spec.InstanceID))), "the pass: %v", describe(pass))

	// The passes up to Ready do not read back the uncached ConfigMap the
	// first one created (apply.Memo): one GET per chart tenant fewer.
	makeChartCurrent(t, tenant.Status.Namespace, tenant.Spec.InstanceID)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
	config := "/api/v1/namespaces/" + tenant.Status.Namespace + "/configmaps/" + tenant.Spec.InstanceID + "-config"
	all := requestsAbout(tenant.Name)
	g.Expect(all).NotTo(ContainElement(And(HaveField("Method", http.MethodGet), HaveField("URL.Path", config))),
		"the chart's ConfigMap read back: %v", describe(all))
}

// makeChartCurrent writes the status that makes every workload of the test
// chart's render current, as its controllers and kubelet would.
func makeChartCurrent(t *testing.T, ns, id string) {
	t.Helper()
	writeStatus(t, &appsv1.Deployment{}, ns, id+"-web", rolledOut)
	writeStatus(t, &appsv1.Deployment{}, ns, id+"-worker", rolledOut)
	writeStatus(t, &batchv1.Job{}, ns, id+"-migrate", func(j *batchv1.Job) { j.Status.StartTime = ptr.To(metav1.Now()) })
	writeStatus(t, &corev1.PersistentVolumeClaim{}, ns, id+"-files", func(p *corev1.PersistentVolumeClaim) { p.Status.Phase = corev1.ClaimBound })
	writeStatus(t, &appsv1.StatefulSet{}, ns, id+"-redis", func(s *appsv1.StatefulSet) {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1,
			UpdatedReplicas: 1, AvailableReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r1"}
	})
}

func TestANewTenantCostsOneRecordThenOneWritePerObject(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	inManagersCache(t, product)
	tenant := newTenant(t, product, "basic", withFinalizer)
	eventuallyTenant(t, tenant.Name, provisioned)

	before, pass := firstProvisioning(t, tenant.Name)
	g.Expect(before).To(BeEmpty(), "nothing is made or read before the record: %v", describe(before))
	g.Expect(pass).NotTo(BeEmpty())
	expectOneWritePerObject(g, pass)
	// One create per object a tenant uses, and no ServiceAccount: its pods
	// run as the namespace's default, with no token (issue 26's 14.2
	// requests per tenant counted one); no LimitRange: the app's container
	// sets every resource it would give (13.1 counted one).
	g.Expect(createdResources(pass)).To(ConsistOf("secrets", "resourcequotas", "networkpolicies",
		"persistentvolumeclaims", "deployments", "services", "ingresses"), "the pass: %v", describe(pass))
}

// createdResources names the resource of each create in requests, by its
// collection's path (.../namespaces/ns/secrets -> secrets).
func createdResources(requests []testenv.Request) []string {
	var resources []string
	for _, r := range requests {
		if r.Method == http.MethodPost {
			resources = append(resources, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		}
	}
	return resources
}

// A reconcile that a status write triggers reads the tenant as written: it
// neither repeats the last pass (the credentials create, answered
// AlreadyExists) nor loses its own status write to a conflict with the
// copy it should have read. Bought through the receiver, to Ready, a tenant
// costs three status writes (the record, Provisioned, Ready) and one create
// of its credentials.
func TestAReconcileReadsTheTenantItJustWrote(t *testing.T) {
	g := NewWithT(t)
	product := newTenantProduct(t, nil)
	inManagersCache(t, product)
	orderID := fmt.Sprintf("CS%dREQUESTS", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", "20991231235959")
	bought := callback(t, product, fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":"b-1"}`, orderID, orderID))
	g.Expect(bought.Code).To(Equal("000000"), bought.Msg)
	tenant := eventuallyTenant(t, bought.InstanceID, provisioned)
	markAvailable(t, tenant.Status.Namespace)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	requests := requestsAbout(tenant.Name)
	statusWrites, credentialCreates := 0, 0
	for _, r := range requests {
		switch {
		case r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/saastenants/"+tenant.Name+"/status"):
			statusWrites++
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces/"+tenant.Status.Namespace+"/secrets":
			credentialCreates++
		}
	}
	g.Expect(statusWrites).To(Equal(3), "the record, Provisioned, Ready: %v", describe(requests))
	g.Expect(credentialCreates).To(Equal(1), "the credentials are created once: %v", describe(requests))
}
