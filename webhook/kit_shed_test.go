package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/testenv"
)

// Kit syncs are not retried automatically (spec §1.7): one answered 000005
// is lost until someone resends it from the Seller Console, and the SSO
// gateway goes on refusing the users it authorised (or admitting those it
// cancelled). Before, a kit call met kooper's own load limits as a basic
// callback does, which the marketplace retries: shed at once when the body
// budget or the verification slots were taken, and refused 000001 on cached
// keys when the per-product reread of the keys Secret was spent.

// withinTheWait is a time every kit call may wait for a body reservation or
// a verification slot before it is answered: well within the bound, which
// leaves the handler most of the call's APITimeout.
const withinTheWait = 300 * time.Millisecond

// marketplaceTimeout is how long the marketplace waits for an answer (spec
// §1.6: design for 5 s).
const marketplaceTimeout = 5 * time.Second

// TestAKitSyncWaitsForABusyBodyBudget: four chunked department trees,
// stalled mid-upload, hold the whole body budget (each reserves the 8 MiB
// cap of an allOrgSync). An authSync waits instead of being answered
// 000005, and is stored once one of them ends; a basic callback is shed at
// once, as ever. When the budget stays taken past the wait's bound, the
// sync is answered 000005 with a message that says it must be resent.
func TestAKitSyncWaitsForABusyBodyBudget(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	r, err := NewReceiver(receiver.client, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	var stalled []*stalledUpload
	t.Cleanup(func() {
		for _, s := range stalled {
			s.abort()
		}
	})
	hold := func() {
		s := startStalledUpload(r, kitPath(f, koogallery.KitAllOrgSync), -1)
		stalled = append(stalled, s)
		g.Eventually(s.started, time.Minute).Should(BeClosed(), "the receiver reads a body while its budget lasts")
	}
	for range r.opts.MaxBodyBytesInFlight / r.opts.MaxOrgTreeBodyBytes {
		hold()
	}

	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	basic := serveDirect(t, r, f, query)
	g.Expect(basic.Code).To(Equal("000005"), "a basic callback is shed at once: the marketplace retries it")
	g.Expect(basic.Msg).To(Equal(errBodiesBusy.msg))

	instanceID, tenantID := kitIDs()
	sync := serveKitInBackground(t, r, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))
	var early answer
	g.Consistently(sync, withinTheWait, 10*time.Millisecond).ShouldNot(Receive(&early), func() string {
		return fmt.Sprintf("the sync was answered while its wait was within bound: %s %q", early.Code, early.Msg)
	})
	stalled[0].abort()
	var a answer
	g.Eventually(sync, marketplaceTimeout).Should(Receive(&a))
	g.Expect(a.Code).To(Equal("000000"), "the sync is stored once the budget has room: %s", a.Msg)
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(parts[directory.Users]).To(HaveLen(3))

	hold() // the budget is taken again, and stays so
	start := time.Now()
	instanceID, tenantID = kitIDs()
	var lost answer
	g.Eventually(serveKitInBackground(t, r, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1)), marketplaceTimeout).
		Should(Receive(&lost))
	elapsed := time.Since(start)
	g.Expect(lost.Code).To(Equal("000005"), lost.Msg)
	g.Expect(lost.Msg).To(ContainSubstring("not retried"), "the message says what becomes of the sync")
	g.Expect(lost.Msg).To(ContainSubstring("生产接口消息"), "and where to resend it")
	g.Expect(elapsed).To(BeNumerically(">=", withinTheWait), "answered once the wait's bound passed")
	g.Expect(elapsed).To(BeNumerically("<", r.opts.APITimeout), "well within the marketplace's timeout")
}

// TestAKitSyncWaitsForAVerificationSlot: every verification slot is taken,
// as by a flood of unsigned bodies. A kit sync waits for one instead of
// being answered 000005 "busy; retry", which nobody retries.
func TestAKitSyncWaitsForAVerificationSlot(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	r, err := NewReceiver(receiver.client, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	taken := 0
	for r.verifying.tryAcquire() {
		taken++
	}
	t.Cleanup(func() {
		for range taken {
			r.verifying.release()
		}
	})

	instanceID, tenantID := kitIDs()
	sync := serveKitInBackground(t, r, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
	var early answer
	g.Consistently(sync, withinTheWait, 10*time.Millisecond).ShouldNot(Receive(&early), func() string {
		return fmt.Sprintf("the sync was answered while its wait was within bound: %s %q", early.Code, early.Msg)
	})
	r.verifying.release()
	taken--
	var a answer
	g.Eventually(sync, marketplaceTimeout).Should(Receive(&a))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
}

// TestAKitSyncRefusedOnCachedKeysWithoutARereadIsNotAuthFailed: the
// merchant rotates the kit key in; this replica's cache has not seen it. A
// forged call spends the product's reread of the keys Secret (one a
// second), then the marketplace's sync, signed with the new key, fails on
// the cached keys. It was answered 000001, final for a kit call, decided on
// a cache that lacked the key. Now it waits for the next reread, bounded;
// when none comes within the bound it is answered 000005, to be resent.
func TestAKitSyncRefusedOnCachedKeysWithoutARereadIsNotAuthFailed(t *testing.T) {
	f := newKitFixture(t)
	cached := &corev1.Secret{}
	key := client.ObjectKey{Namespace: operatorNamespace, Name: f.product.Spec.KeysSecretName}
	NewWithT(t).Expect(k8sClient.Get(ctxFor(t), key, cached)).To(Succeed())
	rotated := cached.DeepCopy()
	rotated.Data[saasv1alpha1.KitKeySecretKey] = []byte("a-kit-key-just-rotated")
	NewWithT(t).Expect(k8sClient.Update(ctxFor(t), rotated)).To(Succeed())
	behind := func(t *testing.T, now func() time.Time) *Receiver {
		opts := receiver.opts
		opts.Now = now
		r, err := NewReceiver(testenv.CacheBehind{Client: receiver.client, Old: cached}, receiver.reader, opts)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		return r
	}
	// forge spends the product's reread: its signature is checked again on
	// the stored keys, which refuse it for good.
	forge := func(t *testing.T, r *Receiver) {
		instanceID, tenantID := kitIDs()
		a := serveKitSignedWith(t, r, f, "a-key-nobody-holds", koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
		NewWithT(t).Expect(a.Code).To(Equal("000001"), "a signature no stored key makes is refused: %s", a.Msg)
	}

	t.Run("the next reread comes within the wait", func(t *testing.T) {
		g := NewWithT(t)
		r := behind(t, time.Now)
		forge(t, r)
		instanceID, tenantID := kitIDs()
		a := serveKitSignedWith(t, r, f, "a-kit-key-just-rotated", koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
		g.Expect(a.Code).To(Equal("000000"), "verified on the stored keys: %s", a.Msg)
		storedDirectory(t, instanceID, tenantID)
	})
	t.Run("no reread comes within the wait", func(t *testing.T) {
		g := NewWithT(t)
		frozen := time.Now()
		r := behind(t, func() time.Time { return frozen }) // the reread's second never passes
		forge(t, r)
		instanceID, tenantID := kitIDs()
		start := time.Now()
		a := serveKitSignedWith(t, r, f, "a-kit-key-just-rotated", koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
		g.Expect(a.Code).To(Equal("000005"), "not refused on keys that may lack the rotated one: %s", a.Msg)
		g.Expect(a.Msg).To(ContainSubstring("not retried"))
		g.Expect(a.Msg).To(ContainSubstring("生产接口消息"))
		g.Expect(time.Since(start)).To(BeNumerically("<", r.opts.APITimeout))
	})
}

// TestWaitingKitCallsAreBounded: anyone can send a kit call with plausible
// headers, so the waits are bounded by number as well as by time. With
// every waiter slot taken, a sync that finds the body budget full is
// answered at once, 000005 with the message to resend it; a kit call
// without the kit's headers never waits and is answered as before.
func TestWaitingKitCallsAreBounded(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	r, err := NewReceiver(receiver.client, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.bodies.TryAcquire(r.opts.MaxBodyBytesInFlight)).To(BeTrue())
	t.Cleanup(func() { r.bodies.Release(r.opts.MaxBodyBytesInFlight) })
	taken := 0
	for r.kitWaiters.tryAcquire() {
		taken++
	}
	t.Cleanup(func() {
		for range taken {
			r.kitWaiters.release()
		}
	})
	g.Expect(taken).To(Equal(maxKitWaiters))

	instanceID, tenantID := kitIDs()
	start := time.Now()
	a := serveKitSignedWith(t, r, f, testKitKey, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))
	g.Expect(a.Code).To(Equal("000005"), a.Msg)
	g.Expect(a.Msg).To(ContainSubstring(kitResendHint))
	g.Expect(time.Since(start)).To(BeNumerically("<", r.kitWaitBound()/2), "answered at once: no waiter slot is free")

	r.kitWaiters.release()
	taken--
	unsigned := httptest.NewRequest(http.MethodPost, kitPath(f, koogallery.KitAuthSync), strings.NewReader(`{}`))
	rec := httptest.NewRecorder()
	start = time.Now()
	r.Handler().ServeHTTP(rec, unsigned)
	a = decodeAnswer(t, rec.Result())
	g.Expect(a.Code).To(Equal("000005"), a.Msg)
	g.Expect(a.Msg).To(Equal(errBodiesBusy.msg), "a call without the kit's headers is answered as before")
	g.Expect(time.Since(start)).To(BeNumerically("<", r.kitWaitBound()/2), "and never waits")
}

// serveKitInBackground serves a kit call signed with the kit key on r in a
// goroutine; its answer arrives on the channel.
func serveKitInBackground(t *testing.T, r *Receiver, f *fixture, name koogallery.KitInterface, body string) <-chan answer {
	t.Helper()
	req := kitRequest(t, f, testKitKey, name, body)
	answered := make(chan answer, 1)
	go func() {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, req)
		a, err := readAnswer(rec.Result())
		if err != nil {
			a.Msg = err.Error()
		}
		answered <- a
	}()
	return answered
}

// serveKitSignedWith serves a kit call signed with key on r.
func serveKitSignedWith(t *testing.T, r *Receiver, f *fixture, key string, name koogallery.KitInterface, body string) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, kitRequest(t, f, key, name, body))
	return decodeAnswer(t, rec.Result())
}

// kitRequest is a kit call to the fixture's product, signed with key now.
func kitRequest(t *testing.T, f *fixture, key string, name koogallery.KitInterface, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, kitPath(f, name), strings.NewReader(body))
	req.Header = kitHeaders(t, key, body)
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	return req
}
