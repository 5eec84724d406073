package webhook

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kooper-io/kooper/internal/testenv"
)

// The receiver runs as in production: on a manager whose cache serves its
// reads, behind the real HTTP server, against a real API server.
const operatorNamespace = "kooper-test"

// directoryNamespace is where the receiver writes directory shards, apart
// from kooper's own, as in production.
const directoryNamespace = "kooper-test-directory"

var (
	testEnv     *testenv.Env
	k8sClient   client.Client // direct, for arranging and checking
	receiver    *Receiver
	receiverURL string
	// receiverRequests records the LISTs of directories' ConfigMaps and the
	// creates of SaaSTenants that the receiver sends, to prove which it
	// skips.
	receiverRequests = testenv.NewRequestLog(testenv.AnyOf(testenv.DirectoryConfigMapLists, testenv.Creates("saastenants"), orderNotificationRequests))
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	os.Exit(testenv.RunTests(m, startReceiver))
}

func startReceiver(ctx context.Context, env *testenv.Env) error {
	testEnv = env
	var err error
	if k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	for _, ns := range []string{operatorNamespace, directoryNamespace} {
		if err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	mgr, err := newManager(env)
	if err != nil {
		return err
	}
	opts := DefaultOptions()
	opts.Namespace, opts.DirectoryNamespace = operatorNamespace, directoryNamespace
	serverOpts := DefaultServerOptions()
	serverOpts.Addr, serverOpts.DrainDelay = "127.0.0.1:0", 0 // no endpoints to leave: stop at once
	var server *Server
	if receiver, server, err = Setup(mgr, opts, serverOpts); err != nil {
		return err
	}
	receiverURL, err = testenv.StartServing(ctx, mgr, server.Addr)
	return err
}

// newManager is a manager shaped like main.go's, without probes or metrics.
func newManager(env *testenv.Env) (ctrl.Manager, error) {
	return ctrl.NewManager(receiverRequests.Config(env.Config), ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{operatorNamespace: {}}},
		}},
	})
}
