package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// APIError returns err without the values the API server quoted from the
// object it refused, so that it can be logged or put in a condition or an
// Event, which readers of lesser rights see.
//
// Two kinds of answer quote the object; both are rewritten by one rule:
//   - A refusal by an admission webhook or a ValidatingAdmissionPolicy
//     (whatever its code) carries a message the webhook or the policy's
//     messageExpression wrote, which may quote any value of the object (a
//     password, a user's phone). Only who refused, the reason and the code
//     are kept (`ValidatingAdmissionPolicy 'p' with binding 'b' denied
//     request (Invalid, HTTP 422); its message may quote the object and is
//     withheld`); the details, which a webhook fills as it likes, go.
//   - An Invalid or BadRequest answer is rebuilt from the kind, the name and
//     each cause as Reason words it (see there); a BadRequest or Invalid
//     without causes keeps only its reason and code.
//
// Every other answer (NotFound, Conflict, an exceeded quota, a timeout)
// names objects and quantities, never their content, and is returned
// unchanged, as is an error that is not the API server's, and nil.
//
// The result still answers apierrors.IsInvalid, IsForbidden, IsBadRequest
// and errors.As as err did (the reason and the code are kept); where err
// wrapped the API error, the wrapping text is kept and only the API
// server's message in it is replaced.
//
// An error that joins several (errors.Join, a kerrors.Aggregate: a failed
// step's and the freeze that follows it, say) has each withheld on its own.
// An error APIError returned is returned as it is, wrapped or not: withheld
// twice, a refusal would no longer say who refused.
func APIError(err error) error {
	_, withheld := apiError(err)
	return withheld
}

// apiError is whether APIError(err) differs from err, and APIError(err).
func apiError(err error) (bool, error) {
	if parts := joinedErrors(err); len(parts) > 0 {
		return withheldParts(err, parts)
	}
	var status apierrors.APIStatus
	var done *withheldError
	if err == nil || errors.As(err, &done) || !errors.As(err, &status) {
		return false, err
	}
	original := status.Status()
	withheld, changed := withheldStatus(original)
	if !changed {
		return false, err
	}
	replaced := &apierrors.StatusError{ErrStatus: *withheld}
	msg := replaced.Error()
	if outer := err.Error(); original.Message != "" && strings.Contains(outer, original.Message) {
		msg = strings.ReplaceAll(outer, original.Message, withheld.Message)
	}
	return true, &withheldError{msg: msg, status: replaced}
}

// joinedErrors are the errors err joins when it is, or wraps, a
// kerrors.Aggregate or an errors.Join; none otherwise.
func joinedErrors(err error) []error {
	var aggregate kerrors.Aggregate
	if errors.As(err, &aggregate) {
		return aggregate.Errors()
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	return nil
}

// withheldParts is whether any of parts, which err joins, had anything
// withheld, and err with each part withheld by APIError in its text and in
// what it unwraps to.
func withheldParts(err error, parts []error) (bool, error) {
	msg, withheld, changed := err.Error(), make([]error, len(parts)), false
	for i, part := range parts {
		var partChanged bool
		if partChanged, withheld[i] = apiError(part); partChanged {
			msg, changed = strings.ReplaceAll(msg, part.Error(), withheld[i].Error()), true
		}
	}
	if !changed {
		return false, err
	}
	return true, &withheldJoin{msg: msg, errs: withheld}
}

// Reason is why the API server refused a write, in words that quote no
// value of the object, for a condition's or an Event's message: for an
// admission refusal, who refused with the reason and the code (as
// APIError); for an answer with causes, "<field>: <why>" for each, joined
// by ", ". A cause's why is:
//   - its message, for the kinds that never print the value (Required,
//     Forbidden, TooLong, TooShort, Internal: "data: Forbidden: field is
//     immutable when `immutable` is set");
//   - the detail alone, for an Invalid value, when where the value ends can
//     be told ("spec.volumeClaimTemplates: field is immutable");
//   - its kind with "(value withheld)" and that detail, for any other
//     ("spec.type: Unsupported value (value withheld): supported values:
//     \"ClusterIP\"", "spec.selector: Invalid value (value withheld)").
//
// Only a message's first line is kept: a diff of the object may follow.
// Any other answer is its message as APIError leaves it ("persistentvolumeclaims
// \"data\" is forbidden: exceeded quota: compute, requested: ..."); an
// error that is not the API server's is err.Error(), and nil is "".
func Reason(err error) string {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return ""
	case !errors.As(err, &status):
		return err.Error()
	}
	s := status.Status()
	if by, ok := admissionRefuser(s.Message); ok {
		return refusedBy(by, &s)
	}
	if s.Details != nil && len(s.Details.Causes) > 0 {
		return joinCauses(s.Details.Causes)
	}
	if withheld, changed := withheldStatus(s); changed {
		return withheld.Message
	}
	return s.Message
}

// withheldStatus is s without what it quotes of the object, and whether
// anything was withheld (see APIError).
func withheldStatus(s metav1.Status) (*metav1.Status, bool) {
	if by, ok := admissionRefuser(s.Message); ok {
		withheld := metav1.Status{TypeMeta: s.TypeMeta, Status: s.Status, Reason: s.Reason, Code: s.Code, Message: refusedBy(by, &s)}
		if s.Details != nil && s.Details.RetryAfterSeconds > 0 {
			withheld.Details = &metav1.StatusDetails{RetryAfterSeconds: s.Details.RetryAfterSeconds}
		}
		return &withheld, true
	}
	if s.Reason != metav1.StatusReasonInvalid && s.Reason != metav1.StatusReasonBadRequest {
		return nil, false
	}
	withheld := s.DeepCopy()
	if withheld.Details != nil {
		for i := range withheld.Details.Causes {
			c := &withheld.Details.Causes[i]
			c.Message = causeReason(*c)
		}
	}
	withheld.Message = withoutValues(withheld)
	return withheld, true
}

// The messages kube-apiserver gives an admission refusal
// (k8s.io/apiserver/pkg/admission/plugin/webhook/errors.ToStatusErr and
// plugin/policy/validating's dispatcher): what follows "denied the
// request" or "denied request" is the webhook's or the policy's, and may
// quote the object. Whether a message is a refusal is told as
// controllers.admissionRefusal tells it (anywhere in the message), so
// that whatever kooper treats as one is withheld; who refused is read only
// from kube-apiserver's own words at the message's start, and only when it
// is a Kubernetes name, so that no value can be taken for it.
var (
	webhookRefusal = regexp.MustCompile(`^admission webhook "(` + nameSyntax + `)" denied the request`)
	policyRefusal  = regexp.MustCompile(`^(?:[a-z0-9./-]+(?: "[^"\\]*")? is )?forbidden: ValidatingAdmissionPolicy '(` + nameSyntax +
		`)'(?: with binding '(` + nameSyntax + `)')? denied request`)
)

// nameSyntax is a DNS subdomain (RFC 1123), which webhook, policy and
// binding names are.
const nameSyntax = `[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?`

// admissionRefuser is who refused, in kube-apiserver's words without what
// follows them, when msg is an admission webhook's or a
// ValidatingAdmissionPolicy's refusal; ok is false for any other message.
func admissionRefuser(msg string) (by string, ok bool) {
	switch {
	case strings.Contains(msg, "admission webhook ") && strings.Contains(msg, " denied the request"):
		if m := webhookRefusal.FindStringSubmatch(msg); m != nil {
			return fmt.Sprintf("admission webhook %q denied the request", m[1]), true
		}
		return "an admission webhook (name not recognized) denied the request", true
	case strings.Contains(msg, "ValidatingAdmissionPolicy '") && strings.Contains(msg, " denied request"):
		m := policyRefusal.FindStringSubmatch(msg)
		switch {
		case m == nil:
			return "ValidatingAdmissionPolicy '(name not recognized)' denied request", true
		case m[2] != "":
			return fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request", m[1], m[2]), true
		default:
			return fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request", m[1]), true
		}
	}
	return "", false
}

// refusedBy is an admission refusal's message with its reason and code.
func refusedBy(by string, s *metav1.Status) string {
	return fmt.Sprintf("%s (%s); its message may quote the object and is withheld", by, reasonAndCode(s))
}

func reasonAndCode(s *metav1.Status) string {
	if s.Reason == "" {
		return fmt.Sprintf("HTTP %d", s.Code)
	}
	return fmt.Sprintf("%s, HTTP %d", s.Reason, s.Code)
}

// valueFree are the causes whose message never prints the refused value
// (field.Error.ErrorBody writes the type and the detail alone).
var valueFree = map[field.ErrorType]bool{
	field.ErrorTypeRequired:  true,
	field.ErrorTypeForbidden: true,
	field.ErrorTypeTooLong:   true,
	field.ErrorTypeTooShort:  true,
	field.ErrorTypeInternal:  true,
}

// quotingValue are the causes whose message is "<kind>: <value>[: <detail>]"
// (field.Error.ErrorBody).
var quotingValue = map[field.ErrorType]bool{
	field.ErrorTypeInvalid:      true,
	field.ErrorTypeTypeInvalid:  true,
	field.ErrorTypeNotSupported: true,
	field.ErrorTypeNotFound:     true,
	field.ErrorTypeDuplicate:    true,
	field.ErrorTypeTooMany:      true,
	field.ErrorTypeTooFew:       true,
}

// causeReason is c's message without the value it quotes (see Reason), and
// without its field.
func causeReason(c metav1.StatusCause) string {
	t := field.ErrorType(c.Type)
	msg, _, _ := strings.Cut(c.Message, "\n") // a diff of the object may follow (a claim's spec)
	kind := t.String()
	switch {
	case valueFree[t] && (msg == kind || strings.HasPrefix(msg, kind+": ")):
		return msg
	case !quotingValue[t]:
		if c.Type == "" {
			return "(message withheld)"
		}
		return string(c.Type) + " (message withheld)"
	case msg == kind: // the value was omitted
		return msg
	}
	detail, ok := afterValue(strings.TrimPrefix(msg, kind+": "))
	switch {
	case !ok || !strings.HasPrefix(msg, kind+": ") || detail == "":
		return kind + " (value withheld)"
	case t == field.ErrorTypeInvalid || t == field.ErrorTypeTypeInvalid:
		return detail // the detail says what is invalid
	default:
		return kind + " (value withheld): " + detail
	}
}

// afterValue is the detail after the value s starts with, as
// field.Error.ErrorBody prints it: a Go-quoted string, or JSON (a number,
// a list, a struct); "" when s is the value alone. ok is false when where
// the value ends cannot be told (a value printed with %#v or String): then
// nothing after its start can be kept.
func afterValue(s string) (detail string, ok bool) {
	var end int
	if strings.HasPrefix(s, `"`) {
		quoted, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", false
		}
		end = len(quoted)
	} else {
		dec := json.NewDecoder(strings.NewReader(s))
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil || strings.TrimLeft(s, " \t\r\n") != s { // JSON starts at once
			return "", false
		}
		end = int(dec.InputOffset())
	}
	rest := s[end:]
	if rest == "" {
		return "", true
	}
	return strings.CutPrefix(rest, ": ")
}

// joinCauses is "<field>: <reason>" for each cause, joined by ", ".
func joinCauses(causes []metav1.StatusCause) string {
	out := make([]string, 0, len(causes))
	for _, c := range causes {
		out = append(out, withField(c.Field, causeReason(c)))
	}
	return strings.Join(out, ", ")
}

func withField(path, reason string) string {
	if path == "" {
		return reason
	}
	return path + ": " + reason
}

// withoutValues is the message of a refusal built from its details, whose
// causes' messages are already free of values.
func withoutValues(s *metav1.Status) string {
	d := s.Details
	if d == nil || len(d.Causes) == 0 {
		return fmt.Sprintf("the API server refused the request (%s); its message may quote the object and is withheld", reasonAndCode(s))
	}
	fields := make([]string, 0, len(d.Causes))
	for _, c := range d.Causes {
		fields = append(fields, withField(c.Field, c.Message))
	}
	kind := d.Kind
	if d.Group != "" {
		kind += "." + d.Group
	}
	return fmt.Sprintf("%s %q was refused (%s): %s", kind, d.Name, s.Reason, strings.Join(fields, ", "))
}

// withheldError is an API error whose message no longer quotes the object.
type withheldError struct {
	msg    string
	status *apierrors.StatusError
}

func (e *withheldError) Error() string { return e.msg }

// Unwrap returns the API error with the values withheld, so apierrors.Is*
// and errors.As work as on the original.
func (e *withheldError) Unwrap() error { return e.status }

// withheldJoin joins errors that APIError withheld, each on its own.
type withheldJoin struct {
	msg  string
	errs []error
}

func (e *withheldJoin) Error() string { return e.msg }

// Unwrap returns the joined errors, withheld, so apierrors.Is* and
// errors.As see them as on the original's.
func (e *withheldJoin) Unwrap() []error { return e.errs }
