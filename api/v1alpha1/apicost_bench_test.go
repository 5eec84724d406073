package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/procstat"
)

// What each kind of request a tenant costs costs the API server itself, in
// CPU time of the kube-apiserver process (docs/benchmarks.md, "Chart
// tenants"): a create (sent as protobuf, as a typed client sends a
// built-in kind, and as JSON, as an Unstructured is sent) next to a
// server-side apply that creates the same
// object, a SaaSTenant's create and status write next to a built-in's
// create. This package's API server runs no controller, so nothing else
// loads it. make bench's tenant figures are sums of these; which of a
// tenant's requests are worth saving is read here. `go test -run='^$'
// -bench=APIServerCPU -benchtime=1x ./api/v1alpha1`; Linux only (it reads
// /proc).

// apiCostOps is how many requests each case sends, 8 at a time.
const apiCostOps = 300

// costRuns numbers the loops of every run in the process, so that each
// creates objects of its own.
var costRuns atomic.Int64

func BenchmarkAPIServerCPU(b *testing.B) {
	pid, err := apiServerPID()
	if err != nil {
		b.Skip(err)
	}
	ctx := b.Context()
	for _, ns := range []string{"cost-create", "cost-json", "cost-apply"} {
		if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name string
		op   func(run, i int) error
	}{
		{"ConfigMapCreate", func(run, i int) error { return k8sClient.Create(ctx, costConfigMap("cost-create", run, i)) }},
		{"ConfigMapApplyCreate", func(run, i int) error { return applyForCost(b, costConfigMap("cost-apply", run, i)) }},
		{"ConfigMapCreateJSON", func(run, i int) error { return createAsJSON(b, costConfigMap("cost-json", run, i)) }},
		{"DeploymentCreate", func(run, i int) error { return k8sClient.Create(ctx, costDeployment("cost-create", run, i)) }},
		{"DeploymentCreateJSON", func(run, i int) error { return createAsJSON(b, costDeployment("cost-json", run, i)) }},
		{"DeploymentApplyCreate", func(run, i int) error { return applyForCost(b, costDeployment("cost-apply", run, i)) }},
		{"SaaSTenantCreate", func(run, i int) error { return k8sClient.Create(ctx, costTenant(run, i)) }},
		{"SaaSTenantStatusWrite", func(run, i int) error { return writeCostStatus(b, run, i) }},
		{"SaaSTenantReadyWrite", func(run, i int) error { return writeCostReady(b, run, i) }},
		{"SaaSTenantGet", func(run, i int) error {
			return k8sClient.Get(ctx, client.ObjectKey{Name: costTenantName(run, i)}, &saasv1alpha1.SaaSTenant{})
		}},
	}
	for b.Loop() {
		run := int(costRuns.Add(1))
		for _, c := range cases {
			before, err := procstat.CPUSeconds(pid)
			if err != nil {
				b.Fatal(err)
			}
			if err := inParallel(apiCostOps, 8, func(i int) error { return c.op(run, i) }); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			after, err := procstat.CPUSeconds(pid)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric((after-before)*1000/apiCostOps, c.name+"-apiserver-ms/op")
		}
	}
}

// apiServerPID finds the kube-apiserver serving the suite: the one whose
// --secure-port is the suite's.
func apiServerPID() (int, error) {
	u, err := url.Parse(env.Config.Host)
	if err != nil {
		return 0, err
	}
	return procstat.FindPID("kube-apiserver", "--secure-port="+u.Port())
}

// inParallel calls op(i) for i in [0,n) on workers goroutines and returns
// the first error.
func inParallel(n, workers int, op func(i int) error) error {
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := op(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	wg.Wait()
	return first
}

func costConfigMap(namespace string, run, i int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("cost-%d-%d", run, i), Labels: map[string]string{"app": "web"}},
		Data:       map[string]string{"instanceId": "i-1", "namespace": "tenant-i-1"},
	}
}

func costDeployment(namespace string, run, i int) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("cost-%d-%d", run, i), Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/crm/web:1.2.0",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}}, Env: []corev1.EnvVar{{Name: "INSTANCE_ID", Value: "i-1"}}}},
			}},
		},
	}
}

func costTenantName(run, i int) string { return fmt.Sprintf("cost-%d-%d", run, i) }

func costTenant(run, i int) *saasv1alpha1.SaaSTenant {
	name := costTenantName(run, i)
	order := fmt.Sprintf("CS%d%dCOST", run, i)
	return &saasv1alpha1.SaaSTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: name, ProductName: "no-such-product", OrderID: order, OrderLineID: order + "-000001",
			Orders: []saasv1alpha1.AppliedOrder{{OrderID: order, OrderLineID: order + "-000001", Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: metav1.Now()}}},
	}
}

// applyForCost creates obj with a server-side apply, as internal/apply does.
func applyForCost(b *testing.B, obj client.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	u := &unstructured.Unstructured{Object: m}
	return k8sClient.Apply(b.Context(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kooper"), client.ForceOwnership)
}

// createAsJSON creates obj as an Unstructured, which the client sends as
// JSON (kooper's creates until 2026-12-02).
func createAsJSON(b *testing.B, obj client.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	return k8sClient.Create(b.Context(), &unstructured.Unstructured{Object: m})
}

// writeCostStatus writes the status a tenant controller writes when it
// records a new tenant (a provisioned tenant's status, dumped from envtest,
// not yet Ready) with a merge patch against the version read, as the tenant
// controller does; the read is measured apart (SaaSTenantGet).
func writeCostStatus(b *testing.B, run, i int) error {
	return patchCostStatus(b, run, i, func(t *saasv1alpha1.SaaSTenant) error {
		if err := json.Unmarshal([]byte(strings.ReplaceAll(recordedStatusJSON, "NAME", t.Name)), &t.Status); err != nil {
			return err
		}
		t.Status.ObservedGeneration = t.Generation
		return nil
	})
}

// writeCostReady writes a recorded tenant's second status write: its
// workload Available, so Ready, and the time it first was.
func writeCostReady(b *testing.B, run, i int) error {
	return patchCostStatus(b, run, i, func(t *saasv1alpha1.SaaSTenant) error {
		for _, c := range []string{saasv1alpha1.ReadyCondition, saasv1alpha1.AvailableCondition} {
			apimeta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue,
				Reason: saasv1alpha1.SucceededReason, Message: "Deployment is available", ObservedGeneration: t.Generation})
		}
		apimeta.RemoveStatusCondition(&t.Status.Conditions, saasv1alpha1.ReconcilingCondition)
		t.Status.FirstReadyTime = ptr.To(metav1.Now())
		return nil
	})
}

// patchCostStatus merge-patches the status change makes to the stored
// tenant of run and i, with the version read, again on a conflict.
func patchCostStatus(b *testing.B, run, i int, change func(*saasv1alpha1.SaaSTenant) error) error {
	for {
		t := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(b.Context(), client.ObjectKey{Name: costTenantName(run, i)}, t); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if err := change(t); err != nil {
			return err
		}
		err := k8sClient.Status().Patch(b.Context(), t, patch)
		if err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
}

// recordedStatusJSON is the status of a tenant the tenant controller
// provisioned in envtest, its objects applied and its workload not yet
// available (NAME: its instance ID).
const recordedStatusJSON = `{
 "conditions": [
  {"type": "OrderResolved", "status": "True", "observedGeneration": 1, "lastTransitionTime": "2026-12-04T20:41:27Z", "reason": "Succeeded", "message": "Order CS3ORDER: product OFFI2, SKU basic"},
  {"type": "Provisioned", "status": "True", "observedGeneration": 1, "lastTransitionTime": "2026-12-04T20:41:27Z", "reason": "Succeeded", "message": "Namespace tenant-NAME holds the tenant's objects for plan basic"},
  {"type": "Ready", "status": "False", "observedGeneration": 1, "lastTransitionTime": "2026-12-04T20:41:27Z", "reason": "WorkloadUnavailable", "message": "Deployment: Replicas: 0/1"},
  {"type": "Available", "status": "False", "observedGeneration": 1, "lastTransitionTime": "2026-12-04T20:41:27Z", "reason": "WorkloadUnavailable", "message": "Deployment: Replicas: 0/1"},
  {"type": "Reconciling", "status": "True", "observedGeneration": 1, "lastTransitionTime": "2026-12-04T20:41:27Z", "reason": "Progressing", "message": "Deployment: Replicas: 0/1"}
 ],
 "order": {"orderId": "CS3ORDER", "orderType": "NEW", "productId": "OFFI2", "skuCode": "basic", "chargingMode": "Period", "periodType": "year", "periodNumber": 1,
  "expireTime": "2099-12-31T23:59:59Z", "createTime": "2026-12-04T20:41:26Z", "customerId": "459bbbec25d24749b2eb83be37b602a8", "customerName": "mock_user_01"},
 "skuCode": "basic",
 "expireTime": "2099-12-31T23:59:59Z",
 "namespace": "tenant-NAME",
 "frontEndUrl": "https://NAME.crm.example.com",
 "adminUrl": "https://NAME.crm.example.com/admin",
 "credentialsSecretName": "kooper-credentials",
 "credentialsKeyID": "f0df4f715e21eb98",
 "applied": {"skuCode": "basic", "replicas": 1, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
 "revision": "tp-1-6f11b2d664",
 "lifecycle": {"freeze": {"behavior": "ScaleToZero"}, "release": {"retentionPolicy": "Retain", "retentionDays": 15, "onHandDeletion": "Retain"},
  "expiry": {"action": "Freeze", "graceSeconds": 259200, "noticeSeconds": [604800, 86400]}},
 "history": [{"time": "2026-12-04T20:41:26Z", "activity": "newInstance", "orderId": "CS3ORDER", "state": "Active", "result": "Applied", "change": "purchased plan basic"}]
}`
