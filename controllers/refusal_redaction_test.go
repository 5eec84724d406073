package controllers

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	webhookerrors "k8s.io/apiserver/pkg/admission/plugin/webhook/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
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
