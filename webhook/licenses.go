package webhook

import (
	"context"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/internal/orders"
)

// getLicenseAsync records one licence application of a License product's
// instance, once per eventId and device fingerprint; the licence controller
// issues and uploads the licence. The checks the marketplace defines codes
// for (000901-000903) are made here when the instance's order is resolved;
// the licence controller holds every application to the plan's device
// binding and the instance's expiry in force when it issues the key.
func (r *Receiver) getLicenseAsync(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.GetLicenseAsyncRequest)
	c.instanceID = req.InstanceID
	if c.product.Spec.Type != saasv1alpha1.ProductTypeLicense {
		return reply{}, errBadParam("getLicenseAsync applies to License products; %q is a %s product", c.product.Name, c.product.Spec.Type)
	}
	// Decided on the instance as the API server holds it, an acceptance as
	// much as a refusal: a cache that has not yet seen the instance's
	// release or renewal would answer for an order no longer in force.
	application, err := r.checkedApplication(ctx, c, req, true)
	if err != nil {
		return reply{}, err
	}
	if err := r.storeApplication(ctx, c, application); err != nil {
		return reply{}, asInternal(err, "the licence application could not be stored")
	}
	return reply{}, nil
}

// storeApplication creates application under licenseApplicationName, or
// finds the one an earlier copy of the callback created (spec §1.8: once per
// eventId and fingerprint). The debugging tool replays one event for every
// product (spec §1.9), so a name another instance's application holds gives
// way to productApplicationName, which is looked for first: an application
// once stored there stays there whatever becomes of the other one. The
// cache only spares the Creates; what is answered is decided on the API
// server's copy (docs/lifecycle.md rule A), as in storePurchase: an
// application the cache holds but the API server no longer does (deleted
// by hand, the event retried) is created again under that name.
func (r *Receiver) storeApplication(ctx context.Context, c *call, application *saasv1alpha1.License) error {
	spec := application.Spec
	own := productApplicationName(c.product.Name, spec.InstanceID, spec.EventID, spec.DeviceFingerprint)
	if r.client.Get(ctx, types.NamespacedName{Name: own}, &saasv1alpha1.License{}, client.UnsafeDisableDeepCopy) == nil {
		err := r.reader.Get(ctx, types.NamespacedName{Name: own}, &saasv1alpha1.License{})
		if !apierrors.IsNotFound(err) {
			return err
		}
		application.Name = own
		if err := r.client.Create(ctx, application); !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	err := r.client.Create(ctx, application)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := &saasv1alpha1.License{}
	if err := r.reader.Get(ctx, types.NamespacedName{Name: application.Name}, existing); err != nil {
		return err
	}
	if existing.Spec.ProductName == spec.ProductName && existing.Spec.InstanceID == spec.InstanceID {
		return nil
	}
	application.Name, application.ResourceVersion = own, ""
	if err := r.client.Create(ctx, application); !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// checkedApplication reads the instance (fresh: from the API server) and
// builds the application after the checks that need only the request and
// the instance.
func (r *Receiver) checkedApplication(ctx context.Context, c *call, req *koogallery.GetLicenseAsyncRequest, fresh bool) (*saasv1alpha1.License, error) {
	s, err := r.find(ctx, c.product, req.InstanceID, fresh)
	if err != nil {
		return nil, err
	}
	return licenseApplication(c, req, s.object.(*saasv1alpha1.License))
}

// licenseApplication builds the License of one application, after the
// checks that need only the request and the instance.
func licenseApplication(c *call, req *koogallery.GetLicenseAsyncRequest, instance *saasv1alpha1.License) (*saasv1alpha1.License, error) {
	notBefore, notAfter, err := licenseWindow(req)
	if err != nil {
		return nil, err
	}
	if err := checkLicenseRules(c.product, instance, req, notBefore, notAfter); err != nil {
		return nil, err
	}
	mode := saasv1alpha1.ModeProduction
	if koogallery.IsDebug(req.TestFlag) {
		mode = saasv1alpha1.ModeDebug
	}
	l := &saasv1alpha1.License{}
	l.Name = licenseApplicationName(req.EventID, req.DeviceFingerprint)
	l.Labels = map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.ProductLabel: c.product.Name}
	l.Spec = saasv1alpha1.LicenseSpec{
		InstanceID: req.InstanceID, ProductName: c.product.Name, EventID: req.EventID,
		DeviceFingerprint: req.DeviceFingerprint, NotBefore: &metav1.Time{Time: notBefore}, NotAfter: notAfter,
		State: saasv1alpha1.StateActive, Mode: mode,
	}
	return l, nil
}

// licenseWindow reads the window an application asks for, refusing with
// 000002 what the License would be refused for (the API server's 422 would
// be answered 000005, which the marketplace retries for two hours) or
// stored wrong: a time that is not one, one a License cannot hold (see
// licenseTime), and an end that is not after the start at the whole
// seconds a metav1.Time stores (the rule notBefore < notAfter). A refusal
// names the fields, never their values (docs/personal-data.md).
func licenseWindow(req *koogallery.GetLicenseAsyncRequest) (time.Time, *metav1.Time, error) {
	notBefore, err := licenseTime("effectiveTime", req.EffectiveTime)
	if err == nil && !notBefore.Before(licenseissue.LastInstant) {
		// Every window ends by LastInstant: one starting then is empty, and
		// the licence would stall Expired after a 000000.
		return time.Time{}, nil, errBadParam("effectiveTime must be before 9999-12-31 23:59:59 z, the last instant a licence can end")
	}
	if err != nil || req.ExpireTime == "" {
		return notBefore, nil, err
	}
	notAfter, err := licenseTime("expireTime", req.ExpireTime)
	if err != nil {
		return time.Time{}, nil, err
	}
	if !notBefore.Before(notAfter) {
		return time.Time{}, nil, errBadParam("expireTime must be later than effectiveTime")
	}
	return notBefore, &metav1.Time{Time: notAfter}, nil
}

// licenseTime parses the time of field to the whole second a metav1.Time
// stores. The API server takes a date-time only in the years 0 to 9999 UTC
// (a time that an offset moves out of them is refused), and
// 0001-01-01T00:00:00Z is Go's zero time, which a metav1.Time writes as
// null: the License would have no such time.
func licenseTime(field, value string) (time.Time, error) {
	t, err := koogallery.ParseLicenseTime(value)
	if err != nil {
		return time.Time{}, errBadParam("%s is not a time like 2023-10-27 10:30:15 z", field)
	}
	t = t.UTC().Truncate(time.Second)
	if !t.After(time.Time{}) || t.Year() > 9999 {
		return time.Time{}, errBadParam("%s must be after 0001-01-01 00:00:00 z and before the year 10000", field)
	}
	return t, nil
}

// checkLicenseRules answers the licence result codes the marketplace
// defines (spec §5, §3.10), where the instance's state, resolved order and
// plan tell enough. "Within the current order's validity" (000901) is
// within the instance's expiry in force (docs/lifecycle.md rule E), which a
// renewal moves and an unsubscribed renewal period moves back, as the
// licence controller reads it: the window must start before it and end by
// it. A released instance has no order in force, and a frozen one's has
// expired: the licence controller issues nothing for either, so an
// application accepted then would never be delivered (a frozen one only if
// the buyer renews; the marketplace retries for 2 hours, §1.7).
func checkLicenseRules(product *saasv1alpha1.SaaSProduct, instance *saasv1alpha1.License, req *koogallery.GetLicenseAsyncRequest, notBefore time.Time, notAfter *metav1.Time) error {
	switch instance.Spec.State {
	case saasv1alpha1.StateReleased:
		return &callbackError{code: koogallery.ResultLicenseOutsideOrderValidity, msg: "the instance is released: no order is in force"}
	case saasv1alpha1.StateFrozen:
		return &callbackError{code: koogallery.ResultLicenseOutsideOrderValidity, msg: "the instance is frozen: its order has expired; apply again after renewing"}
	}
	order := instance.Status.Order
	if order == nil {
		// Not resolved yet (Query Order not reached, or down): none of
		// 000901-000903 can be decided. The application is stored, not
		// refused (a 000005 until Query Order answers counts against the
		// merchant), and the licence controller issues its key only to
		// the rules: no device, no key under Required; never past the
		// instance's expiry in force.
		return nil
	}
	// The plan of the order in force, as the licence controller selects it:
	// status.skuCode is only the plan of the last key issued.
	planIdx := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == order.SKUCode })
	if planIdx >= 0 {
		terms := product.Spec.Plans[planIdx].License
		if terms != nil && terms.DeviceBinding == saasv1alpha1.DeviceBindingRequired && req.DeviceFingerprint == "" {
			return &callbackError{code: koogallery.ResultLicenseNeedsFingerprint, msg: "this plan's licences are bound to a device: deviceFingerprint is required"}
		}
	}
	if order.ChargingMode == saasv1alpha1.ChargingPeriod && notAfter == nil {
		return &callbackError{code: koogallery.ResultLicenseNeedsExpiry, msg: "a periodic licence needs an expireTime"}
	}
	expiry := orders.ExpiryInForce(instance.Spec.NotAfter, order, instance.Spec.Orders, orders.RecordedTimes(instance.Status.OrderTimes))
	if expiry != nil && !notBefore.Before(expiry.Time) {
		// Without expireTime the licence would end with the order: its
		// window would be empty, and the licence stall Expired, never uploaded.
		return &callbackError{code: koogallery.ResultLicenseOutsideOrderValidity,
			msg: "the licence must start within the order's validity, before " + expiry.UTC().Format(time.RFC3339)}
	}
	if expiry != nil && notAfter != nil && notAfter.After(expiry.Time) {
		return &callbackError{code: koogallery.ResultLicenseOutsideOrderValidity,
			msg: "the licence must end within the order's validity, by " + expiry.UTC().Format(time.RFC3339)}
	}
	return nil
}
