package koogallery

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// QueryOrderPath is the path of the Query Order open API (§6.3).
const QueryOrderPath = "/api/mkp-openapi-public/global/v1/order/query"

// OpenAPISuccess is the resultCode (or error_code) of a successful open-API
// call (§6.7).
const OpenAPISuccess = "MKT.0000"

// DefaultTimeout bounds one open-API call, connection and body included.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes caps an open-API response; an order is a few kilobytes.
const maxResponseBytes = 1 << 20

// DefaultBaseURLs are the Chinese-mainland hosts: the second is the
// documented fallback when the first is unavailable (§6.1).
var DefaultBaseURLs = []string{"https://mkt.myhuaweicloud.com", "https://mkt.myhuaweicloud.cn"}

// Charging modes of an order line (§6.3).
const (
	// ChargingPeriod is a yearly or monthly subscription.
	ChargingPeriod = "PERIOD"
	// ChargingOneTime is a one-time purchase.
	ChargingOneTime = "ONE_TIME"
	// ChargingOnDemand is pay-per-use.
	ChargingOnDemand = "ON_DEMAND"
	// ChargingOnDemandPackage is a pay-per-use package.
	ChargingOnDemandPackage = "ON_DEMAND_PKG"
)

// Order types (§6.3).
const (
	// OrderNew is a new purchase.
	OrderNew = "NEW"
	// OrderTrial is a trial.
	OrderTrial = "TRIAL"
	// OrderTrialToFormal converts a trial into a paid subscription.
	OrderTrialToFormal = "TRIAL_TO_FORMAL"
	// OrderUnsubscribe is an unsubscription.
	OrderUnsubscribe = "UNSUBSCRIBE"
	// OrderRenew is a renewal.
	OrderRenew = "RENEW"
	// OrderChange is a change or upgrade.
	OrderChange = "CHANGE"
)

// Client calls the marketplace's open APIs with AK/SK signing.
type Client struct {
	// BaseURLs are tried in order; the next one is used only after a
	// transport error or an HTTP 5xx. Empty means DefaultBaseURLs.
	BaseURLs []string
	// HTTP sends the requests; nil means a client with DefaultTimeout.
	// Certificate verification must stay on (§6.1).
	HTTP *http.Client
	// Signer signs every request.
	Signer Signer
	// Upload is the licence upload's path prefix and part name, which the
	// spec infers (§8 item 26); the zero value is the spec's.
	Upload LicenseUploadSettings
}

// NewClient returns a client for the merchant's AK/SK, with an HTTP client
// of its own (NewHTTPClient). Without baseURLs it uses DefaultBaseURLs. A
// caller that makes a client per product or per call should share one HTTP
// client instead, with NewClientWith.
func NewClient(ak, sk string, baseURLs ...string) *Client {
	return NewClientWith(NewHTTPClient(), ak, sk, baseURLs...)
}

// NewClientWith returns a client for the merchant's AK/SK that sends through
// httpClient, which many clients (each product's keys) may share: it holds
// no per-merchant state. Without baseURLs it uses DefaultBaseURLs.
func NewClientWith(httpClient *http.Client, ak, sk string, baseURLs ...string) *Client {
	if len(baseURLs) == 0 {
		baseURLs = append([]string(nil), DefaultBaseURLs...)
	}
	return &Client{
		BaseURLs: baseURLs,
		HTTP:     httpClient,
		Signer:   Signer{AccessKeyID: ak, SecretAccessKey: sk},
	}
}

// NewHTTPClient returns an HTTP client for the open APIs: each call times
// out after DefaultTimeout, and certificates are verified, with TLS 1.2 or
// later, over a transport of its own. Share it: a transport keeps its idle
// connections open, each with two goroutines, so a transport per call left
// about 600 goroutines behind after 200 Query Order calls (issue 22).
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: DefaultTimeout, Transport: newTransport()}
}

// maxIdleConnsPerHost is how many idle connections a transport keeps to
// one marketplace host. Go's default is 2, while one shared HTTP client
// carries the calls of several controllers' workers at once (one client
// per factory: controllers/marketplace_clients.go): with
// --max-concurrent-reconciles 8, the Query Order calls of 8 tenant, 8
// licence and 1 order-notification workers, or the usage pushes of 8
// metering workers. Against an HTTP/1.1 gateway, each call above the
// idle limit paid a new TCP and TLS handshake and left a TIME_WAIT socket
// behind. 32 covers the 17 of the default with room for more workers; an
// idle connection costs two goroutines and a socket, and goes after the
// transport's IdleConnTimeout (90 seconds).
const maxIdleConnsPerHost = 32

// newTransport is the default transport with a TLS 1.2 floor, keeping
// maxIdleConnsPerHost idle connections to each host.
func newTransport() http.RoundTripper {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t := base.Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// APIError is a business or gateway error answered by the marketplace.
type APIError struct {
	// HTTPStatus is the response status.
	HTTPStatus int
	// Code is resultCode or error_code, e.g. MKT.0154 or APIG.0301.
	Code string
	// Message is resultMsg or error_msg.
	Message string
}

// Error describes the error without anything from the request.
func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = "no code"
	}
	return fmt.Sprintf("marketplace answered %s (HTTP %d): %s", code, e.HTTPStatus, TruncateMessage(e.Message))
}

// QueryOrderResponse is the body of a Query Order answer (§6.3).
type QueryOrderResponse struct {
	// ResultCode is OpenAPISuccess or an error code.
	ResultCode string `json:"resultCode"`
	// ResultMsg describes the result.
	ResultMsg string `json:"resultMsg"`
	// OrderInfo is the order.
	OrderInfo *OrderInfo `json:"orderInfo"`
}

// OrderInfo is an order (§6.3).
type OrderInfo struct {
	// OrderID is the order ID.
	OrderID string `json:"orderId"`
	// OrderType is one of the Order* constants.
	OrderType string `json:"orderType"`
	// CreateTime is yyyyMMddHHmmss.
	CreateTime string `json:"createTime"`
	// OrderLine lists the order lines.
	OrderLine []OrderLine `json:"orderLine"`
	// BuyerInfo describes the buyer.
	BuyerInfo *BuyerInfo `json:"buyerInfo"`
	// ExtendParams are order-level extended parameters.
	ExtendParams []NameValue `json:"extendParams"`
}

// OrderLine is one line of an order (§6.3).
type OrderLine struct {
	// OrderLineID is the line ID, e.g. MOCKPERIODYEARNEW-000001.
	OrderLineID string `json:"orderLineId"`
	// ChargingMode is one of the Charging* constants.
	ChargingMode string `json:"chargingMode"`
	// PeriodType is e.g. year, month or day.
	PeriodType string `json:"periodType"`
	// PeriodNumber is the number of periods; 0 when the answer has none
	// that reads as an integer (see OrderLine.UnmarshalJSON).
	PeriodNumber int `json:"periodNumber"`
	// ExpireTime is yyyyMMddHHmmss; see ParseExpireTime.
	ExpireTime string `json:"expireTime"`
	// ProductInfo lists the products and SKUs bought.
	ProductInfo []ProductInfo `json:"productInfo"`
	// ExtendParams are line-level parameters such as emailDomainName.
	ExtendParams []NameValue `json:"extendParams"`
	// Currency is the list-price amount, e.g. "100".
	Currency string `json:"currency"`
	// CurrencyAfterDiscount is the amount after discount.
	CurrencyAfterDiscount string `json:"currencyAfterDiscount"`
}

// BuyerInfo describes the buyer of an order (§6.3). Email, UserID and
// UserName may be null, which decodes as empty.
type BuyerInfo struct {
	// MobilePhone is the buyer's mobile number.
	MobilePhone string `json:"mobilePhone"`
	// Email is the buyer's e-mail.
	Email string `json:"email"`
	// CustomerID is the buyer's Huawei Cloud account ID.
	CustomerID string `json:"customerId"`
	// CustomerName is the account name.
	CustomerName string `json:"customerName"`
	// CustomerRealName is the real-name-verified name.
	CustomerRealName string `json:"customerRealName"`
	// CustomerType is the customer type (meanings undocumented); 0 when
	// the answer has none that reads as an integer (see
	// BuyerInfo.UnmarshalJSON).
	CustomerType int `json:"customerType"`
	// UserID is the purchasing IAM user's ID.
	UserID string `json:"userId"`
	// UserName is the purchasing IAM user's name.
	UserName string `json:"userName"`
}

// The UnmarshalJSON methods below read Query Order's answer (§6.3) as
// loosely as the callbacks read theirs (issue 16), so that one field
// written in another JSON type does not fail the whole answer, and with it
// a paid order that is then asked for again for ever. Each decodes into a
// wire struct whose loose fields shadow the plain type's (encoding/json
// prefers the shallower field of a name), then copies them back: the
// public types keep their field types.

// UnmarshalJSON reads the answer's envelope, its String fields by
// answerString.
func (r *QueryOrderResponse) UnmarshalJSON(raw []byte) error {
	type plain QueryOrderResponse // QueryOrderResponse without this method
	var wire struct {
		plain
		ResultCode answerString `json:"resultCode"`
		ResultMsg  answerString `json:"resultMsg"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*r = QueryOrderResponse(wire.plain)
	r.ResultCode, r.ResultMsg = string(wire.ResultCode), string(wire.ResultMsg)
	return nil
}

// UnmarshalJSON reads an order, its String fields by answerString.
func (o *OrderInfo) UnmarshalJSON(raw []byte) error {
	type plain OrderInfo // OrderInfo without this method
	var wire struct {
		plain
		OrderID    answerString `json:"orderId"`
		OrderType  answerString `json:"orderType"`
		CreateTime answerString `json:"createTime"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*o = OrderInfo(wire.plain)
	o.OrderID, o.OrderType, o.CreateTime = string(wire.OrderID), string(wire.OrderType), string(wire.CreateTime)
	return nil
}

// UnmarshalJSON reads an order line, its String fields by answerString and
// its Integer fields (periodNumber and each product's linearValue) by
// answerNumber, so that "1", "" or null there does not fail the answer.
func (l *OrderLine) UnmarshalJSON(raw []byte) error {
	type plain OrderLine // OrderLine without this method
	var wire struct {
		plain
		OrderLineID           answerString    `json:"orderLineId"`
		ChargingMode          answerString    `json:"chargingMode"`
		PeriodType            answerString    `json:"periodType"`
		PeriodNumber          answerNumber    `json:"periodNumber"`
		ExpireTime            answerString    `json:"expireTime"`
		ProductInfo           []answerProduct `json:"productInfo"`
		Currency              answerString    `json:"currency"`
		CurrencyAfterDiscount answerString    `json:"currencyAfterDiscount"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*l = OrderLine(wire.plain)
	l.OrderLineID, l.ChargingMode, l.PeriodType = string(wire.OrderLineID), string(wire.ChargingMode), string(wire.PeriodType)
	l.PeriodNumber = wire.PeriodNumber.int()
	l.ExpireTime = string(wire.ExpireTime)
	l.Currency, l.CurrencyAfterDiscount = string(wire.Currency), string(wire.CurrencyAfterDiscount)
	if wire.ProductInfo != nil {
		l.ProductInfo = make([]ProductInfo, len(wire.ProductInfo))
		for i, p := range wire.ProductInfo {
			l.ProductInfo[i] = p.product()
		}
	}
	return nil
}

// answerProduct is a ProductInfo of a Query Order answer, its String
// fields read by answerString and its linearValue by answerNumber (the
// fields shadow ProductInfo's). ProductInfo itself has no UnmarshalJSON:
// changeInstanceCheck reads its own by its bindings (types.go).
type answerProduct struct {
	ProductInfo
	ProductID   answerString `json:"productId"`
	SKUCode     answerString `json:"skuCode"`
	LinearValue answerNumber `json:"linearValue"`
	ProductName answerString `json:"productName"`
}

// product is the ProductInfo the answer described.
func (p answerProduct) product() ProductInfo {
	return ProductInfo{ProductID: string(p.ProductID), SKUCode: string(p.SKUCode),
		LinearValue: p.LinearValue.n, ProductName: string(p.ProductName)}
}

// UnmarshalJSON reads a buyer, its String fields by answerString and
// customerType by answerNumber.
func (b *BuyerInfo) UnmarshalJSON(raw []byte) error {
	type plain BuyerInfo // BuyerInfo without this method
	var wire struct {
		plain
		MobilePhone      answerString `json:"mobilePhone"`
		Email            answerString `json:"email"`
		CustomerID       answerString `json:"customerId"`
		CustomerName     answerString `json:"customerName"`
		CustomerRealName answerString `json:"customerRealName"`
		CustomerType     answerNumber `json:"customerType"`
		UserID           answerString `json:"userId"`
		UserName         answerString `json:"userName"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*b = BuyerInfo(wire.plain)
	b.MobilePhone, b.Email = string(wire.MobilePhone), string(wire.Email)
	b.CustomerID, b.CustomerName, b.CustomerRealName = string(wire.CustomerID), string(wire.CustomerName), string(wire.CustomerRealName)
	b.CustomerType = wire.CustomerType.int()
	b.UserID, b.UserName = string(wire.UserID), string(wire.UserName)
	return nil
}

// answerString is a String field of a Query Order answer (§6.3), read by
// the callbacks' looseString (kit.go): a number's or boolean's text exactly
// as sent ("orderLineId":1001 as "1001", 99.50 as "99.50", never rounded),
// null as empty. An object or array is still refused, as an
// *json.UnmarshalTypeError, which encoding/json completes with the field's
// path, so the failure names the field, as it did before.
type answerString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *answerString) UnmarshalJSON(raw []byte) error {
	var v looseString
	if err := v.UnmarshalJSON(raw); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(raw), Type: reflect.TypeFor[string]()}
	}
	*s = answerString(v)
	return nil
}

// jsonKind names the kind of JSON value raw is, as encoding/json's own
// type errors do ("object", "array").
func jsonKind(raw []byte) string {
	switch {
	case len(raw) > 0 && raw[0] == '{':
		return "object"
	case len(raw) > 0 && raw[0] == '[':
		return "array"
	}
	return "value"
}

// answerNumber is an Integer field of a Query Order answer (periodNumber,
// linearValue, customerType; §6.3), read as loosely as the callbacks read
// theirs (issue 16): a JSON number, or a string holding one (spaces
// trimmed), is kept as its text, so a quantity is never rounded through
// float64. An empty string, null, and anything else (a word, a boolean,
// an object) read as absent: none of these fields decides which order or
// plan is meant, so one the marketplace garbled must not keep a paid order
// from resolving. Where a value matters (a package sized by linearValue),
// its absence is reported there.
type answerNumber struct {
	// n is the number's text, nil when absent.
	n *json.Number
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (a *answerNumber) UnmarshalJSON(raw []byte) error {
	a.n = nil
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		text = strings.TrimSpace(s)
	}
	if isJSONNumber(text) {
		n := json.Number(text)
		a.n = &n
	}
	return nil
}

// int is the number as an int, 0 when it is absent or not an integer
// that fits in 32 bits (no Integer field of the answer comes near).
func (a answerNumber) int() int {
	if a.n == nil {
		return 0
	}
	v, err := a.n.Int64()
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0
	}
	return int(v)
}

// isJSONNumber reports whether s is one JSON number literal, such as 50,
// -3, 2.5 or 1e3.
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s))
}

// NameValue is one extended parameter.
type NameValue struct {
	// Name is the parameter name, e.g. emailDomainName.
	Name string `json:"name"`
	// Value is the parameter value.
	Value string `json:"value"`
}

// UnmarshalJSON reads an extended parameter of a Query Order answer, its
// name and value by answerString: a value such as a count may come as a
// number.
func (p *NameValue) UnmarshalJSON(raw []byte) error {
	var wire struct {
		Name  answerString `json:"name"`
		Value answerString `json:"value"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	*p = NameValue{Name: string(wire.Name), Value: string(wire.Value)}
	return nil
}

// Line returns the order line with the given ID. An empty ID selects the
// only line of a single-line order.
func (o *OrderInfo) Line(orderLineID string) (*OrderLine, bool) {
	if o == nil {
		return nil, false
	}
	if orderLineID == "" {
		if len(o.OrderLine) == 1 {
			return &o.OrderLine[0], true
		}
		return nil, false
	}
	for i := range o.OrderLine {
		if o.OrderLine[i].OrderLineID == orderLineID {
			return &o.OrderLine[i], true
		}
	}
	return nil, false
}

// QueryOrder fetches an order, and only orderLineID's line when it is not
// empty (§6.3). A business error is an *APIError.
func (c *Client) QueryOrder(ctx context.Context, orderID, orderLineID string) (*OrderInfo, error) {
	if orderID == "" {
		return nil, errors.New("order ID is required to query an order")
	}
	query := url.Values{"orderId": {orderID}}
	if orderLineID != "" {
		query.Set("orderLineId", orderLineID)
	}
	var resp QueryOrderResponse
	if err := c.get(ctx, QueryOrderPath, query, &resp); err != nil {
		return nil, fmt.Errorf("failed to query order %s: %w", orderID, err)
	}
	if resp.OrderInfo == nil {
		return nil, fmt.Errorf("failed to query order %s: the answer has no orderInfo", orderID)
	}
	return resp.OrderInfo, nil
}

// get sends a signed GET and decodes the answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, apiCall{method: http.MethodGet, path: path, query: query, contentType: "application/json"}, out)
}

// apiCall is one open-API call, before it is signed for a host.
type apiCall struct {
	method, path, contentType string
	query                     url.Values
	body                      []byte
	// header holds extra headers, such as the usage push's signature.
	header http.Header
}

// do sends a signed request to each base URL in turn until one answers
// without a transport error or 5xx, then decodes the answer into out.
func (c *Client) do(ctx context.Context, r apiCall, out any) error {
	bases := c.BaseURLs
	if len(bases) == 0 {
		bases = DefaultBaseURLs
	}
	var failures hostErrors
	for _, base := range bases {
		if err := ctx.Err(); err != nil {
			return err
		}
		status, body, err := c.send(ctx, base, r)
		switch {
		case err != nil && ctx.Err() != nil:
			// Our own deadline or cancellation: another host would not help.
			return fmt.Errorf("%s: %w", hostOf(base), err)
		case err != nil:
			failures = append(failures, fmt.Errorf("%s: %w", hostOf(base), err))
		case status >= http.StatusInternalServerError:
			failures = append(failures, fmt.Errorf("%s: %w", hostOf(base), answerError(status, body)))
		default:
			return decodeAnswer(status, body, out)
		}
	}
	return failures
}

// send performs one signed request and reads the (bounded) answer.
func (c *Client) send(ctx context.Context, base string, r apiCall) (int, []byte, error) {
	target := strings.TrimSuffix(base, "/") + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to build request: %w", err)
	}
	req.Header.Set("Content-Type", r.contentType)
	for name, values := range r.header {
		req.Header[name] = values
	}
	if err := c.Signer.Sign(req, r.body); err != nil {
		return 0, nil, err
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL with its query; keep only the cause.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return 0, nil, fmt.Errorf("request failed: %w", withoutAddresses(err))
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("failed to read answer: %w", withoutAddresses(err))
	}
	if len(respBody) > maxResponseBytes {
		return 0, nil, fmt.Errorf("answer exceeds %d bytes", maxResponseBytes)
	}
	return resp.StatusCode, respBody, nil
}

// withoutAddresses returns err with the connection's addresses taken out
// of its text: "read tcp 10.244.1.7:40312->121.36.53.20:443: read:
// connection reset by peer" becomes "read tcp: read: connection reset by
// peer". The local port differs on every attempt, and the text goes into
// condition messages: a message that changes on each failure writes the
// status each time, and each write requeues the object at once, defeating
// the paced retry (docs/reliability.md, scenario 5). The caller names the
// host (see Client.do). errors.Is and errors.As see err as before (a
// net.Error, context.DeadlineExceeded, the *net.OpError itself); an err
// without a *net.OpError naming an address is returned as it is.
func withoutAddresses(err error) error {
	var opErr *net.OpError
	if !errors.As(err, &opErr) || (opErr.Source == nil && opErr.Addr == nil) {
		return err
	}
	bare := *opErr
	bare.Source, bare.Addr = nil, nil
	text := err.Error()
	if full := opErr.Error(); strings.Contains(text, full) {
		text = strings.Replace(text, full, bare.Error(), 1)
	} else {
		// A wrapper that does not quote the *net.OpError as it prints
		// could still hold the addresses: keep only the bare failure.
		text = bare.Error()
	}
	return &addresslessError{text: text, err: err}
}

// addresslessError is an error printed as text and unwrapped as err.
type addresslessError struct {
	text string
	err  error
}

func (e *addresslessError) Error() string { return e.text }

// Unwrap returns the original error, addresses included.
func (e *addresslessError) Unwrap() error { return e.err }

// openAPIResult is the result envelope of the open APIs: Query Order uses
// resultCode/resultMsg, the usage push and API Gateway error_code/error_msg.
// Its fields are read by answerString, so that a message written as a
// number does not turn a successful answer into a failed one.
type openAPIResult struct {
	ResultCode answerString `json:"resultCode"`
	ResultMsg  answerString `json:"resultMsg"`
	ErrorCode  answerString `json:"error_code"`
	ErrorMsg   answerString `json:"error_msg"`
}

// decodeAnswer turns a non-5xx answer into out, or into an *APIError when
// the status or the code says it failed.
func decodeAnswer(status int, body []byte, out any) error {
	var result openAPIResult
	if err := json.Unmarshal(body, &result); err != nil || status != http.StatusOK {
		return answerError(status, body)
	}
	code, msg := string(result.ResultCode), string(result.ResultMsg)
	if code == "" {
		code, msg = string(result.ErrorCode), string(result.ErrorMsg)
	}
	if code != OpenAPISuccess {
		return &APIError{HTTPStatus: status, Code: code, Message: msg}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("failed to decode answer: %w", answerPath(err, out))
	}
	return nil
}

// answerPath rewrites a type error's field path as the answer spells it,
// e.g. QueryOrderResponse.orderInfo.orderLine.expireTime: the loose
// decoders' wire structs (see QueryOrderResponse.UnmarshalJSON) are
// anonymous and embed a type named plain, which encoding/json would
// otherwise put in the path (.plain.orderInfo.plain.orderLine...).
func answerPath(err error, out any) error {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field == "" {
		return err
	}
	names := strings.Split(typeErr.Field, ".")
	kept := names[:0]
	for _, name := range names {
		if name != "plain" {
			kept = append(kept, name)
		}
	}
	typeErr.Field = strings.Join(kept, ".")
	if t := reflect.TypeOf(out); t != nil && t.Kind() == reflect.Pointer {
		typeErr.Struct = t.Elem().Name()
	}
	return err
}

// answerError builds the *APIError of a failed answer, using its code and
// message when the body has them.
func answerError(status int, body []byte) *APIError {
	var result openAPIResult
	if err := json.Unmarshal(body, &result); err != nil {
		return &APIError{HTTPStatus: status, Message: http.StatusText(status)}
	}
	if result.ResultCode != "" {
		return &APIError{HTTPStatus: status, Code: string(result.ResultCode), Message: string(result.ResultMsg)}
	}
	return &APIError{HTTPStatus: status, Code: string(result.ErrorCode), Message: string(result.ErrorMsg)}
}

// hostOf names a base URL in errors without anything that could be secret.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return "base URL"
}

// hostErrors collects the failure of every host tried; errors.Is and
// errors.As see each of them.
type hostErrors []error

// Error lists the failures on one line.
func (e hostErrors) Error() string {
	if len(e) == 0 {
		return "no marketplace host to try"
	}
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "every marketplace host failed: " + strings.Join(msgs, "; ")
}

// Unwrap returns the individual failures.
func (e hostErrors) Unwrap() []error {
	return e
}
