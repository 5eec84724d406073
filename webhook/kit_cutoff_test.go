package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// A kit sync runs under one deadline (the API timeout, part of which it may
// spend waiting for a slot) and ends early when its client hangs up. Cut
// off after its shards were written but before the directory recorded the
// sync, it left the change in the shards, where the controllers never
// deliver it (they watch the directory's generation), and answered 000005;
// a resend of the call is refused as a replay, so a cancelled user stayed
// admitted by the SSO gateway until some later sync.
func TestAKitSyncCutOffAfterItsShardsIsStillRecorded(t *testing.T) {
	for _, tc := range recordedSyncCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newKitFixture(t)
			instanceID, tenantID := kitIDs()
			arrangeCall, arrangeBody := tc.arrange(instanceID, tenantID)
			expectKit(t, f, arrangeCall, arrangeBody)
			before, _ := storedDirectory(t, instanceID, tenantID)

			cutting, cut := receiverCutOffAfterShardWrites(t)
			body := tc.body(instanceID, tenantID)
			a := postKitTo(t, cutting, http.MethodPost, f.product.Name, string(tc.call), kitHeaders(t, testKitKey, body), body)
			g.Expect(cut.Load()).To(BeTrue(), "the call was cut off after a shard write")

			after, _ := storedDirectory(t, instanceID, tenantID)
			g.Expect(after.Generation).To(BeNumerically(">", before.Generation), "the directory controller sees a new generation")
			g.Expect(after.Spec.LastSync).NotTo(BeNil())
			g.Expect(after.Spec.LastSync.Sequence).To(BeNumerically(">", before.Spec.LastSync.Sequence), "the sync is recorded")
			g.Expect(after.Spec.LastSync.Interface).To(BeEquivalentTo(tc.call))
			g.Expect(a.Code).To(Equal(string(koogallery.ResultSuccess)), "the sync was stored and recorded: %s", a.Msg)
		})
	}
}

// cutOffKey is the context key of the function that cancels a request's
// context in receiverCutOffAfterShardWrites.
type cutOffKey struct{}

// receiverCutOffAfterShardWrites serves a second receiver, configured as the
// ordinary one, whose request's context is cancelled (as when its deadline
// passes or its client hangs up) right after each directory shard it
// writes. It returns the base URL and whether a request was cut off.
func receiverCutOffAfterShardWrites(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	g := NewWithT(t)
	direct, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: testEnv.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	cut := &atomic.Bool{}
	cutAfterShard := func(ctx context.Context, obj client.Object, err error) error {
		if s, ok := obj.(*corev1.Secret); ok && err == nil && s.Namespace == directoryNamespace {
			if cancel, ok := ctx.Value(cutOffKey{}).(context.CancelFunc); ok {
				cancel()
				cut.Store(true)
			}
		}
		return err
	}
	cutting := interceptor.NewClient(direct, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return cutAfterShard(ctx, obj, c.Create(ctx, obj, opts...))
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return cutAfterShard(ctx, obj, c.Update(ctx, obj, opts...))
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return cutAfterShard(ctx, obj, c.Delete(ctx, obj, opts...))
		},
	})
	r, err := NewReceiver(cutting, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	handler := r.Handler()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithCancel(req.Context())
		defer cancel()
		handler.ServeHTTP(w, req.WithContext(context.WithValue(ctx, cutOffKey{}, cancel)))
	}))
	t.Cleanup(server.Close)
	return server.URL, cut
}
