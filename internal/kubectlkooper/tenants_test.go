package kubectlkooper

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/webhook"
)

// readyStatus is the status of a tenant the controller delivered.
func readyStatus(namespace string, at time.Time) saasv1alpha1.SaaSTenantStatus {
	return saasv1alpha1.SaaSTenantStatus{
		SKUCode: "basic", Namespace: namespace, FrontEndURL: "https://" + namespace + ".app.example.com",
		CredentialsSecretName: "kooper-credentials", ExpireTime: &metav1.Time{Time: at.AddDate(1, 0, 0)},
		FirstReadyTime: &metav1.Time{Time: at},
		Conditions: []metav1.Condition{{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Available",
			Message: "the tenant serves", LastTransitionTime: metav1.Time{Time: at}}},
		History: []saasv1alpha1.MarketplaceEvent{
			{Time: metav1.Time{Time: at.Add(-time.Hour)}, Activity: "newInstance", OrderID: "O1", State: saasv1alpha1.StateActive, Result: saasv1alpha1.HistoryApplied, Change: "purchased plan basic"},
			{Time: metav1.Time{Time: at}, Activity: "refreshInstance", OrderID: "O2", State: saasv1alpha1.StateActive, Result: saasv1alpha1.HistoryApplied, Change: "expireTime moved"},
		},
	}
}

// tenants lists, filters by product and state, and prints -o wide, json
// and yaml.
func TestTenants(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	product, other := "list-a", "list-b"
	active := newTenant(t, product, saasv1alpha1.StateActive, readyStatus("tenant-a", now))
	frozen := newTenant(t, product, saasv1alpha1.StateFrozen, saasv1alpha1.SaaSTenantStatus{SKUCode: "pro"})
	elsewhere := newTenant(t, other, saasv1alpha1.StateActive, saasv1alpha1.SaaSTenantStatus{})

	r := kooper("tenants", "--product", product)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	g.Expect(lines).To(HaveLen(3))
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"INSTANCE", "PRODUCT", "PLAN", "STATE", "EXPIRY", "READY", "LAST", "CALLBACK", "AGE"}))
	row := strings.Fields(lines[1])
	g.Expect(row[:6]).To(Equal([]string{active.Name, product, "basic", "Active", active.Status.ExpireTime.UTC().Format(time.RFC3339), "True"}))
	g.Expect(row[6]).To(Equal("refreshInstance"), "the last event of the history")
	g.Expect(strings.Fields(lines[2])[:6]).To(Equal([]string{frozen.Name, product, "pro", "Frozen", "<none>", "Unknown"}))
	g.Expect(r.out).NotTo(ContainSubstring(elsewhere.Name))

	r = kooper("tenants", "--product", product, "--state", "frozen")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(ContainSubstring(frozen.Name))
	g.Expect(r.out).NotTo(ContainSubstring(active.Name))

	r = kooper("tenants", "--product", product, "-o", "wide")
	g.Expect(r.out).To(And(ContainSubstring("NAMESPACE"), ContainSubstring("https://tenant-a.app.example.com"), ContainSubstring("the tenant serves")))

	r = kooper("tenants", "--product", other, "-o", "json")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	var list saasv1alpha1.SaaSTenantList
	g.Expect(json.Unmarshal([]byte(r.out), &list)).To(Succeed())
	g.Expect(list.Kind).To(Equal("SaaSTenantList"))
	g.Expect(list.Items).To(HaveLen(1))
	g.Expect(list.Items[0].Name).To(Equal(elsewhere.Name))
	g.Expect(list.Items[0].Kind).To(Equal("SaaSTenant"))

	r = kooper("tenants", "--product", other, "-o", "yaml")
	g.Expect(r.out).To(And(ContainSubstring("kind: SaaSTenantList"), ContainSubstring("name: "+elsewhere.Name)))

	r = kooper("tenants", "--product", product, "-o", "name")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(Equal("saastenant.saas.kooper.io/" + active.Name + "\nsaastenant.saas.kooper.io/" + frozen.Name + "\n"))
	r = kooper("tenants", "--product", product, "-o", "jsonpath={.items[*].spec.instanceId}")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(Equal(active.Name + " " + frozen.Name))

	r = kooper("tenants", "--product", "sold-nothing")
	g.Expect(r.code).To(Equal(ExitOK))
	g.Expect(r.errOut).To(ContainSubstring("No SaaSTenants found."))
}

// describe shows conditions, history, the namespace's objects with their
// health, and what queryInstance answers, as the receiver decides it.
func TestDescribe(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	now := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-describe-"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	tenant := newTenant(t, "describe", saasv1alpha1.StateActive, readyStatus(ns.Name, now))
	app := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "app"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1.0"}}}}},
	}
	g.Expect(k8sClient.Create(ctx, app)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "kooper-credentials"},
		StringData: map[string]string{saasv1alpha1.CredentialsPasswordKey: "s3cret-never-shown"}})).To(Succeed())

	// The Deployment is not available yet, and the receiver's copy of the
	// credentials is missing.
	r := kooper("describe", tenant.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		MatchRegexp(`queryInstance:\s+appInfo Delivered: .*but Secret kooper-test/credentials-%s is missing`, tenant.Name),
		MatchRegexp(`Ready\s+True\s+Available\s+\S+\s+the tenant serves`),
		MatchRegexp(`refreshInstance\s+O2\s+Active\s+Applied\s+expireTime moved`),
		MatchRegexp(`Deployment\s+app\s+InProgress`),
		MatchRegexp(`Secret\s+kooper-credentials\s+Current`),
	))
	g.Expect(r.out).NotTo(ContainSubstring("s3cret-never-shown"))

	app.Status = appsv1.DeploymentStatus{ObservedGeneration: app.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
	g.Expect(k8sClient.Status().Update(ctx, app)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace,
		Name: saasv1alpha1.CredentialsCopyName(tenant.Name)}})).To(Succeed())
	r = kooper("describe", tenant.Name)
	g.Expect(r.out).To(And(MatchRegexp(`Deployment\s+app\s+Current`), Not(ContainSubstring("is missing"))))

	r = kooper("describe", tenant.Name, "-o", "json")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	var doc struct {
		Kind    string         `json:"kind"`
		Tenant  map[string]any `json:"tenant"`
		AppInfo appInfoView    `json:"appInfo"`
		Objects []objectHealth `json:"objects"`
	}
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(Succeed())
	g.Expect(doc.Kind).To(Equal(describeKind))
	g.Expect(doc.AppInfo.Answer).To(Equal(webhook.AppInfoDelivered))
	g.Expect(doc.AppInfo.CredentialsFromPresent).To(BeTrue())
	g.Expect(doc.Objects).To(ContainElement(objectHealth{Kind: "Deployment", Name: "app", Status: "Current", Message: "Deployment is available. Replicas: 1"}))

	// A tenant never delivered: queryInstance answers without appInfo.
	pending := newTenant(t, "describe", saasv1alpha1.StateActive, saasv1alpha1.SaaSTenantStatus{})
	r = kooper("describe", pending.Name)
	g.Expect(r.out).To(And(MatchRegexp(`queryInstance:\s+appInfo Pending: `), MatchRegexp(`Objects in namespace <none>:\n\s+<none>`)))
}

// describe warns when the credentials key's Secret holds, by the
// fingerprint the controllers record on it, a key other than the one the
// tenant's password was derived from: the receiver would answer 000005.
// It reads the Secret's metadata only.
func TestDescribeCredentialsKeyOfAnotherFingerprint(t *testing.T) {
	g := NewWithT(t)
	ctx := ctxFor(t)
	const ours, theirs = "0123456789abcdef", "fedcba9876543210"
	status := readyStatus("tenant-key", time.Now())
	status.CredentialsKeyID = ours
	tenant := newTenant(t, "describe-key", saasv1alpha1.StateActive, status)
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: kooperNamespace, Name: saasv1alpha1.CredentialsKeySecretName,
		Annotations: map[string]string{saasv1alpha1.CredentialsKeyIDAnnotation: theirs}},
		Data: map[string][]byte{saasv1alpha1.CredentialsKeySecretKey: []byte("s3cret-key-never-shown-0123456789")}}
	g.Expect(k8sClient.Create(ctx, key)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), key) })
	annotate := func(id string) {
		t.Helper()
		patch := client.MergeFrom(key.DeepCopy())
		key.Annotations = map[string]string{saasv1alpha1.CredentialsKeyIDAnnotation: id}
		if id == "" {
			key.Annotations = nil
			patch = client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":null}}`))
		}
		g.Expect(k8sClient.Patch(ctx, key, patch)).To(Succeed())
	}

	r := kooper("describe", tenant.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(MatchRegexp(`queryInstance:\s+appInfo Delivered: .*; but Secret kooper-test/kooper-credentials-key holds key %s, `+
		`not key %s from which this tenant's password was derived, so it would answer 000005 until key %s is restored from a backup`,
		theirs, ours, ours))
	g.Expect(r.out).NotTo(ContainSubstring("s3cret-key-never-shown"))

	r = kooper("describe", tenant.Name, "-o", "json")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	var doc struct {
		AppInfo appInfoView `json:"appInfo"`
	}
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(Succeed())
	g.Expect(doc.AppInfo.CredentialsFromKeyID).To(Equal(theirs))

	// A Secret that holds no key (CredentialsKeyInvalid): no password can
	// be derived, and describe says so too.
	annotate(saasv1alpha1.CredentialsKeyIDNone)
	r = kooper("describe", tenant.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(MatchRegexp(`queryInstance:\s+appInfo Delivered: .*; but Secret kooper-test/kooper-credentials-key holds no usable key, `+
		`so it would answer 000005 until key %s is restored from a backup`, ours))

	// The tenant's own key, or one not fingerprinted yet: nothing more.
	annotate(ours)
	r = kooper("describe", tenant.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(MatchRegexp(`queryInstance:\s+appInfo Delivered: `))
	g.Expect(r.out).NotTo(Or(ContainSubstring("holds key"), ContainSubstring("000005")))
	annotate("")
	r = kooper("describe", tenant.Name)
	g.Expect(r.out).NotTo(Or(ContainSubstring("holds key"), ContainSubstring("000005")))
}

// frozenStatus is the status of a tenant frozen for reason, with the
// controller's message for a workload scaled to zero.
func frozenStatus(reason string, at time.Time) saasv1alpha1.SaaSTenantStatus {
	return saasv1alpha1.SaaSTenantStatus{SKUCode: "basic", ExpireTime: &metav1.Time{Time: at.AddDate(0, 0, -10)},
		Conditions: []metav1.Condition{
			{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: reason,
				Message: "Frozen: the workload is scaled to zero; its data is kept", LastTransitionTime: metav1.Time{Time: at}},
			{Type: saasv1alpha1.FrozenCondition, Status: metav1.ConditionTrue, Reason: reason,
				Message: "Frozen: the workload is scaled to zero; its data is kept", LastTransitionTime: metav1.Time{Time: at}},
		}}
}

// A tenant kooper froze on its own (the expiry safety net, packages
// exhausted) is Active in spec.state, what the marketplace ordered, yet
// serves nobody: tenants says so in its State and counts it as Frozen.
func TestTenantsFrozenByKooper(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	product := "list-frozen-by-kooper"
	serving := newTenant(t, product, saasv1alpha1.StateActive, readyStatus("tenant-serving", now))
	expired := newTenant(t, product, saasv1alpha1.StateActive, frozenStatus(saasv1alpha1.FrozenByExpiryReason, now))
	exhausted := newTenant(t, product, saasv1alpha1.StateActive, frozenStatus(saasv1alpha1.FrozenByExhaustionReason, now))
	ordered := newTenant(t, product, saasv1alpha1.StateFrozen, frozenStatus(saasv1alpha1.FrozenByMarketplaceReason, now))

	r := kooper("tenants", "--product", product)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		MatchRegexp(`(?m)^%s\s+%s\s+basic\s+Active\s+\S+\s+True\s`, serving.Name, product),
		MatchRegexp(`(?m)^%s\s+%s\s+basic\s+Active \(frozen: expired\)\s+\S+\s+False\s`, expired.Name, product),
		MatchRegexp(`(?m)^%s\s+%s\s+basic\s+Active \(frozen: packages exhausted\)\s+\S+\s+False\s`, exhausted.Name, product),
		MatchRegexp(`(?m)^%s\s+%s\s+basic\s+Frozen\s+\S+\s+False\s`, ordered.Name, product),
	))

	r = kooper("tenants", "--product", product, "--state", "Frozen", "-o", "name")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(Equal("saastenant.saas.kooper.io/" + expired.Name + "\nsaastenant.saas.kooper.io/" + exhausted.Name +
		"\nsaastenant.saas.kooper.io/" + ordered.Name + "\n"))

	r = kooper("tenants", "--product", product, "--state", "Active", "-o", "name")
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(Equal("saastenant.saas.kooper.io/"+serving.Name+"\n"), "a tenant kooper froze serves nobody: not Active")
}

// describe says a tenant kooper froze is frozen, why and what it means,
// though the marketplace's order says Active.
func TestDescribeFrozenByKooper(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	expired := newTenant(t, "describe-frozen", saasv1alpha1.StateActive, frozenStatus(saasv1alpha1.FrozenByExpiryReason, now))
	ordered := newTenant(t, "describe-frozen", saasv1alpha1.StateFrozen, frozenStatus(saasv1alpha1.FrozenByMarketplaceReason, now))
	serving := newTenant(t, "describe-frozen", saasv1alpha1.StateActive, readyStatus("tenant-serving", now))

	r := kooper("describe", expired.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		MatchRegexp(`(?m)^State:\s+Active \(frozen: expired\)$`),
		MatchRegexp(`(?m)^Frozen:\s+the workload is scaled to zero; its data is kept$`),
	))

	r = kooper("describe", ordered.Name)
	g.Expect(r.out).To(And(MatchRegexp(`(?m)^State:\s+Frozen$`), MatchRegexp(`(?m)^Frozen:\s+the workload is scaled to zero`)))

	r = kooper("describe", serving.Name)
	g.Expect(r.out).To(And(MatchRegexp(`(?m)^State:\s+Active$`), Not(MatchRegexp(`(?m)^Frozen:`))))
}

// A plan change the tenant stalled on (a plan the product lacks, a quota
// too small) moves status.skuCode while the objects still run the plan
// applied before: tenants and describe show both, where they showed the
// new plan alone, as if it ran.
func TestAPlanChangeNotAppliedShowsThePlanThatRuns(t *testing.T) {
	g := NewWithT(t)
	now := time.Now()
	product := "list-plan-change"
	status := readyStatus("tenant-plan-change", now)
	status.SKUCode, status.Applied = "pro", &saasv1alpha1.AppliedPlan{SKUCode: "basic"}
	changing := newTenant(t, product, saasv1alpha1.StateActive, status)
	steady := newTenant(t, product, saasv1alpha1.StateActive, readyStatus("tenant-steady", now))

	r := kooper("tenants", "--product", product)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(And(
		MatchRegexp(`(?m)^%s\s+%s\s+pro \(runs basic\)\s+Active\s`, changing.Name, product),
		MatchRegexp(`(?m)^%s\s+%s\s+basic\s+Active\s`, steady.Name, product),
	))
	r = kooper("describe", changing.Name)
	g.Expect(r.code).To(Equal(ExitOK), r.output())
	g.Expect(r.out).To(MatchRegexp(`(?m)^Plan:\s+pro \(runs basic\)$`))
}
