package lifecycle

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// answer is a receiver's reply, decoded.
type answer struct {
	Code       string           `json:"resultCode"`
	Msg        string           `json:"resultMsg"`
	InstanceID string           `json:"instanceId"`
	AppInfo    json.RawMessage  `json:"appInfo"`
	Info       []instanceAnswer `json:"info"`
}

type instanceAnswer struct {
	InstanceID string          `json:"instanceId"`
	AppInfo    json.RawMessage `json:"appInfo"`
}

// body is the JSON the marketplace sends for cb. A newInstance gets a fresh
// businessId each time: the marketplace changes it on every request,
// retries included (spec §3.2).
func body(p product, cb Callback) ([]byte, error) {
	b := map[string]any{"activity": cb.Activity}
	if cb.InstanceID != "" {
		b["instanceId"] = cb.InstanceID
	}
	if o := cb.Order; o != nil {
		b["orderId"], b["orderLineId"] = o.ID, o.LineID
	}
	switch cb.Activity {
	case NewInstance:
		b["businessId"] = randomHex(16)
	case RefreshInstance:
		b["scene"], b["expireTime"] = cb.Order.Scene, cb.Order.ExpireTime.UTC().Format(createTimeLayout)
	case UpdateInstanceStatus:
		b["status"] = cb.Status
	case ChangeInstanceCheck:
		b["productInfo"] = map[string]string{"productId": p.id, "skuCode": cb.SKU}
	}
	return json.Marshal(b)
}

// signedQuery signs payload as the marketplace does (spec §2.1.2): over the
// canonical payload, with the time now in milliseconds and a fresh nonce,
// so every send, a retry included, is a new request and never a replay.
func signedQuery(payload []byte) (url.Values, error) {
	canonical, err := koogallery.CanonicalPayload(payload)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomHex(16)
	return url.Values{
		"signature": {koogallery.SignBasic(basicKey, nonce, ts, canonical)},
		"timestamp": {ts},
		"nonce":     {nonce},
	}, nil
}

// send signs and posts cb to a receiver, at p's production URL.
func send(ctx context.Context, receiverURL string, p product, cb Callback) (answer, error) {
	payload, err := body(p, cb)
	if err != nil {
		return answer{}, err
	}
	q, err := signedQuery(payload)
	if err != nil {
		return answer{}, err
	}
	target := receiverURL + p.name + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &a) != nil {
		return answer{}, fmt.Errorf("receiver answered HTTP %d: %s", resp.StatusCode, raw)
	}
	return a, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
