package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// The Seller Console's debug scenarios, one function each. Every scenario
// uses fresh order IDs, so a run can be repeated against the same
// deployment; each returns its verdict and never panics on any answer.

// newPurchase announces a new order and keeps the instance for the
// lifecycle scenarios (§3.2).
func (r *conformance) newPurchase(ctx context.Context) verdict {
	r.orderID = r.ids.orderID()
	r.orderLineID = firstLine(r.orderID)
	if err := r.registerOrder(ctx, r.orderID, koogallery.OrderNew, ""); err != nil {
		return fail("%v", err)
	}
	a, problem := r.expect(ctx, newInstanceBody(r.orderID, r.orderLineID, r.ids.businessID(), r.debug), pendingCodes...)
	if problem != "" {
		return fail("%s", problem)
	}
	if problem := checkPurchase(a, r.m.key); problem != "" {
		return fail("%s", problem)
	}
	r.instanceID = a.body.InstanceID
	return pass("%s, instanceId %s, %s", a.code(), r.instanceID, appInfoNote(a, r.instanceID))
}

// checkPurchase checks a successful newInstance answer: an instanceId of
// at most 64 characters, and a usable appInfo if there is one.
func checkPurchase(a *answer, key string) string {
	id := a.body.InstanceID
	switch {
	case id == "":
		return fmt.Sprintf("%s without instanceId, which newInstance must return", a.code())
	case len([]rune(id)) > maxInstanceIDLength:
		return fmt.Sprintf("instanceId is longer than %d characters", maxInstanceIDLength)
	case a.body.AppInfo != nil:
		return checkAppInfo(key, a.body.EncryptType, a.body.AppInfo)
	}
	return ""
}

// repeatPurchase re-sends the purchase as a marketplace retry does: same
// order, new businessId. It must give the same instanceId (§1.8).
func (r *conformance) repeatPurchase(ctx context.Context) verdict {
	if v, ok := r.needInstance(); !ok {
		return v
	}
	a, problem := r.expect(ctx, newInstanceBody(r.orderID, r.orderLineID, r.ids.businessID(), r.debug), pendingCodes...)
	if problem != "" {
		return fail("%s", problem)
	}
	if problem := checkPurchase(a, r.m.key); problem != "" {
		return fail("%s", problem)
	}
	if a.body.InstanceID != r.instanceID {
		return fail("instanceId %s, want %s: a repeated order must get the same instance", a.body.InstanceID, r.instanceID)
	}
	return pass("%s, same instanceId", a.code())
}

// queryInstance asks for the purchase's instance (§3.3). appInfo is not
// required: it needs the tenant to be provisioned.
func (r *conformance) queryInstance(ctx context.Context) verdict {
	if v, ok := r.needInstance(); !ok {
		return v
	}
	a, problem := r.expect(ctx, queryInstanceBody(r.instanceID, r.debug), pendingCodes...)
	if problem != "" {
		return fail("%s", problem)
	}
	i := slices.IndexFunc(a.body.Info, func(info instanceInfo) bool { return info.InstanceID == r.instanceID })
	switch {
	case a.code() == string(koogallery.ResultSuccess) && i < 0:
		return fail("000000 without an info entry for %s", r.instanceID)
	case i >= 0 && a.body.Info[i].AppInfo != nil:
		if problem := checkAppInfo(r.m.key, a.body.EncryptType, a.body.Info[i].AppInfo); problem != "" {
			return fail("%s", problem)
		}
	}
	return pass("%s, %s", a.code(), appInfoNote(a, r.instanceID))
}

// renewal renews the instance for a year with a new order (§3.4).
func (r *conformance) renewal(ctx context.Context) verdict {
	if v, ok := r.needInstance(); !ok {
		return v
	}
	orderID := r.ids.orderID()
	expireTime := r.m.now().UTC().AddDate(1, 0, 0).Format(layout14)
	if err := r.registerOrder(ctx, orderID, koogallery.OrderRenew, expireTime); err != nil {
		return fail("%v", err)
	}
	r.renewalBody = refreshInstanceBody(refreshRequest{
		scene: string(koogallery.SceneRenewal), orderID: orderID, orderLineID: firstLine(orderID),
		instanceID: r.instanceID, expireTime: expireTime,
	}, r.debug)
	return doneWith(r.expect(ctx, r.renewalBody, successCodes...))
}

// renewalRepeat re-sends the renewal, freshly signed like a marketplace
// retry; it must succeed without extending twice (§1.8).
func (r *conformance) renewalRepeat(ctx context.Context) verdict {
	if r.renewalBody == nil {
		return fail("needs the renewal, which was not sent")
	}
	return doneWith(r.expect(ctx, r.renewalBody, successCodes...))
}

// statusChange returns the freeze or unfreeze scenario (§3.5).
func (r *conformance) statusChange(status koogallery.InstanceStatus) func(context.Context) verdict {
	return func(ctx context.Context) verdict {
		if v, ok := r.needInstance(); !ok {
			return v
		}
		return doneWith(r.expect(ctx, updateInstanceStatusBody(r.instanceID, string(status), r.debug), successCodes...))
	}
}

// upgrade applies an upgrade order to the instance (§3.7).
func (r *conformance) upgrade(ctx context.Context) verdict {
	if v, ok := r.needInstance(); !ok {
		return v
	}
	orderID := r.ids.orderID()
	if err := r.registerOrder(ctx, orderID, koogallery.OrderChange, ""); err != nil {
		return fail("%v", err)
	}
	return doneWith(r.expect(ctx, upgradeInstanceBody(r.instanceID, orderID, firstLine(orderID), r.debug), successCodes...))
}

// changeCheck asks whether the instance may change to --change-sku (§3.8).
func (r *conformance) changeCheck(ctx context.Context) verdict {
	if r.changeSKU == "" {
		return skip("pass --change-sku <a plan's skuCode> to run it")
	}
	if v, ok := r.needInstance(); !ok {
		return v
	}
	req := changeCheckRequest{instanceID: r.instanceID, productID: r.purchase.productID, skuCode: r.changeSKU}
	return doneWith(r.expect(ctx, changeInstanceCheckBody(req, r.debug), successCodes...))
}

// orderNotify notifies a new order (§3.9), registered on serve with
// --sim-url so the receiver can resolve it: 000000.
func (r *conformance) orderNotify(ctx context.Context) verdict {
	r.notifiedOrder = r.ids.orderID()
	if err := r.registerOrder(ctx, r.notifiedOrder, koogallery.OrderRenew, ""); err != nil {
		return fail("%v", err)
	}
	return doneWith(r.expect(ctx, orderNotifyBody(r.notifiedOrder, firstLine(r.notifiedOrder), r.debug), successCodes...))
}

// orderNotifyRepeat notifies the same order again, as the marketplace
// retries for 3 hours (§3.9): 000000 again.
func (r *conformance) orderNotifyRepeat(ctx context.Context) verdict {
	if r.notifiedOrder == "" {
		return fail("needs the order of \"order notification\", which failed")
	}
	return doneWith(r.expect(ctx, orderNotifyBody(r.notifiedOrder, firstLine(r.notifiedOrder), r.debug), successCodes...))
}

// orderNotifyIncomplete leaves out orderLineId, which §3.9 marks M: 000002.
func (r *conformance) orderNotifyIncomplete(ctx context.Context) verdict {
	body := withTestFlag(callbackBody{{"activity", "orderNotify"}, {"orderId", r.ids.orderID()}}, r.debug)
	return doneWith(r.expect(ctx, body, string(koogallery.ResultInvalidParam)))
}

// release releases the instance; run twice, the second checks that a
// repeated release succeeds (§3.6).
func (r *conformance) release(ctx context.Context) verdict {
	if v, ok := r.needInstance(); !ok {
		return v
	}
	return doneWith(r.expect(ctx, releaseInstanceBody(r.instanceID, "", "", r.debug), successCodes...))
}

// unknownInstanceID is an instance ID no receiver issued.
func (r *conformance) unknownInstanceID() string {
	return "sim-unknown-" + randomHex(8)
}

// unknownInstanceQuery queries an instance that does not exist: 000003.
func (r *conformance) unknownInstanceQuery(ctx context.Context) verdict {
	return doneWith(r.expect(ctx, queryInstanceBody(r.unknownInstanceID(), r.debug), string(koogallery.ResultInstanceNotFound)))
}

// unknownInstanceFreeze freezes an instance that does not exist: 000003.
func (r *conformance) unknownInstanceFreeze(ctx context.Context) verdict {
	body := updateInstanceStatusBody(r.unknownInstanceID(), string(koogallery.StatusFreeze), r.debug)
	return doneWith(r.expect(ctx, body, string(koogallery.ResultInstanceNotFound)))
}

// badSignature sends a purchase signed with another key: 000001, and no
// instance may be created.
func (r *conformance) badSignature(ctx context.Context) verdict {
	orderID := r.ids.orderID()
	body := newInstanceBody(orderID, firstLine(orderID), r.ids.businessID(), r.debug)
	req, err := signBody(r.m.key+"-not-the-key", body, r.m.now(), newNonce())
	if err != nil {
		return fail("%v", err)
	}
	return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultAuthFailed)))
}

// instanceOrUnknown is the purchase's instance, or an unknown one when the
// purchase failed, for scenarios whose answer does not depend on it.
func (r *conformance) instanceOrUnknown() string {
	if r.instanceID != "" {
		return r.instanceID
	}
	return r.unknownInstanceID()
}

// staleTimestamp sends a correctly signed query whose timestamp is five
// minutes old: 000002 (§2.1.2 step 3).
func (r *conformance) staleTimestamp(ctx context.Context) verdict {
	req, err := signBody(r.m.key, queryInstanceBody(r.instanceOrUnknown(), r.debug), r.m.now().Add(-staleAge), newNonce())
	if err != nil {
		return fail("%v", err)
	}
	return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultInvalidParam)))
}

// replayedNonce sends the exact same signed query twice: the first must be
// answered, the second refused with 000002.
func (r *conformance) replayedNonce(ctx context.Context) verdict {
	req, err := r.m.sign(queryInstanceBody(r.instanceOrUnknown(), r.debug))
	if err != nil {
		return fail("%v", err)
	}
	accepted := []string{string(koogallery.ResultSuccess), string(koogallery.ResultProcessing), string(koogallery.ResultInstanceNotFound)}
	if _, problem := r.expectRequest(ctx, req, accepted...); problem != "" {
		return fail("the first request was not accepted, so the replay proves nothing: %s", problem)
	}
	return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultInvalidParam)))
}

// malformedJSON sends a purchase cut off halfway, signed over the bytes a
// marketplace would have had: 000002.
func (r *conformance) malformedJSON(ctx context.Context) verdict {
	orderID := r.ids.orderID()
	wire, err := newInstanceBody(orderID, firstLine(orderID), r.ids.businessID(), r.debug).wire()
	if err != nil {
		return fail("%v", err)
	}
	truncated := wire[:len(wire)/2]
	req := signRaw(r.m.key, string(koogallery.ActivityNewInstance), truncated, r.m.now(), newNonce())
	return doneWith(r.expectRequest(ctx, req, string(koogallery.ResultInvalidParam)))
}

// oversizedBody sends a correctly signed query padded to just over 1 MiB:
// 000002. It queries an unknown instance, so a receiver that reads the body
// anyway answers 000003 and fails without side effects.
func (r *conformance) oversizedBody(ctx context.Context) verdict {
	body, err := padTo(queryInstanceBody(r.unknownInstanceID(), r.debug), oversizedBodyBytes)
	if err != nil {
		return fail("%v", err)
	}
	return doneWith(r.expect(ctx, body, string(koogallery.ResultInvalidParam)))
}

// padTo adds a padding member so that b's wire form is exactly size bytes.
func padTo(b callbackBody, size int) (callbackBody, error) {
	padded := append(slices.Clone(b), field{"padding", ""})
	wire, err := padded.wire()
	if err != nil {
		return nil, err
	}
	if len(wire) > size {
		return nil, fmt.Errorf("the body is already %d bytes, more than %d", len(wire), size)
	}
	padded[len(padded)-1].value = strings.Repeat("x", size-len(wire))
	return padded, nil
}

// debugPurchase returns a scenario that buys a fresh order with testFlag
// "1" or without testFlag: both must be answered as production is (§1.9).
func (r *conformance) debugPurchase(debug bool) func(context.Context) verdict {
	return func(ctx context.Context) verdict {
		orderID := r.ids.orderID()
		if err := r.registerOrder(ctx, orderID, koogallery.OrderNew, ""); err != nil {
			return fail("%v", err)
		}
		a, problem := r.expect(ctx, newInstanceBody(orderID, firstLine(orderID), r.ids.businessID(), debug), pendingCodes...)
		if problem != "" {
			return fail("%s", problem)
		}
		if problem := checkPurchase(a, r.m.key); problem != "" {
			return fail("%s", problem)
		}
		if a.body.InstanceID == r.instanceID {
			return fail("instanceId %s is the first purchase's; a new order needs a new instance", a.body.InstanceID)
		}
		if !slices.Contains(r.extra, a.body.InstanceID) {
			r.extra = append(r.extra, a.body.InstanceID)
		}
		return pass("%s, instanceId %s", a.code(), a.body.InstanceID)
	}
}
