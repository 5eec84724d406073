package controllers

import (
	"context"
	"fmt"

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

// upload delivers an application's licence once. A failure is recorded and
// returned, so the controller's rate limiter retries it with backoff; once
// the marketplace accepted it, it is never sent again (the marketplace keys
// it by eventId, and the spec asks for the same licence on a repeat).
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
	if o := r.confirmCurrent(ctx, s); !o.proceeds() {
		return o
	}
	up := l.Status.Upload
	up.Attempts++
	err := r.send(ctx, s)
	if err != nil {
		up.LastError = textcut.Bytes(err.Error(), 1024)
		setCondition(l, saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.UploadFailedReason,
			fmt.Sprintf("Upload attempt %d failed; retrying with backoff: %s", up.Attempts, up.LastError))
		return failed(fmt.Errorf("failed to upload the licence: %w", err))
	}
	now := metav1.NewTime(r.Clock.Now().UTC())
	up.UploadedTime, up.LastError = &now, ""
	setCondition(l, saasv1alpha1.DeliveredCondition, metav1.ConditionTrue, saasv1alpha1.SucceededReason,
		fmt.Sprintf("Uploaded for event %s after %d attempt(s)", l.Spec.EventID, up.Attempts))
	return proceed()
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
