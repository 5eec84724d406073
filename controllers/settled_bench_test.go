package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/tenantobjects"
)

// BenchmarkSettledTenantPass measures one pass of a tenant that is Ready
// and has nothing to change: what a restart costs the controllers for each
// of its tenants, and what every later pass of a new tenant costs before
// it is Ready. The pass reads through the manager's cache, as in
// production, and writes nothing. `go test -run='^$'
// -bench=SettledTenantPass -benchmem ./controllers`.
func BenchmarkSettledTenantPass(b *testing.B) {
	t := &testing.T{}
	b.Run("workload", func(b *testing.B) {
		product := newTenantProduct(t, nil)
		tenant := newTenant(t, product, "basic", nil)
		eventuallyTenant(t, tenant.Name, provisioned)
		writeStatus(t, &appsv1.Deployment{}, "tenant-"+tenant.Name, tenantobjects.AppName, rolledOut)
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
		benchmarkPasses(b, t, tenant.Name)
	})
	b.Run("chart", func(b *testing.B) {
		_, tenant := newChartTenant(t, "basic", nil)
		makeChartCurrent(t, "tenant-"+tenant.Name, tenant.Spec.InstanceID)
		eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))
		benchmarkPasses(b, t, tenant.Name)
	})
	if t.Failed() {
		b.Fatal("setup failed")
	}
}

// benchmarkPasses reconciles the tenant called name b.N times with a
// reconciler set up as Setup sets up the manager's, and fails if a pass
// fails or writes its status.
func benchmarkPasses(b *testing.B, t *testing.T, name string) {
	writes := &statusWriteCounter{Client: cachedClient}
	r := tenantReconcilerLikeSetup(t, writes)
	req := ctrl.Request{}
	req.Name = name
	if _, err := r.Reconcile(b.Context(), req); err != nil { // the chart's render, cached
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Reconcile(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	if t.Failed() {
		b.Fatal("setup failed")
	}
	if n := writes.count.Load(); n > 0 {
		b.Fatalf("%d status writes by passes of a settled tenant", n)
	}
}
