package webhook

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
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

const testKey = "test-access-key"

var fixtureSeq atomic.Int64

// fixture is a product with its keys Secret, ready to receive callbacks.
type fixture struct {
	product *saasv1alpha1.SaaSProduct
	key     string
}

func newProductFixture(t *testing.T, productType saasv1alpha1.ProductType) *fixture {
	t.Helper()
	g := NewWithT(t)
	name := fmt.Sprintf("product-%d", fixtureSeq.Add(1))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name + "-keys"},
		StringData: map[string]string{saasv1alpha1.BasicKeySecretKey: testKey, "basicKey.next": "the-next-key"},
	}
	g.Expect(k8sClient.Create(ctxFor(t), secret)).To(Succeed())
	product := &saasv1alpha1.SaaSProduct{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.SaaSProductSpec{
			ProductID: "OFFI846204237451911168", Type: productType, KeysSecretName: secret.Name,
			Plans: []saasv1alpha1.Plan{{SKUCode: "basic"}, {SKUCode: "pro"}},
		},
	}
	if productType == saasv1alpha1.ProductTypeLicense {
		for i := range product.Spec.Plans {
			product.Spec.Plans[i].License = &saasv1alpha1.LicenseTerms{Features: []string{"export"}}
		}
	} else {
		product.Spec.URLs = &saasv1alpha1.URLTemplates{FrontEndURL: "https://{{.InstanceID}}.app.example.com"}
		product.Spec.Workload = &saasv1alpha1.WorkloadTemplate{
			Image: "registry.example.com/app:1.0",
			Ports: []saasv1alpha1.WorkloadPort{{Name: "http", ContainerPort: 8080}},
		}
	}
	g.Expect(k8sClient.Create(ctxFor(t), product)).To(Succeed())
	return &fixture{product: product, key: testKey}
}

// answer is a decoded reply of the receiver.
type answer struct {
	Code        string                    `json:"resultCode"`
	Msg         string                    `json:"resultMsg"`
	InstanceID  string                    `json:"instanceId"`
	EncryptType string                    `json:"encryptType"`
	AppInfo     *koogallery.AppInfo       `json:"appInfo"`
	Info        []koogallery.InstanceInfo `json:"info"`

	status int
	header http.Header
	raw    []byte
}

// signedQuery signs body as the marketplace does, now, with a fresh nonce.
func signedQuery(t *testing.T, key, body string) url.Values {
	t.Helper()
	q, err := signQuery(key, body)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// signQuery is signedQuery for a goroutine, which must not call t.Fatal:
// it returns an error when body does not canonicalise.
func signQuery(key, body string) (url.Values, error) {
	canonical, err := koogallery.CanonicalPayload([]byte(body))
	if err != nil {
		return nil, fmt.Errorf("test body does not canonicalise: %w", err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := randomNonce()
	return url.Values{
		"signature": {koogallery.SignBasic(key, nonce, ts, canonical)},
		"timestamp": {ts},
		"nonce":     {nonce},
	}, nil
}

func randomNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// call sends a callback signed with the fixture's key.
func (f *fixture) call(t *testing.T, body string) answer {
	t.Helper()
	a, err := f.send(body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send is call for a goroutine, which must not call t.Fatal: it returns
// an error when the callback could not be sent or its answer read.
func (f *fixture) send(body string) (answer, error) {
	q, err := signQuery(f.key, body)
	if err != nil {
		return answer{}, err
	}
	return sendPost(f.product.Name, q, body)
}

// sendAsMarketplace sends a callback as the marketplace does (spec §1.7):
// an answer of 000005 "busy" (load shedding, errBusy) is sent again,
// freshly signed, up to ten times. Tests that fire many callbacks at once
// use it: on a loaded 2-core machine more than MaxConcurrentVerifications
// of them can be verifying at one moment, which is the shedding working,
// not a fault of the behaviour under test. Those callbacks run in
// goroutines, which must not call t.Fatal: it returns the first error, for
// the test to check once its goroutines are done.
func (f *fixture) sendAsMarketplace(body string) (answer, error) {
	var a answer
	for range 10 {
		var err error
		if a, err = f.send(body); err != nil || a.Msg != errBusy.msg {
			return a, err
		}
	}
	return a, nil
}

// post sends body to the product's production URL with query q.
func post(t *testing.T, product string, q url.Values, body string) answer {
	t.Helper()
	a, err := sendPost(product, q, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sendPost is post for a goroutine: it returns an error instead of
// calling t.Fatal.
func sendPost(product string, q url.Values, body string) (answer, error) {
	target := receiverURL + CallbackPathPrefix + product + "?" + q.Encode()
	resp, err := http.Post(target, "application/json;charset=utf8", bytes.NewBufferString(body))
	if err != nil {
		return answer{}, err
	}
	return readAnswer(resp)
}

func decodeAnswer(t *testing.T, resp *http.Response) answer {
	t.Helper()
	a, err := readAnswer(resp)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// readAnswer decodes the receiver's reply and closes its body; the error
// says when it cannot be read or is not JSON.
func readAnswer(resp *http.Response) (answer, error) {
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return answer{}, fmt.Errorf("answer is not JSON: %w: %s", err, raw)
	}
	a.status, a.header, a.raw = resp.StatusCode, resp.Header, raw
	return a, nil
}

func newInstanceBody(orderID string, extra ...string) string {
	body := fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":%q`, orderID, orderID, randomNonce())
	for _, e := range extra {
		body += "," + e
	}
	return body + "}"
}

var orderSeq atomic.Int64

func newOrderID() string {
	return fmt.Sprintf("CS%d%06d", time.Now().Unix(), orderSeq.Add(1))
}

// buy sends a newInstance for a new order and returns the instance ID.
func (f *fixture) buy(t *testing.T) (instanceID, orderID string) {
	t.Helper()
	orderID = newOrderID()
	a := f.call(t, newInstanceBody(orderID))
	NewWithT(t).Expect(a.Code).To(Equal("000000"), a.Msg)
	return a.InstanceID, orderID
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
