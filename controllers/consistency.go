package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// cacheCatchUpTimeout bounds how long a read of one of kooper's own objects
// waits for the cache to show this process's last write to it. The wait is
// milliseconds while the watch is healthy; past the bound the read fails
// and the reconcile is retried, rather than deciding on an older copy.
const cacheCatchUpTimeout = 10 * time.Second

// readYourWrites returns a client like the manager's whose reads of
// kooper's own kinds (SaaSProduct, SaaSTenant, License, SaaSDirectory) wait
// until the cache holds this process's last write to the object read:
// controller-runtime's read-your-writes consistency, applied where kooper
// writes and then reads back. Without it, the reconcile a status write
// triggers can start on the cached copy from before that write, redo what
// the last pass did (a tombstone read, a create answered AlreadyExists) and
// lose its own status write to a conflict.
//
// Every other kind goes through the manager's client unchanged: tenant
// objects are written in namespaces the cache does not watch (Secrets,
// ConfigMaps), and controller-runtime's consistency would register on
// their informers a wait no event ever ends.
func readYourWrites(mgr ctrl.Manager) (client.Client, error) {
	consistent, err := client.New(mgr.GetConfig(), client.Options{
		HTTPClient: mgr.GetHTTPClient(),
		Scheme:     mgr.GetScheme(),
		Mapper:     mgr.GetRESTMapper(),
		Cache: &client.CacheOptions{
			Reader:                          mgr.GetCache(),
			EnableReadYourWritesConsistency: ptr.To(true),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to build the read-your-writes client: %w", err)
	}
	return &ownKindsRouter{Client: mgr.GetClient(), own: consistent}, nil
}

// ownKindsRouter sends requests about kooper's own kinds to own, and every
// other request to the embedded client.
type ownKindsRouter struct {
	client.Client
	own client.Client
}

// isOwn reports whether obj (an object or a list) is of kooper's API group.
func (r *ownKindsRouter) isOwn(obj runtime.Object) bool {
	gvk, err := apiutil.GVKForObject(obj, r.Scheme())
	return err == nil && gvk.Group == saasv1alpha1.GroupVersion.Group
}

func (r *ownKindsRouter) pick(obj runtime.Object) client.Client {
	if r.isOwn(obj) {
		return r.own
	}
	return r.Client
}

func (r *ownKindsRouter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if !r.isOwn(obj) {
		return r.Client.Get(ctx, key, obj, opts...)
	}
	ctx, cancel := context.WithTimeout(ctx, cacheCatchUpTimeout)
	defer cancel()
	return r.own.Get(ctx, key, obj, opts...)
}

func (r *ownKindsRouter) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if !r.isOwn(list) {
		return r.Client.List(ctx, list, opts...)
	}
	ctx, cancel := context.WithTimeout(ctx, cacheCatchUpTimeout)
	defer cancel()
	return r.own.List(ctx, list, opts...)
}

func (r *ownKindsRouter) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	return r.pick(obj).Create(ctx, obj, opts...)
}

func (r *ownKindsRouter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return r.pick(obj).Update(ctx, obj, opts...)
}

func (r *ownKindsRouter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	return r.pick(obj).Patch(ctx, obj, patch, opts...)
}

func (r *ownKindsRouter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	return r.pick(obj).Delete(ctx, obj, opts...)
}

func (r *ownKindsRouter) Status() client.SubResourceWriter {
	return r.SubResource("status")
}

func (r *ownKindsRouter) SubResource(subResource string) client.SubResourceClient {
	return &ownKindsSubResourceRouter{router: r, subResource: subResource}
}

// ownKindsSubResourceRouter routes a subresource's requests as
// ownKindsRouter routes the object's.
type ownKindsSubResourceRouter struct {
	router      *ownKindsRouter
	subResource string
}

func (s *ownKindsSubResourceRouter) of(obj runtime.Object) client.SubResourceClient {
	return s.router.pick(obj).SubResource(s.subResource)
}

func (s *ownKindsSubResourceRouter) Get(ctx context.Context, obj, subResource client.Object, opts ...client.SubResourceGetOption) error {
	return s.of(obj).Get(ctx, obj, subResource, opts...)
}

func (s *ownKindsSubResourceRouter) Create(ctx context.Context, obj, subResource client.Object, opts ...client.SubResourceCreateOption) error {
	return s.of(obj).Create(ctx, obj, subResource, opts...)
}

func (s *ownKindsSubResourceRouter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.of(obj).Update(ctx, obj, opts...)
}

func (s *ownKindsSubResourceRouter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.of(obj).Patch(ctx, obj, patch, opts...)
}

func (s *ownKindsSubResourceRouter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	// Apply configurations carry no Go type to route by; kooper applies
	// none to its own kinds' subresources.
	return s.router.Client.SubResource(s.subResource).Apply(ctx, obj, opts...)
}
