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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/metering"
)

// Signals an operator acts on (a reconcile error, a Warning Event) must
// mean something happened: routine passes stay quiet.

// tenantConflict is the API server's answer to a write under an
// optimistic lock that met a newer version of tenant.
func tenantConflict(tenant string) error {
	gr := saasv1alpha1.GroupVersion.WithResource("saastenants").GroupResource()
	return apierrors.NewConflict(gr, tenant, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// failingPusher refuses every usage push with err.
type failingPusher struct{ err error }

func (p failingPusher) PushUsage(context.Context, string, []koogallery.UsageRecord) ([]koogallery.UsageRecordError, error) {
	return nil, p.err
}

// TestAMeteringConflictIsARequeue: the tenant controller writes the same
// object, so the metering controller's writes under an optimistic lock
// meet Conflicts in normal operation. Before, each was returned raw: a
// "Reconciler error" log line and a rise of
// controller_runtime_reconcile_errors_total{controller="metering"}, the
// counter the KooperUsagePushBehind runbook sends operators to. Now a pass
// that met only conflicts requeues soon, without an error; a real failure
// whose status write also conflicted is still that failure.
func TestAMeteringConflictIsARequeue(t *testing.T) {
	g := NewWithT(t)
	tenant := newMeteredTenant(t, threeMeters[:1])
	h := hourAgo(4)
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: tenant.Name}}

	everyStatusWriteConflicts := interceptor.NewClient(withWatch{k8sClient}, interceptor.Funcs{
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return tenantConflict(tenant.Name)
		},
	})
	res, err := meteringAt(everyStatusWriteConflicts, clocktesting.NewFakeClock(h)).Reconcile(testContext(t), req)
	g.Expect(err).NotTo(HaveOccurred(), "a conflict is no failure")
	g.Expect(res.RequeueAfter).To(Equal(conflictRequeueDelay), "the pass runs again soon, from the newer version")

	// Metering starts; three hours later the push fails, and so does (with
	// a conflict) the write of the Metered=False it records.
	_, err = meterAt(t, meteringAt(k8sClient, clocktesting.NewFakeClock(h)), h, tenant.Name)
	g.Expect(err).NotTo(HaveOccurred())
	failureWriteConflicts := interceptor.NewClient(withWatch{k8sClient}, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if tn, ok := obj.(*saasv1alpha1.SaaSTenant); ok && tn.Status.Metering != nil && meteringFailed(tn.Status.Metering) {
				return tenantConflict(tenant.Name)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	r := meteringAt(failureWriteConflicts, clocktesting.NewFakeClock(h.Add(3*time.Hour+5*time.Minute)))
	r.Usage = func(string, string) UsagePusher {
		return failingPusher{errors.New("injected: the marketplace is down")}
	}
	_, err = r.Reconcile(testContext(t), req)
	g.Expect(err).To(MatchError(ContainSubstring("injected: the marketplace is down")), "the real failure is not folded with its write's conflict")

	// The rule itself, on the shapes the controllers' errors take.
	conflict := tenantConflict(tenant.Name)
	failure := errors.New("failed to push usage")
	for _, tc := range []struct {
		name    string
		err     error
		requeue bool
	}{
		{"a conflict", conflict, true},
		{"a wrapped conflict", fmt.Errorf("failed to record metering status: %w", conflict), true},
		{"conflicts joined", errors.Join(conflict, fmt.Errorf("failed to add the metering finalizer: %w", conflict)), true},
		{"a real failure joined with a conflict", errors.Join(failure, conflict), false},
		{"a conflict joined with a wrapped real failure", errors.Join(conflict, fmt.Errorf("push: %w", failure)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var result ctrl.Result
			err := foldStatusError(&result, tc.err, nil)
			if tc.requeue {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(result.RequeueAfter).To(Equal(conflictRequeueDelay))
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring("failed to push usage")))
			g.Expect(result.RequeueAfter).To(BeZero())
		})
	}
}

// meteringFailed reports whether m says Metered=False.
func meteringFailed(m *saasv1alpha1.TenantMetering) bool {
	for _, c := range m.Conditions {
		if c.Type == saasv1alpha1.MeteredCondition && c.Status == metav1.ConditionFalse {
			return true
		}
	}
	return false
}

// fundingPackages is n packages of 10 each, none used, linked and not
// released: quiet-p-01, quiet-p-02, ….
func fundingPackages(n int) []metering.PackageState {
	out := make([]metering.PackageState, n)
	for i := range out {
		out[i] = metering.PackageState{InstanceID: fmt.Sprintf("quiet-p-%02d", i+1), Quota: "10"}
	}
	return out
}

// TestAFullLedgerIsAnnouncedOncePerChange: while more packages fund a
// tenant than its ledger holds, every metering pass (hourly, on each of
// the tenant's events) sent a PackageLedgerFull Warning naming the same
// waiting packages. Now it is sent when the waiting packages change, and
// again once the tenant was gone and came back.
func TestAFullLedgerIsAnnouncedOncePerChange(t *testing.T) {
	g := NewWithT(t)
	now := time.Now().UTC()
	recorder := events.NewFakeRecorder(8)
	r := meteringAt(k8sClient, clocktesting.NewFakeClock(now))
	r.Recorder = recorder
	tenant := &saasv1alpha1.SaaSTenant{ObjectMeta: metav1.ObjectMeta{Name: "quiet-full-ledger"},
		Status: saasv1alpha1.SaaSTenantStatus{Metering: &saasv1alpha1.TenantMetering{}}}
	pass := func(packages []metering.PackageState) []string {
		m := tenant.Status.Metering
		m.Packages = metering.SyncLedger(m.Packages, packages, now)
		r.announceWaiting(tenant, packages)
		return drain(recorder)
	}
	ledgerFull := func(waiting int) []string {
		return []string{fmt.Sprintf("Warning %s Packages wait to pay for this instance (%d, first", saasv1alpha1.PackageLedgerFullReason, waiting)}
	}
	startWith := func(prefixes []string) []any {
		out := make([]any, len(prefixes))
		for i, p := range prefixes {
			out[i] = HavePrefix(p)
		}
		return out
	}

	twoWait := fundingPackages(metering.MaxLedger + 2)
	g.Expect(pass(twoWait)).To(ConsistOf(startWith(ledgerFull(2))...), "the first pass says which wait")
	g.Expect(pass(twoWait)).To(BeEmpty(), "the same packages wait: nothing new to say")
	g.Expect(pass(twoWait)).To(BeEmpty())

	threeWait := fundingPackages(metering.MaxLedger + 3)
	g.Expect(pass(threeWait)).To(ConsistOf(startWith(ledgerFull(3))...), "one more waits")
	g.Expect(pass(threeWait)).To(BeEmpty())

	// The tenant is deleted (its pass finds it gone), and one of that name
	// comes back with its packages waiting: said again.
	_, err := r.Reconcile(testContext(t), ctrl.Request{NamespacedName: client.ObjectKey{Name: tenant.Name}})
	g.Expect(err).NotTo(HaveOccurred())
	tenant.Status.Metering = &saasv1alpha1.TenantMetering{}
	g.Expect(pass(threeWait)).To(ConsistOf(startWith(ledgerFull(3))...), "a tenant gone is forgotten")
}

// quietProducts is the products ConfigMap the tests here drive their own
// ProductConfigReconciler on; the manager's watches another.
const quietProducts = "quiet-products"

// TestProductsAppliedIsAnnouncedOnlyWhenAProductChanged: every pass of the
// products ConfigMap (each restart, each leader change, each retry) sent
// "Applied SaaSProduct …" though the apply changed nothing. Now the Event
// names the products an apply created or changed, and a pass that changed
// none sends none.
func TestProductsAppliedIsAnnouncedOnlyWhenAProductChanged(t *testing.T) {
	g := NewWithT(t)
	ctx := testContext(t)
	const name, keys = "quiet-cm-crm", "quiet-cm-keys"
	// Keys of its own: a product without keys is checked again and again.
	manifest := func(replicas ...string) string {
		return strings.Replace(productManifest(name, "OFFI-QUIET-1", replicas...), "keysSecretName: cm-keys", "keysSecretName: "+keys, 1)
	}
	g.Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, keysSecret(operatorNamespace, keys, completeKeys)))).To(Succeed())
	recorder := events.NewFakeRecorder(8)
	r := &ProductConfigReconciler{Client: k8sClient, Recorder: recorder, Namespace: operatorNamespace, Name: quietProducts}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: quietProducts},
		Data:       map[string]string{"crm.yaml": manifest()},
	}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), cm)
		product := &saasv1alpha1.SaaSProduct{ObjectMeta: metav1.ObjectMeta{Name: name}}
		_ = k8sClient.Delete(context.Background(), product)
		NewWithT(t).Eventually(isGone(t, product)).Should(BeTrue(), "gone before a rerun (-count) creates it again")
	})
	reconcile := func() []string {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cm)})
		g.Expect(err).NotTo(HaveOccurred())
		return drain(recorder)
	}
	applied := "Normal " + ProductsAppliedReason + " Applied SaaSProduct " + name

	g.Expect(reconcile()).To(ConsistOf(applied), "created")
	settledProduct(t, name)
	g.Expect(reconcile()).To(BeEmpty(), "applied again, unchanged (a restart)")
	g.Expect(reconcile()).To(BeEmpty())

	cm.Data = map[string]string{"crm.yaml": manifest("4")}
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	g.Expect(reconcile()).To(ConsistOf(applied), "changed")
	settledProduct(t, name)
	g.Expect(reconcile()).To(BeEmpty())
}

// settledProduct waits until the other controllers have done writing
// product name (its resourceVersion holds for a second), so a pass that
// follows meets no write but its own.
func settledProduct(t *testing.T, name string) {
	t.Helper()
	version := func(g Gomega) string {
		product := &saasv1alpha1.SaaSProduct{}
		g.Expect(k8sClient.Get(testContext(t), client.ObjectKey{Name: name}, product)).To(Succeed())
		return product.ResourceVersion
	}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Consistently(version).WithTimeout(time.Second).Should(Equal(version(g)))
	}).WithTimeout(time.Minute).Should(Succeed())
}
