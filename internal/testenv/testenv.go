// Package testenv starts a real kube-apiserver and etcd (envtest) with
// kooper's CRDs installed, for the integration tests of every package. The
// binaries are the ones hack/build-tools.sh builds into bin/envtest.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// AssetsEnv names the environment variable that overrides where the envtest
// binaries (kube-apiserver, etcd, kubectl) are; the Makefile sets it.
const AssetsEnv = "KOOPER_ENVTEST_ASSETS"

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Scheme knows the built-in kinds and kooper's.
	Scheme *runtime.Scheme
}

// Start starts etcd and kube-apiserver and installs kooper's CRDs. Call Stop
// when done.
func Start() (*Env, error) {
	return StartWith(nil)
}

// StartWith is Start with a chance to configure the environment first, for
// example the API server's flags or stop timeout.
func StartWith(configure func(*envtest.Environment)) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		// kube-apiserver stops gracefully only after its open watches end,
		// which can take the default 20 s; a test's data is thrown away, so
		// it is killed after a short wait instead.
		ControlPlaneStopTimeout: 3 * time.Second,
	}
	// envtest's default service range (a /24) holds 254 Services: too few
	// for the benchmarks' hundreds of tenants.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	if configure != nil {
		configure(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("failed to start envtest with binaries from %s: %w", assets, err)
	}
	return &Env{Environment: env, Config: cfg, Scheme: scheme}, nil
}

// NewScheme returns a scheme with the built-in kinds and kooper's.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := saasv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// RepoRoot is the directory holding go.mod, found from the working directory
// up, so tests work from any package.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// assetsDir is where the envtest binaries are; it fails with a hint when they
// have not been built yet.
func assetsDir(root string) (string, error) {
	dir := os.Getenv(AssetsEnv)
	if dir == "" {
		dir = filepath.Join(root, "bin", "envtest")
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run 'make envtest-assets' first (%w)", name, dir, err)
		}
	}
	return dir, nil
}
