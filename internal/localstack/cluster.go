package localstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// Kubectl runs kubectl against the local cluster as an administrator.
func (s *Stack) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Cluster.Tools.Kubectl, append([]string{"--kubeconfig", s.Cluster.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// TenantForOrder returns the SaaSTenant an order created, or nil.
func (s *Stack) TenantForOrder(ctx context.Context, orderID string) (*saasv1alpha1.SaaSTenant, error) {
	list := &saasv1alpha1.SaaSTenantList{}
	if err := s.Client.List(ctx, list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Spec.OrderID == orderID {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// ToolPath is a PATH prefix holding the kubectl and Helm built for the
// cluster.
func (s *Stack) ToolPath() string {
	return filepath.Dir(s.Cluster.Tools.Kubectl) + string(os.PathListSeparator) + filepath.Dir(s.Cluster.Tools.Helm)
}
