package koogallery

import (
	"encoding/json"
	"errors"
	"fmt"
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
		return activity, nil, &ValidationError{Field: "activity", Reason: fmt.Sprintf("unknown activity %.32q", name)}
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

// str binds a string field.
func str(name string, dst *string) binding {
	return binding{name: name, set: setString(name, dst)}
}

// setString returns a setter that accepts only a JSON string, because the
// basic callbacks send every field as a string (§3.1).
func setString(field string, dst *string) func(raw []byte) error {
	return func(raw []byte) error {
		if len(raw) == 0 {
			return nil
		}
		if raw[0] != '"' {
			return &ValidationError{Field: field, Reason: "must be a string"}
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return &ValidationError{Field: field, Reason: "must be a valid string"}
		}
		return nil
	}
}

// setProductInfo returns a setter for changeInstanceCheck's productInfo.
func setProductInfo(dst **ProductInfo) func(raw []byte) error {
	return func(raw []byte) error {
		if len(raw) == 0 {
			return nil
		}
		if raw[0] != '{' {
			return &ValidationError{Field: "productInfo", Reason: "must be an object"}
		}
		info := &ProductInfo{}
		if err := json.Unmarshal(raw, info); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) && typeErr.Field != "" {
				return &ValidationError{Field: "productInfo." + typeErr.Field, Reason: "has the wrong type"}
			}
			return &ValidationError{Field: "productInfo", Reason: "has a field of the wrong type"}
		}
		*dst = info
		return nil
	}
}

// bindings lists the fields of a NewInstanceRequest body.
func (r *NewInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		str("businessId", &r.BusinessID),
		str("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a QueryInstanceRequest body.
func (r *QueryInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("testFlag", &r.TestFlag),
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
		str("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a UpdateInstanceStatusRequest body.
func (r *UpdateInstanceStatusRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("status", &r.Status),
		str("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a ReleaseInstanceRequest body.
func (r *ReleaseInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		str("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a UpgradeInstanceRequest body.
func (r *UpgradeInstanceRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		str("orderId", &r.OrderID),
		str("orderLineId", &r.OrderLineID),
		str("testFlag", &r.TestFlag),
	}
}

// bindings lists the fields of a ChangeInstanceCheckRequest body.
func (r *ChangeInstanceCheckRequest) bindings() []binding {
	return []binding{
		str("activity", &r.Activity),
		str("instanceId", &r.InstanceID),
		{name: "productInfo", set: setProductInfo(&r.ProductInfo)},
		str("testFlag", &r.TestFlag),
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
		str("testFlag", &r.TestFlag),
	}
}
