package koogallery

import (
	"encoding/json"
	"strconv"
	"strings"
)

// request is what every typed callback request implements.
type request interface {
	Validate() error
	bindings() []binding
}

// binding ties one top-level JSON field to the struct field it fills.
type binding struct {
	name string
	set  func(raw []byte) error
}

// newRequest returns an empty typed request for a known activity.
func newRequest(a Activity) (request, bool) {
	switch a {
	case ActivityNewInstance:
		return &NewInstanceRequest{}, true
	case ActivityQueryInstance:
		return &QueryInstanceRequest{}, true
	case ActivityRefreshInstance:
		return &RefreshInstanceRequest{}, true
	case ActivityUpdateInstanceStatus:
		return &UpdateInstanceStatusRequest{}, true
	case ActivityReleaseInstance:
		return &ReleaseInstanceRequest{}, true
	case ActivityUpgradeInstance:
		return &UpgradeInstanceRequest{}, true
	case ActivityChangeInstanceCheck:
		return &ChangeInstanceCheckRequest{}, true
	case ActivityGetLicenseAsync:
		return &GetLicenseAsyncRequest{}, true
	case ActivityOrderNotify:
		return &OrderNotifyRequest{}, true
	}
	return nil, false
}

// DecodeRequest parses a basic callback body once and returns its activity
// and the matching typed request (a pointer such as *NewInstanceRequest),
// already validated. Unknown fields are ignored because the marketplace adds
// fields over time; field names match case-sensitively, as the marketplace
// spells them. A body that is not one JSON object wraps ErrMalformedBody;
// every other problem, including an unknown activity, is a *ValidationError.
// Both map to 000002.
//
// Types are read as loosely as the marketplace writes them: where the spec
// documents a string, a number or boolean is read as its text (1 as "1");
// testFlag reads 1, "1", true and "true" as debug, and 0, "0", false and
// "false" as not; where it documents an object (changeInstanceCheck's
// productInfo), a string holding the object is read as the object. A
// number's string form ("1") therefore decodes exactly as the number (1),
// which is what lets VerifyBasic accept either form's signature.
func DecodeRequest(body []byte) (Activity, any, error) {
	members, err := parseObject(body)
	if err != nil {
		return "", nil, err
	}
	fields := make(map[string][]byte, len(members))
	for _, m := range members {
		// A null is treated as absent, as the canonical payload drops it.
		if !m.isNull() {
			fields[m.key] = m.value
		}
	}
	var name string
	if err := setString("activity", &name)(fields["activity"]); err != nil {
		return "", nil, err
	}
	activity := Activity(name)
	if activity == "" {
		return "", nil, &ValidationError{Field: "activity", Reason: "is required"}
	}
	req, ok := newRequest(activity)
	if !ok {
		return activity, nil, &ValidationError{Field: "activity", Reason: "unknown activity " + nameOrWithheld(name)}
	}
	for _, b := range req.bindings() {
		if raw, ok := fields[b.name]; ok {
			if err := b.set(raw); err != nil {
				return activity, nil, err
			}
		}
	}
	if err := req.Validate(); err != nil {
		return activity, nil, err
	}
	return activity, req, nil
}

// nameOrWithheld quotes s for a message when it looks like a name of the
// protocol (an activity or interface: ASCII letters and digits, at most 32,
// e.g. "getLicense"), which is worth seeing; anything else may be a value
// that does not belong in a log line (a phone number or an e-mail address
// sent in the wrong field) and is described, not shown.
func nameOrWithheld(s string) string {
	if len(s) == 0 || len(s) > 32 || !isASCIILetter(s[0]) {
		return "(its value is not a name and is not shown)"
	}
	for i := 1; i < len(s); i++ {
		if !isASCIILetter(s[i]) && (s[i] < '0' || s[i] > '9') {
			return "(its value is not a name and is not shown)"
		}
	}
	return strconv.Quote(s)
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// str binds a string field.
func str(name string, dst *string) binding {
	return binding{name: name, set: setString(name, dst)}
}

// flag binds testFlag: a string, number or boolean whose true and false
// are read as "1" and "0", so that 1, "1", true and "true" all mean debug.
func flag(name string, dst *string) binding {
	set := setString(name, dst)
	return binding{name: name, set: func(raw []byte) error {
		if err := set(raw); err != nil {
			return err
		}
		switch *dst {
		case "true":
			*dst = "1"
		case "false":
			*dst = "0"
		}
		return nil
	}}
}

// setString returns a setter for a field the spec documents as a string
// (§3.1: every basic field is one). A JSON number or boolean is accepted
// too, as its text exactly as received (1 as "1", 12.50 as "12.50", true as
// "true"): the marketplace's own sample handles bodies as maps of strings.
// An object, an array or an invalid string is refused.
func setString(field string, dst *string) func(raw []byte) error {
	return func(raw []byte) error {
		if len(raw) == 0 {
			return nil
		}
		switch raw[0] {
		case '"':
			if err := json.Unmarshal(raw, dst); err != nil {
				return &ValidationError{Field: field, Reason: "must be a valid string"}
			}
		case '{', '[':
			return &ValidationError{Field: field, Reason: "must be a string"}
		default:
			// The parser has already checked it: a number's text or a boolean.
			*dst = string(raw)
		}
		return nil
	}
}

// setProductInfo returns a setter for changeInstanceCheck's productInfo: an
// object or, as the marketplace may send it, a string holding one. Its
// string fields are read as setString reads them; linearValue as setNumber
// reads it.
func setProductInfo(dst **ProductInfo) func(raw []byte) error {
	return func(raw []byte) error {
		if len(raw) == 0 {
			return nil
		}
		fields, err := objectFields("productInfo", raw)
		if err != nil {
			return err
		}
		info := &ProductInfo{}
		for _, b := range []binding{
			str("productInfo.productId", &info.ProductID),
			str("productInfo.skuCode", &info.SKUCode),
			str("productInfo.productName", &info.ProductName),
			{name: "productInfo.linearValue", set: setNumber("productInfo.linearValue", &info.LinearValue)},
		} {
			if err := b.set(fields[strings.TrimPrefix(b.name, "productInfo.")]); err != nil {
				return err
			}
		}
		*dst = info
		return nil
	}
}

// objectFields reads raw, a JSON object or a JSON string holding one, into
// its members, nulls dropped.
func objectFields(field string, raw []byte) (map[string][]byte, error) {
	refused := &ValidationError{Field: field, Reason: "must be an object, or a string holding one"}
	if raw[0] == '"' {
		var inner string
		if err := json.Unmarshal(raw, &inner); err != nil {
			return nil, refused
		}
		raw = []byte(inner)
	}
	members, err := parseObject(raw)
	if err != nil {
		return nil, refused
	}
	fields := make(map[string][]byte, len(members))
	for _, m := range members {
		if !m.isNull() {
			fields[m.key] = m.value
		}
	}
	return fields, nil
}

// setNumber returns a setter for a number kept as sent, read as Query
// Order's answerNumber reads the same field (client.go), so that the two
// readers of linearValue agree: a JSON number, or a string holding one
// with spaces trimmed; an empty string or "null" is absent (nil). A word or
// a boolean is still refused: unlike those, it is no way of leaving the
// number out.
func setNumber(field string, dst **json.Number) func(raw []byte) error {
	return func(raw []byte) error {
		if len(raw) == 0 {
			return nil
		}
		var n answerNumber
		_ = n.UnmarshalJSON(raw) // never fails: what it cannot read is absent
		if n.n == nil && !absentNumber(raw) {
			return &ValidationError{Field: field, Reason: "must be a number"}
		}
		*dst = n.n
		return nil
	}
}

// absentNumber reports whether raw leaves a number out: null, or a string
// that is empty or "null" once its spaces are trimmed.
func absentNumber(raw []byte) bool {
	var s *string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	return s == nil || strings.TrimSpace(*s) == "" || strings.TrimSpace(*s) == "null"
}

// bindings lists the fields of a NewInstanceRequest body.
func (r *NewInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		str("businessId", &r.BusinessID),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a QueryInstanceRequest body.
func (r *QueryInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a RefreshInstanceRequest body.
func (r *RefreshInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("scene", &r.Scene),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		str("instanceId", &r.InstanceID),
		str("productId", &r.ProductID),
		str("expireTime", &r.ExpireTime),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a UpdateInstanceStatusRequest body.
func (r *UpdateInstanceStatusRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("status", &r.Status),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a ReleaseInstanceRequest body.
func (r *ReleaseInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a UpgradeInstanceRequest body.
func (r *UpgradeInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a ChangeInstanceCheckRequest body.
func (r *ChangeInstanceCheckRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		{name: "productInfo", set: setProductInfo(&r.ProductInfo)},
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a GetLicenseAsyncRequest body.
func (r *GetLicenseAsyncRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("effectiveTime", &r.EffectiveTime),
		str("expireTime", &r.ExpireTime),
		str("eventId", &r.EventID),
		str("deviceFingerprint", &r.DeviceFingerprint),
		flag("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of an OrderNotifyRequest body.
func (r *OrderNotifyRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		flag("testFlag", &r.TestFlag),
	}
}
