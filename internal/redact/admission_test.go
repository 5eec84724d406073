package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	webhookerrors "k8s.io/apiserver/pkg/admission/plugin/webhook/errors"
)

// password stands for any value of an object kooper writes: the admin
// password of kooper-credentials, an SSO clientSecret, a user's phone. It
// holds ": " so that a rule cutting at the last ": " keeps part of it.
const password = "Pa55: w0rd-13812345678"

// vapDenial is a ValidatingAdmissionPolicy's refusal as kube-apiserver
// builds it (k8s.io/apiserver/pkg/admission/plugin/policy/validating,
// dispatcher.go: admission.NewForbidden, then the policy's reason, Invalid
// when it has none, and the message again as a cause), with message what
// the policy's messageExpression returned.
func vapDenial(reason metav1.StatusReason, code int32, message string) error {
	denied := "ValidatingAdmissionPolicy 'refuse-credentials' with binding 'refuse-credentials-binding' denied request: " + message
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Reason: reason, Code: code,
		Message: `secrets "kooper-credentials" is forbidden: ` + denied,
		Details: &metav1.StatusDetails{Name: "kooper-credentials", Kind: "secrets", Causes: []metav1.StatusCause{{Message: denied}}},
	}}
}

// unmarshalable is a value encoding/json refuses, so that field.Error
// prints it with %#v: where such a value ends in a message cannot be told.
type unmarshalable struct {
	Password string
	Done     chan struct{}
}

// refusals are the API server's answers that quote a value of the object,
// and two that quote none and must stay useful, with what the rewritten
// message must and must not say.
var refusals = []struct {
	name    string
	err     error
	want    []string
	withhld []string // never in the result
	same    bool     // returned unchanged
}{
	{name: "a webhook's denial quoting a password",
		err: webhookerrors.ToStatusErr("validate.kyverno.svc-fail", &metav1.Status{Reason: metav1.StatusReasonForbidden, Code: 403,
			Message: "resource Secret/tenant-1/kooper-credentials was blocked: password: '" + password + "' is too weak"}),
		want: []string{`admission webhook "validate.kyverno.svc-fail" denied the request (Forbidden, HTTP 403)`, "withheld"}},
	{name: "a webhook's denial without a reason, with causes of its own",
		err: webhookerrors.ToStatusErr("gatekeeper.sh", &metav1.Status{Message: "[no-plain-secrets] " + password,
			Details: &metav1.StatusDetails{Name: password, Causes: []metav1.StatusCause{{Field: "data.password", Message: password}}}}),
		want: []string{`admission webhook "gatekeeper.sh" denied the request (HTTP 400)`}},
	{name: "a ValidatingAdmissionPolicy's messageExpression quoting a value",
		err:  vapDenial(metav1.StatusReasonInvalid, 422, "refused: password="+password),
		want: []string{"ValidatingAdmissionPolicy 'refuse-credentials' with binding 'refuse-credentials-binding' denied request (Invalid, HTTP 422)"}},
	{name: "a ValidatingAdmissionPolicy with reason Forbidden",
		err:  vapDenial(metav1.StatusReasonForbidden, 403, password),
		want: []string{"ValidatingAdmissionPolicy 'refuse-credentials' with binding 'refuse-credentials-binding' denied request (Forbidden, HTTP 403)"}},
	{name: "an Unsupported value",
		err: apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
			field.NotSupported(field.NewPath("spec", "type"), password, []string{"ClusterIP", "NodePort"})}),
		want: []string{`spec.type: Unsupported value (value withheld): supported values: "ClusterIP", "NodePort"`}},
	{name: "a Duplicate value",
		err: apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
			field.Duplicate(field.NewPath("spec", "ports").Index(1).Child("name"), password)}),
		want: []string{"spec.ports[1].name: Duplicate value (value withheld)"}},
	{name: "a BadRequest without causes quoting a value",
		err:  apierrors.NewBadRequest(`failed to create typed patch object: .data.password: expected string, got &value.valueUnstructured{Value:"` + password + `"}`),
		want: []string{"(BadRequest, HTTP 400)", "withheld"}},
	{name: "an Invalid without detail whose value holds ': '",
		err: apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "redis", field.ErrorList{
			field.Invalid(field.NewPath("spec", "selector"), map[string]any{"matchLabels": map[string]string{"app": password}}, ""),
			field.Invalid(field.NewPath("spec", "serviceName"), password, "")}),
		want: []string{"spec.selector: Invalid value (value withheld)", "spec.serviceName: Invalid value (value withheld)"}},
	{name: "an Invalid whose value cannot be told from its detail",
		err: apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "kooper-credentials", field.ErrorList{
			field.Invalid(field.NewPath("data"), unmarshalable{Password: password}, "detail: "+password)}),
		want: []string{"data: Invalid value (value withheld)"}},
	{name: "an immutable field (kept)",
		err: apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "redis", field.ErrorList{
			field.Invalid(field.NewPath("spec", "volumeClaimTemplates"), []map[string]string{{"name": "data", "note": password}}, "field is immutable"),
			field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"),
			field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests\n  core.PersistentVolumeClaimSpec{\n-  VolumeName: \""+password+"\"")}),
		want: []string{"spec.volumeClaimTemplates: field is immutable", "data: Forbidden: field is immutable when `immutable` is set",
			"spec: Forbidden: spec is immutable after creation except resources.requests"}},
	{name: "an exceeded quota (kept)",
		err: apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "data",
			errors.New("exceeded quota: compute, requested: requests.storage=20Gi, used: requests.storage=90Gi, limited: requests.storage=100Gi")),
		same: true},
}

func TestAPIErrorWithholdsWhatAnAdmissionRefusalOrAFieldErrorQuotes(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			wrapped := fmt.Errorf("failed to apply Secret tenant-1/kooper-credentials: %w", tc.err)
			got := APIError(wrapped)
			if tc.same {
				g.Expect(got).To(BeIdenticalTo(wrapped))
				return
			}
			g.Expect(got.Error()).To(HavePrefix("failed to apply Secret tenant-1/kooper-credentials: "))
			g.Expect(got.Error()).NotTo(ContainSubstring("w0rd"), "no part of the value")
			for _, want := range tc.want {
				g.Expect(got.Error()).To(ContainSubstring(want))
			}
			var status *apierrors.StatusError
			g.Expect(errors.As(got, &status)).To(BeTrue())
			g.Expect(status.ErrStatus.Reason).To(Equal(apierrors.ReasonForError(tc.err)), "apierrors.Is* answer as before")
			g.Expect(status.ErrStatus.Code).To(Equal(tc.err.(apierrors.APIStatus).Status().Code))
			g.Expect(fmt.Sprintf("%+v", status.ErrStatus)).NotTo(ContainSubstring("w0rd"), "nor in the status's details")
		})
	}
}

// Reason, the words a condition or an Event gives, follows the same rule:
// the causes, or who refused, without the object and without any value.
func TestReasonWithholdsWhatAnAdmissionRefusalOrAFieldErrorQuotes(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := Reason(fmt.Errorf("failed to apply Secret tenant-1/kooper-credentials: %w", tc.err))
			if tc.same {
				g.Expect(got).To(Equal(tc.err.Error()))
				return
			}
			g.Expect(got).NotTo(ContainSubstring("w0rd"), "no part of the value")
			for _, want := range tc.want {
				g.Expect(got).To(ContainSubstring(want))
			}
		})
	}
	g := NewWithT(t)
	g.Expect(Reason(nil)).To(BeEmpty())
	g.Expect(Reason(errors.New("not the API server's"))).To(Equal("not the API server's"))
}

// FuzzAPIErrorWithholdsQuotedValues: whatever a value holds (quotes,
// ": ", new lines, bytes that are not UTF-8), no part of it survives
// APIError or Reason, in each way the API server quotes one.
// go test ./internal/redact/ -run '^$' -fuzz FuzzAPIErrorWithholdsQuotedValues -fuzztime 30s
func FuzzAPIErrorWithholdsQuotedValues(f *testing.F) {
	for _, seed := range []string{"", `": "`, "a: b: c", "\n\"}]", `\"`, "\xff", "admission webhook \"x\" denied the request: "} {
		f.Add(seed)
	}
	const marker = "SECRETVALUE" // starts every value: found, it means a value survived
	path := field.NewPath("data").Key("password")
	gk := schema.GroupKind{Kind: "Secret"}
	f.Fuzz(func(t *testing.T, v string) {
		value := marker + v
		for _, err := range []error{
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Invalid(path, value, "must be short")}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Invalid(path, value, "")}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Invalid(path, map[string]string{"k": value}, "field is immutable")}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Invalid(path, unmarshalable{Password: value}, "must be short")}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.NotSupported(path, value, []string{"a"})}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Duplicate(path, value)}),
			apierrors.NewInvalid(gk, "s", field.ErrorList{field.Forbidden(path, "immutable\n- "+value)}),
			apierrors.NewBadRequest("got &value.valueUnstructured{Value:" + value + "}"),
			webhookerrors.ToStatusErr("w.example.com", &metav1.Status{Message: value,
				Details: &metav1.StatusDetails{Name: value, Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueRequired, Message: value}}}}),
			vapDenial(metav1.StatusReasonForbidden, 403, value),
		} {
			if got := APIError(err).Error(); strings.Contains(got, marker) {
				t.Fatalf("APIError kept the value: %q", got)
			}
			if got := Reason(err); strings.Contains(got, marker) {
				t.Fatalf("Reason kept the value: %q", got)
			}
		}
	})
}
