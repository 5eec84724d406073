package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// A kit sync reads its enterprise's directory, then writes it. The
// controllers may delete the directory in between (a delete answered a
// moment before): each case makes that happen, against the real API
// server, just before the receiver's first write of the directory.
func TestAKitSyncWhoseDirectoryIsDeletedBeforeItsWriteGetsTheAnswerAskedFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		// arrange brings the directory to the state the call finds, through
		// the ordinary receiver.
		arrange    func(t *testing.T, f *fixture, instanceID, tenantID string)
		call       koogallery.KitInterface
		body       func(instanceID, tenantID string) string
		want       koogallery.ResultCode
		wantActive bool // a new directory holds the call's change
	}{{
		// CI's input: tenantSync delete, add; the add read the directory
		// marked Deleted and the controllers deleted it before the write.
		name: "an add after a delete starts a new directory",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) {
			expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
			expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 0))
		},
		call: koogallery.KitTenantSync, body: func(i, t string) string { return tenantSyncBody(i, t, 1) },
		want: koogallery.ResultSuccess, wantActive: true,
	}, {
		name: "a delete is done",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) {
			expectKit(t, f, koogallery.KitTenantSync, tenantSyncBody(instanceID, tenantID, 1))
		},
		call: koogallery.KitTenantSync, body: func(i, t string) string { return tenantSyncBody(i, t, 0) },
		want: koogallery.ResultSuccess,
	}, {
		name: "removing users is done",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) {
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))
		},
		call: koogallery.KitAuthSync, body: func(i, t string) string { return authSyncBody(i, t, 0, 2, 0) },
		want: koogallery.ResultSuccess,
	}, {
		// The users were written into shards the deleted directory owned:
		// the call fails, and the buyer's sync again starts a new directory.
		name: "adding users is retried",
		arrange: func(t *testing.T, f *fixture, instanceID, tenantID string) {
			expectKit(t, f, koogallery.KitAuthSync, authSyncBody(instanceID, tenantID, 0, 3, 1))
		},
		call: koogallery.KitAuthSync, body: func(i, t string) string { return authSyncBody(i, t, 3, 5, 1) },
		want: koogallery.ResultInternalError,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			instanceID, tenantID := kitIDs()
			tc.arrange(t, f, instanceID, tenantID)
			key := types.NamespacedName{Name: DirectoryName(instanceID, tenantID)}
			old := &saasv1alpha1.SaaSDirectory{}
			g.Expect(k8sClient.Get(ctxFor(t), key, old)).To(Succeed())

			racing := receiverDeletingDirectoriesBeforeTheirFirstWrite(t)
			body := tc.body(instanceID, tenantID)
			a := postKitTo(t, racing, http.MethodPost, f.product.Name, string(tc.call), kitHeaders(t, testKitKey, body), body)
			g.Expect(a.Code).To(Equal(string(tc.want)), a.Msg)

			// Whatever the call wrote for the deleted directory is gone with
			// it: nothing else would delete users' data a sync wrote after
			// the controllers deleted the directory's shards.
			left := &corev1.SecretList{}
			g.Expect(k8sClient.List(ctxFor(t), left, client.InNamespace(directoryNamespace),
				client.MatchingLabels{saasv1alpha1.DirectoryLabel: key.Name})).To(Succeed())
			for _, s := range left.Items {
				g.Expect(saasv1alpha1.ShardBelongsTo(&s, old)).To(BeFalse(), "shard %s of the deleted directory is left", s.Name)
			}

			d := &saasv1alpha1.SaaSDirectory{}
			err := k8sClient.Get(ctxFor(t), key, d)
			if !tc.wantActive {
				g.Expect(client.IgnoreNotFound(err)).To(Succeed())
				g.Expect(err).To(HaveOccurred(), "nothing is created to be deleted again")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.UID).NotTo(Equal(old.UID), "a new directory")
			g.Expect(d.Spec.State).To(Equal(saasv1alpha1.DirectoryActive))
		})
	}
}

// expectKit sends a kit call to the ordinary receiver and expects 000000.
func expectKit(t *testing.T, f *fixture, name koogallery.KitInterface, body string) {
	t.Helper()
	a := f.kit(t, name, body)
	NewWithT(t).Expect(a.Code).To(Equal(string(koogallery.ResultSuccess)), "%s: %s", name, a.Msg)
}

// receiverDeletingDirectoriesBeforeTheirFirstWrite serves a second
// receiver, configured as the ordinary one, whose first update of a
// SaaSDirectory is preceded by that directory's deletion as the
// controllers carry it out (delete, then remove the finalizer). It returns
// the receiver's base URL.
func receiverDeletingDirectoriesBeforeTheirFirstWrite(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	direct, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: testEnv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	var done atomic.Bool
	racing := interceptor.NewClient(direct, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if d, ok := obj.(*saasv1alpha1.SaaSDirectory); ok && done.CompareAndSwap(false, true) {
				if err := deleteDirectoryAsControllersDo(ctx, d.Name); err != nil {
					return err
				}
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	r, err := NewReceiver(racing, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	server := httptest.NewServer(r.Handler())
	t.Cleanup(server.Close)
	return server.URL
}

// deleteDirectoryAsControllersDo deletes a directory and removes its
// finalizer. It runs inside the receiver's call, so it returns its error
// (the call fails with it) rather than failing the test from there.
func deleteDirectoryAsControllersDo(ctx context.Context, name string) error {
	d := &saasv1alpha1.SaaSDirectory{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, d); err != nil {
		return err
	}
	if err := k8sClient.Delete(ctx, d); err != nil {
		return err
	}
	patch := client.MergeFrom(d.DeepCopy())
	controllerutil.RemoveFinalizer(d, saasv1alpha1.DirectoryFinalizer)
	return k8sClient.Patch(ctx, d, patch)
}
