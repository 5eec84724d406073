package main

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// Vector O1: an orderNotify body (§3.9's fields) signed with §2.1's
// algorithm, key, timestamp and nonce of vector B1. The spec gives no
// orderNotify vector; these values were computed outside Go (Python's
// json.dumps(sort_keys=True, separators=(",", ":")) and hmac), so the
// simulator and the receiver's verifier are each checked against an
// independent implementation.
const (
	o1Body      = `{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`
	o1Payload   = `{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`
	o1Inner     = "26f3fedead9734c8eaab0083cb33ce06cec9d3149beb2eb96fd081f4de691759"
	o1Signature = "8405fffe1ee1176236357d055a15b2b2958895a5661418ee4f56845905e54dfe"
)

func TestOrderNotifyIsSignedAsVectorO1(t *testing.T) {
	g := NewWithT(t)
	body := append(orderNotifyBody("CS2211181819B4LVS", "CS2211181819B4LVS-000001", false), field{"testFlag", "0"})
	req, err := signBody(vectorKey, body, time.UnixMilli(1680508066618), b1Nonce)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(req.body)).To(Equal(o1Body), "§3.9's fields, in the docs' order")
	payload, err := body.canonical()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(payload)).To(Equal(o1Payload))
	g.Expect(independentHMACHex(vectorKey, o1Payload)).To(Equal(o1Inner))
	g.Expect(req.query.Get("signature")).To(Equal(o1Signature))

	// The receiver's canonicaliser and signer agree, and its decoder reads
	// the body as orderNotify.
	canonical, err := koogallery.CanonicalPayload([]byte(o1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(canonical)).To(Equal(o1Payload))
	g.Expect(koogallery.SignBasic(vectorKey, b1Nonce, b1Timestamp, canonical)).To(Equal(o1Signature))
	activity, decoded, err := koogallery.DecodeRequest([]byte(o1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(activity).To(Equal(koogallery.ActivityOrderNotify))
	g.Expect(decoded).To(Equal(&koogallery.OrderNotifyRequest{Activity: "orderNotify", OrderID: "CS2211181819B4LVS",
		OrderLineID: "CS2211181819B4LVS-000001", TestFlag: "0"}))
}
