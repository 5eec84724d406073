package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/orders"
	"github.com/kooper-io/kooper/internal/tenantobjects"
	"github.com/kooper-io/kooper/internal/tombstone"
)

// handlerFunc handles one verified, decoded callback. Handlers record intent
// in the API server and return; they never provision or call other services.
type handlerFunc func(ctx context.Context, c *call) (reply, error)

func (r *Receiver) activityHandlers() map[koogallery.Activity]handlerFunc {
	return map[koogallery.Activity]handlerFunc{
		koogallery.ActivityNewInstance:          r.newInstance,
		koogallery.ActivityQueryInstance:        r.queryInstance,
		koogallery.ActivityRefreshInstance:      r.refreshInstance,
		koogallery.ActivityUpdateInstanceStatus: r.updateInstanceStatus,
		koogallery.ActivityReleaseInstance:      r.releaseInstance,
		koogallery.ActivityUpgradeInstance:      r.upgradeInstance,
		koogallery.ActivityChangeInstanceCheck:  r.changeInstanceCheck,
		koogallery.ActivityGetLicenseAsync:      r.getLicenseAsync,
		koogallery.ActivityOrderNotify:          r.orderNotify,
	}
}

// maxQueryIDs is how many instance IDs one queryInstance may ask for (spec §3.3).
const maxQueryIDs = 100

// newInstance records a purchase. The object's name is derived from the
// order line, so a repeat, or a concurrent duplicate on another replica,
// hits AlreadyExists and gets the same instance ID. A product being deleted
// takes no new purchase (storedPurchase: 000106, spec §5), and a stored
// purchase is answered its ID even when its appInfo cannot be built now
// (purchaseInfo, spec §3.2).
func (r *Receiver) newInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.NewInstanceRequest)
	c.orderID = req.OrderID
	var err error
	if c.instanceID, err = r.purchaseID(ctx, c.product, req); err != nil {
		return reply{}, err
	}
	s, gone, err := r.recordPurchase(ctx, c, req)
	if own := productInstanceID(c.product.Name, req.OrderID, req.OrderLineID); errors.Is(err, errHeldByAnotherProduct) && c.instanceID != own {
		// Another product's purchase of the order line took the shared ID
		// after purchaseID looked, unseen by the cache: this one's is its own.
		c.instanceID = own
		s, gone, err = r.recordPurchase(ctx, c, req)
	}
	if gone || err != nil {
		return r.goneInstance(c, err)
	}
	info, pending := r.purchaseInfo(ctx, c, s)
	body := &koogallery.NewInstanceResponse{InstanceID: c.instanceID, AppInfo: info.AppInfo}
	return r.withAppInfo(body, &body.EncryptType, info.AppInfo != nil, pending), nil
}

// purchaseID is the instance ID of product's purchase of req's order line
// (spec §1.8, DESIGN.md rule 2): the order line's shared instanceID, unless
// another product holds it by its record or, once the record is gone, by
// its tombstone; then productInstanceID. The product's own ID is looked for
// first, so an ID once given stays the purchase's whatever becomes of the
// shared one. It is decided on the cache, with no request; the API server
// decides only when the cache cannot tell.
//
// A debug purchase takes the product's own ID unless the cache holds the
// shared one as the product's (an earlier kooper's answer): only
// debug order lines reach several products (the debugging tool sends the
// same mock order lines to each, spec §1.9), and one replica's cache can
// see another product's record go before the tombstone written first
// (docs/lifecycle.md rule A), so handing a debug purchase the shared ID
// would take three reads of the API server per callback to be safe. A
// shared ID another product takes after the cache looked is found when the
// Create hits AlreadyExists (newInstance).
func (r *Receiver) purchaseID(ctx context.Context, product *saasv1alpha1.SaaSProduct, req *koogallery.NewInstanceRequest) (string, error) {
	own := productInstanceID(product.Name, req.OrderID, req.OrderLineID)
	if ownIssued, err := r.issuedTo(ctx, product, own); ownIssued || err != nil {
		return own, err
	}
	shared := instanceID(req.OrderID, req.OrderLineID)
	mine, another, err := r.holders(ctx, r.client, product, shared, client.UnsafeDisableDeepCopy)
	if err != nil {
		// The cache cannot tell: the API server decides.
		if mine, another, err = r.holders(ctx, r.reader, product, shared); err != nil {
			return own, err
		}
	}
	if mine || !another && !koogallery.IsDebug(req.TestFlag) {
		return shared, nil
	}
	return own, nil
}

// issuedTo reports whether the cache holds product's record of id, or its
// tombstone.
func (r *Receiver) issuedTo(ctx context.Context, product *saasv1alpha1.SaaSProduct, id string) (bool, error) {
	if r.cached(ctx, product, id) {
		return true, nil
	}
	owner, err := r.tombstoneOwner(ctx, id)
	return owner == product.Name, err
}

// holders reports, as reader holds them, whether product holds id and
// whether another product does, each by its record (a SaaSTenant or a
// License: the tombstones know an ID, not its kind) or by its tombstone.
// opts go to every Get: the cache lends what is only read rather than
// copies it, as every look of a purchase does (UnsafeDisableDeepCopy).
func (r *Receiver) holders(ctx context.Context, reader client.Reader, product *saasv1alpha1.SaaSProduct, id string, opts ...client.GetOption) (mine, another bool, err error) {
	key := types.NamespacedName{Name: id}
	for _, record := range []client.Object{&saasv1alpha1.SaaSTenant{}, &saasv1alpha1.License{}} {
		getErr := reader.Get(ctx, key, record, opts...)
		if apierrors.IsNotFound(getErr) {
			continue
		}
		if getErr != nil {
			return false, false, errInternal("the issued instances cannot be read", getErr)
		}
		if instanceProduct(record) != product.Name {
			return false, true, nil
		}
		mine = true
	}
	entry, _, err := tombstone.Lookup(ctx, reader, r.opts.Namespace, id, opts...)
	switch {
	case err != nil:
		return false, false, errInternal("the issued instances cannot be read", err)
	case entry.Product != "" && entry.Product != product.Name:
		return false, true, nil
	}
	return mine || entry.Product == product.Name, false, nil
}

// tombstoneOwner is the product whose tombstone of id the cache holds, ""
// when it holds none. The shard is only read (UnsafeDisableDeepCopy).
func (r *Receiver) tombstoneOwner(ctx context.Context, id string) (string, error) {
	entry, err := r.cachedTombstone(ctx, id)
	return entry.Product, err
}

// cachedTombstone is id's tombstone as the cache holds it (zero when none).
func (r *Receiver) cachedTombstone(ctx context.Context, id string) (tombstone.Entry, error) {
	entry, _, err := tombstone.Lookup(ctx, r.client, r.opts.Namespace, id, client.UnsafeDisableDeepCopy)
	if err != nil {
		return tombstone.Entry{}, errInternal("the issued instances cannot be read", err)
	}
	return entry, nil
}

// recordPurchase stores the purchase under c.instanceID, or reports that
// the instance was issued and its record is gone.
func (r *Receiver) recordPurchase(ctx context.Context, c *call, req *koogallery.NewInstanceRequest) (subscription, bool, error) {
	if gone, err := r.issuedAndGone(ctx, c); gone || err != nil {
		return subscription{}, gone, err
	}
	s, err := r.storePurchase(ctx, c, req)
	if isGone(err) {
		// Issued and gone by a tombstone the cache did not hold yet (rule B).
		return s, true, nil
	}
	if err != nil {
		return s, false, asInternal(err, "the order could not be stored")
	}
	return s, false, nil
}

// storePurchase creates the purchase's record, or finds the one an earlier
// copy of the callback created. A repeat whose record the cache already
// holds skips the Create it would lose to AlreadyExists and reads the record
// from the API server at once: one request instead of two, what each copy
// of a storm of duplicates costs (docs/reliability.md, scenario 7). The
// cache only spares the Create; what is answered is decided on the API
// server's copy (rule A), and a record the cache holds but the API server
// no longer does is created as if never seen.
func (r *Receiver) storePurchase(ctx context.Context, c *call, req *koogallery.NewInstanceRequest) (subscription, error) {
	if !c.product.DeletionTimestamp.IsZero() {
		return r.storedPurchase(ctx, c, req)
	}
	if r.cached(ctx, c.product, c.instanceID) {
		if s, err := r.existingPurchase(ctx, c, req); err == nil {
			return s, nil
		}
	}
	s := r.newPurchase(c, req)
	err := r.client.Create(ctx, s.object)
	if apierrors.IsAlreadyExists(err) {
		return r.existingPurchase(ctx, c, req)
	}
	return s, err
}

// storedPurchase answers a newInstance of a product being deleted with the
// purchase's record as the API server holds it, so a repeat is answered as
// before (spec §1.8), or refuses it with errNoNewPurchases (000106, spec §5)
// and creates nothing. Every other callback of the product's instances
// carries on. A deletionTimestamp is never taken back, so the cache's is
// enough to refuse on (docs/lifecycle.md rule A).
func (r *Receiver) storedPurchase(ctx context.Context, c *call, req *koogallery.NewInstanceRequest) (subscription, error) {
	s, err := r.existingPurchase(ctx, c, req)
	if isNotFound(err) && !errors.Is(err, errHeldByAnotherProduct) {
		return s, errNoNewPurchases(c.product.Name)
	}
	return s, err
}

// cached reports whether the cache holds the record of instance id.
func (r *Receiver) cached(ctx context.Context, product *saasv1alpha1.SaaSProduct, id string) bool {
	return r.client.Get(ctx, types.NamespacedName{Name: id}, newSubscription(product).object, client.UnsafeDisableDeepCopy) == nil
}

// issuedAndGone reports whether the order line's instance was issued and
// its record is gone, by the tombstones in the cache: a purchase is never
// provisioned again (docs/lifecycle.md rule B). A tombstone written a moment
// ago and not yet cached is caught by the tenant controller, which reads
// them from the API server before it provisions a new record. A record lost
// with its CRD is neither: the purchase waits (000005) for its restore.
func (r *Receiver) issuedAndGone(ctx context.Context, c *call) (bool, error) {
	entry, err := r.cachedTombstone(ctx, c.instanceID)
	if err == nil && entry.Product == c.product.Name && entry.LostWithCRD {
		return false, errLostWithCRD(string(entry.Kind), c.instanceID)
	}
	return entry.Product == c.product.Name, err
}

// goneInstance answers a purchase whose instance is gone: its id, no appInfo.
func (r *Receiver) goneInstance(c *call, err error) (reply, error) {
	if err != nil {
		return reply{}, err
	}
	r.recordGone(c)
	return reply{body: &koogallery.NewInstanceResponse{InstanceID: c.instanceID}}, nil
}

// newPurchase is the object a purchase creates.
func (r *Receiver) newPurchase(c *call, req *koogallery.NewInstanceRequest) subscription {
	s := newSubscription(c.product)
	s.object.SetName(c.instanceID)
	// Created with the finalizer: whatever deletes the record, and however
	// soon, the controller first remembers the instance as issued
	// (docs/lifecycle.md rule B) and applies the release policy.
	s.object.SetFinalizers([]string{saasv1alpha1.Finalizer})
	s.object.SetLabels(map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		saasv1alpha1.ProductLabel:   c.product.Name,
	})
	*s.productName, *s.orderID, *s.orderLineID = c.product.Name, req.OrderID, req.OrderLineID
	*s.state = saasv1alpha1.StateActive
	s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
		Activity: saasv1alpha1.ActivityNewInstance, ReceivedTime: r.now()})
	mode := saasv1alpha1.ModeProduction
	if koogallery.IsDebug(req.TestFlag) {
		mode = saasv1alpha1.ModeDebug
	}
	switch o := s.object.(type) {
	case *saasv1alpha1.SaaSTenant:
		o.Spec.InstanceID, o.Spec.BusinessID, o.Spec.Mode = c.instanceID, req.BusinessID, mode
	case *saasv1alpha1.License:
		o.Spec.InstanceID, o.Spec.Mode = c.instanceID, mode
	}
	return s
}

// existingPurchase reads the object an earlier newInstance created for the
// same order line, from the API server (the cache may not have it yet).
func (r *Receiver) existingPurchase(ctx context.Context, c *call, req *koogallery.NewInstanceRequest) (subscription, error) {
	s, err := r.find(ctx, c.product, c.instanceID, true)
	if err != nil {
		return s, err
	}
	if *s.orderID != req.OrderID || *s.orderLineID != req.OrderLineID {
		return s, errInternal("instance ID collision between two order lines", nil)
	}
	return s, nil
}

// queryInstance reports up to 100 instances. Unknown IDs among known ones
// are left out (spec §3.3: one entry per instance found). So is an
// instance that cannot be answered however often it is asked until the
// merchant repairs it (an instanceFault), logged by leaveOut: answering the
// whole query 000005 for it would withhold every other instance until
// then. A read the API server failed is the whole answer's, 000005,
// retried. If none is known the answer is 000003; if none can be answered,
// the first failure's answer (000005: retried until it is repaired).
func (r *Receiver) queryInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.QueryInstanceRequest)
	ids := req.InstanceIDs()
	c.instanceID = req.InstanceID
	switch {
	case len(ids) == 0:
		return reply{}, errBadParam("instanceId is required")
	case len(ids) > maxQueryIDs:
		return reply{}, errBadParam("instanceId lists %d IDs; at most %d are allowed", len(ids), maxQueryIDs)
	}
	body := &koogallery.QueryInstanceResponse{}
	encrypted, pending := false, false
	var failures []failedInstance
	for _, id := range ids {
		info, waiting, err := r.queriedInstance(ctx, c, id)
		var fault instanceFault
		switch {
		case isNotFound(err):
			continue
		case errors.As(err, &fault):
			failures = append(failures, failedInstance{id: id, err: fault.err})
			continue
		case err != nil:
			// A read the API server failed, or the callback's time
			// (APITimeout) spent: the whole answer's, 000005, retried,
			// rather than an answer that drops a delivered instance.
			return reply{}, err
		}
		encrypted = encrypted || info.AppInfo != nil
		pending = pending || waiting
		body.Info = append(body.Info, info)
	}
	if len(body.Info) == 0 && len(failures) > 0 {
		return reply{}, failures[0].err
	}
	if len(body.Info) == 0 {
		return reply{}, errInstanceNotFound(req.InstanceID)
	}
	r.leaveOut(ctx, c, failures)
	return r.withAppInfo(body, &body.EncryptType, encrypted, pending), nil
}

// queriedInstance is queryInstance's entry for id: read from the API
// server, since a cache that has not seen a release or a deletion would
// hand out the access details of a gone tenant. A gone instance is listed
// without appInfo (docs/lifecycle.md rule B). Errors are find's (000003 for
// an ID never issued or another product's; a failed read) and, as an
// instanceFault, the record lost with its CRD (errLostWithCRD) or
// instanceInfo's (000005).
func (r *Receiver) queriedInstance(ctx context.Context, c *call, id string) (koogallery.InstanceInfo, bool, error) {
	s, err := r.find(ctx, c.product, id, true)
	switch {
	case isGone(err):
		return koogallery.InstanceInfo{InstanceID: id}, false, nil
	case errors.Is(err, errRecordLost):
		return koogallery.InstanceInfo{}, false, instanceFault{err}
	case err != nil:
		return koogallery.InstanceInfo{}, false, err
	}
	info, waiting, err := r.instanceInfo(ctx, c, s)
	if err != nil && ctx.Err() == nil && isInstanceFault(err) {
		err = instanceFault{err}
	}
	return info, waiting, err
}

// instanceFault is a failure that concerns one instance alone, whatever
// the API server does next (isInstanceFault). A queryInstance about
// several leaves that instance out.
type instanceFault struct{ err error }

// isInstanceFault reports whether err, met building an instance's answer,
// is a fact about that instance that stays until the merchant repairs it:
// its record lost with its CRD, a credentials key that is not its own, a
// key Secret missing or forbidden. It is not when the API server failed
// the read (throttled, timed out, unavailable, an internal error, the
// connection refused or reset) or the callback's time was spent: a retry
// of the whole answer mends those.
func isInstanceFault(err error) bool {
	if errors.Is(err, errRecordLost) {
		return true
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &netErr) {
		return false
	}
	return !apierrors.IsTooManyRequests(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsTimeout(err) &&
		!apierrors.IsInternalError(err) && !apierrors.IsServiceUnavailable(err) && !apierrors.IsUnexpectedServerError(err)
}

func (f instanceFault) Error() string { return f.err.Error() }
func (f instanceFault) Unwrap() error { return f.err }

// withAppInfo sets encryptType when credentials were encrypted, and answers
// the configured pending code while any instance is still provisioning.
func (r *Receiver) withAppInfo(body any, encryptType *string, encrypted, pending bool) reply {
	if encrypted {
		*encryptType = string(koogallery.EncryptAES256)
	}
	if pending {
		return reply{code: r.opts.PendingResultCode, body: body}
	}
	return reply{body: body}
}

// refreshInstance applies a renewal, conversion, unsubscribed period or
// renewal with change, once per orderId.
func (r *Receiver) refreshInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.RefreshInstanceRequest)
	c.instanceID, c.orderID = req.InstanceID, req.OrderID
	expiry, err := koogallery.ParseExpireTime(req.ExpireTime)
	if err != nil {
		return reply{}, errBadParam("expireTime is not yyyyMMddHHmmss or yyyyMMddHHmmssSSS after 0001-01-01")
	}
	expireTime := metav1.NewTime(expiry)
	scene := sceneOf(koogallery.Scene(req.Scene))
	err = r.update(ctx, c, req.InstanceID, koogallery.IsDebug(req.TestFlag), func(s subscription) (bool, error) {
		if s.hasOrder(req.OrderID) {
			return false, nil
		}
		s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
			Activity: saasv1alpha1.ActivityRefreshInstance, Scene: scene,
			ProductID: req.ProductID, ExpireTime: &expireTime, ReceivedTime: r.now()})
		// The latest renewal-type expiry: a late retry of an older renewal
		// never moves it back. Shortening orders are applied by the
		// controller, by their creation time (docs/lifecycle.md rule E).
		if scene != saasv1alpha1.SceneUnsubscribeRenewalPeriod && (*s.expireTime == nil || expireTime.After((*s.expireTime).Time)) {
			*s.expireTime = &expireTime
		}
		return true, nil
	})
	return reply{}, r.acceptGone(c, err)
}

func sceneOf(scene koogallery.Scene) saasv1alpha1.RefreshScene {
	return map[koogallery.Scene]saasv1alpha1.RefreshScene{
		koogallery.SceneRenewal:                  saasv1alpha1.SceneRenewal,
		koogallery.SceneTrialToFormal:            saasv1alpha1.SceneTrialToFormal,
		koogallery.SceneUnsubscribeRenewalPeriod: saasv1alpha1.SceneUnsubscribeRenewalPeriod,
		koogallery.SceneRenewalChange:            saasv1alpha1.SceneRenewalChange,
	}[scene]
}

// updateInstanceStatus freezes or unfreezes; a repeat, either on a released
// instance, or a stale FREEZE (docs/lifecycle.md rule F) changes nothing and
// succeeds. Every UNFREEZE of a live instance is remembered
// (spec.lastUnfreezeTime), the one that finds it Active already too: a
// FREEZE the marketplace retries after it is stale.
func (r *Receiver) updateInstanceStatus(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.UpdateInstanceStatusRequest)
	c.instanceID = req.InstanceID
	unfreeze := koogallery.InstanceStatus(req.Status) == koogallery.StatusUnfreeze
	var stale *subscription
	err := r.update(ctx, c, req.InstanceID, koogallery.IsDebug(req.TestFlag), func(s subscription) (bool, error) {
		stale = nil
		if unfreeze {
			return r.unfreeze(s), nil
		}
		if *s.state != saasv1alpha1.StateActive {
			return false, nil
		}
		if r.staleFreeze(*s.orders) || r.freezeRetried(*s.lastUnfreeze) {
			stale = &s
			return false, nil
		}
		*s.state = saasv1alpha1.StateFrozen
		return true, nil
	})
	if err == nil && stale != nil {
		r.event(stale.object, corev1.EventTypeNormal, saasv1alpha1.StaleFreezeIgnoredReason,
			"FREEZE answered 000000 and not applied: a renewal order's expiry is still ahead, or an UNFREEZE came within the freeze retry window (docs/lifecycle.md rule F)")
	}
	return reply{}, r.acceptGone(c, err)
}

// unfreeze makes a Frozen instance Active and records when an UNFREEZE
// came for a live one; it reports whether it changed anything (a repeat
// within the same second changes nothing).
func (r *Receiver) unfreeze(s subscription) bool {
	if *s.state == saasv1alpha1.StateReleased {
		return false
	}
	now := metav1.NewTime(r.opts.Now().UTC().Truncate(time.Second))
	changed := *s.state == saasv1alpha1.StateFrozen
	*s.state = saasv1alpha1.StateActive
	if *s.lastUnfreeze == nil || !(*s.lastUnfreeze).Equal(&now) {
		*s.lastUnfreeze, changed = &now, true
	}
	return changed
}

// freezeRetried reports whether an UNFREEZE came less than the freeze retry
// window ago: the marketplace sends UNFREEZE when the buyer renews during
// the freeze, so a FREEZE after it is the retry of the FREEZE it ended
// (one kooper's answer to was lost, or that failed), whether the renewal
// has arrived yet or not (their order is not documented, spec §1.5 item 4).
func (r *Receiver) freezeRetried(lastUnfreeze *metav1.Time) bool {
	window := r.opts.FreezeRetryWindow
	if window <= 0 || lastUnfreeze == nil {
		return false
	}
	// spec.lastUnfreezeTime keeps whole seconds (unfreeze truncates, and
	// metav1.Time serializes no fraction), so the UNFREEZE came up to a
	// second after it: the window is counted from the latest instant it may
	// have come, as taking a real FREEZE for a retry costs less than
	// freezing a paying buyer (docs/lifecycle.md rule F).
	return r.opts.Now().Before(lastUnfreeze.Add(window + time.Second))
}

// staleFreeze reports whether the recorded orders prove that a paid period
// is running, so a FREEZE can only be a late retry from before a renewal:
// some renewal-type order ends more than the margin from now, and no
// shortening order that still stands ends before now plus the margin
// (docs/lifecycle.md rule F).
func (r *Receiver) staleFreeze(recorded []saasv1alpha1.AppliedOrder) bool {
	margin := r.opts.StaleFreezeMargin
	if margin <= 0 {
		return false
	}
	horizon := r.opts.Now().Add(margin)
	var running []saasv1alpha1.AppliedOrder
	for _, o := range recorded {
		if orders.IsRenewal(o) && o.ExpireTime.Time.After(horizon) {
			running = append(running, o)
		}
	}
	if len(running) == 0 {
		return false
	}
	for _, o := range recorded {
		if orders.IsShortening(o) && o.ExpireTime.Time.Before(horizon) && !r.superseded(o, running) {
			return false
		}
	}
	return true
}

// superseded reports whether one of the running renewals was received more
// than the renewal retry window after the shortening order: that renewal
// was created after it, for a period the shortening order does not cut. A
// refund of long ago must not make every later FREEZE count, including a
// late retry of one the buyer has since renewed past. Without that proof
// the shortening order stands, and the FREEZE applies.
func (r *Receiver) superseded(shortening saasv1alpha1.AppliedOrder, running []saasv1alpha1.AppliedOrder) bool {
	after := shortening.ReceivedTime.Add(r.opts.RenewalRetryWindow)
	return slices.ContainsFunc(running, func(o saasv1alpha1.AppliedOrder) bool { return o.ReceivedTime.After(after) })
}

// releaseInstance releases once; releasing a released instance succeeds.
func (r *Receiver) releaseInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.ReleaseInstanceRequest)
	c.instanceID, c.orderID = req.InstanceID, req.OrderID
	err := r.update(ctx, c, req.InstanceID, koogallery.IsDebug(req.TestFlag), func(s subscription) (bool, error) {
		changed := false
		if req.OrderID != "" && !s.hasOrder(req.OrderID) {
			s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
				Activity: saasv1alpha1.ActivityReleaseInstance, ReceivedTime: r.now()})
			changed = true
		}
		if *s.state != saasv1alpha1.StateReleased {
			*s.state = saasv1alpha1.StateReleased
			changed = true
		}
		return changed, nil
	})
	return reply{}, r.acceptGone(c, err)
}

// upgradeInstance records a paid upgrade once per orderId; the controller
// reads the new specification from Query Order. A released instance stays
// as it is (docs/lifecycle.md rule R).
func (r *Receiver) upgradeInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.UpgradeInstanceRequest)
	c.instanceID, c.orderID = req.InstanceID, req.OrderID
	var released *subscription
	err := r.update(ctx, c, req.InstanceID, koogallery.IsDebug(req.TestFlag), func(s subscription) (bool, error) {
		released = nil
		if s.hasOrder(req.OrderID) {
			return false, nil
		}
		if *s.state == saasv1alpha1.StateReleased {
			released = &s
			return false, nil
		}
		s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: r.now()})
		return true, nil
	})
	if err == nil && released != nil {
		r.event(released.object, corev1.EventTypeNormal, saasv1alpha1.ReleasedInstanceUnchangedReason,
			"upgradeInstance answered 000000 and not applied: the instance is released")
	}
	return reply{}, r.acceptGone(c, err)
}

// changeInstanceCheck allows a renewal change of a live instance only to a
// plan the product has and the tenant controller would run, as the API
// server holds the product: a refusal is never decided on a cache that may
// miss a plan just added. "000000 = change allowed" (spec §3.8), so a plan
// the product controller found its quota too small for (quotaRefusal) is
// refused: the tenant would stall on it (QuotaTooSmall); so is a change
// between two plans of a chart product that the product controller
// recorded as refused (status.refusedPlanChanges): the tenant would stall
// on it (ObjectInvalid).
func (r *Receiver) changeInstanceCheck(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.ChangeInstanceCheckRequest)
	c.instanceID = req.InstanceID
	s, err := r.find(ctx, c.product, req.InstanceID, true)
	if err != nil {
		return reply{}, err
	}
	if *s.state == saasv1alpha1.StateReleased {
		return reply{}, errBadParam("instance %q is released and cannot be changed", req.InstanceID)
	}
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(c.product), product); err != nil {
		return reply{}, errInternal("the product cannot be read", err)
	}
	sku := req.ProductInfo.SKUCode
	i := slices.IndexFunc(product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == sku })
	if i < 0 {
		return reply{}, errBadParam("skuCode %q is not a plan of product %q", sku, c.product.Name)
	}
	if problems := quotaRefusal(product, &product.Spec.Plans[i]); problems != "" {
		return reply{}, errBadParam("skuCode %q cannot be provisioned by product %q: %s", sku, c.product.Name, problems)
	}
	if from := runningPlan(s.object); product.Status.PlanChangeRefused(from, sku) {
		return reply{}, errBadParam("instance %q cannot change from plan %q to skuCode %q: product %q's chart renders the two plans "+
			"differently in a field that cannot change on an existing object (its PlansValid condition says which)",
			req.InstanceID, from, sku, c.product.Name)
	}
	return reply{}, nil
}

// runningPlan is the plan a tenant runs: the one its objects were last
// applied for (status.applied), not status.skuCode, which a change it
// stalled on has already moved; status.skuCode while nothing was applied,
// since a first apply that stopped half-way leaves objects of that plan.
// "" for a licence.
func runningPlan(obj client.Object) string {
	t, ok := obj.(*saasv1alpha1.SaaSTenant)
	switch {
	case !ok:
		return ""
	case t.Status.Applied != nil:
		return t.Status.Applied.SKUCode
	}
	return t.Status.SKUCode
}

// quotaRefusal is what is wrong with the quota of plan, "" when nothing: the tenant controller refuses to run a plan whose quota cannot
// hold its tenant at the peak of a rollout (tenantobjects.QuotaShortfalls,
// the same check), so a change to it would be paid for and never made.
func quotaRefusal(product *saasv1alpha1.SaaSProduct, plan *saasv1alpha1.Plan) string {
	if product.Spec.Workload == nil {
		return ""
	}
	return strings.Join(tenantobjects.QuotaShortfalls(product.Spec.Workload, plan), "; ")
}

// acceptGone answers 000000 for a change to an instance whose record is
// gone, with an Event on the product: nothing is changed (docs/lifecycle.md
// rule B).
func (r *Receiver) acceptGone(c *call, err error) error {
	if !isGone(err) {
		return err
	}
	r.recordGone(c)
	return nil
}

func (r *Receiver) recordGone(c *call) {
	r.event(c.product, corev1.EventTypeNormal, saasv1alpha1.InstanceGoneReason,
		fmt.Sprintf("%s for instance %s answered 000000 without change: kooper issued it and its record is gone", c.activity, c.instanceID))
}

// event records an Event about obj, when the receiver has a recorder.
func (r *Receiver) event(obj runtime.Object, eventType, reason, note string) {
	if r.opts.Recorder != nil {
		r.opts.Recorder.Eventf(obj, nil, eventType, reason, "Callback", "%s", note)
	}
}

func (r *Receiver) now() metav1.Time {
	return metav1.NewTime(r.opts.Now().UTC())
}

func isNotFound(err error) bool {
	code, _ := toResult(err)
	return code == koogallery.ResultInstanceNotFound
}

// asInternal keeps a decided answer and turns anything else into 000005.
func asInternal(err error, msg string) error {
	var decided *callbackError
	if errors.As(err, &decided) || isGone(err) {
		return err
	}
	return errInternal(msg, err)
}
