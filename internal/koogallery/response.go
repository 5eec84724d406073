package koogallery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxMessageLength is the documented limit of resultMsg (§1.6).
const maxMessageLength = 255

// Response is the envelope every basic callback answers with (§3.1).
type Response struct {
	// ResultCode is the outcome; only ResultSuccess is success.
	ResultCode ResultCode `json:"resultCode"`
	// ResultMsg is shown or e-mailed to the merchant; see TruncateMessage.
	ResultMsg string `json:"resultMsg,omitempty"`
}

// AppInfo is the access information shown to the buyer (§3.2).
type AppInfo struct {
	// FrontEndURL is the buyer-facing URL (max 512).
	FrontEndURL string `json:"frontEndUrl"`
	// AdminURL is the administration console URL (max 512).
	AdminURL string `json:"adminUrl,omitempty"`
	// UserName is the initial admin user, encrypted with EncryptCredential.
	UserName string `json:"userName,omitempty"`
	// Password is the initial password, encrypted with EncryptCredential.
	Password string `json:"password,omitempty"`
	// Memo is a note for the buyer (max 1024); EncodeResponse escapes its
	// non-ASCII characters as the docs require.
	Memo string `json:"memo,omitempty"`
}

// NewInstanceResponse answers newInstance (§3.2).
type NewInstanceResponse struct {
	Response
	// EncryptType is the cipher of appInfo's credentials (see the
	// EncryptType constants); absent means "1".
	EncryptType string `json:"encryptType,omitempty"`
	// InstanceID is the merchant's globally unique, stable instance ID.
	InstanceID string `json:"instanceId,omitempty"`
	// AppInfo may be left out while provisioning runs; queryInstance
	// reports it later.
	AppInfo *AppInfo `json:"appInfo,omitempty"`
}

// UsageInfo is the usage of a pay-per-use or package instance (§3.3).
type UsageInfo struct {
	// RelatedInstanceID is the package instance the usage belongs to.
	RelatedInstanceID string `json:"relatedInstanceId,omitempty"`
	// UsageValue is the cumulative amount, up to 4 decimals; a json.Number
	// so that it is written exactly as computed.
	UsageValue json.Number `json:"usageValue"`
	// StatisticalTime is UTC yyyyMMddHHmmssSSS; see FormatTimestamp17.
	StatisticalTime string `json:"statisticalTime"`
	// DashboardURL links to a usage dashboard.
	DashboardURL string `json:"dashboardUrl,omitempty"`
}

// InstanceInfo is one instance in a queryInstance answer (§3.3).
type InstanceInfo struct {
	// InstanceID is the instance reported on.
	InstanceID string `json:"instanceId"`
	// AppInfo is left out while the instance is still provisioning.
	AppInfo *AppInfo `json:"appInfo,omitempty"`
	// UsageInfo lists usage for pay-per-use and package products.
	UsageInfo []UsageInfo `json:"usageInfo,omitempty"`
}

// QueryInstanceResponse answers queryInstance (§3.3).
type QueryInstanceResponse struct {
	Response
	// EncryptType is the cipher of the credentials in Info; absent means "1".
	EncryptType string `json:"encryptType,omitempty"`
	// Info has one entry per instance found.
	Info []InstanceInfo `json:"info,omitempty"`
}

// EncodeResponse encodes a response as compact JSON without HTML escaping,
// writing every non-ASCII character as a \uXXXX escape (a surrogate pair
// beyond the BMP). §3.2 demands this for memo; doing it for the whole body is
// equivalent JSON and keeps the bytes pure ASCII, so Body-Sign cannot be
// upset by a re-encoding proxy.
func EncodeResponse(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("failed to encode response: %w", err)
	}
	return asciiEscape(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// asciiEscape rewrites the non-ASCII characters of a JSON document as
// \uXXXX escapes. encoding/json only emits non-ASCII inside strings (and has
// already replaced invalid UTF-8), so this never touches the structure.
func asciiEscape(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		if data[0] < utf8.RuneSelf {
			out = append(out, data[0])
			data = data[1:]
			continue
		}
		r, size := utf8.DecodeRune(data)
		data = data[size:]
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	return out
}

// TruncateMessage cuts a resultMsg to the documented 255 characters.
func TruncateMessage(s string) string {
	if utf8.RuneCountInString(s) <= maxMessageLength {
		return s
	}
	runes := []rune(s)
	return string(runes[:maxMessageLength])
}
