package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	webhookerrors "k8s.io/apiserver/pkg/admission/plugin/webhook/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/redact"
)

// quotedMarker starts what a policy's messageExpression returns in these
// tests, followed by the object's data: the message kooper shows must hold
// no part of it.
const quotedMarker = "QUOTED-BY-THE-POLICY"

// TestTheReasonOfARefusalQuotesNoValue: the reason kooper gives for an
// object the API server refused (apiMessage, in AdmissionRefused,
// ObjectInvalid and a rollout's TenantsNotTold, readable with the view
// role) kept a webhook's or a policy's message whole, an Unsupported or
// Duplicate value, a causeless BadRequest's message, and, for an Invalid
// without detail, what followed the value's last ": ". Now it names the
// field, the kind of refusal and who refused, never a value; value-free
// reasons stay.
func TestTheReasonOfARefusalQuotesNoValue(t *testing.T) {
	const secret = "Pa55: w0rd-13812345678"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a webhook's denial quoting a password",
			webhookerrors.ToStatusErr("validate.kyverno.svc-fail", &metav1.Status{Reason: metav1.StatusReasonForbidden, Code: 403,
				Message: "password '" + secret + "' is too weak"}),
			`admission webhook "validate.kyverno.svc-fail" denied the request (Forbidden, HTTP 403)`},
		{"a ValidatingAdmissionPolicy's messageExpression quoting a value",
			&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInvalid, Code: 422,
				Message: `secrets "kooper-sso" is forbidden: ValidatingAdmissionPolicy 'no-sso' with binding 'no-sso' denied request: clientSecret=` + secret,
				Details: &metav1.StatusDetails{Name: "kooper-sso", Kind: "secrets", Causes: []metav1.StatusCause{
					{Message: "ValidatingAdmissionPolicy 'no-sso' with binding 'no-sso' denied request: clientSecret=" + secret}}}}},
			"ValidatingAdmissionPolicy 'no-sso' with binding 'no-sso' denied request (Invalid, HTTP 422)"},
		{"an Unsupported value",
			apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
				field.NotSupported(field.NewPath("spec", "type"), secret, []string{"ClusterIP"})}),
			`spec.type: Unsupported value (value withheld): supported values: "ClusterIP"`},
		{"a Duplicate value",
			apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
				field.Duplicate(field.NewPath("spec", "ports").Index(1).Child("name"), secret)}),
			"spec.ports[1].name: Duplicate value (value withheld)"},
		{"a BadRequest without causes quoting a value",
			apierrors.NewBadRequest(`.data.password: expected string, got &value.valueUnstructured{Value:"` + secret + `"}`),
			"(BadRequest, HTTP 400)"},
		{"an Invalid without detail whose value holds ': '",
			apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "redis", field.ErrorList{
				field.Invalid(field.NewPath("spec", "selector"), map[string]any{"matchLabels": map[string]string{"app": secret}}, "")}),
			"spec.selector: Invalid value (value withheld)"},
		{"an immutable field",
			apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "redis", field.ErrorList{
				field.Invalid(field.NewPath("spec", "volumeClaimTemplates"), []map[string]string{{"name": secret}}, "field is immutable")}),
			"spec.volumeClaimTemplates: field is immutable"},
		{"an exceeded quota",
			apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "data",
				errors.New("exceeded quota: compute, requested: requests.storage=20Gi, used: requests.storage=90Gi, limited: requests.storage=100Gi")),
			"exceeded quota: compute, requested: requests.storage=20Gi, used: requests.storage=90Gi, limited: requests.storage=100Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := apiMessage(fmt.Errorf("failed to create the credentials Secret: %w", tc.err))
			g.Expect(got).NotTo(ContainSubstring("w0rd"))
			g.Expect(got).To(ContainSubstring(tc.want))
		})
	}
}

// quotingPolicy installs a ValidatingAdmissionPolicy, as a policy engine
// would, that refuses the writes rule matches where refuse (CEL) holds,
// with a messageExpression quoting the object's data after quotedMarker,
// and reason (Invalid when empty). It returns once the API server refuses
// probe (a policy takes effect a moment after it is stored).
func quotingPolicy(t *testing.T, name string, ops []admissionregistrationv1.OperationType, refuse string, reason metav1.StatusReason, probe func() error) {
	t.Helper()
	validation := admissionregistrationv1.Validation{Expression: "!(" + refuse + ")",
		MessageExpression: strconv.Quote(quotedMarker+" ") + ` + (has(object.data) ? object.data.map(k, k + '=' + object.data[k]).join(',') : '')`}
	if reason != "" {
		validation.Reason = ptr.To(reason)
	}
	installDenyingPolicy(t, name, admissionregistrationv1.RuleWithOperations{Operations: ops,
		Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"*"}, Resources: []string{"secrets"}}}, validation)
	NewWithT(t).Eventually(func() bool { return admissionRefusal(probe()) }).Should(BeTrue(), "the policy is enforced")
}

// tenantEventNotes are the notes of the Warning Events of reason about the
// tenant name.
func tenantEventNotes(t *testing.T, name, reason string) func() ([]string, error) {
	return func() ([]string, error) {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(testContext(t), list); err != nil {
			return nil, err
		}
		var notes []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
				notes = append(notes, e.Note)
			}
		}
		return notes, nil
	}
}

// TestACredentialsSecretAPolicyRefusesQuotingItShowsNoValue: a policy
// refusing the tenant's credentials Secret with a messageExpression that
// quotes its data (the admin password) had that data copied into the
// tenant's AdmissionRefused condition, its Reconciling condition and
// Warning Event, which the view role reads, and the reconcile's error log.
// Now they name the Secret and the policy, and no part of what the policy
// returned.
func TestACredentialsSecretAPolicyRefusesQuotingItShowsNoValue(t *testing.T) {
	g := NewWithT(t)
	p := newTenantProduct(t, nil)
	refuse := fmt.Sprintf(`has(object.metadata.labels) && %q in object.metadata.labels && object.metadata.labels[%q] == %q`,
		saasv1alpha1.ProductLabel, saasv1alpha1.ProductLabel, p.Name)
	name := "quote-credentials-" + p.Name
	quotingPolicy(t, name, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, refuse, "", func() error {
		probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: "default",
			Labels: map[string]string{saasv1alpha1.ProductLabel: p.Name}}, Data: map[string][]byte{"password": []byte("probe")}}
		return k8sClient.Create(testContext(t), probe, client.DryRunAll)
	})
	tenant := newTenant(t, p, "basic", nil)

	refused := eventuallyTenant(t, tenant.Name, hasCondition(saasv1alpha1.ProvisionedCondition, metav1.ConditionFalse, saasv1alpha1.AdmissionRefusedReason))
	msg := apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.ProvisionedCondition).Message
	g.Expect(msg).To(ContainSubstring("failed to create the credentials Secret in tenant-" + tenant.Name))
	g.Expect(msg).To(ContainSubstring(fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request (Invalid, HTTP 422)", name, name)))
	g.Expect(msg).NotTo(ContainSubstring(quotedMarker))
	// The reconcile's error, logged and put in Reconciling, is the same.
	reconciling := apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.ReconcilingCondition)
	g.Expect(reconciling).NotTo(BeNil())
	g.Expect(reconciling.Message).To(ContainSubstring(name))
	g.Expect(reconciling.Message).NotTo(ContainSubstring(quotedMarker))
	g.Eventually(tenantEventNotes(t, tenant.Name, saasv1alpha1.AdmissionRefusedReason)).Should(And(
		ContainElement(ContainSubstring(name)), Not(ContainElement(ContainSubstring(quotedMarker)))))
}

// TestADirectoryDeliveryAPolicyRefusesQuotingItShowsNoUser: a policy
// refusing, with reason Forbidden, the write of a tenant's directory index
// with a messageExpression that quotes its data had that data copied into
// the directory's DeliveryFailed condition (only Invalid and BadRequest
// answers were rewritten). Now the condition names the policy and no part
// of what it returned.
func TestADirectoryDeliveryAPolicyRefusesQuotingItShowsNoUser(t *testing.T) {
	g := NewWithT(t)
	product := kitProduct(t, nil)
	tenant := newTenant(t, product, "basic", nil)
	namespace := eventuallyTenant(t, tenant.Name, provisioned).Status.Namespace
	tenantID := "tenant-quoted"
	sync := func(orgs ...string) {
		body := kitBody(tenant.Name, tenantID, `"orgInfoList":`+strconv.Quote(kitOrgs(orgs...)))
		g.Expect(kitCall(t, product.Name, koogallery.KitAllOrgSync, body)).To(Equal("000000"))
	}
	sync("root", "a")
	eventuallyDirectory(t, tenant.Name, tenantID, directoryHas(saasv1alpha1.ReadyCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason))

	name := "quote-directory-" + product.Name
	refuse := fmt.Sprintf("object.metadata.namespace == %q && object.metadata.name == %q", namespace, saasv1alpha1.DirectorySecretName)
	quotingPolicy(t, name, []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, refuse, metav1.StatusReasonForbidden, func() error {
		return k8sClient.Update(testContext(t), getObject(t, &corev1.Secret{}, namespace, saasv1alpha1.DirectorySecretName), client.DryRunAll)
	})
	sync("root", "a", "b")

	failed := eventuallyDirectory(t, tenant.Name, tenantID, directoryHas(saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.DeliveryFailedReason))
	msg := apimeta.FindStatusCondition(failed.Status.Conditions, saasv1alpha1.DeliveredCondition).Message
	g.Expect(msg).To(ContainSubstring(fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request (Forbidden, HTTP 403)", name, name)))
	g.Expect(msg).NotTo(ContainSubstring(quotedMarker))
}

// capturedLog is a logger that keeps every line it is given, with its
// error and values, as the manager's logger would write them.
type capturedLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *capturedLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: redact.MaxVerbosity})
}

func (c *capturedLog) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// reconcileLogged runs r's Reconcile of name as the manager does, and
// returns what the manager would log of it: the lines logged through the
// reconcile's logger and the "Reconciler error" line of the error it
// returns.
func reconcileLogged(t *testing.T, r reconcile.Reconciler, name client.ObjectKey) string {
	t.Helper()
	captured := &capturedLog{}
	log := captured.logger()
	_, err := r.Reconcile(logr.NewContext(testContext(t), log), reconcile.Request{NamespacedName: name})
	if err != nil {
		log.Error(err, "Reconciler error")
	}
	return captured.text()
}

// licenceEventNotes are the notes of every Event about the licence name.
func licenceEventNotes(t *testing.T, name string) []string {
	t.Helper()
	list := &eventsv1.EventList{}
	NewWithT(t).Expect(k8sClient.List(testContext(t), list)).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "License" && e.Regarding.Name == name {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

// TestALicenceKeySecretAPolicyRefusesQuotingItShowsNoValue: a policy
// refusing the Secret holding a licence's key with a messageExpression that
// quotes its data (the signed key) had that key copied into the licence's
// Issued and Reconciling conditions, which the view role reads, and into
// the reconcile's error log. Now they name the policy and say its message
// is withheld, and hold no part of what it returned.
func TestALicenceKeySecretAPolicyRefusesQuotingItShowsNoValue(t *testing.T) {
	g := NewWithT(t)
	product, _ := newLicenseProduct(t, true)
	refuse := fmt.Sprintf(`object.metadata.namespace == %q && has(object.data) && %q in object.data && `+
		`has(object.metadata.labels) && %q in object.metadata.labels && object.metadata.labels[%q] == %q`,
		operatorNamespace, LicenseKeySecretKey, saasv1alpha1.ProductLabel, saasv1alpha1.ProductLabel, product.Name)
	name := "quote-licence-key-" + product.Name
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: operatorNamespace,
		Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name}}, Data: map[string][]byte{LicenseKeySecretKey: []byte("probe-key")}}
	quotingPolicy(t, name, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, refuse, "", func() error {
		return k8sClient.Create(testContext(t), probe.DeepCopy(), client.DryRunAll)
	})
	// The policy does quote the key: what kooper shows must not.
	g.Expect(k8sClient.Create(testContext(t), probe.DeepCopy(), client.DryRunAll)).To(MatchError(ContainSubstring(quotedMarker)))
	l := newLicense(t, product, "basic")

	withheld := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request (Invalid, HTTP 422); its message may quote the object and is withheld", name, name)
	quoted := []string{quotedMarker, LicenseKeySecretKey + "=", "eyJ", "ZXlK"} // the marker, the data's key, a JWS's start, in base64 too
	showsNoKey := func(g Gomega, text string) {
		for _, q := range quoted {
			g.Expect(text).NotTo(ContainSubstring(q))
		}
	}
	refused := eventuallyLicense(t, l.Name, func(g Gomega, l *saasv1alpha1.License) {
		licenseHas(saasv1alpha1.IssuedCondition, metav1.ConditionFalse, saasv1alpha1.IssueFailedReason)(g, l)
		g.Expect(apimeta.FindStatusCondition(l.Status.Conditions, saasv1alpha1.ReconcilingCondition)).NotTo(BeNil())
	})
	issued := apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.IssuedCondition).Message
	g.Expect(issued).To(ContainSubstring("failed to store the licence key"))
	g.Expect(issued).To(ContainSubstring(withheld))
	showsNoKey(g, issued)
	reconciling := apimeta.FindStatusCondition(refused.Status.Conditions, saasv1alpha1.ReconcilingCondition).Message
	g.Expect(reconciling).To(ContainSubstring(withheld))
	showsNoKey(g, reconciling)
	for _, note := range licenceEventNotes(t, l.Name) {
		showsNoKey(g, note)
	}

	r := &LicenseReconciler{Client: k8sClient, Reader: k8sClient, Scheme: k8sClient.Scheme(), Recorder: events.NewFakeRecorder(10),
		Clock: fakeClock, Orders: MarketplaceOrderClients(marketplace.server.URL), Options: LicenseOptions{SecretNamespace: operatorNamespace}}
	logged := reconcileLogged(t, r, client.ObjectKey{Name: l.Name})
	g.Expect(logged).To(ContainSubstring(withheld))
	showsNoKey(g, logged)
}

// TestAKeysSecretPatchAPolicyRefusesQuotingItLogsNoValue: a policy
// refusing, with a messageExpression that quotes the data, the patches
// kooper makes to a keys Secret (its in-use finalizer, its keys label, the
// credentials key's fingerprint) had the marketplace keys, the licence
// signing key or the credentials master key copied into the reconcile's
// error log. Now the error names the policy and no part of what it
// returned.
func TestAKeysSecretPatchAPolicyRefusesQuotingItLogsNoValue(t *testing.T) {
	g := NewWithT(t)
	namespace := fmt.Sprintf("quote-keys-%d", tenantSeq.Add(1))
	g.Expect(k8sClient.Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	secret := keysSecret(namespace, saasv1alpha1.CredentialsKeySecretName, map[string]string{saasv1alpha1.LicenseSigningKeySecretKey: "signing-key"})
	g.Expect(k8sClient.Create(testContext(t), secret)).To(Succeed())
	name := "quote-keys-" + namespace
	quotingPolicy(t, name, []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, fmt.Sprintf("object.metadata.namespace == %q", namespace), "",
		func() error { return k8sClient.Update(testContext(t), secret.DeepCopy(), client.DryRunAll) })
	withheld := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request (Invalid, HTTP 422)", name, name)

	for step, patch := range map[string]func(context.Context, *corev1.Secret) error{
		"the in-use finalizer": func(ctx context.Context, s *corev1.Secret) error { return holdInUse(ctx, k8sClient, s, true) },
		"the keys label":       func(ctx context.Context, s *corev1.Secret) error { return markKeys(ctx, k8sClient, s, true) },
		"the key's fingerprint": func(ctx context.Context, s *corev1.Secret) error {
			return (&KeysSecretReconciler{Client: k8sClient}).fingerprintKey(ctx, &keysSecretState{secret: s}).err
		},
	} {
		t.Run(step, func(t *testing.T) {
			g := NewWithT(t)
			err := patch(testContext(t), getObject(t, &corev1.Secret{}, namespace, secret.Name))
			g.Expect(err).To(MatchError(ContainSubstring(withheld)))
			g.Expect(err.Error()).NotTo(ContainSubstring(quotedMarker))
			g.Expect(err.Error()).NotTo(ContainSubstring("signing-key"))
			g.Expect(err.Error()).NotTo(ContainSubstring("c2lnbmluZy1rZXk")) // in base64
			g.Expect(admissionRefusal(err)).To(BeTrue(), "still told as a refusal")
		})
	}
}

// TestReconcilingSaysNoValueARefusalQuotes: the Reconciling condition of a
// tenant or a licence held the reconcile's error whole, so a refusal a step
// let through unwithheld (a Secret's deletion a policy refuses quoting it)
// showed what the policy quoted to the view role. Now it is withheld there,
// in each error an aggregate joins too; a refusal withheld already still
// names its policy, and other errors read as before.
func TestReconcilingSaysNoValueARefusalQuotes(t *testing.T) {
	refusal := func(policy string) error {
		denied := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s data=s3cr3t", policy, policy, quotedMarker)
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInvalid, Code: 422,
			Message: `secrets "pull" is forbidden: ` + denied,
			Details: &metav1.StatusDetails{Name: "pull", Kind: "secrets", Causes: []metav1.StatusCause{{Message: denied}}}}}
	}
	named := func(policy string) string {
		return fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request (Invalid, HTTP 422)", policy, policy)
	}
	deleting := fmt.Errorf("failed to delete Secret tenant-1/pull: %w", refusal("p1"))
	withheldAlready := fmt.Errorf("failed to store the licence key: %w", redact.APIError(refusal("p2")))
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"a refusal let through", deleting, []string{"failed to delete Secret tenant-1/pull: ", named("p1")}},
		{"a refusal withheld already", withheldAlready, []string{"failed to store the licence key: ", named("p2")}},
		{"an aggregate", kerrors.NewAggregate([]error{withheldAlready, deleting}), []string{named("p1"), named("p2")}},
		{"an errors.Join", errors.Join(errors.New("first"), deleting), []string{"first\n", named("p1")}},
		{"a webhook that says nothing",
			webhookerrors.ToStatusErr("quiet.example.com", &metav1.Status{Code: 403, Reason: metav1.StatusReasonForbidden}),
			[]string{`admission webhook "quiet.example.com" denied the request`}},
		{"not the API server's", errors.New("the registry did not answer within 2s"), []string{"the registry did not answer within 2s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := reconcilingMessage(tc.err)
			g.Expect(got).NotTo(ContainSubstring(quotedMarker))
			g.Expect(got).NotTo(ContainSubstring("s3cr3t"))
			for _, want := range tc.want {
				g.Expect(got).To(ContainSubstring(want))
			}
		})
	}
}

// TestAReconcileErrorLoggedQuotesNoValue: controller-runtime logs the error
// a reconcile returns ("Reconciler error"); steps that let an admission
// refusal through unwithheld (a workload's scale-down, a Secret's deletion
// in teardown) had what the policy quoted logged whole.
func TestAReconcileErrorLoggedQuotesNoValue(t *testing.T) {
	g := NewWithT(t)
	denied := fmt.Sprintf("ValidatingAdmissionPolicy 'p' with binding 'b' denied request: %s data=s3cr3t", quotedMarker)
	refusal := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonForbidden, Code: 403,
		Message: `secrets "pull" is forbidden: ` + denied}}
	var result reconcile.Result
	err := finishReconcile(context.Background(), &result, fmt.Errorf("failed to delete Secret tenant-1/pull: %w", refusal), errors.New("failed to patch"))
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).NotTo(ContainSubstring("s3cr3t"))
	g.Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy 'p' with binding 'b' denied request (Forbidden, HTTP 403)"))
	g.Expect(err.Error()).To(ContainSubstring("failed to patch"))
}
