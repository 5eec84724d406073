package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// cachedKinds are what the receiver reads through the cache; their
// informers start with the manager, so the first callback does not wait
// for one to sync.
func cachedKinds() []client.Object {
	return []client.Object{&saasv1alpha1.SaaSProduct{}, &saasv1alpha1.SaaSTenant{}, &saasv1alpha1.License{},
		&corev1.Secret{}, &corev1.ConfigMap{}}
}

// The metrics endpoint's authentication and authorisation (main.go,
// --metrics-secure): each scrape's bearer token is checked with a
// TokenReview and its GET on /metrics with a SubjectAccessReview.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Setup serves the callback receiver from mgr on its own HTTP server, as
// production runs it: on every replica, never leader-elected, reading
// through mgr's cache (Licenses indexed by product, unless the controllers,
// set up first on a shared mgr, indexed them so) and its API reader,
// recording Events as kooper-receiver unless opts.Recorder is set, and
// deleting a product's callback series when its SaaSProduct is deleted;
// the series the alerts watch from the receiver's start exist from here
// (createReceiverSeries), not in a process that does not run it. main.go
// and every test suite that runs the receiver call it. It returns the receiver and its
// server, whose Addr says where it listens once the manager has started;
// the error is an invalid opts, an informer (or its handler, or its index)
// that could not be set up, or the manager's refusal of the server.
func Setup(mgr ctrl.Manager, opts Options, serverOpts ServerOptions) (*Receiver, *Server, error) {
	for _, obj := range cachedKinds() {
		informer, err := mgr.GetCache().GetInformer(context.Background(), obj)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to watch %T: %w", obj, err)
		}
		if _, isProduct := obj.(*saasv1alpha1.SaaSProduct); !isProduct {
			continue
		}
		// A series is kept until it is deleted: without this, a deleted
		// product's stayed on dashboards until the process restarted.
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: forgetDeletedProduct}); err != nil {
			return nil, nil, fmt.Errorf("failed to watch deletions of SaaSProducts: %w", err)
		}
	}
	if err := indexLicencesByProduct(context.Background(), mgr); err != nil {
		return nil, nil, err
	}
	if opts.Recorder == nil {
		opts.Recorder = mgr.GetEventRecorder("kooper-receiver")
	}
	receiver, err := NewReceiver(mgr.GetClient(), mgr.GetAPIReader(), opts)
	if err != nil {
		return nil, nil, err
	}
	server := NewServer(serverOpts, receiver.Handler())
	if err := mgr.Add(server); err != nil {
		return nil, nil, err
	}
	createReceiverSeries()
	return receiver, server, nil
}

// forgetDeletedProduct deletes the series of the product an informer's
// delete event names (forgetProduct): the SaaSProduct, or the tombstone
// (cache.DeletedFinalStateUnknown) left when the watch missed the delete
// and a relist found the product gone.
func forgetDeletedProduct(obj any) {
	name, err := toolscache.DeletionHandlingObjectToName(obj)
	if err != nil {
		return // not an object, so it names no product
	}
	forgetProduct(name.Name)
}
