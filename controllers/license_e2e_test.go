package controllers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// callbackAnswer is a decoded answer of the receiver.
type callbackAnswer struct {
	Code       string                    `json:"resultCode"`
	Msg        string                    `json:"resultMsg"`
	InstanceID string                    `json:"instanceId"`
	Info       []koogallery.InstanceInfo `json:"info"`
}

// callback sends body to the product's production URL, signed with the
// basic key as the marketplace signs it.
func callback(t *testing.T, product *saasv1alpha1.SaaSProduct, body string) callbackAnswer {
	t.Helper()
	g := NewWithT(t)
	canonical, err := koogallery.CanonicalPayload([]byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {hex.EncodeToString(nonce)},
		"signature": {koogallery.SignBasic(completeKeys[saasv1alpha1.BasicKeySecretKey], hex.EncodeToString(nonce), ts, canonical)}}
	resp, err := http.Post(receiverURL+"/koogallery/"+product.Name+"?"+q.Encode(), "application/json", bytes.NewBufferString(body))
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var a callbackAnswer
	g.Expect(json.NewDecoder(resp.Body).Decode(&a)).To(Succeed())
	return a
}

// queriedKey asks queryInstance for the instance's appInfo and returns the
// licence key in its memo ("" while there is none).
func queriedKey(t *testing.T, product *saasv1alpha1.SaaSProduct, id string) string {
	t.Helper()
	a := callback(t, product, fmt.Sprintf(`{"activity":"queryInstance","instanceId":%q}`, id))
	if a.Code != "000000" || len(a.Info) != 1 || a.Info[0].AppInfo == nil {
		return ""
	}
	return a.Info[0].AppInfo.Memo
}

// revocationList fetches and verifies the product's revocation list.
func revocationList(g Gomega, product *saasv1alpha1.SaaSProduct, keys licensekey.KeySet) *licensekey.RevocationList {
	resp, err := http.Get(receiverURL + "/koogallery/" + product.Name + "/licenses/revoked")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	list, err := licensekey.ParseRevocationList(string(body), keys)
	g.Expect(err).NotTo(HaveOccurred())
	return list
}

// A buyer's whole story, through the receiver as the marketplace drives it:
// buy, fetch the key with queryInstance, renew, apply for a device licence
// (uploaded), and release, after which the published list revokes the keys.
func TestLicenceProductThroughTheReceiver(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	keys := licensekey.NewKeySet(signer.PublicKey())
	orderID := fmt.Sprintf("CS%dE2E", tenantSeq.Add(1))
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", orderExpiry.Format("20060102150405"))

	bought := callback(t, product, fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":"b-1"}`, orderID, orderID))
	g.Expect(bought.Code).To(Equal("000000"), bought.Msg)
	id := bought.InstanceID

	var key string
	g.Eventually(func() string { key = queriedKey(t, product, id); return key }).ShouldNot(BeEmpty())
	claims, err := licensekey.Verify(key, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.InstanceID).To(Equal(id))
	g.Expect(claims.Features).To(Equal([]string{"export"}))

	renewal := callback(t, product, fmt.Sprintf(`{"activity":"refreshInstance","scene":"RENEWAL","orderId":"R%s","orderLineId":"R%s-000001","instanceId":%q,"expireTime":"21001231235959"}`, orderID, orderID, id))
	g.Expect(renewal.Code).To(Equal("000000"), renewal.Msg)
	var renewed string
	g.Eventually(func() string { renewed = queriedKey(t, product, id); return renewed }).ShouldNot(Equal(key))
	afterFirstWindow := time.Date(2100, 6, 1, 0, 0, 0, 0, time.UTC)
	claims, err = licensekey.Verify(renewed, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: afterFirstWindow})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(time.Unix(claims.NotAfter, 0).UTC()).To(Equal(time.Date(2100, 12, 31, 23, 59, 59, 0, time.UTC)))

	event := fmt.Sprintf("evt-%d", tenantSeq.Add(1))
	effective, expire := time.Now().UTC().Add(-time.Minute), time.Now().UTC().AddDate(0, 6, 0)
	apply := fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":%q,"effectiveTime":%q,"expireTime":%q,"deviceFingerprint":"fp-7"}`,
		id, event, effective.Format(time.DateTime)+" z", expire.Format(time.DateTime)+" z")
	for range 2 { // the marketplace may repeat an application: one licence, one upload
		a := callback(t, product, apply)
		g.Expect(a.Code).To(Equal("000000"), a.Msg)
	}
	var uploaded []string
	g.Eventually(func() []string { uploaded, _ = marketplace.uploaded(event); return uploaded }).Should(HaveLen(1))
	claims, err = licensekey.Verify(uploaded[0], licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now(), Fingerprint: "fp-7"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(claims.Device).To(Equal("fp-7"))

	released := callback(t, product, fmt.Sprintf(`{"activity":"releaseInstance","instanceId":%q}`, id))
	g.Expect(released.Code).To(Equal("000000"), released.Msg)
	g.Eventually(func(g Gomega) {
		g.Expect(revocationList(g, product, keys).IsRevoked(product.Spec.ProductID, id)).To(BeTrue())
	}).Should(Succeed())
	list := revocationList(g, product, keys)
	for _, k := range []string{renewed, uploaded[0]} {
		_, err = licensekey.Verify(k, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now(), Fingerprint: "fp-7", Revoked: list})
		g.Expect(errors.Is(err, licensekey.ErrRevoked)).To(BeTrue(), "%v", err)
	}
	g.Expect(queriedKey(t, product, id)).To(BeEmpty(), "a released licence shows no key")
	_, attempts := marketplace.uploaded(event)
	g.Expect(attempts).To(Equal(1))
}

func TestRevocationListIsRefusedForUnknownOrSaaSProducts(t *testing.T) {
	g := NewWithT(t)
	saas := newTenantProduct(t, nil)
	for _, name := range []string{"no-such-product", saas.Name} {
		resp, err := http.Get(receiverURL + "/koogallery/" + name + "/licenses/revoked")
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	}
	noKey, _ := newLicenseProduct(t, false)
	g.Eventually(func() int {
		resp, err := http.Get(receiverURL + "/koogallery/" + noKey.Name + "/licenses/revoked")
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}).Should(Equal(http.StatusServiceUnavailable))
}

// A licence instance deleted by hand, say to tidy up, must not bring its
// keys back to life: the revocation list names it from its tombstone, and
// its device licences show their keys revoked.
func TestALicenceDeletedByHandStaysRevoked(t *testing.T) {
	g := NewWithT(t)
	product, signer := newLicenseProduct(t, true)
	keys := licensekey.NewKeySet(signer.PublicKey())
	id, key := buyLicence(t, product, "GONE")
	event := applyForDevice(t, product, id, "fp-9")
	application := eventuallyApplication(t, event, licenseReady)

	g.Expect(k8sClient.Delete(testContext(t), &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id}})).To(Succeed())
	g.Eventually(isGone(t, &saasv1alpha1.License{ObjectMeta: metav1.ObjectMeta{Name: id}})).Should(BeTrue())

	list := revocationList(g, product, keys)
	g.Expect(list.IsRevoked(product.Spec.ProductID, id)).To(BeTrue(), "a gone instance stays revoked")
	_, err := licensekey.Verify(key, licensekey.VerifyOptions{ProductID: product.Spec.ProductID, Keys: keys, Now: time.Now(), Revoked: list})
	g.Expect(errors.Is(err, licensekey.ErrRevoked)).To(BeTrue(), "%v", err)
	eventuallyLicense(t, application.Name, licenseHas(saasv1alpha1.ReleasedCondition, metav1.ConditionTrue, saasv1alpha1.RevokedReason))
}

// eventuallyApplication waits for the device licence of event to pass check.
func eventuallyApplication(t *testing.T, event string, check func(Gomega, *saasv1alpha1.License)) *saasv1alpha1.License {
	t.Helper()
	var found *saasv1alpha1.License
	NewWithT(t).Eventually(func(g Gomega) {
		list := &saasv1alpha1.LicenseList{}
		g.Expect(k8sClient.List(testContext(t), list)).To(Succeed())
		found = nil
		for i := range list.Items {
			if list.Items[i].Spec.EventID == event {
				found = &list.Items[i]
			}
		}
		g.Expect(found).NotTo(BeNil(), "no licence for event %s", event)
		check(g, found)
	}).Should(Succeed())
	return found
}

// buyLicence buys a licence of product through the receiver and waits for
// queryInstance to hand out its key; it returns the instance ID and key.
func buyLicence(t *testing.T, product *saasv1alpha1.SaaSProduct, tag string) (string, string) {
	t.Helper()
	g := NewWithT(t)
	orderID := fmt.Sprintf("CS%d%s", tenantSeq.Add(1), tag)
	marketplace.addOrder(orderID, product.Spec.ProductID, "basic", orderExpiry.Format("20060102150405"))
	bought := callback(t, product, fmt.Sprintf(`{"activity":"newInstance","orderId":%q,"orderLineId":"%s-000001","businessId":"b-1"}`, orderID, orderID))
	g.Expect(bought.Code).To(Equal("000000"), bought.Msg)
	var key string
	g.Eventually(func() string { key = queriedKey(t, product, bought.InstanceID); return key }).ShouldNot(BeEmpty())
	return bought.InstanceID, key
}

// applyForDevice sends a getLicenseAsync for a device of instance id, valid
// from a minute ago for six months, and returns its eventId.
func applyForDevice(t *testing.T, product *saasv1alpha1.SaaSProduct, id, fingerprint string) string {
	t.Helper()
	event := fmt.Sprintf("evt-%d", tenantSeq.Add(1))
	effective, expire := time.Now().UTC().Add(-time.Minute), time.Now().UTC().AddDate(0, 6, 0)
	a := callback(t, product, fmt.Sprintf(`{"activity":"getLicenseAsync","instanceId":%q,"eventId":%q,"effectiveTime":%q,"expireTime":%q,"deviceFingerprint":%q}`,
		id, event, effective.Format(time.DateTime)+" z", expire.Format(time.DateTime)+" z", fingerprint))
	NewWithT(t).Expect(a.Code).To(Equal("000000"), a.Msg)
	return event
}
