package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// benchTenants is how many tenants one benchmark operation provisions.
const benchTenants = 200

// BenchmarkProvision200Tenants measures 200 SaaSTenants from creation to
// Provisioned, through the real controller. Compare it with
// BenchmarkCreate200TenantsDirectly, run in the same process against the
// same API server: `go test -run='^$' -bench=200Tenants -benchtime=1x ./controllers`.
func BenchmarkProvision200Tenants(b *testing.B) {
	t := &testing.T{}
	product := newTenantProduct(t, nil)
	for b.Loop() {
		var tenants []*saasv1alpha1.SaaSTenant
		for range benchTenants {
			tenants = append(tenants, newTenant(t, product, "basic", nil))
		}
		for _, tn := range tenants {
			waitProvisioned(b, tn.Name)
		}
	}
	if t.Failed() {
		b.Fatal("setup failed")
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*benchTenants), "ms/tenant")
}

// waitProvisioned polls every 20 ms: fine-grained enough for the
// figure, light enough not to load the API server under test.
func waitProvisioned(b *testing.B, name string) {
	err := wait.PollUntilContextTimeout(b.Context(), 20*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		tenant := &saasv1alpha1.SaaSTenant{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, tenant); err != nil {
			return false, err
		}
		if c := apimeta.FindStatusCondition(tenant.Status.Conditions, saasv1alpha1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
			return false, fmt.Errorf("tenant %s stalled: %s", name, c.Message)
		}
		return apimeta.IsStatusConditionTrue(tenant.Status.Conditions, saasv1alpha1.ProvisionedCondition), nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreate200TenantsDirectly creates the same objects for 200 tenants
// with a plain client, at the controller's concurrency (4 workers): the API
// server's own cost, the ceiling the controller is measured against.
func BenchmarkCreate200TenantsDirectly(b *testing.B) {
	t := &testing.T{}
	product := newTenantProduct(t, nil)
	plan := &product.Spec.Plans[0]
	run := 0
	for b.Loop() {
		run++
		jobs := make(chan int, benchTenants)
		errs := make(chan error, benchTenants)
		for i := range benchTenants {
			jobs <- i
		}
		close(jobs)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := range jobs {
					errs <- createTenantObjects(b.Context(), product, plan, fmt.Sprintf("direct-%d-%d-%d", tenantSeq.Add(1), run, i))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*benchTenants), "ms/tenant")
}

// createTenantObjects creates what the controller applies for one tenant.
func createTenantObjects(ctx context.Context, product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan, id string) error {
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: saasv1alpha1.SaaSTenantSpec{InstanceID: id}}
	namespace := tenantobjects.NamespaceName(product, id)
	urls, err := tenantobjects.RenderURLs(product, id, namespace)
	if err != nil {
		return err
	}
	d := &tenantobjects.Desired{Tenant: tenant, Product: product, Plan: plan, Namespace: namespace, URLs: urls, IngressNamespace: "ingress-nginx"}
	present, _ := d.Objects()
	objects := append([]client.Object{tenantobjects.NamespaceObject(d.Tenant, d.Namespace), credentialsFor(d)}, present...)
	for _, obj := range objects {
		if err := k8sClient.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	return nil
}

func credentialsFor(d *tenantobjects.Desired) client.Object {
	return &corev1.Secret{ObjectMeta: d.Meta(tenantobjects.CredentialsSecretName), StringData: map[string]string{"username": "admin", "password": "x"}}
}
