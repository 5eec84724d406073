package main

// The callback bodies, with members in the order the docs' examples show
// them (spec §3). The order matters only in that it is not sorted: the
// receiver must sort before verifying, and these bodies check that it does.

// withTestFlag adds testFlag "1" to a debug request. Non-debug requests
// leave it out, as the newest pages say the marketplace does (§1.9).
func withTestFlag(b callbackBody, debug bool) callbackBody {
	if debug {
		return append(b, field{"testFlag", "1"})
	}
	return b
}

// newInstanceBody is §3.2's request.
func newInstanceBody(orderID, orderLineID, businessID string, debug bool) callbackBody {
	return withTestFlag(callbackBody{
		{"activity", "newInstance"},
		{"orderId", orderID},
		{"orderLineId", orderLineID},
		{"businessId", businessID},
	}, debug)
}

// queryInstanceBody is §3.3's request; instanceIDs may list several IDs
// separated by commas.
func queryInstanceBody(instanceIDs string, debug bool) callbackBody {
	return withTestFlag(callbackBody{
		{"activity", "queryInstance"},
		{"instanceId", instanceIDs},
	}, debug)
}

// refreshRequest holds the values of a refreshInstance (§3.4).
type refreshRequest struct {
	scene, orderID, orderLineID, instanceID, productID, expireTime string
}

// refreshInstanceBody is §3.4's request; productId is sent only when set,
// as the marketplace sends it only when the product changes.
func refreshInstanceBody(r refreshRequest, debug bool) callbackBody {
	b := callbackBody{
		{"activity", "refreshInstance"},
		{"scene", r.scene},
		{"orderId", r.orderID},
		{"orderLineId", r.orderLineID},
		{"instanceId", r.instanceID},
	}
	if r.productID != "" {
		b = append(b, field{"productId", r.productID})
	}
	b = append(b, field{"expireTime", r.expireTime})
	return withTestFlag(b, debug)
}

// updateInstanceStatusBody is §3.5's request; status is FREEZE or UNFREEZE.
func updateInstanceStatusBody(instanceID, status string, debug bool) callbackBody {
	return withTestFlag(callbackBody{
		{"activity", "updateInstanceStatus"},
		{"instanceId", instanceID},
		{"status", status},
	}, debug)
}

// upgradeInstanceBody is §3.7's request.
func upgradeInstanceBody(instanceID, orderID, orderLineID string, debug bool) callbackBody {
	return withTestFlag(callbackBody{
		{"activity", "upgradeInstance"},
		{"instanceId", instanceID},
		{"orderId", orderID},
		{"orderLineId", orderLineID},
	}, debug)
}

// orderNotifyBody is §3.9's request: only the order's IDs.
func orderNotifyBody(orderID, orderLineID string, debug bool) callbackBody {
	return withTestFlag(callbackBody{
		{"activity", "orderNotify"},
		{"orderId", orderID},
		{"orderLineId", orderLineID},
	}, debug)
}

// releaseInstanceBody is §3.6's request; the unsubscription order is sent
// only when the release is caused by one.
func releaseInstanceBody(instanceID, orderID, orderLineID string, debug bool) callbackBody {
	b := callbackBody{
		{"activity", "releaseInstance"},
		{"instanceId", instanceID},
	}
	if orderID != "" {
		b = append(b, field{"orderId", orderID}, field{"orderLineId", orderLineID})
	}
	return withTestFlag(b, debug)
}

// changeCheckRequest holds the values of a changeInstanceCheck (§3.8).
type changeCheckRequest struct {
	instanceID, productID, skuCode, linearValue string
}

// changeInstanceCheckBody is §3.8's request. productInfo's structure is not
// documented; it is sent as Query Order's productInfo (§8 item 13).
func changeInstanceCheckBody(r changeCheckRequest, debug bool) callbackBody {
	product := callbackBody{{"productId", r.productID}, {"skuCode", r.skuCode}}
	if r.linearValue != "" {
		product = append(product, field{"linearValue", jsonNumber(r.linearValue)})
	}
	return withTestFlag(callbackBody{
		{"activity", "changeInstanceCheck"},
		{"instanceId", r.instanceID},
		{"productInfo", product},
	}, debug)
}

// licenseRequest holds the values of a getLicenseAsync (§3.10).
type licenseRequest struct {
	eventID, instanceID, effectiveTime, expireTime, fingerprint string
}

// getLicenseAsyncBody is §3.10's request, in the docs' example order;
// expireTime and deviceFingerprint are sent only when set.
func getLicenseAsyncBody(r licenseRequest, debug bool) callbackBody {
	b := callbackBody{
		{"activity", "getLicenseAsync"},
		{"eventId", r.eventID},
		{"instanceId", r.instanceID},
		{"effectiveTime", r.effectiveTime},
	}
	if r.expireTime != "" {
		b = append(b, field{"expireTime", r.expireTime})
	}
	if r.fingerprint != "" {
		b = append(b, field{"deviceFingerprint", r.fingerprint})
	}
	return withTestFlag(b, debug)
}
