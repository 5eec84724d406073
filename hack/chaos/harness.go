package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kooper-io/kooper/internal/localstack"
)

// The suite's own product: the sample product without storage (the local
// cluster has a dozen volumes, not a thousand) or configuration files, so
// that a thousand tenants fit; purchases are production ones, resolved by
// Query Order on the simulator.
const (
	chaosProduct   = "chaos"
	chaosProductID = "CHAOS00000000000001"
	basicSKU       = "0a4d1578-5295-46a7-92d4-7c803dccc51d"
	// leaseName is the controllers' leader-election Lease (main.go).
	leaseName = "kooper.saas.kooper.io"
)

// harness is the running stack with what the scenarios share.
type harness struct {
	cfg   config
	stack *localstack.Stack
	http  *http.Client
	// receiverURLs are the chaos product's URLs on each receiver replica.
	receiverURLs []string

	// kubelet restarts replicas that exit by themselves (see keepRunning).
	mu        sync.Mutex
	restarted []string
}

func startHarness(ctx context.Context, root string, c config) (*harness, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, err
	}
	logf("Starting the local stack: 2 receivers, 2 leader-elected controllers, %d kwok nodes", c.nodes)
	stack, err := localstack.Start(ctx, localstack.Options{
		Root: root, Dir: filepath.Join(c.out, "stack"), Nodes: c.nodes, Logf: logf,
		// The cluster's own controllers and scheduler at their default QPS
		// would make Deployments, not kooper, the bottleneck.
		ComponentQPS: 200,
		Replicas:     map[string]int{localstack.Receiver: 2, localstack.Controllers: 2},
		// After the API server outage the node lifecycle controller marks
		// pods not Ready; a kubelet would ready them again, kwok does not.
		ReadyAgain: true,
	})
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: c, stack: stack, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: time.Minute}}}
	for _, u := range stack.ReceiverURLs() {
		h.receiverURLs = append(h.receiverURLs, strings.TrimSuffix(u, localstack.Product)+chaosProduct)
	}
	if err := stack.CreateLightProduct(ctx, chaosProduct, chaosProductID, nil); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *harness) stop() {
	if err := h.stack.Stop(); err != nil {
		logf("Stopping the stack: %v", err)
	}
}

// newDriver returns a driver aimed at both receivers.
func (h *harness) newDriver() *driver {
	return &driver{receivers: h.receiverURLs, inFlightOn: make([]atomic.Int64, len(h.receiverURLs)), stack: h.stack,
		key: localstack.BasicKey, productID: chaosProductID, skuCode: basicSKU, http: h.http}
}

// The kubelet's crash-loop back-off (10 s doubling to 5 min, reset after
// 10 min running), compressed as the marketplace's retries are.
const (
	firstRestartDelay = time.Second
	maxRestartDelay   = 10 * time.Second
	restartDelayReset = 30 * time.Second
)

// keepRunning plays the kubelet until ctx ends: a replica that exits by
// itself is started again (a controllers replica exits when it loses its
// lease), with a back-off while it keeps exiting.
func (h *harness) keepRunning(ctx context.Context) {
	delay, lastRestart := firstRestartDelay, time.Time{}
	for pause(ctx, 200*time.Millisecond) {
		if time.Since(lastRestart) < delay {
			continue
		}
		if time.Since(lastRestart) > restartDelayReset {
			delay = firstRestartDelay
		}
		names, err := h.stack.RestartExited()
		if err != nil {
			logf("Restarting an exited replica: %v", err)
		}
		if len(names) > 0 {
			if !lastRestart.IsZero() {
				delay = min(2*delay, maxRestartDelay)
			}
			lastRestart = time.Now()
			logf("Restarted %s, which exited", strings.Join(names, ", "))
			h.mu.Lock()
			h.restarted = append(h.restarted, names...)
			h.mu.Unlock()
		}
	}
}

// takeRestarts returns the replicas restarted since the last call.
func (h *harness) takeRestarts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.restarted
	h.restarted = nil
	return r
}

// leaseHolder is the leader-election Lease's holderIdentity, "" when none.
func (h *harness) leaseHolder(ctx context.Context) (string, error) {
	lease := &coordinationv1.Lease{}
	if err := h.stack.Client.Get(ctx, client.ObjectKey{Namespace: localstack.Namespace, Name: leaseName}, lease); err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *lease.Spec.HolderIdentity, nil
}

// leader finds the leading controllers replica: the Lease names its
// holder's identity (hostname_uuid, alike for both local processes but
// for the uuid), and the replica that holds it is the one whose
// leader_election_master_status is 1.
func (h *harness) leader(ctx context.Context) (replica int, holder string, err error) {
	if holder, err = h.leaseHolder(ctx); err != nil || holder == "" {
		return -1, "", fmt.Errorf("no lease holder (%v)", err)
	}
	for i, url := range h.stack.MetricsURLs(localstack.Controllers) {
		m, err := h.scrape(ctx, url, "leader_election_master_status", "controller_runtime_active_workers")
		if err == nil && m["leader_election_master_status"] == 1 {
			return i, holder, nil
		}
	}
	return -1, holder, fmt.Errorf("no controllers replica reports leading %s", holder)
}

// activeReconciles is how many reconciles the leading replica is running.
func (h *harness) activeReconciles(ctx context.Context, replica int) int {
	urls := h.stack.MetricsURLs(localstack.Controllers)
	if replica < 0 || replica >= len(urls) {
		return 0
	}
	m, err := h.scrape(ctx, urls[replica], "controller_runtime_active_workers")
	if err != nil {
		return 0
	}
	return int(m["controller_runtime_active_workers"])
}

// scrape reads a /metrics endpoint and sums each named series over its
// labels.
func (h *harness) scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	sums := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		for _, name := range names {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			fields := strings.Fields(rest)
			if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
				sums[name] += v
			}
		}
	}
	return sums, scanner.Err()
}

// tenantsNotReady is how many of the product's tenants are stored but not
// yet Ready: provisioning under way.
func (h *harness) tenantsNotReady(ctx context.Context) int {
	tenants, err := storedTenants(ctx, h.stack.Client, chaosProduct)
	if err != nil {
		return 0
	}
	n := 0
	for _, ts := range tenants {
		for _, t := range ts {
			if !t.ready {
				n++
			}
		}
	}
	return n
}

// simCall sends one request to the simulator's /sim/ endpoints and decodes
// the answer into out when it is not nil.
func (h *harness) simCall(ctx context.Context, method, path, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, h.stack.SimURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
