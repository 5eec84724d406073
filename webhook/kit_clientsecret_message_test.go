package webhook

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// A clientSecret that is not Base64 is told so: no key registered in the
// Seller Console would decrypt it, so the answer sends no one to change
// the key. One that decrypts with no configured variant of the product's
// key is still answered with that hint. Neither answer quotes the secret.
func TestAClientSecretThatIsNotBase64IsToldSoAndNotSentToTheKey(t *testing.T) {
	f := newKitFixture(t)
	other, err := koogallery.GenerateRSAKey(koogallery.MinRSABits)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	forOther, err := koogallery.EncryptClientSecret(&other.PublicKey, "x", koogallery.OAEPSHA256)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	const keyHint = "register the public key of its rsaPrivateKey in the Seller Console"
	cases := []struct {
		name, secret string
		want         string
	}{
		{name: "not Base64", secret: "%%%not-base64%%%", want: "clientSecret cannot be decrypted: it is not Base64"},
		{name: "for another key", secret: forOther, want: keyHint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			a := f.kit(t, koogallery.KitApplicationSync, applicationSyncBody(instanceID, tenantID, tc.secret, 1))
			g.Expect(a.Code).To(Equal("000005"))
			g.Expect(a.Msg).To(ContainSubstring(tc.want))
			g.Expect(a.Msg).NotTo(ContainSubstring(tc.secret))
			if tc.want != keyHint {
				g.Expect(a.Msg).NotTo(ContainSubstring(keyHint))
			}
		})
	}
}
