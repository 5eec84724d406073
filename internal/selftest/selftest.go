// Package selftest checks, from inside the cluster, that kooper's receiver
// answers the marketplace: it sends a signed queryInstance (spec §3.3), as
// the Seller Console's debugger does first, for an instance that cannot
// exist, and expects 000003 (instance not found). Any other answer means
// the production interface would fail the debugger: a wrong key (000001), a
// clock too far off (000002), or the receiver not serving the product.
//
// The chart's `helm test` runs it (kooper self-test), with the product's
// keys Secret mounted read-only; `kubectl kooper check` runs it through a
// port-forward, and `kubectl kooper buy` sends its callbacks with Post.
package selftest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// maxAnswerBytes bounds the answer read: a receiver's is a few hundred bytes.
const maxAnswerBytes = 64 << 10

// Result is the receiver's answer to the self-test.
type Result struct {
	// InstanceID is the instance asked about: random, never issued.
	InstanceID string
	// Code and Message are the answer's resultCode and resultMsg.
	Code, Message string
	// Elapsed is how long the answer took.
	Elapsed time.Duration
}

// OK reports whether the answer is the one a healthy receiver gives: 000003.
func (r Result) OK() bool { return r.Code == string(koogallery.ResultInstanceNotFound) }

// QueryUnknownInstance sends a debug queryInstance (testFlag "1") for a
// random instance ID to productionURL (the product's production interface,
// e.g. http://kooper.kooper-system.svc/koogallery/crm), signed with key
// (the product's basicKey) at now. It fails when the request cannot be
// sent or the answer is not the marketplace's JSON envelope; an answer with
// another code is a Result whose OK is false.
func QueryUnknownInstance(ctx context.Context, client *http.Client, productionURL, key string, now time.Time) (Result, error) {
	id, err := random(8)
	if err != nil {
		return Result{}, err
	}
	instanceID := "selftest-" + id
	body, err := json.Marshal(koogallery.QueryInstanceRequest{
		Activity: string(koogallery.ActivityQueryInstance), InstanceID: instanceID, TestFlag: "1"})
	if err != nil {
		return Result{}, err
	}
	answer, err := Post(ctx, client, productionURL, key, now, body)
	if err != nil {
		return Result{}, err
	}
	return Result{InstanceID: instanceID, Code: answer.Code, Message: answer.Message, Elapsed: answer.Elapsed}, nil
}

// Answer is a receiver's answer to one signed callback.
type Answer struct {
	// Code and Message are the answer's resultCode and resultMsg.
	Code, Message string
	// Body is the whole JSON answer, at most 64 KiB.
	Body []byte
	// Elapsed is how long the answer took.
	Elapsed time.Duration
}

// Post sends body, a basic callback's JSON, to productionURL signed with
// key at now, as the marketplace does (spec §2.1.2: the signature,
// timestamp and nonce query parameters over the canonical payload). It
// fails when the URL is not http(s), the request cannot be sent, or the
// answer is not the marketplace's JSON envelope with a resultCode. No
// error repeats the URL's query, which holds the signature.
func Post(ctx context.Context, client *http.Client, productionURL, key string, now time.Time, body []byte) (Answer, error) {
	target, err := url.Parse(productionURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return Answer{}, fmt.Errorf("the production URL must be an http:// or https:// URL, such as http://kooper.kooper-system.svc/koogallery/crm")
	}
	payload, err := koogallery.CanonicalPayload(body) // §2.1.2, as the receiver computes it
	if err != nil {
		return Answer{}, err
	}
	nonce, err := random(32)
	if err != nil {
		return Answer{}, err
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	q := target.Query()
	q.Set("signature", koogallery.SignBasic(key, nonce, ts, payload))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	target.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("failed to build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // its message repeats the URL, and so the signature
		}
		return Answer{}, fmt.Errorf("failed to reach the receiver at %s://%s%s: %w", target.Scheme, target.Host, target.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	return readAnswer(resp, time.Since(start))
}

// readAnswer decodes the receiver's answer envelope.
func readAnswer(resp *http.Response, elapsed time.Duration) (Answer, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return Answer{}, fmt.Errorf("failed to read the answer: %w", err)
	}
	var answer struct {
		ResultCode string `json:"resultCode"`
		ResultMsg  string `json:"resultMsg"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || answer.ResultCode == "" {
		return Answer{}, fmt.Errorf("the answer (HTTP %d) is not the marketplace's JSON envelope with a resultCode", resp.StatusCode)
	}
	return Answer{Code: answer.ResultCode, Message: answer.ResultMsg, Body: raw, Elapsed: elapsed}, nil
}

// random is n random bytes in hex.
func random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
