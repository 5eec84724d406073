package main

import (
	"testing"
	"time"

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

// TestGracefulShutdownCoversTheReceiversDrain: the manager waits for its
// runnables long enough for the receiver's drain delay, its in-flight
// callbacks' 10 s and a margin, and never less than controller-runtime's
// 30 s: past it the process exits and cuts off the callbacks left.
func TestGracefulShutdownCoversTheReceiversDrain(t *testing.T) {
	g := NewWithT(t)
	g.Expect(options{}.gracefulShutdownTimeout()).To(Equal(30 * time.Second))
	g.Expect(options{receiverDrainDelay: webhook.DefaultDrainDelay}.gracefulShutdownTimeout()).To(Equal(30 * time.Second))
	g.Expect(options{receiverDrainDelay: 25 * time.Second}.gracefulShutdownTimeout()).To(Equal(40 * time.Second))
	g.Expect(webhook.DefaultServerOptions().ShutdownTimeout).To(BeNumerically("<=", 10*time.Second), "the 15 s margin covers the in-flight callbacks")
}
