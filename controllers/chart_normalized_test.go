package controllers

import (
	"context"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/chartrender"
)

// A chart that writes a value otherwise than the API server stores it
// (cpu: 1 stored as "1", 1024Mi as "1Gi", env: [] and clusterIP: "" not
// stored at all: the Service keeps the IP it was given) costs no write once
// its tenant is Ready. Before, kooper compared the value as written with
// the stored one, never found the object in step and applied it again on
// every pass and after every restart, for every such tenant.
func TestAChartWrittenOtherwiseThanStoredIsNotAppliedAgain(t *testing.T) {
	g := NewWithT(t)
	tgz := crmChartTgz(t, func(c *chart.Chart) {
		for name, data := range chartExtras {
			c.Templates = append(c.Templates, &chart.File{Name: name, Data: []byte(data)})
		}
		for _, f := range c.Templates {
			switch f.Name {
			case "templates/web.yaml":
				f.Data = replaceOnce(t, f.Data, "          env:\n            - name: CRM_NAMESPACE",
					"          resources:\n            requests: {cpu: 1, memory: 1024Mi}\n          env:\n            - name: CRM_NAMESPACE")
				f.Data = replaceOnce(t, f.Data, "kind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n",
					"kind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  clusterIP: \"\"\n")
			case "templates/worker.yaml":
				f.Data = replaceOnce(t, f.Data, `args: ["worker"]`, "args: [\"worker\"]\n          env: []")
			case "templates/files-pvc.yaml":
				f.Data = replaceOnce(t, f.Data, "storage: 1Gi", "storage: 1024Mi")
			}
		}
	})
	var secretName string
	product := newTenantProduct(t, func(p *saasv1alpha1.SaaSProduct) {
		secretName = p.Name + "-chart"
		p.Spec.Workload = nil
		p.Spec.Chart = &saasv1alpha1.ChartTemplate{
			SecretRef: &saasv1alpha1.ChartSecretRef{Name: secretName},
			Values:    jsonValues(`{"report":{"enabled":true},"files":{"enabled":true},"redis":{"storage":"1024Mi"}}`),
		}
		p.Spec.Plans = []saasv1alpha1.Plan{{SKUCode: "basic", Replicas: 1, Quota: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}}
	})
	g.Expect(k8sClient.Create(testContext(t), chartSecretFor(secretName, tgz))).To(Succeed())
	resolveChart(t, product.Name, chartrender.ArchiveFromBytes(tgz).Digest())
	tenant := newTenant(t, product, "basic", nil)
	tenant = eventuallyTenant(t, tenant.Name, provisioned)
	makeChartCurrent(t, tenant.Status.Namespace, tenant.Spec.InstanceID)
	eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	// Two passes of a reconciler like the manager's, through a client that
	// notes every write to the tenant's namespace: the first finds what
	// the manager's passes left, the second what the first left.
	writes := &namespaceWriteCounter{Client: cachedClient, namespace: tenant.Status.Namespace}
	r := tenantReconcilerLikeSetup(t, writes)
	for range 2 {
		_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tenant)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.noted()).To(BeEmpty(), "writes to the objects of a tenant in step")
}

// replaceOnce replaces the one occurrence of old in data, failing the test
// when data does not hold old exactly once (the test chart changed).
func replaceOnce(t *testing.T, data []byte, old, replacement string) []byte {
	t.Helper()
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("the test chart holds %q %d times, want once", old, n)
	}
	return []byte(strings.Replace(string(data), old, replacement, 1))
}

// namespaceWriteCounter notes, as "verb Kind/name", each create, update,
// patch, apply and delete sent through it of an object in namespace.
type namespaceWriteCounter struct {
	client.Client
	namespace string

	mu     sync.Mutex
	writes []string
}

// namedObject is what both a client.Object and an unstructured apply
// configuration tell of themselves.
type namedObject interface {
	GetNamespace() string
	GetName() string
}

func (c *namespaceWriteCounter) note(verb string, obj namedObject, kind string) {
	if obj.GetNamespace() != c.namespace {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, verb+" "+kind+"/"+obj.GetName())
}

func (c *namespaceWriteCounter) noted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

func kindOf(obj client.Object) string {
	return obj.GetObjectKind().GroupVersionKind().Kind
}

func (c *namespaceWriteCounter) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.note("create", obj, kindOf(obj))
	return c.Client.Create(ctx, obj, opts...)
}

func (c *namespaceWriteCounter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.note("update", obj, kindOf(obj))
	return c.Client.Update(ctx, obj, opts...)
}

func (c *namespaceWriteCounter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.note("patch", obj, kindOf(obj))
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *namespaceWriteCounter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.note("delete", obj, kindOf(obj))
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *namespaceWriteCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	// kooper applies unstructured configurations, which tell their key.
	if named, ok := obj.(interface {
		namedObject
		GetKind() string
	}); ok {
		c.note("apply", named, named.GetKind())
	}
	return c.Client.Apply(ctx, obj, opts...)
}
