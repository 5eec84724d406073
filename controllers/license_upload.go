package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/textcut"
)

// LicenseUploader delivers the licence of a getLicenseAsync application
// (the licence upload open API, spec §6.6).
type LicenseUploader interface {
	UploadLicense(ctx context.Context, eventID, license string) error
}

// UploadClientFactory returns a LicenseUploader signed with a product's AK/SK.
type UploadClientFactory func(accessKeyID, secretAccessKey string) LicenseUploader

// MarketplaceUploadClients returns the factory for the real marketplace at
// baseURLs (the first, then the fallbacks). The clients it returns share one
// HTTP client, and so one pool of connections.
func MarketplaceUploadClients(baseURLs ...string) UploadClientFactory {
	return MarketplaceUploadClientsWith(koogallery.LicenseUploadSettings{}, baseURLs...)
}

// MarketplaceUploadClientsWith is MarketplaceUploadClients with the upload
// path prefix and multipart part name of settings, which the spec infers
// (§8 item 26; --licence-upload-path-prefix, --licence-upload-part).
func MarketplaceUploadClientsWith(settings koogallery.LicenseUploadSettings, baseURLs ...string) UploadClientFactory {
	clients := marketplaceClients(baseURLs)
	return func(ak, sk string) LicenseUploader {
		c := clients(ak, sk)
		c.Upload = settings
		return c
	}
}

// upload delivers an application's licence once. A failed attempt is
// recorded (uploadFailed) and tried again on uploadBackoff, paced from that
// record: a pass that comes sooner waits instead of uploading
// (untilNextUpload), whether its cache has not seen the failure's status
// yet, its status write met a conflict, an event woke it or the process
// restarted. Once the marketplace accepted it, it is never sent again (the
// marketplace keys it by eventId, and the spec asks for the same licence on
// a repeat).
func (r *LicenseReconciler) upload(ctx context.Context, s *licenseState) outcome {
	l := s.license
	if !isApplication(l) {
		return proceed()
	}
	if l.Status.Upload == nil || l.Status.Upload.EventID != l.Spec.EventID {
		l.Status.Upload = &saasv1alpha1.LicenseUpload{EventID: l.Spec.EventID}
	}
	if l.Status.Upload.UploadedTime != nil {
		return proceed()
	}
	if wait := r.untilNextUpload(l); wait > 0 {
		return waitFor(wait)
	}
	if o := r.confirmCurrent(ctx, s); !o.proceeds() {
		return o
	}
	up := l.Status.Upload
	up.Attempts++
	if err := r.send(ctx, s); err != nil {
		return failed(r.uploadFailed(l, err))
	}
	now := metav1.NewTime(r.Clock.Now().UTC())
	up.UploadedTime, up.LastError = &now, ""
	setCondition(l, saasv1alpha1.DeliveredCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Uploaded for event %s after %d attempt(s)", l.Spec.EventID, up.Attempts))
	return proceed()
}

// uploadBackoff paces the uploads of a licence the marketplace keeps
// failing or refusing: 2 s after the first failed attempt, doubling, and
// at most retryMaxDelay (a minute, the pace of every other failing pass),
// so attempts come at 0, 2, 6, 14, 30 and 62 s from the first failure, then
// every minute. Before it, each failure wrote its attempt to the status,
// the retry 5 ms later read the licence from a cache that had not seen that
// write, ended on a stale read or a conflict, which is no failure
// (foldStatusError), and so reset the controller's rate limiter: about an
// upload a second, for as long as the marketplace failed.
var uploadBackoff = backoff{initial: 2 * time.Second, max: retryMaxDelay}

// backoff is a retry schedule: initial after the first failure, doubling,
// at most max.
type backoff struct {
	initial, max time.Duration
}

// wait is the wait after the attempt-th failed attempt in a row (from 1).
func (b backoff) wait(attempt int32) time.Duration {
	d := b.initial
	for i := int32(1); i < attempt && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// due is when the attempt after the attempts-th failed one in a row is
// due, for a failure that began (with the first attempt) at since: since
// plus the wait after each failed attempt. The waits stop growing at max,
// so the sum is the doubling part plus whole maxima.
func (b backoff) due(since time.Time, attempts int32) time.Time {
	var sum time.Duration
	attempt := int32(1)
	for ; attempt <= attempts && b.wait(attempt) < b.max; attempt++ {
		sum += b.wait(attempt)
	}
	if attempt <= attempts {
		sum += time.Duration(attempts-attempt+1) * b.max
	}
	return since.Add(sum)
}

// untilNextUpload is how long the next upload of l must wait: until it is
// due on uploadBackoff after its failed attempts (status.upload.attempts)
// since the failure began (Delivered's lastTransitionTime), both from the
// status, which a restart or another replica reads as well. The status has
// no time of the last attempt, hence the schedule from the failure's
// start. 0 when no attempt failed. A due time further off than the longest
// wait after the last attempt was counted on a clock that has since gone
// back (another replica's): it is not trusted, and the upload is due, for
// the buyer's licence must not wait on a wrong clock.
func (r *LicenseReconciler) untilNextUpload(l *saasv1alpha1.License) time.Duration {
	attempts := l.Status.Upload.Attempts
	since, failing := uploadFailingSince(l)
	if attempts == 0 || !failing {
		return 0
	}
	until := uploadBackoff.due(since, attempts).Sub(r.Clock.Now())
	if until <= 0 || until > uploadBackoff.wait(attempts) {
		return 0
	}
	return until
}

// uploadFailingSince is when l's uploads began to fail (Delivered False
// with reason UploadFailed, its lastTransitionTime), and whether they are
// failing.
func uploadFailingSince(l *saasv1alpha1.License) (time.Time, bool) {
	c := apimeta.FindStatusCondition(l.Status.Conditions, saasv1alpha1.DeliveredCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != saasv1alpha1.UploadFailedReason || c.LastTransitionTime.IsZero() {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}

// uploadFailed records a failed attempt: lastError, and Delivered False
// since the first failure in a row (its lastTransitionTime, which
// untilNextUpload counts from), saying when the next attempt comes. It
// returns the failure to be retried after the attempt's wait on
// uploadBackoff (finishReconcile), not on the controller's rate limiter.
//
// An answer 4xx is retried too. The spec gives no code of the upload that
// is final: its 4xx codes are "client-side request error" whose exact
// meanings were not captured (§6.7), and the upload's path prefix and
// multipart layout are inferred (§6.6, §8 item 26), so a refusal is as
// likely ours, mended by fixing the keys Secret or
// --licence-upload-path-prefix and --licence-upload-part, as the
// application's. The buyer has paid and waits for the licence: kooper
// keeps trying, at the same pace, and the message says what to check.
func (r *LicenseReconciler) uploadFailed(l *saasv1alpha1.License, err error) error {
	up := l.Status.Upload
	now := r.Clock.Now()
	wait := uploadBackoff.wait(up.Attempts)
	up.LastError = textcut.Bytes(err.Error(), 1024)
	next := metav1.NewTime(now.Add(wait))
	msg := fmt.Sprintf("Upload attempt %d failed; retrying at %s: %s", up.Attempts, formatTime(&next), up.LastError)
	if status, refused := refusedWith(err); refused {
		msg = fmt.Sprintf("Upload attempt %d refused by the marketplace (HTTP %d); retrying at %s, since a refusal may be mended "+
			"(the product's keys Secret, --licence-upload-path-prefix, --licence-upload-part): %s",
			up.Attempts, status, formatTime(&next), up.LastError)
	}
	// Kept from a failure already recorded: SetStatusCondition keeps the
	// lastTransitionTime of a condition whose status does not change.
	apimeta.SetStatusCondition(&l.Status.Conditions, metav1.Condition{
		Type: saasv1alpha1.DeliveredCondition, Status: metav1.ConditionFalse, Reason: saasv1alpha1.UploadFailedReason,
		Message: textcut.Bytes(msg, maxConditionMessage), ObservedGeneration: l.Generation, LastTransitionTime: metav1.NewTime(now),
	})
	return &retryAfterError{err: fmt.Errorf("failed to upload the licence: %w", err), after: wait}
}

// refusedWith reports whether err is the marketplace's answer with a 4xx
// status, and that status.
func refusedWith(err error) (int, bool) {
	var apiErr *koogallery.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus < http.StatusBadRequest || apiErr.HTTPStatus >= http.StatusInternalServerError {
		return 0, false
	}
	return apiErr.HTTPStatus, true
}

// confirmCurrent makes sure the upload, the one side effect that cannot be
// taken back, is decided on what the API server holds (docs/lifecycle.md
// rule A). The application must be the version it holds: a cache that has
// not caught up with the last reconcile's status may hide that it delivered
// already, and a status written from it would count attempts wrong; a
// cache behind answers errStaleRead, and the reconcile runs again once it
// caught up. And its instance, read again, must be neither frozen nor
// released nor gone: a FREEZE or release stored a moment ago stops the
// upload as stopIfRevoked would have.
func (r *LicenseReconciler) confirmCurrent(ctx context.Context, s *licenseState) outcome {
	l := s.license
	stored := &saasv1alpha1.License{}
	if err := apiReader(r.Reader, r.Client).Get(ctx, client.ObjectKeyFromObject(l), stored); err != nil {
		return failed(fmt.Errorf("failed to read the licence before its upload: %w", err))
	}
	if stored.ResourceVersion != l.ResourceVersion {
		return failed(errStaleRead)
	}
	if o := r.loadStoredInstance(ctx, s); !o.proceeds() {
		return o
	}
	return r.stopIfRevoked(ctx, s)
}

// send uploads the licence with the product's AK/SK.
func (r *LicenseReconciler) send(ctx context.Context, s *licenseState) error {
	ak, sk, err := marketplaceCredentials(ctx, r.Client, r.Options.SecretNamespace, s.product)
	if err != nil {
		return err
	}
	return r.Uploads(ak, sk).UploadLicense(ctx, s.license.Spec.EventID, s.token)
}
