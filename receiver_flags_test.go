package main

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/webhook"
)

// TestReceiverFlagsForSpecUncertainties: the flags of spec §8 items 3 and
// 17 reach the receiver's options, and left unset keep the safe defaults:
// every canonical form, and 000005 for a clientSecret that does not decrypt.
func TestReceiverFlagsForSpecUncertainties(t *testing.T) {
	g := NewWithT(t)
	defaults := options{}.receiverOptions()
	g.Expect(defaults.CanonicalForms).To(Equal(koogallery.DefaultCanonicalForms))
	g.Expect(defaults.ClientSecretErrorCode).To(Equal(koogallery.ResultInternalError))

	forms, err := koogallery.ParseCanonicalForms("as-received,sorted-nested")
	g.Expect(err).NotTo(HaveOccurred())
	set := options{canonicalForms: forms, clientSecretErrorCode: "000101"}.receiverOptions()
	g.Expect(set.CanonicalForms).To(Equal([]koogallery.CanonicalForm{koogallery.FormAsReceived, koogallery.FormSortedNested}))
	g.Expect(set.ClientSecretErrorCode).To(Equal(koogallery.ResultAppSecretError))

	bad := webhook.DefaultOptions()
	bad.ClientSecretErrorCode = options{clientSecretErrorCode: "000002"}.receiverOptions().ClientSecretErrorCode
	g.Expect(bad.Validate()).To(MatchError(ContainSubstring("must be 000005 or 000101")))

}
