package redact

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// APIError returns err without the values the API server quoted from the
// object it refused, so that it can be logged or put in a condition.
//
// An Invalid answer quotes the value of each field it refuses ("spec.name:
// Invalid value: \"...\""), and a BadRequest one may (a server-side apply
// type error prints the field's value); a delivered directory, a tenant's
// enterprise or a user are what such a value would be. The message is
// rebuilt from the kind, the name and each cause: a cause whose kind never
// quotes the value (Required, Forbidden, TooLong, TooShort, Internal) keeps
// its message ("data: Forbidden: field is immutable when `immutable` is
// set"); any other keeps its field and type ("spec.name: FieldValueInvalid
// (value withheld)"). A BadRequest without causes keeps only its reason.
// Every other answer (NotFound, Conflict, Forbidden, a timeout) names
// objects, never their content, and is returned unchanged, as is an error
// that is not the API server's, and nil.
//
// The result still answers apierrors.IsInvalid, IsBadRequest and errors.As
// as err did; where err wrapped the API error, the wrapping text is kept
// and only the API server's message in it is replaced.
func APIError(err error) error {
	var status apierrors.APIStatus
	if err == nil || !errors.As(err, &status) {
		return err
	}
	original := status.Status()
	if original.Reason != metav1.StatusReasonInvalid && original.Reason != metav1.StatusReasonBadRequest {
		return err
	}
	withheld := original.DeepCopy()
	if withheld.Details != nil {
		for i := range withheld.Details.Causes {
			if c := &withheld.Details.Causes[i]; !valueFree[c.Type] {
				c.Message = string(c.Type) + " (value withheld)"
			}
		}
	}
	withheld.Message = withoutValues(withheld)
	replaced := &apierrors.StatusError{ErrStatus: *withheld}
	msg := replaced.Error()
	if outer := err.Error(); original.Message != "" && strings.Contains(outer, original.Message) {
		msg = strings.ReplaceAll(outer, original.Message, withheld.Message)
	}
	return &withheldError{msg: msg, status: replaced}
}

// valueFree are the causes whose message never quotes the refused value
// (field.Error.ErrorBody writes the type and the detail alone).
var valueFree = map[metav1.CauseType]bool{
	metav1.CauseType(field.ErrorTypeRequired):  true,
	metav1.CauseType(field.ErrorTypeForbidden): true,
	metav1.CauseType(field.ErrorTypeTooLong):   true,
	metav1.CauseType(field.ErrorTypeTooShort):  true,
	metav1.CauseType(field.ErrorTypeInternal):  true,
}

// withoutValues is the message of a refusal built from its details, whose
// causes' messages are already free of values.
func withoutValues(s *metav1.Status) string {
	d := s.Details
	if d == nil || len(d.Causes) == 0 {
		return fmt.Sprintf("the API server refused the request (%s, HTTP %d); its message may quote the object and is withheld",
			s.Reason, s.Code)
	}
	fields := make([]string, 0, len(d.Causes))
	for _, c := range d.Causes {
		fields = append(fields, fmt.Sprintf("%s: %s", c.Field, c.Message))
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
