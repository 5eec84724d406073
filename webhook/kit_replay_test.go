package webhook

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// signedKit is one kit call as the marketplace signed it: sent again
// unchanged, it is a replay.
type signedKit struct {
	name    koogallery.KitInterface
	body    string
	headers http.Header
}

func signKit(t *testing.T, name koogallery.KitInterface, body string) signedKit {
	t.Helper()
	return signedKit{name: name, body: body, headers: kitHeaders(t, testKitKey, body)}
}

// to sends the call, byte for byte as signed, to the receiver at base.
func (k signedKit) to(t *testing.T, base string, f *fixture) answer {
	t.Helper()
	return postKitTo(t, base, http.MethodPost, f.product.Name, string(k.name), k.headers.Clone(), k.body)
}

// anotherReplica serves a second receiver on the same API server, with a
// nonce memo of its own, as another replica, or the same one after a
// restart, has. It returns its base URL.
func anotherReplica(t *testing.T) string {
	t.Helper()
	r, err := NewReceiver(receiver.client, receiver.reader, receiver.opts)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	return server.URL
}

// A kit sync replayed within the signature window on a replica that did not
// verify it (another one, or the same after a restart) must not undo the
// syncs stored after it: kit calls are not retried, so nothing would put
// them back. Each case stores syncs on the first replica, then replays one
// of them, unchanged, on the second.
func TestAKitReplayOnAnotherReplicaIsRefused(t *testing.T) {
	const user = "app-1/user00000"
	for _, tc := range []struct {
		name string
		// arrange stores syncs through the first replica and returns the
		// one to replay.
		arrange func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit
		// check asserts the state the replay must leave.
		check func(t *testing.T, instanceID, tenantID string)
	}{{
		name: "an authorisation replayed after its cancellation",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit {
			add := signKit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			expectAnswer(t, add.to(t, receiverURL, f), koogallery.ResultSuccess)
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 3))
			return add
		},
		check: func(t *testing.T, instanceID, tenantID string) {
			_, parts := storedDirectory(t, instanceID, tenantID)
			NewWithT(t).Expect(entryKeys(parts[directory.Users])).NotTo(ContainElement(user), "the cancelled user is admitted again")
		},
	}, {
		name: "a cancellation replayed after the user was authorised again",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit {
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			cancel := signKit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 3))
			expectAnswer(t, cancel.to(t, receiverURL, f), koogallery.ResultSuccess)
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			return cancel
		},
		check: func(t *testing.T, instanceID, tenantID string) {
			_, parts := storedDirectory(t, instanceID, tenantID)
			NewWithT(t).Expect(entryKeys(parts[directory.Users])).To(ContainElement(user), "the authorised user is refused again")
		},
	}, {
		name: "an authorisation replayed after tenantSync deleted the enterprise",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit {
			expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
			add := signKit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			expectAnswer(t, add.to(t, receiverURL, f), koogallery.ResultSuccess)
			deleteEnterprise(t, f, instanceID, tenantID)
			return add
		},
		check: expectNoDirectory,
	}, {
		name: "the enterprise's binding replayed after tenantSync deleted it",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit {
			bind := signKit(t, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
			expectAnswer(t, bind.to(t, receiverURL, f), koogallery.ResultSuccess)
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			deleteEnterprise(t, f, instanceID, tenantID)
			return bind
		},
		check: expectNoDirectory,
	}, {
		// The enterprise was bound again since (a new call): the new
		// directory keeps the claims of the one deleted.
		name: "an authorisation replayed after the enterprise was deleted and bound again",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) signedKit {
			add := signKit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 1, 1))
			expectAnswer(t, add.to(t, receiverURL, f), koogallery.ResultSuccess)
			deleteEnterprise(t, f, instanceID, tenantID)
			expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
			return add
		},
		check: func(t *testing.T, instanceID, tenantID string) {
			_, parts := storedDirectory(t, instanceID, tenantID)
			NewWithT(t).Expect(parts[directory.Users]).To(BeEmpty(), "the deleted enterprise's user is back")
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			instanceID, tenantID := kitIDs()
			replayed := tc.arrange(t, f, instanceID, tenantID)

			a := replayed.to(t, anotherReplica(t), f)
			g.Expect(a.Code).To(Equal(string(koogallery.ResultInvalidParam)), a.Msg)
			g.Expect(a.Msg).To(ContainSubstring("x-nonce was already used"))
			tc.check(t, instanceID, tenantID)
		})
	}
}

// The same signed call sent to two replicas at once (a proxy retrying a
// POST the first replica is still answering) is stored once: the other is
// refused, whichever writes first, when the call creates the directory and
// when it finds one.
func TestAKitCallSentToTwoReplicasAtOnceIsStoredOnce(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "creating the directory", true: "on an existing directory"}[existing], func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			replicas := []string{receiverURL, anotherReplica(t)}
			for range 4 {
				instanceID, tenantID := kitIDs()
				if existing {
					expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
				}
				call := signKit(t, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 2, 1))
				codes := make([]string, len(replicas))
				var wg sync.WaitGroup
				for i, base := range replicas {
					wg.Add(1)
					go func() {
						defer wg.Done()
						codes[i] = call.to(t, base, f).Code
					}()
				}
				wg.Wait()
				g.Expect(codes).To(ConsistOf(string(koogallery.ResultSuccess), string(koogallery.ResultInvalidParam)))
			}
		})
	}
}

// Claims end twice the signature window after they are stored, and a
// directory keeps at most maxKitClaims, dropping those closest to their end.
func TestKitClaimsEndAndAreBounded(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(1_800_000_000, 0)
	r := &Receiver{opts: Options{SignatureWindow: time.Minute}}
	until := r.claimExpiry(now)
	g.Expect(until).To(BeNumerically(">", now.Add(2*time.Minute).Unix()))

	d := &metav1.ObjectMeta{}
	setClaims(d, kitClaims{}.with("a", until))
	g.Expect(liveClaims(d, now.Add(2*time.Minute)).has("a")).To(BeTrue(), "live while a replay passes the window")
	g.Expect(liveClaims(d, time.Unix(until, 0))).To(BeEmpty())
	setClaims(d, nil)
	g.Expect(d.Annotations).NotTo(HaveKey(kitClaimsAnnotation))

	var claims kitClaims
	for i := range maxKitClaims + 3 {
		claims = claims.with(string(rune('A'+i)), int64(1000+i))
	}
	g.Expect(claims).To(HaveLen(maxKitClaims))
	g.Expect(claims.has("A")).To(BeFalse(), "the claim closest to its end is dropped")
	g.Expect(claims.has(string(rune('A' + maxKitClaims + 2)))).To(BeTrue())

	d.Annotations = map[string]string{kitClaimsAnnotation: "not json"}
	g.Expect(liveClaims(d, now)).To(BeEmpty())
}

// deleteEnterprise sends tenantSync delete through the first replica, then
// deletes the directory as the controllers do: its shards, then it.
func deleteEnterprise(t *testing.T, f *fixture, instanceID, tenantID string) {
	t.Helper()
	g := NewWithT(t)
	expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 0))
	name := DirectoryName(instanceID, tenantID)
	g.Expect(k8sClient.DeleteAllOf(ctxFor(t), &corev1.Secret{}, client.InNamespace(directoryNamespace),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: name})).To(Succeed())
	g.Expect(deleteDirectoryAsControllersDo(ctxFor(t), name)).To(Succeed())
	expectNoDirectory(t, instanceID, tenantID)
}

func expectNoDirectory(t *testing.T, instanceID, tenantID string) {
	t.Helper()
	g := NewWithT(t)
	err := k8sClient.Get(ctxFor(t), client.ObjectKey{Name: DirectoryName(instanceID, tenantID)}, &saasv1alpha1.SaaSDirectory{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the deleted enterprise's directory exists: %v", err)
	shards := &corev1.SecretList{}
	g.Expect(k8sClient.List(ctxFor(t), shards, client.InNamespace(directoryNamespace),
		client.MatchingLabels{saasv1alpha1.DirectoryLabel: DirectoryName(instanceID, tenantID)})).To(Succeed())
	g.Expect(shards.Items).To(BeEmpty(), "the deleted enterprise's users are stored again")
}

func expectAnswer(t *testing.T, a answer, want koogallery.ResultCode) {
	t.Helper()
	NewWithT(t).Expect(a.Code).To(Equal(string(want)), a.Msg)
}

func entryKeys(entries []directory.Entry) []string {
	keys := make([]string, 0, len(entries))
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}
