package redact

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// APIError returns err without the values the API server quoted from the
// object it refused, so that it can be logged or put in a condition.
//
// An Invalid answer quotes the value of each field it refuses ("spec.name:
// Invalid value: \"...\""), and a BadRequest one may (a server-side apply
// type error prints the field's value); a delivered directory, a tenant's
// enterprise or a user are what such a value would be. Their message is
// rebuilt from the kind, the name, and each cause's field and type
// ("ConfigMap \"x\" was refused (Invalid; values withheld): data:
// FieldValueTooLong"); the values are
// left out. Every other answer (NotFound, Conflict, Forbidden, a timeout)
// names objects, never their content, and is returned unchanged, as is an
// error that is not the API server's and nil.
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
	withheld.Message = withoutValues(withheld)
	if withheld.Details != nil {
		for i := range withheld.Details.Causes {
			withheld.Details.Causes[i].Message = string(withheld.Details.Causes[i].Type)
		}
	}
	replaced := &apierrors.StatusError{ErrStatus: *withheld}
	msg := replaced.Error()
	if outer := err.Error(); original.Message != "" && strings.Contains(outer, original.Message) {
		msg = strings.ReplaceAll(outer, original.Message, withheld.Message)
	}
	return &withheldError{msg: msg, status: replaced}
}

// withoutValues is the message of a refusal built from its details alone.
func withoutValues(s *metav1.Status) string {
	d := s.Details
	if d == nil || len(d.Causes) == 0 {
		return fmt.Sprintf("the API server refused the request (%s, HTTP %d); its message may quote the object and is withheld",
			s.Reason, s.Code)
	}
	fields := make([]string, 0, len(d.Causes))
	for _, c := range d.Causes {
		fields = append(fields, fmt.Sprintf("%s: %s", c.Field, c.Type))
	}
	kind := d.Kind
	if d.Group != "" {
		kind += "." + d.Group
	}
	return fmt.Sprintf("%s %q was refused (%s; values withheld): %s", kind, d.Name, s.Reason, strings.Join(fields, ", "))
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
