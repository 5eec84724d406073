package webhook

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	webhookerrors "k8s.io/apiserver/pkg/admission/plugin/webhook/errors"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// TestAnInternalErrorLogsNoValueAWebhookDenialQuotes: an admission webhook
// refusing the receiver's write of a directory shard, with a message
// quoting a user's phone, went whole into the "Callback failed" log line
// (errInternal rewrote only Invalid and BadRequest answers). Now the cause
// names the webhook and its code, and no part of its message; the
// marketplace still gets 000005 and kooper's own text.
func TestAnInternalErrorLogsNoValueAWebhookDenialQuotes(t *testing.T) {
	g := NewWithT(t)
	const phone = "13812345678"
	denied := webhookerrors.ToStatusErr("validate.kyverno.svc-fail", &metav1.Status{Reason: metav1.StatusReasonForbidden, Code: 403,
		Message: `resource Secret/kooper/d-1-users-000 was blocked: "userName": "` + phone + `"`})
	err := errInternal("failed to store the directory", fmt.Errorf("failed to update Secret kooper/d-1-users-000: %w", denied))

	g.Expect(err.Error()).NotTo(ContainSubstring(phone))
	g.Expect(err.Error()).To(ContainSubstring(`failed to update Secret kooper/d-1-users-000: admission webhook "validate.kyverno.svc-fail" denied the request (Forbidden, HTTP 403)`))
	code, msg := toResult(err)
	g.Expect(code).To(Equal(koogallery.ResultInternalError))
	g.Expect(msg).To(Equal("failed to store the directory"))
}
