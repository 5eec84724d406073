// Package e2e is kooper's end-to-end test: the local cluster (etcd,
// kube-apiserver, controller-manager, scheduler and kwok), the chart
// installed with Helm, its receiver and its controllers each running as
// its own Deployment's ServiceAccount, and the marketplace simulator
// driving a tenant through its whole life.
// It runs with `make e2e` (go test ./hack/e2e -args -e2e); plain `go test
// ./...` skips it.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/localstack"
	"github.com/kooper-io/kooper/internal/testenv"
)

var enabled = flag.Bool("e2e", false, "run the end-to-end test on a local cluster (make e2e)")

// The sample product's plans (config/samples/saas_v1alpha1_saasproduct.yaml).
const (
	basicSKU = "0a4d1578-5295-46a7-92d4-7c803dccc51d"
	proSKU   = "7c1e2f3a-9b8d-4c6e-a5f4-3d2c1b0a9e8f"
)

func TestEndToEnd(t *testing.T) {
	if !*enabled {
		t.Skip("the end-to-end test runs with make e2e (go test ./hack/e2e -args -e2e)")
	}
	SetDefaultEventuallyTimeout(90 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stack, err := localstack.Start(ctx, localstack.Options{
		Root: root, Dir: filepath.Join(root, "bin", "e2e"), Nodes: 3, Logf: t.Logf,
		// The highest verbosity, so that testNoPersonalData greps debug lines too.
		Values: map[string]any{"logLevel": "10"},
	})
	if err != nil {
		t.Fatalf("failed to start the local stack: %v", err)
	}
	e := &env{ctx: ctx, stack: stack}
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpState()
		}
		if err := stack.Stop(); err != nil {
			t.Errorf("failed to stop the local stack: %v", err)
		}
	})

	steps := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"the chart is installed and each component runs as its own ServiceAccount", testChartInstalled},
		{"each component's account is refused what it may not do", testDeniedRows},
		{"kooper's own NetworkPolicies and metrics Services are as the chart says", testOwnPolicies},
		{"the release's helm test hook gets 000003 from the receiver", testHelmTestHook},
		{"kubectl kooper check passes on the installed chart", testKubectlKooperCheck},
		{"a purchase becomes a Ready tenant", testPurchase},
		{"kubectl kooper lists and describes the tenant", testKubectlKooperTenants},
		{"a second purchase, kept until the end", testSecondPurchase},
		{"the tenant NetworkPolicy: DNS, the namespace and the product's allow list", testTenantNetworkPolicy},
		{"an upgrade changes resources and rolls out, one replica on its one-node volume", testUpgrade},
		{"a freeze scales to zero and keeps the data", testFreeze},
		{"an unfreeze brings the workload back", testUnfreeze},
		{"a renewal moves the expiry", testRenewal},
		{"a FREEZE retried after the renewal is answered and not applied", testStaleFreeze},
		{"a freeze after the tenant's plan is retired still stops it", testFreezeAfterPlanRetired},
		{"an order notification is answered 000000, resolved and summarised in the product's status; a repeat makes no second record", testOrderNotify},
		{"the simulator's conformance run passes", testConformance},
		{"personal data of a kit sync reaches no log, Event or status", testNoPersonalData},
		{"the directory is Secrets only, and a tenantSync delete deletes it with its data", testDirectoryDeleted},
		{"a licence product: bought, verified offline, renewed, revoked", testLicence},
		{"a chart product: every part bought, frozen, unfrozen, upgraded and released together", testChartTenant},
		{"a new version reaches ten tenants in waves, pauses on a wave that is never Ready, and a good one completes", testRollout},
		{"a release removes the workload, then the namespace after retention", testRelease},
		{"a tenant deleted by hand is still answered, and never provisioned again", testHandDeletion},
		{"neither component was refused a request through the lifecycle", testNothingForbidden},
		{"helm upgrade keeps tenants, CRDs and the product", testHelmUpgrade},
		{"helm uninstall keeps tenants, CRDs and the product", testHelmUninstall},
		{"a reinstalled operator still answers the instance deleted by hand", testReinstalled},
		{"neither reinstalled component was refused a request", testNothingForbidden},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			t.Fatalf("step %q failed; the later steps depend on it", s.name)
		}
	}
}

// env is what the steps share: the stack and the tenants bought so far.
type env struct {
	ctx      context.Context
	stack    *localstack.Stack
	tenant   string // instanceId of the tenant the lifecycle steps drive
	survivor string // instanceId of a tenant left alone until the Helm steps
	// deleted is the instanceId, and deletedOrder the order, of a tenant
	// deleted by hand (kubectl delete).
	deleted, deletedOrder string
}

// dumpState prints the logs of every process and the cluster's view of the
// tenants, so a failure in CI can be understood from its output alone.
func (e *env) dumpState() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"get", "saasproducts,saastenants", "-o", "yaml"},
		{"get", "nodes,namespaces,pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := e.stack.Kubectl(ctx, args...)
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintf(os.Stderr, "\n===== kubectl %v =====\n%s", args, out)
	}
	fmt.Fprint(os.Stderr, e.stack.DumpLogs(150))
}

// orderID returns a fresh order ID.
func orderID(what string) string {
	return fmt.Sprintf("E2E%s%d", what, time.Now().UnixNano())
}
