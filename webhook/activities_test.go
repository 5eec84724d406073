package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

func getTenant(t *testing.T, id string) *saasv1alpha1.SaaSTenant {
	t.Helper()
	tenant := &saasv1alpha1.SaaSTenant{}
	NewWithT(t).Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, tenant)).To(Succeed())
	return tenant
}

func TestNewInstanceCreatesATenantNamedByItsOrderLine(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	a := f.call(t, newInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.InstanceID).To(Equal(instanceID(orderID, orderID+"-000001")))
	g.Expect(a.AppInfo).To(BeNil(), "appInfo comes once the tenant is provisioned")

	tenant := getTenant(t, a.InstanceID)
	g.Expect(tenant.Spec.InstanceID).To(Equal(a.InstanceID))
	g.Expect(tenant.Spec.ProductName).To(Equal(f.product.Name))
	g.Expect(tenant.Spec.OrderID).To(Equal(orderID))
	g.Expect(tenant.Spec.OrderLineID).To(Equal(orderID + "-000001"))
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Expect(tenant.Spec.Mode).To(Equal(saasv1alpha1.ModeProduction))
	g.Expect(tenant.Spec.Orders).To(HaveLen(1))
	g.Expect(tenant.Spec.Orders[0].Activity).To(Equal(saasv1alpha1.ActivityNewInstance))
	g.Expect(tenant.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, f.product.Name))

	// Once the cache holds the record, a repeat spares the Create it would
	// lose to AlreadyExists (a storm of duplicates costs one read each).
	g.Eventually(func() error {
		return receiver.client.Get(ctxFor(t), client.ObjectKey{Name: a.InstanceID}, &saasv1alpha1.SaaSTenant{})
	}).Should(Succeed())
	creates := receiverRequests.Count(testenv.Creates("saastenants"))
	repeat := f.call(t, newInstanceBody(orderID))
	g.Expect(repeat.Code).To(Equal("000000"))
	g.Expect(repeat.InstanceID).To(Equal(a.InstanceID))
	g.Expect(getTenant(t, a.InstanceID).ResourceVersion).To(Equal(tenant.ResourceVersion), "a repeat must write nothing")
	g.Expect(receiverRequests.Count(testenv.Creates("saastenants"))).To(Equal(creates), "SaaSTenant creates for a repeat")
}

func TestNewInstanceMarksDebugRequests(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	a := f.call(t, newInstanceBody(newOrderID(), `"testFlag":"1"`))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(getTenant(t, a.InstanceID).Spec.Mode).To(Equal(saasv1alpha1.ModeDebug))
}

func TestNewInstanceForALicenseProductCreatesALicense(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	orderID := newOrderID()
	a := f.call(t, newInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	license := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: a.InstanceID}, license)).To(Succeed())
	g.Expect(license.Spec.InstanceID).To(Equal(a.InstanceID))
	g.Expect(license.Spec.OrderID).To(Equal(orderID))
	g.Expect(license.Spec.ProductName).To(Equal(f.product.Name))
}

func TestFiftyConcurrentIdenticalPurchasesMakeOneTenant(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	orderID := newOrderID()
	const n = 50
	answers := make([]answer, n)
	// A goroutine must not call t.Fatal: its errors are checked once all
	// are done.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i], errs[i] = f.sendAsMarketplace(newInstanceBody(orderID)) })
	}
	wg.Wait()
	g.Expect(errors.Join(errs...)).NotTo(HaveOccurred())
	for _, a := range answers {
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
		g.Expect(a.InstanceID).To(Equal(answers[0].InstanceID))
	}
	tenants := &saasv1alpha1.SaaSTenantList{}
	g.Expect(k8sClient.List(ctxFor(t), tenants, client.MatchingLabels{saasv1alpha1.ProductLabel: f.product.Name})).To(Succeed())
	g.Expect(tenants.Items).To(HaveLen(1))
	g.Expect(tenants.Items[0].Name).To(Equal(answers[0].InstanceID))
}

// makeServing stands in for the tenant controller: it gives the tenant a
// namespace, a credentials Secret, URLs and Ready=True.
func makeServing(t *testing.T, id string) {
	t.Helper()
	makeProvisioned(t, id, metav1.Condition{
		Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.SucceededReason, Message: "ready"})
}

// makeProvisioned gives the tenant a namespace, a credentials Secret, URLs
// and the conditions given.
func makeProvisioned(t *testing.T, id string, conditions ...metav1.Condition) {
	t.Helper()
	g := NewWithT(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-" + id}}
	g.Expect(k8sClient.Create(ctxFor(t), ns)).To(Succeed())
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "kooper-credentials"},
		StringData: map[string]string{saasv1alpha1.CredentialsUsernameKey: "admin", saasv1alpha1.CredentialsPasswordKey: "s3cret-P4ss"},
	}
	g.Expect(k8sClient.Create(ctxFor(t), creds)).To(Succeed())
	// The controller's copy in kooper's namespace, which the receiver reads.
	copied := creds.DeepCopy()
	copied.ObjectMeta = metav1.ObjectMeta{Namespace: operatorNamespace, Name: saasv1alpha1.CredentialsCopyName(id)}
	g.Expect(k8sClient.Create(ctxFor(t), copied)).To(Succeed())
	tenant := getTenant(t, id)
	tenant.Status.Namespace = ns.Name
	tenant.Status.CredentialsSecretName = creds.Name
	tenant.Status.FrontEndURL = "https://" + id + ".app.example.com"
	tenant.Status.AdminURL = "https://" + id + ".app.example.com/admin"
	for _, c := range conditions {
		apimeta.SetStatusCondition(&tenant.Status.Conditions, c)
	}
	g.Expect(k8sClient.Status().Update(ctxFor(t), tenant)).To(Succeed())
}

func TestQueryInstanceReturnsEncryptedAppInfoOnceServing(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	query := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)

	pending := f.call(t, query)
	g.Expect(pending.Code).To(Equal("000000"), pending.Msg)
	g.Expect(pending.Info).To(HaveLen(1))
	g.Expect(pending.Info[0].InstanceID).To(Equal(id))
	g.Expect(pending.Info[0].AppInfo).To(BeNil())

	makeServing(t, id)
	ready := f.untilAppInfo(t, query)
	g.Expect(ready.Code).To(Equal("000000"))
	g.Expect(ready.EncryptType).To(Equal("1"))
	app := ready.Info[0].AppInfo
	g.Expect(app.FrontEndURL).To(Equal("https://" + id + ".app.example.com"))
	g.Expect(app.AdminURL).To(Equal("https://" + id + ".app.example.com/admin"))
	g.Expect(app.Password).NotTo(ContainSubstring("s3cret"))
	g.Expect(koogallery.Decrypt(testKey, koogallery.EncryptAES256, app.UserName)).To(Equal("admin"))
	g.Expect(koogallery.Decrypt(testKey, koogallery.EncryptAES256, app.Password)).To(Equal("s3cret-P4ss"))

	// A repeated purchase now answers with appInfo too.
	again := f.call(t, newInstanceBody(getTenant(t, id).Spec.OrderID))
	g.Expect(again.AppInfo).NotTo(BeNil())
	g.Expect(again.EncryptType).To(Equal("1"))
}

// A tenant deleted by hand keeps its record while a finalizer (the last
// hour's usage) holds it, for hours if the marketplace is down; its
// workload and credentials are going. It is answered as a gone instance:
// listed, without appInfo (docs/lifecycle.md rule B).
func TestQueryInstanceOfATenantBeingDeletedHasNoAppInfo(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	query := fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)
	makeServing(t, id)
	g.Expect(f.untilAppInfo(t, query).Info[0].AppInfo).NotTo(BeNil())

	const hold = "test.kooper.io/hold"
	g.Eventually(func() error {
		tenant := getTenant(t, id)
		tenant.Finalizers = append(tenant.Finalizers, hold)
		return k8sClient.Update(ctxFor(t), tenant)
	}).Should(Succeed())
	g.Expect(k8sClient.Delete(ctxFor(t), getTenant(t, id))).To(Succeed())
	t.Cleanup(func() {
		tenant := getTenant(t, id)
		tenant.Finalizers = slices.DeleteFunc(tenant.Finalizers, func(f string) bool { return f == hold })
		_ = k8sClient.Update(context.Background(), tenant)
	})

	a := f.call(t, query)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.Info).To(ConsistOf(HaveField("InstanceID", id)))
	g.Expect(a.Info[0].AppInfo).To(BeNil(), "no access details for a tenant whose record is being deleted")
	g.Expect(TenantAppInfo(getTenant(t, id)).Answer).To(Equal(AppInfoGone), "kubectl kooper describe says the same")
}

func TestQueryInstanceCanAnswer000004WhilePending(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, orderID := f.buy(t)
	opts := receiver.opts
	opts.PendingResultCode = koogallery.ResultProcessing
	pendingReceiver, err := NewReceiver(receiver.client, receiver.reader, opts)
	g.Expect(err).NotTo(HaveOccurred())

	for _, body := range []string{fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id), newInstanceBody(orderID)} {
		a := serveDirect(t, pendingReceiver, f, body)
		g.Expect(a.Code).To(Equal("000004"), body)
	}

	// Neither a released tenant nor a licence is pending: answering 000004
	// for them would keep the marketplace polling for ever.
	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))
	g.Eventually(func() string {
		return serveDirect(t, pendingReceiver, f, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id)).Code
	}).Should(Equal("000000"))
	licences := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	g.Expect(serveDirect(t, pendingReceiver, licences, newInstanceBody(newOrderID())).Code).To(Equal("000000"))
}

// rollingOut is the status the tenant controller writes while a rollout
// leaves the workload short of available replicas.
var rollingOut = []metav1.Condition{
	{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: saasv1alpha1.WorkloadUnavailableReason, Message: "1 of 3 replicas updated and available"},
	{Type: saasv1alpha1.AvailableCondition, Status: metav1.ConditionFalse, Reason: saasv1alpha1.WorkloadUnavailableReason, Message: "1 of 3 replicas updated and available"},
}

// Access details once delivered stay available through a rollout that
// makes the tenant not Ready; only a tenant never delivered is pending.
func TestQueryInstanceKeepsAppInfoOnceDelivered(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	opts := receiver.opts
	opts.PendingResultCode = koogallery.ResultProcessing
	pendingReceiver, err := NewReceiver(receiver.client, receiver.reader, opts)
	g.Expect(err).NotTo(HaveOccurred())
	query := func(id string) answer {
		return serveDirect(t, pendingReceiver, f, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	}
	delivered, _ := f.buy(t)
	never, _ := f.buy(t)

	makeServing(t, delivered)
	g.Eventually(func() string { return query(delivered).Code }).Should(Equal("000000"))
	tenant := getTenant(t, delivered)
	tenant.Status.FirstReadyTime = &metav1.Time{Time: time.Now().Truncate(time.Second)}
	for _, c := range rollingOut {
		apimeta.SetStatusCondition(&tenant.Status.Conditions, c)
	}
	g.Expect(k8sClient.Status().Update(ctxFor(t), tenant)).To(Succeed())
	makeProvisioned(t, never, rollingOut...)

	// The cache sees a kind's changes in order: once it shows the second
	// tenant provisioned, it shows the first one's rollout too.
	g.Eventually(func() string { return cachedNamespace(t, pendingReceiver, never) }).ShouldNot(BeEmpty())
	g.Expect(query(never).Code).To(Equal("000004"), "never delivered: pending")
	a := query(delivered)
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.Info).To(HaveLen(1))
	g.Expect(a.Info[0].AppInfo).NotTo(BeNil())
	g.Expect(koogallery.Decrypt(testKey, koogallery.EncryptAES256, a.Info[0].AppInfo.Password)).To(Equal("s3cret-P4ss"))
}

// cachedNamespace returns the tenant's namespace as the receiver's cache
// shows it.
func cachedNamespace(t *testing.T, r *Receiver, id string) string {
	t.Helper()
	tenant := &saasv1alpha1.SaaSTenant{}
	if err := r.client.Get(ctxFor(t), types.NamespacedName{Name: id}, tenant); err != nil {
		return ""
	}
	return tenant.Status.Namespace
}

// serveDirect calls a receiver's handler without the HTTP server.
func serveDirect(t *testing.T, r *Receiver, f *fixture, body string) answer {
	t.Helper()
	q := signedQuery(t, f.key, body)
	req := httptest.NewRequest(http.MethodPost, CallbackPathPrefix+f.product.Name+"?"+q.Encode(), strings.NewReader(body))
	req.SetPathValue("product", f.product.Name)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return decodeAnswer(t, rec.Result())
}

func TestQueryInstanceWithSeveralIDs(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	first, _ := f.buy(t)
	second, _ := f.buy(t)

	a := f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":"%s, i-unknown ,%s"}`, first, second))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	g.Expect(a.Info).To(HaveLen(2))

	a = f.call(t, `{"activity":"queryInstance","instanceId":"i-unknown,i-neither"}`)
	g.Expect(a.Code).To(Equal("000003"))

	many := strings.TrimSuffix(strings.Repeat(first+",", 101), ",")
	a = f.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, many))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring("more than 100"))
}

func TestInstancesOfAnotherProductAreUnknown(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	other := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	a := other.call(t, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	g.Expect(a.Code).To(Equal("000003"))
}

func refreshBody(id, orderID, scene, expire string) string {
	return fmt.Sprintf(`{"activity":"refreshInstance","scene":%q,"orderId":%q,"orderLineId":"%s-000001","instanceId":%q,"expireTime":%q}`,
		scene, orderID, orderID, id, expire)
}

func TestRefreshInstanceAppliesEachOrderOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	renewal := newOrderID()

	a := f.call(t, refreshBody(id, renewal, "RENEWAL", "20271124023618256"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	tenant := getTenant(t, id)
	// The API stores times to the second, so the milliseconds are dropped.
	g.Expect(tenant.Spec.ExpireTime.Time).To(BeTemporally("==", time.Date(2027, 11, 24, 2, 36, 18, 0, time.UTC)))
	g.Expect(tenant.Spec.Orders).To(HaveLen(2))
	g.Expect(tenant.Spec.Orders[1].OrderID).To(Equal(renewal))
	g.Expect(tenant.Spec.Orders[1].Scene).To(Equal(saasv1alpha1.SceneRenewal))

	// The repeat must not extend again, even with another expiry in it.
	a = f.call(t, refreshBody(id, renewal, "RENEWAL", "20281124023618"))
	g.Expect(a.Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).ResourceVersion).To(Equal(tenant.ResourceVersion))

	conversion := newOrderID()
	a = f.call(t, refreshBody(id, conversion, "TRIAL_TO_FORMAL", "20281124023618"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	tenant = getTenant(t, id)
	g.Expect(tenant.Spec.ExpireTime.Time).To(BeTemporally("==", time.Date(2028, 11, 24, 2, 36, 18, 0, time.UTC)))
	g.Expect(tenant.Spec.Orders[2].Scene).To(Equal(saasv1alpha1.SceneTrialToFormal))
}

func TestRefreshInstanceRefusesBadInput(t *testing.T) {
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	cases := []struct{ name, body, code, msg string }{
		{"unknown instance", refreshBody("i-never-issued", newOrderID(), "RENEWAL", "20271124023618"), "000003", "i-never-issued"},
		{"instance ID that is no object name", refreshBody("NOT/valid", newOrderID(), "RENEWAL", "20271124023618"), "000003", "NOT/valid"},
		{"expiry with 12 digits", refreshBody(id, newOrderID(), "RENEWAL", "202711240236"), "000002", "expireTime"},
		{"unknown scene", refreshBody(id, newOrderID(), "EXTEND", "20271124023618"), "000002", "scene"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			a := f.call(t, tc.body)
			g.Expect(a.Code).To(Equal(tc.code), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring(tc.msg))
		})
	}
}

func statusBody(id, status string) string {
	return fmt.Sprintf(`{"activity":"updateInstanceStatus","instanceId":%q,"status":%q}`, id, status)
}

func TestFreezeAndUnfreezeAreIdempotent(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)

	g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
	frozen := getTenant(t, id)
	g.Expect(frozen.Spec.State).To(Equal(saasv1alpha1.StateFrozen))
	g.Expect(f.call(t, statusBody(id, "FREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).ResourceVersion).To(Equal(frozen.ResourceVersion))

	g.Expect(f.call(t, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateActive))
	g.Expect(f.call(t, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))

	bad := f.call(t, statusBody(id, "PAUSE"))
	g.Expect(bad.Code).To(Equal("000002"))
	g.Expect(bad.Msg).To(ContainSubstring("status"))
	g.Expect(f.call(t, statusBody("i-never-issued", "FREEZE")).Code).To(Equal("000003"))
}

func TestReleaseInstanceReleasesOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	unsubscribe := newOrderID()
	body := fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q,"orderId":%q,"orderLineId":"%s-000001"}`, id, unsubscribe, unsubscribe)

	g.Expect(f.call(t, body).Code).To(Equal("000000"))
	released := getTenant(t, id)
	g.Expect(released.Spec.State).To(Equal(saasv1alpha1.StateReleased))
	g.Expect(released.Spec.Orders[len(released.Spec.Orders)-1].Activity).To(Equal(saasv1alpha1.ActivityReleaseInstance))

	g.Expect(f.call(t, body).Code).To(Equal("000000"))
	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).ResourceVersion).To(Equal(released.ResourceVersion))

	// Freezing or unfreezing a released instance changes nothing.
	g.Expect(f.call(t, statusBody(id, "UNFREEZE")).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.StateReleased))

	g.Expect(f.call(t, `{"activity":"releaseInstance","instanceId":"i-never-issued"}`).Code).To(Equal("000003"))
}

func upgradeBody(id, orderID string) string {
	return fmt.Sprintf(`{"activity":"upgradeInstance","instanceId":%q,"orderId":%q,"orderLineId":"%s-000001"}`, id, orderID, orderID)
}

func TestUpgradeInstanceAppliesEachOrderOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	upgrade := newOrderID()

	g.Expect(f.call(t, upgradeBody(id, upgrade)).Code).To(Equal("000000"))
	tenant := getTenant(t, id)
	g.Expect(tenant.Spec.Orders).To(HaveLen(2))
	g.Expect(tenant.Spec.Orders[1].Activity).To(Equal(saasv1alpha1.ActivityUpgradeInstance))
	g.Expect(f.call(t, upgradeBody(id, upgrade)).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).ResourceVersion).To(Equal(tenant.ResourceVersion))

	// A released instance stays as it is, and the upgrade is not a failed
	// order (docs/lifecycle.md rule R).
	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))
	released := getTenant(t, id)
	g.Expect(f.call(t, upgradeBody(id, newOrderID())).Code).To(Equal("000000"))
	g.Expect(getTenant(t, id).ResourceVersion).To(Equal(released.ResourceVersion))
	g.Expect(f.call(t, upgradeBody("i-never-issued", newOrderID())).Code).To(Equal("000003"))
}

func TestConcurrentRenewalsOfOneInstanceAllLand(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	const n = 10
	var wg sync.WaitGroup
	codes := make([]string, n)
	// A goroutine must not call t.Fatal: its errors are checked once all
	// are done.
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			a, err := f.sendAsMarketplace(refreshBody(id, newOrderID(), "RENEWAL", "20271124023618"))
			codes[i], errs[i] = a.Code, err
		})
	}
	wg.Wait()
	g.Expect(errors.Join(errs...)).NotTo(HaveOccurred())
	g.Expect(codes).To(HaveEach("000000"))
	g.Expect(getTenant(t, id).Spec.Orders).To(HaveLen(n + 1))
}

func TestChangeInstanceCheckAllowsOnlyPlansOfTheProduct(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	id, _ := f.buy(t)
	check := func(instance, sku string) answer {
		return f.call(t, fmt.Sprintf(`{"activity":"changeInstanceCheck","instanceId":%q,"productInfo":{"productId":"OFFI846204237451911168","skuCode":%q,"linearValue":10}}`, instance, sku))
	}
	g.Expect(check(id, "pro").Code).To(Equal("000000"))
	refused := check(id, "platinum")
	g.Expect(refused.Code).To(Equal("000002"))
	g.Expect(refused.Msg).To(ContainSubstring(`skuCode "platinum" is not a plan`))
	g.Expect(check("i-never-issued", "pro").Code).To(Equal("000003"))
}

// licenceOfOrder buys an instance of f whose order the controller resolved
// with charging mode until expiry, as the API server holds it.
func licenceOfOrder(t *testing.T, f *fixture, mode saasv1alpha1.ChargingMode, expiry time.Time) string {
	t.Helper()
	g := NewWithT(t)
	id, orderID := f.buy(t)
	instance := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, instance)).To(Succeed())
	instance.Status.SKUCode = "pro"
	instance.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: orderID, ProductID: "OFFI846204237451911168", SKUCode: "pro",
		ChargingMode: mode, ExpireTime: &metav1.Time{Time: expiry}}
	g.Expect(k8sClient.Status().Update(ctxFor(t), instance)).To(Succeed())
	return id
}

// TestGetLicenseAsyncIsWithinTheExpiryInForce: "within the current order's
// validity" (000901, spec §5) is within the expiry a renewal moved (rule E),
// as the licence controller issues it; it was the purchase order's expiry,
// so no licence could outlast the first period. A released instance has no
// order in force.
func TestGetLicenseAsyncIsWithinTheExpiryInForce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id := licenceOfOrder(t, f, saasv1alpha1.ChargingPeriod, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	g.Expect(f.call(t, licenseAsyncBody(id, "evt-"+newOrderID(), "fp", "2027-06-01 00:00:00 z")).Code).To(Equal("000901"))

	renewal := newOrderID()
	g.Expect(f.call(t, refreshBody(id, renewal, "RENEWAL", "20280101000000")).Code).To(Equal("000000"))
	a := f.call(t, licenseAsyncBody(id, "evt-"+newOrderID(), "fp", "2027-06-01 00:00:00 z"))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	a = f.call(t, licenseAsyncBody(id, "evt-"+newOrderID(), "fp", "2028-06-01 00:00:00 z"))
	g.Expect(a.Code).To(Equal("000901"))
	g.Expect(a.Msg).To(ContainSubstring("by 2028-01-01T00:00:00Z"))

	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))
	a = f.call(t, licenseAsyncBody(id, "evt-"+newOrderID(), "fp", "2027-06-01 00:00:00 z"))
	g.Expect(a.Code).To(Equal("000901"))
	g.Expect(a.Msg).To(ContainSubstring("released"))
}

// TestGetLicenseAsyncIsDecidedOnTheInstanceAsTheAPIServerHoldsIt: a cache
// that has not seen the release still holds the instance Active. The
// application was accepted on it (000000), and then never uploaded: the
// licence controller refuses a released instance's.
func TestGetLicenseAsyncIsDecidedOnTheInstanceAsTheAPIServerHoldsIt(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id := licenceOfOrder(t, f, saasv1alpha1.ChargingPeriod, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	stale := &saasv1alpha1.License{}
	g.Eventually(func(g Gomega) {
		g.Expect(receiver.client.Get(ctxFor(t), types.NamespacedName{Name: id}, stale)).To(Succeed())
		g.Expect(stale.Status.Order).NotTo(BeNil())
	}).Should(Succeed())
	g.Expect(f.call(t, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id)).Code).To(Equal("000000"))

	behind, err := NewReceiver(testenv.CacheBehind{Client: receiver.client, Old: stale}, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	a := serveDirect(t, behind, f, licenseAsyncBody(id, "evt-"+newOrderID(), "fp", "2026-12-31 00:00:00 z"))
	g.Expect(a.Code).To(Equal("000901"), a.Msg)
}

func licenseAsyncBody(id, eventID, fingerprint, expire string) string {
	body := fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":%q,"effectiveTime":"2026-11-22 10:30:15 z"`, id, eventID)
	if fingerprint != "" {
		body += fmt.Sprintf(`,"deviceFingerprint":%q`, fingerprint)
	}
	if expire != "" {
		body += fmt.Sprintf(`,"expireTime":%q`, expire)
	}
	return body + "}"
}

func TestGetLicenseAsyncRecordsEachApplicationOnce(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	id, _ := f.buy(t)
	body := licenseAsyncBody(id, "evt-1", "fp-1", "2027-11-22 10:30:15 z")

	g.Expect(f.call(t, body).Code).To(Equal("000000"))
	application := &saasv1alpha1.License{}
	key := types.NamespacedName{Name: licenseApplicationName("evt-1", "fp-1")}
	g.Expect(k8sClient.Get(ctxFor(t), key, application)).To(Succeed())
	g.Expect(application.Spec.InstanceID).To(Equal(id))
	g.Expect(application.Spec.EventID).To(Equal("evt-1"))
	g.Expect(application.Spec.DeviceFingerprint).To(Equal("fp-1"))
	g.Expect(application.Spec.NotBefore.Time).To(BeTemporally("==", time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)))
	g.Expect(application.Spec.NotAfter.Time).To(BeTemporally("==", time.Date(2027, 11, 22, 10, 30, 15, 0, time.UTC)))

	g.Expect(f.call(t, body).Code).To(Equal("000000"))
	g.Expect(f.call(t, licenseAsyncBody("i-never-issued", "evt-2", "", "")).Code).To(Equal("000003"))

	saas := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	saasID, _ := saas.buy(t)
	wrong := saas.call(t, licenseAsyncBody(saasID, "evt-3", "", ""))
	g.Expect(wrong.Code).To(Equal("000002"))
	g.Expect(wrong.Msg).To(ContainSubstring("License products"))
}

func TestGetLicenseAsyncAnswersTheLicenceCodes(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeLicense)
	// A device-bound plan, and an instance whose order the controller resolved.
	g.Expect(k8sClient.Patch(ctxFor(t), f.product, client.RawPatch(types.JSONPatchType,
		[]byte(`[{"op":"add","path":"/spec/plans/1/license/deviceBinding","value":"Required"}]`)))).To(Succeed())
	id, orderID := f.buy(t)
	instance := &saasv1alpha1.License{}
	g.Expect(k8sClient.Get(ctxFor(t), types.NamespacedName{Name: id}, instance)).To(Succeed())
	orderExpiry := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	instance.Status.SKUCode = "pro"
	instance.Status.Order = &saasv1alpha1.ResolvedOrder{OrderID: orderID, ProductID: "OFFI846204237451911168", SKUCode: "pro",
		ChargingMode: saasv1alpha1.ChargingPeriod, ExpireTime: &orderExpiry}
	g.Expect(k8sClient.Status().Update(ctxFor(t), instance)).To(Succeed())
	// The receiver reads through the manager's cache: wait until it has both changes.
	g.Eventually(func(g Gomega) {
		cached, product := &saasv1alpha1.License{}, &saasv1alpha1.SaaSProduct{}
		g.Expect(receiver.client.Get(ctxFor(t), types.NamespacedName{Name: id}, cached)).To(Succeed())
		g.Expect(cached.Status.Order).NotTo(BeNil())
		g.Expect(receiver.client.Get(ctxFor(t), client.ObjectKeyFromObject(f.product), product)).To(Succeed())
		g.Expect(product.Spec.Plans[1].License.DeviceBinding).To(Equal(saasv1alpha1.DeviceBindingRequired))
	}).Should(Succeed())

	cases := []struct{ name, body, code string }{
		{"no fingerprint for a device-bound plan", licenseAsyncBody(id, "e1", "", "2026-12-01 00:00:00 z"), "000903"},
		{"no expiry for a periodic order", licenseAsyncBody(id, "e2", "fp", ""), "000902"},
		{"expiry after the order's", licenseAsyncBody(id, "e3", "fp", "2027-06-01 00:00:00 z"), "000901"},
		{"within the order", licenseAsyncBody(id, "e4", "fp", "2026-12-01 00:00:00 z"), "000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := f.call(t, tc.body)
			NewWithT(t).Expect(a.Code).To(Equal(tc.code), a.Msg)
		})
	}
}
