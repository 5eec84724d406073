package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A kit sync stores its shards, then records itself on the directory, which
// is what makes the controllers deliver. When the record fails (the process
// dies, the API timeout runs out, conflicts outlast the retries) the call
// is answered 000005 and the marketplace retries it. The retry finds the
// shards already as asked: it must still record itself, or a cancelled
// user keeps SSO access until some later change.
func TestAKitSyncRetriedAfterItsDirectoryRecordFailedIsDelivered(t *testing.T) {
	for _, tc := range recordedSyncCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			instanceID, tenantID := kitIDs()
			arrangeCall, arrangeBody := tc.arrange(instanceID, tenantID)
			expectKit(t, f, arrangeCall, arrangeBody)
			before, _ := storedDirectory(t, instanceID, tenantID)

			var failed atomic.Bool
			failing := receiverWithWriteFault(t, func(verb string, obj client.Object) error {
				if _, ok := obj.(*saasv1alpha1.SaaSDirectory); ok && verb == "update" && failed.CompareAndSwap(false, true) {
					return apierrors.NewServiceUnavailable("injected: the directory's update does not arrive")
				}
				return nil
			})
			body := tc.body(instanceID, tenantID)
			a := postKitTo(t, failing, http.MethodPost, f.product.Name, string(tc.call), kitHeaders(t, testKitKey, body), body)
			g.Expect(a.Code).To(Equal(string(koogallery.ResultInternalError)), a.Msg)
			stored, _ := storedDirectory(t, instanceID, tenantID)
			g.Expect(stored.Generation).To(Equal(before.Generation), "the shards were written, the record was not")

			// The marketplace retries the same call.
			expectKit(t, f, tc.call, tc.body(instanceID, tenantID))
			after, _ := storedDirectory(t, instanceID, tenantID)
			g.Expect(after.Generation).To(BeNumerically(">", before.Generation), "the directory controller sees a new generation")
			g.Expect(after.Spec.LastSync).NotTo(BeNil())
			g.Expect(after.Spec.LastSync.Sequence).To(BeNumerically(">", before.Spec.LastSync.Sequence))
			g.Expect(after.Spec.LastSync.Interface).To(Equal(saasv1alpha1.KitInterface(tc.call)))
			g.Expect(after.Spec.LastSync.Flag).To(Equal(tc.flag))
		})
	}
}

// An upsert that grows an entry of a full shard moves that shard's last
// entries to another shard. The write stops after the first shard (the
// process dies, or a retryable error makes the call recompute from what
// is stored then); the same call is retried. Every user, in the call or
// not, is then in exactly one shard.
func TestAShardMoveInterruptedAfterItsFirstWriteLosesNoUser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault error
		first koogallery.ResultCode
	}{{
		name:  "the call ends",
		fault: apierrors.NewServiceUnavailable("injected: the process died"),
		first: koogallery.ResultInternalError,
	}, {
		name:  "the call recomputes from the half-written state",
		fault: apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "shard", fmt.Errorf("injected")),
		first: koogallery.ResultSuccess,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			instanceID, tenantID := kitIDs()
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))
			fillFirstUserShard(t, instanceID, tenantID, "user99999")

			var writes atomic.Int32
			failing := receiverWithWriteFault(t, func(_ string, obj client.Object) error {
				if s, ok := obj.(*corev1.Secret); ok && s.Namespace == directoryNamespace && writes.Add(1) == 2 {
					return tc.fault
				}
				return nil
			})
			// user00000 grows by 2 KiB: shard 0 no longer fits, and its last
			// entry, user99999, moves to a new shard.
			body := growUserBody(instanceID, tenantID, "user00000", 2<<10)
			a := postKitTo(t, failing, http.MethodPost, f.product.Name, string(koogallery.KitAuthSync), kitHeaders(t, testKitKey, body), body)
			g.Expect(a.Code).To(Equal(string(tc.first)), a.Msg)
			g.Expect(writes.Load()).To(BeNumerically(">=", 2), "the second shard write was refused")

			expectKit(t, f, koogallery.KitAuthSync, growUserBody(instanceID, tenantID, "user00000", 2<<10))
			_, parts := storedDirectory(t, instanceID, tenantID)
			copies := map[string]int{}
			for _, e := range parts[directory.Users] {
				copies[e.Key]++
			}
			g.Expect(copies).To(Equal(map[string]int{
				"app-1/user00000": 1, "app-1/user00001": 1, "app-1/user00002": 1, "app-1/user99999": 1,
			}))
		})
	}
}

// fillFirstUserShard adds to shard 0 of the directory's users one user,
// name, large enough to leave less than 1 KiB free in the shard.
func fillFirstUserShard(t *testing.T, instanceID, tenantID, name string) {
	t.Helper()
	g := NewWithT(t)
	shard := &corev1.Secret{}
	key := client.ObjectKey{Namespace: directoryNamespace, Name: ShardName(DirectoryName(instanceID, tenantID), directory.Users, 0)}
	g.Expect(k8sClient.Get(ctxFor(t), key, shard)).To(Succeed())
	dataKey := directory.DataKey(directory.Users, 0)
	entries, err := directory.Decode(directory.Users, string(shard.Data[dataKey]))
	g.Expect(err).NotTo(HaveOccurred())
	empty := fmt.Sprintf(`{"appId":"app-1","userName":%q,"name":""}`, name)
	pad := directory.MaxShardBytes - len(directory.Encode(entries)) - len(empty) - 1 - 512
	entries = append(entries, directory.Entry{Key: directory.UserKey("app-1", name),
		JSON: []byte(fmt.Sprintf(`{"appId":"app-1","userName":%q,"name":%q}`, name, strings.Repeat("x", pad)))})
	g.Expect(len(directory.Encode(entries))).To(BeNumerically("<=", directory.MaxShardBytes))
	shard.Data[dataKey] = []byte(directory.Encode(entries))
	shard.Annotations[saasv1alpha1.DirectoryCountAnnotation] = strconv.Itoa(len(entries))
	g.Expect(k8sClient.Update(ctxFor(t), shard)).To(Succeed())
}

// growUserBody is an authSync modify of one user whose name is size bytes.
func growUserBody(instanceID, tenantID, userName string, size int) string {
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"appId":"app-1","userList":[{"userName":%q,"name":%q,"role":"user","enable":"true"}],`+
		`"currentSyncTime":"20220413093539534","flag":2,"testFlag":0,"timeStamp":"20220413093539534"}`,
		instanceID, tenantID, userName, strings.Repeat("y", size))
}

// receiverWithWriteFault serves a second receiver, configured as the
// ordinary one, whose writes (verb "create", "update" or "delete") first
// pass through fault: an error it returns is the write's answer, as if
// from the API server, and the write is not made. It returns the base URL.
func receiverWithWriteFault(t *testing.T, fault func(verb string, obj client.Object) error) string {
	t.Helper()
	g := NewWithT(t)
	direct, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: testEnv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	faulty := interceptor.NewClient(direct, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := fault("create", obj); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := fault("update", obj); err != nil {
				return err
			}
			return c.Update(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if err := fault("delete", obj); err != nil {
				return err
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	r, err := NewReceiver(faulty, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	return server.URL
}

// recordedSyncCase is a kit sync that changes a directory's shards, then
// records itself on the directory: arranged by one call, then made.
type recordedSyncCase struct {
	name    string
	arrange func(instanceID, tenantID string) (koogallery.KitInterface, string)
	call    koogallery.KitInterface
	body    func(instanceID, tenantID string) string
	flag    int32 // the recorded sync's flag
}

// recordedSyncCases are the three kinds of sync that change shards.
func recordedSyncCases() []recordedSyncCase {
	single := func(instanceID, tenantID, code string, flag int) string {
		return `{"instanceId":"` + instanceID + `","tenantId":"` + tenantID + `","orgCode":"` + code +
			`","orgName":"N","parentCode":"hq","flag":` + strconv.Itoa(flag) + `,"testFlag":0,"timeStamp":"1"}`
	}
	return []recordedSyncCase{{
		name: "authSync cancelling authorisations",
		arrange: func(i, t string) (koogallery.KitInterface, string) {
			return koogallery.KitAuthSync, authSyncBody(i, t, 0, 3, 1)
		},
		call: koogallery.KitAuthSync, body: func(i, t string) string { return authSyncBody(i, t, 0, 2, 3) }, flag: 3,
	}, {
		name: "singleOrgSync deleting a department",
		arrange: func(i, t string) (koogallery.KitInterface, string) {
			return koogallery.KitAllOrgSync, allOrgSyncBody(i, t, orgsJSON("hq", "a", "b"))
		},
		call: koogallery.KitSingleOrgSync, body: func(i, t string) string { return single(i, t, "a", 0) }, flag: 0,
	}, {
		name: "allOrgSync replacing the tree",
		arrange: func(i, t string) (koogallery.KitInterface, string) {
			return koogallery.KitAllOrgSync, allOrgSyncBody(i, t, orgsJSON("hq", "a", "b"))
		},
		call: koogallery.KitAllOrgSync, body: func(i, t string) string { return allOrgSyncBody(i, t, orgsJSON("hq", "a")) }, flag: -1,
	}}
}
