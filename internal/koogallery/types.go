package koogallery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Maximum field lengths of the basic callbacks, in characters (§3).
const (
	maxIDLength          = 64
	maxExpireTimeLength  = 20
	maxLicenseTimeLength = 32
	maxFingerprintLength = 1024
	// maxQueryInstanceIDs is how many comma-separated IDs one queryInstance
	// may carry (§3.3).
	maxQueryInstanceIDs = 100
)

// ValidationError says which field of a callback body is wrong and why. It
// maps to 000002 (CodeOf).
type ValidationError struct {
	// Field is the JSON name of the field, e.g. orderId.
	Field string
	// Reason completes a sentence about Field ("is required") or, when it
	// cannot, is a phrase of its own ("unknown activity \"x\"").
	Reason string
}

// Error returns "orderId is required" for predicate reasons and
// "activity: unknown activity \"x\"" for the others.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	for _, verb := range []string{"is ", "are ", "must ", "has "} {
		if strings.HasPrefix(e.Reason, verb) {
			return e.Field + " " + e.Reason
		}
	}
	return e.Field + ": " + e.Reason
}

// NewInstanceRequest is the body of newInstance (§3.2).
type NewInstanceRequest struct {
	// Activity is newInstance.
	Activity string `json:"activity"`
	// OrderID is the marketplace order ID (max 64).
	OrderID string `json:"orderId"`
	// OrderLineID is the order line ID (max 64); with OrderID it is the
	// idempotency key.
	OrderLineID string `json:"orderLineId"`
	// BusinessID differs on every request, retries included (max 64).
	BusinessID string `json:"businessId"`
	// TestFlag is "1" for a debug request, "0" or empty otherwise.
	TestFlag string `json:"testFlag"`
	// RichBody is set when the body had the older rich shape (§2.1.3, §8
	// item 29), with the order in orderInfo[]: then BusinessID may be empty,
	// and OrderID and OrderLineID come from orderInfo's one order line when
	// the top level has neither (see DecodeCallback).
	RichBody bool `json:"-"`
}

// QueryInstanceRequest is the body of queryInstance (§3.3).
type QueryInstanceRequest struct {
	// Activity is queryInstance.
	Activity string `json:"activity"`
	// InstanceID is one instance ID or several separated by commas.
	InstanceID string `json:"instanceId"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// RefreshInstanceRequest is the body of refreshInstance (§3.4).
type RefreshInstanceRequest struct {
	// Activity is refreshInstance.
	Activity string `json:"activity"`
	// Scene is one of the Scene constants.
	Scene string `json:"scene"`
	// OrderID is the new (renewal, conversion, unsubscription) order.
	OrderID string `json:"orderId"`
	// OrderLineID is the new order's line.
	OrderLineID string `json:"orderLineId"`
	// InstanceID is the existing instance.
	InstanceID string `json:"instanceId"`
	// ProductID is the new product, sent when the product or period changes.
	ProductID string `json:"productId"`
	// ExpireTime is the new expiry, UTC; see ParseExpireTime.
	ExpireTime string `json:"expireTime"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// UpdateInstanceStatusRequest is the body of updateInstanceStatus (§3.5).
type UpdateInstanceStatusRequest struct {
	// Activity is updateInstanceStatus.
	Activity string `json:"activity"`
	// InstanceID is the instance to freeze or unfreeze.
	InstanceID string `json:"instanceId"`
	// Status is FREEZE or UNFREEZE (see InstanceStatus).
	Status string `json:"status"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// ReleaseInstanceRequest is the body of releaseInstance (§3.6).
type ReleaseInstanceRequest struct {
	// Activity is releaseInstance.
	Activity string `json:"activity"`
	// InstanceID is the instance to delete.
	InstanceID string `json:"instanceId"`
	// OrderID is the unsubscription order, when an unsubscription caused
	// the release.
	OrderID string `json:"orderId"`
	// OrderLineID is the unsubscription order line.
	OrderLineID string `json:"orderLineId"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// UpgradeInstanceRequest is the body of upgradeInstance (§3.7).
type UpgradeInstanceRequest struct {
	// Activity is upgradeInstance.
	Activity string `json:"activity"`
	// InstanceID is the instance; an upgrade keeps it.
	InstanceID string `json:"instanceId"`
	// OrderID is the upgrade order.
	OrderID string `json:"orderId"`
	// OrderLineID is the upgrade order's line.
	OrderLineID string `json:"orderLineId"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// OrderNotifyRequest is the body of orderNotify (§3.9): only the order's
// IDs; the merchant reads the order with Query Order.
type OrderNotifyRequest struct {
	// Activity is orderNotify.
	Activity string `json:"activity"`
	// OrderID is the notified order.
	OrderID string `json:"orderId"`
	// OrderLineID is the notified order's line.
	OrderLineID string `json:"orderLineId"`
	// TestFlag is "1" for a debug request; missing reads as "0" (§2.1).
	TestFlag string `json:"testFlag"`
}

// ProductInfo identifies a product and specification, in Query Order order
// lines and in changeInstanceCheck (§3.8, §6.3).
type ProductInfo struct {
	// ProductID is the marketplace product ID.
	ProductID string `json:"productId"`
	// SKUCode is the specification (SKU) code.
	SKUCode string `json:"skuCode"`
	// LinearValue is the quantity of the linear attribute, e.g. users. It is
	// a number kept as sent, so a quantity is never rounded through float64.
	LinearValue *json.Number `json:"linearValue,omitempty"`
	// ProductName is the display name.
	ProductName string `json:"productName,omitempty"`
}

// ChangeInstanceCheckRequest is the body of changeInstanceCheck (§3.8).
type ChangeInstanceCheckRequest struct {
	// Activity is changeInstanceCheck.
	Activity string `json:"activity"`
	// InstanceID is the instance to change.
	InstanceID string `json:"instanceId"`
	// ProductInfo is the target specification; Validate guarantees it is set.
	ProductInfo *ProductInfo `json:"productInfo"`
	// TestFlag is "1" for a debug request; absent otherwise.
	TestFlag string `json:"testFlag"`
}

// GetLicenseAsyncRequest is the body of getLicenseAsync (§3.10).
type GetLicenseAsyncRequest struct {
	// Activity is getLicenseAsync.
	Activity string `json:"activity"`
	// InstanceID is the instance the licence belongs to.
	InstanceID string `json:"instanceId"`
	// EffectiveTime is the licence start, UTC; see ParseLicenseTime.
	EffectiveTime string `json:"effectiveTime"`
	// ExpireTime is the licence end, required for periodic products.
	ExpireTime string `json:"expireTime"`
	// EventID is the marketplace serial number the licence is uploaded under.
	EventID string `json:"eventId"`
	// DeviceFingerprint is the device or hardware ID for bound licences.
	DeviceFingerprint string `json:"deviceFingerprint"`
	// TestFlag is "1" for a debug request.
	TestFlag string `json:"testFlag"`
}

// IsDebug reports whether testFlag, as DecodeRequest leaves it, marks a
// debug request from the Seller Console: only "1" does (§1.9), which the
// decoder also makes of 1, true and "true".
func IsDebug(testFlag string) bool {
	return testFlag == "1"
}

// InstanceIDs splits InstanceID on commas, trimming spaces and dropping
// empty entries.
func (r QueryInstanceRequest) InstanceIDs() []string {
	var ids []string
	for _, id := range strings.Split(r.InstanceID, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// Validate checks the mandatory fields and maximum lengths of §3.2. The
// older rich body (RichBody) carries no businessId (§8 item 29), so there it
// is optional; kooper keeps it only as a record, never as a key.
func (r NewInstanceRequest) Validate() error {
	businessID := required("businessId", r.BusinessID, maxIDLength)
	if r.RichBody {
		businessID = maxLength("businessId", r.BusinessID, maxIDLength)
	}
	return firstError(
		required("orderId", r.OrderID, maxIDLength),
		required("orderLineId", r.OrderLineID, maxIDLength),
		businessID,
		testFlag(r.TestFlag),
	)
}

// DecodeCallback is DecodeRequest, except that it also reads a newInstance
// of the older rich shape (§2.1.3, §8 item 29): a body with orderInfo[]
// (and buyerInfo, trialFlag, chargingMode... which are ignored, as Query
// Order tells them). Such a body needs no businessId. When its top level
// has neither orderId nor orderLineId they are read from orderInfo's one
// order line (several are refused: onlyOrderLine), which the signature
// covers like any other field; when it has either, the
// top level is read alone, so one order line's IDs are never mixed with
// another's. The IDs make the same instance and idempotency key as a
// minimal body's would.
func DecodeCallback(body []byte) (Activity, any, error) {
	activity, req, err := DecodeRequest(body)
	if activity != ActivityNewInstance || req != nil {
		return activity, req, err
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		return activity, nil, err
	}
	rich, ok, richErr := decodeRichNewInstance(body)
	switch {
	case !ok:
		return activity, nil, err
	case richErr != nil:
		return activity, nil, richErr
	}
	return activity, rich, nil
}

// decodeRichNewInstance reads a newInstance body with orderInfo; ok is false
// for a body without one.
func decodeRichNewInstance(body []byte) (req *NewInstanceRequest, ok bool, err error) {
	members, err := parseObject(body)
	if err != nil {
		return nil, true, err
	}
	fields := make(map[string][]byte, len(members))
	for _, m := range members {
		if !m.isNull() {
			fields[m.key] = m.value
		}
	}
	orderInfo, ok := fields["orderInfo"]
	if !ok {
		return nil, false, nil
	}
	r := &NewInstanceRequest{RichBody: true}
	for _, b := range r.bindings() {
		if raw, ok := fields[b.name]; ok {
			if err := b.set(raw); err != nil {
				return nil, true, err
			}
		}
	}
	_, hasOrderID := fields["orderId"]
	_, hasOrderLineID := fields["orderLineId"]
	if !hasOrderID && !hasOrderLineID {
		line, err := onlyOrderLine(orderInfo)
		if err != nil {
			return nil, true, err
		}
		if err := firstError(
			setString("orderInfo[0].orderId", &r.OrderID)(line["orderId"]),
			setString("orderInfo[0].orderLineId", &r.OrderLineID)(line["orderLineId"]),
		); err != nil {
			return nil, true, err
		}
	}
	if err := r.Validate(); err != nil {
		return nil, true, err
	}
	return r, true, nil
}

// onlyOrderLine returns the fields of orderInfo's one order line: orderInfo
// is an array of one object, or one object, or either sent as a JSON string
// (a sender that holds the body as Map<String,String>, as the spec's sample
// reads it, §2.1.2). An array of several lines is refused: a newInstance
// makes one line's instance, and a body naming no line at its top level
// does not say which (§8 item 29); taking the first would answer another
// line's instance and leave this one unprovisioned.
func onlyOrderLine(raw []byte) (map[string][]byte, error) {
	refused := &ValidationError{Field: "orderInfo", Reason: "must be an array of order lines, an order line, or either as a JSON string"}
	if raw[0] == '"' {
		var text string
		if err := json.Unmarshal(raw, &text); err != nil || text == "" {
			return nil, refused
		}
		raw = []byte(text)
	}
	if raw[0] == '[' {
		var lines []json.RawMessage
		if err := json.Unmarshal(raw, &lines); err != nil || len(lines) == 0 {
			return nil, refused
		}
		if len(lines) > 1 {
			return nil, &ValidationError{Field: "orderInfo", Reason: fmt.Sprintf(
				"holds %d order lines and the body names none at its top level (orderId, orderLineId): which line this instance is for cannot be told", len(lines))}
		}
		raw = lines[0]
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, refused
	}
	return objectFields("orderInfo[0]", raw)
}

// Validate checks §3.3. The documented length of instanceId (100) cannot
// hold the documented 100 IDs, so each ID is checked instead (§8 item 12).
func (r QueryInstanceRequest) Validate() error {
	ids := r.InstanceIDs()
	if len(ids) == 0 {
		return &ValidationError{Field: "instanceId", Reason: "is required"}
	}
	if len(ids) > maxQueryInstanceIDs {
		return &ValidationError{Field: "instanceId", Reason: fmt.Sprintf("has %d IDs, more than %d", len(ids), maxQueryInstanceIDs)}
	}
	for _, id := range ids {
		if err := maxLength("instanceId", id, maxIDLength); err != nil {
			return err
		}
	}
	return testFlag(r.TestFlag)
}

// Validate checks §3.4, including that scene is known and expireTime
// parses, since a handler cannot act on either otherwise.
func (r RefreshInstanceRequest) Validate() error {
	return firstError(
		oneOf("scene", r.Scene, SceneTrialToFormal, SceneRenewal, SceneUnsubscribeRenewalPeriod, SceneRenewalChange),
		required("orderId", r.OrderID, maxIDLength),
		required("orderLineId", r.OrderLineID, maxIDLength),
		required("instanceId", r.InstanceID, maxIDLength),
		maxLength("productId", r.ProductID, maxIDLength),
		expireTime(r.ExpireTime),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.5.
func (r UpdateInstanceStatusRequest) Validate() error {
	return firstError(
		required("instanceId", r.InstanceID, maxIDLength),
		oneOf("status", r.Status, StatusFreeze, StatusUnfreeze),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.6; the order fields are optional.
func (r ReleaseInstanceRequest) Validate() error {
	return firstError(
		required("instanceId", r.InstanceID, maxIDLength),
		maxLength("orderId", r.OrderID, maxIDLength),
		maxLength("orderLineId", r.OrderLineID, maxIDLength),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.7.
func (r UpgradeInstanceRequest) Validate() error {
	return firstError(
		required("instanceId", r.InstanceID, maxIDLength),
		required("orderId", r.OrderID, maxIDLength),
		required("orderLineId", r.OrderLineID, maxIDLength),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.9.
func (r OrderNotifyRequest) Validate() error {
	return firstError(
		required("orderId", r.OrderID, maxIDLength),
		required("orderLineId", r.OrderLineID, maxIDLength),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.8. The structure of productInfo is not documented, so
// only its presence and the lengths of its IDs are checked.
func (r ChangeInstanceCheckRequest) Validate() error {
	if err := required("instanceId", r.InstanceID, maxIDLength); err != nil {
		return err
	}
	if r.ProductInfo == nil {
		return &ValidationError{Field: "productInfo", Reason: "is required"}
	}
	return firstError(
		maxLength("productInfo.productId", r.ProductInfo.ProductID, maxIDLength),
		maxLength("productInfo.skuCode", r.ProductInfo.SKUCode, maxIDLength),
		testFlag(r.TestFlag),
	)
}

// Validate checks §3.10. The time formats are known only from one example,
// so they are left to ParseLicenseTime in the handler.
func (r GetLicenseAsyncRequest) Validate() error {
	return firstError(
		required("instanceId", r.InstanceID, maxIDLength),
		required("effectiveTime", r.EffectiveTime, maxLicenseTimeLength),
		maxLength("expireTime", r.ExpireTime, maxLicenseTimeLength),
		required("eventId", r.EventID, maxIDLength),
		notDotSegment("eventId", r.EventID),
		maxLength("deviceFingerprint", r.DeviceFingerprint, maxFingerprintLength),
		testFlag(r.TestFlag),
	)
}

// firstError returns the first non-nil error; the checks are listed in
// field order, so the message names the first bad field.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// required checks that a mandatory field is set and not too long.
func required(field, value string, limit int) error {
	if value == "" {
		return &ValidationError{Field: field, Reason: "is required"}
	}
	return maxLength(field, value, limit)
}

// maxLength checks a length in characters, as the docs count it.
func maxLength(field, value string, limit int) error {
	if utf8.RuneCountInString(value) > limit {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is longer than %d characters", limit)}
	}
	return nil
}

// notDotSegment refuses "." and "..": the value becomes one element of a
// path (eventId, of the licence upload's), where url.PathEscape leaves
// them as they are and they would name the element's parent instead.
func notDotSegment(field, value string) error {
	if isDotSegment(value) {
		return &ValidationError{Field: field, Reason: `must not be "." or ".."`}
	}
	return nil
}

// oneOf checks that a mandatory enum field has one of the allowed values.
func oneOf[T ~string](field, value string, allowed ...T) error {
	for _, a := range allowed {
		if value == string(a) {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	if len(names) == 2 {
		return &ValidationError{Field: field, Reason: "must be " + names[0] + " or " + names[1]}
	}
	return &ValidationError{Field: field, Reason: "must be one of " + strings.Join(names, ", ")}
}

// testFlag checks the optional testFlag: absent, "0" or "1".
func testFlag(value string) error {
	if value != "" && value != "0" && value != "1" {
		return &ValidationError{Field: "testFlag", Reason: "must be 0 or 1"}
	}
	return nil
}

// expireTime checks refreshInstance's mandatory expireTime.
func expireTime(value string) error {
	if err := required("expireTime", value, maxExpireTimeLength); err != nil {
		return err
	}
	if _, err := ParseExpireTime(value); err != nil {
		return &ValidationError{Field: "expireTime", Reason: "must be yyyyMMddHHmmss or yyyyMMddHHmmssSSS (UTC)"}
	}
	return nil
}
