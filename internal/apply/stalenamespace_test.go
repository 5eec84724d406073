package apply

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// staleNamespaceMiss is what kube-apiserver 1.30 to 1.34 without
// kubernetes/kubernetes#135359 (1.35; 1.32.11, 1.33.7, 1.34.3) answers a
// create in a namespace its ValidatingAdmissionPolicy informer has not
// seen yet: its namespace lister's NotFound, resource "namespace".
func staleNamespaceMiss(namespace string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "namespace"}, namespace)
}

// namespaceGone is what any kube-apiserver answers a create in a namespace
// that is not there (NamespaceLifecycle's live read).
func namespaceGone(namespace string) error {
	return apierrors.NewNotFound(corev1.Resource("namespaces"), namespace)
}

// answering is a Create that answers the first misses creates with err(the
// object's namespace), then creates, counting every create in n.
func answering(n *int, misses int, err func(namespace string) error) interceptor.Funcs {
	return interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		*n++
		if *n <= misses {
			return err(obj.GetNamespace())
		}
		return c.Create(ctx, obj, opts...)
	}}
}

// kube-apiserver 1.30 to 1.34 unpatched can refuse the first create in a
// namespace made a moment before, its admission policy's informer not
// having seen it: the create is tried again in the same pass, so that the
// tenant neither shows Provisioned=False with that message nor pays for a
// second pass of server-side applies.
func TestACreateInAFreshNamespaceRetriesTheAPIServersStaleNamespaceMiss(t *testing.T) {
	for _, tc := range []struct {
		name string
		miss func(namespace string) error
	}{
		{name: "the admission policy's lister miss", miss: staleNamespaceMiss},
		{name: "the namespace lifecycle's miss", miss: namespaceGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creates := 0
			a, n := newApplier(t, answering(&creates, 1, tc.miss))
			a.FreshNamespace, a.CreatedAnnotation, a.HashAnnotation = true, "example.com/fields-owner", "example.com/hash"
			wrote, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !wrote || creates != 2 || n.gets != 0 || n.applies != 0 {
				t.Errorf("wrote %v with %d creates, %d reads, %d applies; want written with 2 creates, no read, no apply", wrote, creates, n.gets, n.applies)
			}
			stored := &corev1.ConfigMap{}
			if err := a.Client.Get(context.Background(), client.ObjectKey{Namespace: "tenant-a", Name: "app"}, stored); err != nil {
				t.Fatal(err)
			}
			if stored.Annotations["example.com/fields-owner"] != CreatedValue || stored.Data["a"] != "1" {
				t.Errorf("stored %v %v, want a=1, marked created", stored.Annotations, stored.Data)
			}
		})
	}
}

// A namespace that really is gone fails the create after a bounded number
// of tries (about a second), with the API server's NotFound; a NotFound
// that names anything else than the object's namespace (a missing
// ServiceAccount, a webhook's own answer) is not tried again at all.
func TestACreateInAGoneNamespaceFailsAfterTheBound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		miss        func(namespace string) error
		wantCreates int
	}{
		{name: "its namespace gone", miss: namespaceGone, wantCreates: staleNamespaceBackoff.Steps},
		{name: "another namespace", miss: func(string) error { return namespaceGone("elsewhere") }, wantCreates: 1},
		{name: "another kind", miss: func(namespace string) error {
			return apierrors.NewNotFound(corev1.Resource("serviceaccounts"), namespace)
		}, wantCreates: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creates := 0
			a, n := newApplier(t, answering(&creates, 1000, tc.miss))
			a.FreshNamespace, a.CreatedAnnotation = true, "example.com/fields-owner"
			start := time.Now()
			wrote, err := a.Apply(context.Background(), configMap(map[string]string{"a": "1"}, nil))
			took := time.Since(start)
			if !apierrors.IsNotFound(err) || wrote {
				t.Fatalf("wrote %v, err %v; want the API server's NotFound", wrote, err)
			}
			if creates != tc.wantCreates || n.applies != 0 {
				t.Errorf("%d creates, %d applies; want %d creates, no apply", creates, n.applies, tc.wantCreates)
			}
			if took > 2*time.Second {
				t.Errorf("took %s; want about a second at most", took)
			}
		})
	}
}

// A create whose context ends while it waits to try again stops waiting,
// and says what the API server answered.
func TestACreateStopsRetryingWhenItsContextEnds(t *testing.T) {
	creates := 0
	a, _ := newApplier(t, answering(&creates, 1000, namespaceGone))
	a.FreshNamespace, a.CreatedAnnotation = true, "example.com/fields-owner"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Apply(ctx, configMap(map[string]string{"a": "1"}, nil))
	if !apierrors.IsNotFound(err) || creates != 1 {
		t.Errorf("%d creates, err %v; want 1 create and the API server's NotFound", creates, err)
	}
}
