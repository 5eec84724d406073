package lifecycle

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/internal/testenv"
)

// One API server holds everything; manager A runs a receiver and the
// controllers, manager B a second receiver only, as a second replica would.
// Only the marketplace (Query Order) is a stand-in.
const (
	operatorNamespace = "kooper-lifecycle"
	basicKey          = "lifecycle-basic-key"
	accessKeyID       = "LIFECYCLEACCESSKEY01"
	secretAccessKey   = "lifecycle-secret-access-key"
)

// plans are each product's SKUs.
var plans = []string{"sku-a", "sku-b", "sku-c"}

var (
	testEnv *testenv.Env
	// direct reads around every cache: what the API server really holds.
	direct client.Client
	market *marketplace
	// managerA is replaced by a restart; managerB runs throughout.
	managerA, managerB *running
	// suiteCtx ends with the tests; managers started mid-run hang off it.
	suiteCtx context.Context

	operatorLogs = flag.Bool("lifecycle.log", false, "write the receivers' and controllers' logs to stderr")
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The operator logs every callback and reconcile; kept, they would bury
	// rapid's counterexample. (The logger can be set only once.)
	if *operatorLogs {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	defaultChecks()
	os.Exit(testenv.RunTests(m, startSuite))
}

func startSuite(ctx context.Context, env *testenv.Env) error {
	testEnv, suiteCtx = env, ctx
	var err error
	if direct, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	if err := createProducts(ctx); err != nil {
		return err
	}
	market = newMarketplace()
	if managerB, err = startManager(ctx, false); err != nil {
		return fmt.Errorf("manager B: %w", err)
	}
	if managerA, err = startManager(ctx, true); err != nil {
		return fmt.Errorf("manager A: %w", err)
	}
	return nil
}

// defaultChecks runs 50 sequences unless -rapid.checks or RAPID_CHECKS says
// otherwise: rapid's default of 100 would cost make test about twice as long.
func defaultChecks() {
	if _, set := os.LookupEnv("RAPID_CHECKS"); set {
		return
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		_ = flag.Set("rapid.checks", "50")
	}
}
