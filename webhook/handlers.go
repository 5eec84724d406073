package webhook

import (
	"context"
	"errors"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
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
	}
}

// maxQueryIDs is how many instance IDs one queryInstance may ask for (spec §3.3).
const maxQueryIDs = 100

// newInstance records a purchase. The object's name is derived from the
// order line, so a repeat, or a concurrent duplicate on another replica,
// hits AlreadyExists and gets the same instance ID.
func (r *Receiver) newInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.NewInstanceRequest)
	c.instanceID, c.orderID = instanceID(req.OrderID, req.OrderLineID), req.OrderID
	s := r.newPurchase(c, req)
	err := r.client.Create(ctx, s.object)
	if apierrors.IsAlreadyExists(err) {
		s, err = r.existingPurchase(ctx, c, req)
	}
	if err != nil {
		return reply{}, asInternal(err, "the order could not be stored")
	}
	info, pending, err := r.instanceInfo(ctx, c, s)
	if err != nil {
		return reply{}, err
	}
	body := &koogallery.NewInstanceResponse{InstanceID: c.instanceID, AppInfo: info.AppInfo}
	return r.withAppInfo(body, &body.EncryptType, info.AppInfo != nil, pending), nil
}

// newPurchase is the object a purchase creates.
func (r *Receiver) newPurchase(c *call, req *koogallery.NewInstanceRequest) subscription {
	s := newSubscription(c.product)
	s.object.SetName(c.instanceID)
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
// are left out; if none is known the answer is 000003.
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
	for _, id := range ids {
		s, err := r.find(ctx, c.product, id, false)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return reply{}, err
		}
		info, waiting, err := r.instanceInfo(ctx, c, s)
		if err != nil {
			return reply{}, err
		}
		encrypted = encrypted || info.AppInfo != nil
		pending = pending || waiting
		body.Info = append(body.Info, info)
	}
	if len(body.Info) == 0 {
		return reply{}, errInstanceNotFound(req.InstanceID)
	}
	return r.withAppInfo(body, &body.EncryptType, encrypted, pending), nil
}

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
		return reply{}, errBadParam("expireTime %q is not yyyyMMddHHmmss or yyyyMMddHHmmssSSS", req.ExpireTime)
	}
	expireTime := metav1.NewTime(expiry)
	return reply{}, r.update(ctx, c.product, req.InstanceID, func(s subscription) (bool, error) {
		if s.hasOrder(req.OrderID) {
			return false, nil
		}
		s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
			Activity: saasv1alpha1.ActivityRefreshInstance, Scene: sceneOf(koogallery.Scene(req.Scene)),
			ProductID: req.ProductID, ExpireTime: &expireTime, ReceivedTime: r.now()})
		*s.expireTime = &expireTime
		return true, nil
	})
}

func sceneOf(scene koogallery.Scene) saasv1alpha1.RefreshScene {
	return map[koogallery.Scene]saasv1alpha1.RefreshScene{
		koogallery.SceneRenewal:                  saasv1alpha1.SceneRenewal,
		koogallery.SceneTrialToFormal:            saasv1alpha1.SceneTrialToFormal,
		koogallery.SceneUnsubscribeRenewalPeriod: saasv1alpha1.SceneUnsubscribeRenewalPeriod,
		koogallery.SceneRenewalChange:            saasv1alpha1.SceneRenewalChange,
	}[scene]
}

// updateInstanceStatus freezes or unfreezes; a repeat, or either on a
// released instance, changes nothing and succeeds.
func (r *Receiver) updateInstanceStatus(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.UpdateInstanceStatusRequest)
	c.instanceID = req.InstanceID
	from, to := saasv1alpha1.StateActive, saasv1alpha1.StateFrozen
	if koogallery.InstanceStatus(req.Status) == koogallery.StatusUnfreeze {
		from, to = to, from
	}
	return reply{}, r.update(ctx, c.product, req.InstanceID, func(s subscription) (bool, error) {
		if *s.state != from {
			return false, nil
		}
		*s.state = to
		return true, nil
	})
}

// releaseInstance releases once; releasing a released instance succeeds.
func (r *Receiver) releaseInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.ReleaseInstanceRequest)
	c.instanceID, c.orderID = req.InstanceID, req.OrderID
	return reply{}, r.update(ctx, c.product, req.InstanceID, func(s subscription) (bool, error) {
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
}

// upgradeInstance records a paid upgrade once per orderId; the controller
// reads the new specification from Query Order.
func (r *Receiver) upgradeInstance(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.UpgradeInstanceRequest)
	c.instanceID, c.orderID = req.InstanceID, req.OrderID
	return reply{}, r.update(ctx, c.product, req.InstanceID, func(s subscription) (bool, error) {
		if s.hasOrder(req.OrderID) {
			return false, nil
		}
		if *s.state == saasv1alpha1.StateReleased {
			return false, errBadParam("instance %q is released and cannot be upgraded", req.InstanceID)
		}
		s.addOrder(saasv1alpha1.AppliedOrder{OrderID: req.OrderID, OrderLineID: req.OrderLineID,
			Activity: saasv1alpha1.ActivityUpgradeInstance, ReceivedTime: r.now()})
		return true, nil
	})
}

// changeInstanceCheck allows a renewal change only to a plan the product has.
func (r *Receiver) changeInstanceCheck(ctx context.Context, c *call) (reply, error) {
	req := c.request.(*koogallery.ChangeInstanceCheckRequest)
	c.instanceID = req.InstanceID
	if _, err := r.find(ctx, c.product, req.InstanceID, false); err != nil {
		return reply{}, err
	}
	sku := req.ProductInfo.SKUCode
	if !slices.ContainsFunc(c.product.Spec.Plans, func(p saasv1alpha1.Plan) bool { return p.SKUCode == sku }) {
		return reply{}, errBadParam("skuCode %q is not a plan of product %q", sku, c.product.Name)
	}
	return reply{}, nil
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
	if errors.As(err, &decided) {
		return err
	}
	return errInternal(msg, err)
}
