package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// maxAnswerBytes caps an answer; a callback answer is a few hundred bytes,
// and a queryInstance for 100 instances well under a megabyte.
const maxAnswerBytes = 1 << 20

// marketplace sends callbacks to one production URL the way KooGallery
// does: POST, JSON body, signature in the query.
type marketplace struct {
	// endpoint is the production URL; its own query, if any, is kept.
	endpoint *url.URL
	// key is the basic-interface key. It signs requests, checks Body-Sign
	// and decrypts appInfo; it is never printed.
	key string
	// client sends the requests.
	client *http.Client
	// now is the signing clock.
	now func() time.Time
	// showCredentials prints decrypted appInfo credentials (--show-credentials).
	showCredentials bool
}

// newMarketplace checks the production URL and returns a sender for it.
func newMarketplace(rawURL, key string, timeout time.Duration, now func() time.Time) (*marketplace, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url must be an http:// or https:// production URL such as http://127.0.0.1:8082/koogallery/crm")
	}
	if timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	return &marketplace{
		endpoint: u,
		key:      key,
		client: &http.Client{
			Timeout: timeout,
			// The marketplace posts to the configured URL only; a redirect is
			// reported as the answer it is rather than followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: now,
	}, nil
}

// display is the production URL without query or user information, safe to
// print.
func (m *marketplace) display() string {
	u := url.URL{Scheme: m.endpoint.Scheme, Host: m.endpoint.Host, Path: m.endpoint.Path}
	return u.String()
}

// sign signs b now with a fresh nonce.
func (m *marketplace) sign(b callbackBody) (signedRequest, error) {
	return signBody(m.key, b, m.now(), newNonce())
}

// send posts req and reads the answer. Transport errors never repeat the
// URL, because it carries the signature.
func (m *marketplace) send(ctx context.Context, req signedRequest) (*answer, error) {
	target := *m.endpoint
	query := target.Query()
	for name, values := range req.query {
		query[name] = values
	}
	target.RawQuery = query.Encode()
	if req.path != "" {
		target.Path, target.RawPath = req.path, ""
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(req.body))
	if err != nil {
		return nil, fmt.Errorf("failed to build the %s request: %w", req.activity, err)
	}
	httpReq.Header.Set("Accept", "application/json")
	httpReq.Header.Set("Content-Type", "application/json;charset=utf8")
	start := time.Now()
	resp, err := m.client.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("failed to send %s to %s: %w", req.activity, m.display(), stripURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s answer from %s: %w", req.activity, m.display(), stripURL(err))
	}
	if len(raw) > maxAnswerBytes {
		return nil, fmt.Errorf("the %s answer from %s exceeds %d bytes", req.activity, m.display(), maxAnswerBytes)
	}
	return newAnswer(resp, raw, time.Since(start), m.key), nil
}

// stripURL drops the *url.Error wrapper, whose message repeats the URL and
// so the signature.
func stripURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if urlErr.Timeout() {
			return fmt.Errorf("no answer within the timeout: %w", urlErr.Err)
		}
		return urlErr.Err
	}
	return err
}

// appInfo is the access information of an answer (§3.2).
type appInfo struct {
	FrontEndURL string `json:"frontEndUrl"`
	AdminURL    string `json:"adminUrl"`
	UserName    string `json:"userName"`
	Password    string `json:"password"`
	Memo        string `json:"memo"`
}

// instanceInfo is one entry of a queryInstance answer (§3.3).
type instanceInfo struct {
	InstanceID string          `json:"instanceId"`
	AppInfo    *appInfo        `json:"appInfo"`
	UsageInfo  json.RawMessage `json:"usageInfo"`
}

// answerBody is every field a callback answer may have (§3.1–§3.3).
type answerBody struct {
	ResultCode  string         `json:"resultCode"`
	ResultMsg   string         `json:"resultMsg"`
	EncryptType string         `json:"encryptType"`
	InstanceID  string         `json:"instanceId"`
	AppInfo     *appInfo       `json:"appInfo"`
	Info        []instanceInfo `json:"info"`
}

// answer is one answer of the receiver, with what the simulator found out
// about it.
type answer struct {
	// status is the HTTP status code.
	status int
	// contentType is the Content-Type header.
	contentType string
	// raw is the exact body received.
	raw []byte
	// elapsed is how long the answer took.
	elapsed time.Duration
	// bodySign is the outcome of the Body-Sign check.
	bodySign bodySignResult
	// body is the decoded body; decodeErr says why it could not be decoded.
	body      answerBody
	decodeErr error
}

// newAnswer decodes an answer and checks its Body-Sign with key.
func newAnswer(resp *http.Response, raw []byte, elapsed time.Duration, key string) *answer {
	a := &answer{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		raw:         raw,
		elapsed:     elapsed,
		bodySign:    checkBodySign(key, resp.Header.Get(koogallery.BodySignHeader), raw),
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		a.decodeErr = fmt.Errorf("the body is not a JSON object with string fields: %w", err)
	}
	return a
}

// envelopeProblem checks what every answer must be (§1.6, §2.3): HTTP 200,
// JSON, a six-character resultCode, and a Body-Sign that verifies when it is
// present. It returns "" when all hold.
func (a *answer) envelopeProblem() string {
	mediaType, _, _ := mime.ParseMediaType(a.contentType)
	switch {
	case a.status != http.StatusOK:
		return fmt.Sprintf("HTTP %d; the marketplace counts anything but 200 as a failure", a.status)
	case mediaType != "application/json":
		return fmt.Sprintf("Content-Type %q; want application/json", a.contentType)
	case a.decodeErr != nil:
		return a.decodeErr.Error()
	case a.body.ResultCode == "":
		return "the answer has no resultCode"
	case len(a.body.ResultCode) != 6:
		return fmt.Sprintf("resultCode %q is not six characters", clip(a.body.ResultCode, 16))
	case a.bodySign == bodySignMismatch:
		return "Body-Sign does not match the answer and the key"
	case a.bodySign == bodySignMalformed:
		return errBodySignFormat.Error()
	}
	return ""
}

// code returns the resultCode, or "" when the answer has none.
func (a *answer) code() string {
	return a.body.ResultCode
}

// codeAndMessage describes the result for output, e.g. 000003 (instance
// "x" does not exist).
func (a *answer) codeAndMessage() string {
	msg := strings.Join(strings.Fields(a.body.ResultMsg), " ")
	if msg == "" {
		return a.code()
	}
	return fmt.Sprintf("%s (%s)", a.code(), clip(msg, 100))
}

// appInfos lists every appInfo in the answer with the instance it belongs
// to: newInstance's top-level one and queryInstance's per instance.
func (a *answer) appInfos() map[string]*appInfo {
	out := map[string]*appInfo{}
	if a.body.AppInfo != nil {
		out[a.body.InstanceID] = a.body.AppInfo
	}
	for _, info := range a.body.Info {
		if info.AppInfo != nil {
			out[info.InstanceID] = info.AppInfo
		}
	}
	return out
}

// credentials are appInfo's decrypted user name and password.
type credentials struct {
	userName, password string
}

// decryptAppInfo decrypts appInfo's userName and password with the key and
// the answer's encryptType ("1", the default, or "2"; §4.1).
func decryptAppInfo(key, encryptType string, app *appInfo) (credentials, error) {
	var creds credentials
	if app == nil {
		return creds, errors.New("no appInfo")
	}
	t := koogallery.EncryptType(encryptType)
	if t != "" && t != koogallery.EncryptAES256 && t != koogallery.EncryptAES128 {
		return creds, fmt.Errorf("encryptType %q is neither 1 (AES-256) nor 2 (AES-128)", clip(encryptType, 8))
	}
	var err error
	if app.UserName != "" {
		if creds.userName, err = koogallery.Decrypt(key, t, app.UserName); err != nil {
			return creds, fmt.Errorf("userName does not decrypt: %w", err)
		}
	}
	if app.Password != "" {
		if creds.password, err = koogallery.Decrypt(key, t, app.Password); err != nil {
			return creds, fmt.Errorf("password does not decrypt: %w", err)
		}
	}
	return creds, nil
}

// clip shortens s to n runes for output, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
