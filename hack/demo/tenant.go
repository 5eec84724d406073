package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/localstack"
)

// buyTenant buys the sample product through the simulator, which polls
// queryInstance until appInfo arrives, then waits for the tenant's Ready
// condition.
func buyTenant(ctx context.Context, stack *localstack.Stack, clock *phaseClock) (*saasv1alpha1.SaaSTenant, error) {
	orderID := fmt.Sprintf("DEMO%d", time.Now().Unix())
	clock.logf("Buying the sample product %q: order %s through the simulator", localstack.Product, orderID)
	out, err := stack.Buy(ctx, orderID, "", 3*time.Minute)
	fmt.Println(indent(out))
	if err != nil {
		return nil, err
	}
	clock.logf("Waiting for the tenant to be Ready")
	var tenant *saasv1alpha1.SaaSTenant
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := stack.CheckProcesses(); err != nil {
			return false, err
		}
		t, err := stack.TenantForOrder(ctx, orderID)
		if err != nil || t == nil {
			return false, nil
		}
		tenant = t
		return apimeta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition), nil
	})
	if err != nil {
		return nil, fmt.Errorf("the tenant of order %s did not become Ready: %w", orderID, err)
	}
	clock.logf("Tenant %s is Ready; showing what kooper made for it", tenant.Name)
	return tenant, nil
}

// show prints the tenant and what kooper made for it.
func show(ctx context.Context, stack *localstack.Stack, t *saasv1alpha1.SaaSTenant) error {
	ready := apimeta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ReadyCondition)
	fmt.Printf("\nTenant %s (order %s), plan %s, expires %s\n", t.Name, t.Spec.OrderID, t.Status.SKUCode, t.Status.ExpireTime)
	fmt.Printf("  Ready: %s\n  front end: %s\n  admin:     %s\n  namespace: %s\n  credentials Secret: %s/%s\n",
		ready.Message, t.Status.FrontEndURL, t.Status.AdminURL, t.Status.Namespace, t.Status.Namespace, t.Status.CredentialsSecretName)
	for _, args := range [][]string{
		{"get", "saastenants", "-o", "wide"},
		{"get", "deployment,pods,service,ingress,pvc,resourcequota,networkpolicy", "-n", t.Status.Namespace},
		// The sample product's configuration file, rendered for this tenant.
		{"get", "configmap", "kooper-config", "-n", t.Status.Namespace, "-o", `jsonpath={.data.crm\.yaml}`},
	} {
		out, err := stack.Kubectl(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Printf("\n$ kubectl %s\n%s", strings.Join(args, " "), out)
	}
	// The same through kooper's kubectl plugin (hack/kubectl-kooper).
	for _, args := range [][]string{{"tenants", "-o", "wide"}, {"describe", t.Name}} {
		cmd := exec.CommandContext(ctx, stack.Binary("kubectl-kooper"), append([]string{"--kubeconfig", stack.Cluster.Kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("kubectl kooper %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		fmt.Printf("\n$ kubectl kooper %s\n%s", strings.Join(args, " "), out)
	}
	return nil
}

// printExplore prints the commands to look around while the demo runs.
func printExplore(stack *localstack.Stack, t *saasv1alpha1.SaaSTenant) {
	fmt.Printf(`
Explore (in another terminal, from the repository root):
  export KUBECONFIG=%s
  export PATH=%s:%s:$PATH   # kubectl and helm built for the cluster; kubectl-kooper
  kubectl get saasproducts,saastenants
  kubectl kooper tenants
  kubectl kooper describe %s
  kubectl kooper check --receiver-url %s   # the receiver runs on this machine, not in a Pod
  kubectl get all -n %s
  kubectl get secret -n %s %s -o jsonpath='{.data.password}' | base64 -d; echo
  helm list -n %s

Drive the marketplace (the sample product's key is the spec's test key):
  export KOOPER_SIM_URL=%s KOOPER_SIM_KEY=%s
  bin/demo/bin/marketplace-sim query-instance --instance-id %s
  bin/demo/bin/marketplace-sim freeze --instance-id %s
  bin/demo/bin/marketplace-sim new-instance --sim-url %s --wait 2m
  # The cluster has %d volumes, one per tenant of the sample product: later purchases
  # are stored and answered, but their tenants wait for a volume (kubectl kooper describe).

Metrics: %s (receiver), %s (controllers)
Logs of every process: %s
`, stack.Cluster.Kubeconfig, stack.ToolPath(), filepath.Dir(stack.Binary("kubectl-kooper")), t.Name,
		strings.TrimSuffix(stack.ReceiverURL, "/koogallery/"+localstack.Product), t.Status.Namespace, t.Status.Namespace, t.Status.CredentialsSecretName,
		localstack.Namespace, stack.ReceiverURL, localstack.BasicKey, t.Name, t.Name, stack.SimURL, localstack.DataVolumes, stack.MetricsURL, stack.ControllersMetricsURL, stack.LogDir())
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
