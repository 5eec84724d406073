package v1alpha1_test

import (
	"context"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/testenv"
)

// The tests of this package check the generated CRD schemas against a real
// kube-apiserver: what the fake client cannot do (CEL, enums, bounds, defaults).
var (
	env       *testenv.Env
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	os.Exit(testenv.RunTests(m, func(_ context.Context, e *testenv.Env) error {
		env = e
		var err error
		k8sClient, err = client.New(e.Config, client.Options{Scheme: e.Scheme})
		return err
	}))
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
