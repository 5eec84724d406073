package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// apiServer is etcd and kube-apiserver (envtest) with kooper's CRDs and
// namespaces: the least that kooper starts against. The rest of the local
// cluster (controller-manager, scheduler, kwok) plays no part in kooper
// becoming ready.
type apiServer struct {
	env *envtest.Environment
	// kubeconfig is the path of an administrator's kubeconfig, with the
	// certificates inside, readable by the container's user.
	kubeconfig string
}

// startAPIServer starts it with the binaries in assets (bin/envtest), the
// CRDs of root/config/crd/bases, and namespaces, and writes its kubeconfig
// into dir.
func startAPIServer(ctx context.Context, root, assets, dir string, namespaces ...string) (*apiServer, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		// The data is thrown away: no need for a graceful stop.
		ControlPlaneStopTimeout: 3 * time.Second,
	}
	if _, err := env.Start(); err != nil {
		return nil, fmt.Errorf("failed to start etcd and kube-apiserver from %s (make envtest-assets builds them): %w", assets, err)
	}
	s := &apiServer{env: env}
	if err := s.setUp(ctx, dir, namespaces); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return s, nil
}

func (s *apiServer) setUp(ctx context.Context, dir string, namespaces []string) error {
	user, err := s.env.AddUser(envtest.User{Name: "kooper-smoke", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	s.kubeconfig = filepath.Join(dir, "kubeconfig")
	// 0444: the container's user (65532) reads it through a read-only
	// bind mount, as a Secret volume's files are readable by the Pod.
	if err := os.WriteFile(s.kubeconfig, data, 0o444); err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		return err
	}
	for _, name := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("failed to create namespace %s: %w", name, err)
		}
	}
	return nil
}

func (s *apiServer) stop() error { return s.env.Stop() }
