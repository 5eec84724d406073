// Package apiserverwait holds a process at start until the API server
// answers, so that an outage of the API server does not leave kooper's
// processes in the kubelet's crash back-off after it ends.
package apiserverwait

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// apiServerPollInterval is how often a process that cannot reach the API
// server at start asks again: the controllers start at most this long
// after it is back.
const apiServerPollInterval = 2 * time.Second

// apiServerAttemptTimeout bounds one of those asks, so that an API server
// that accepts connections but does not answer is asked again.
const apiServerAttemptTimeout = 5 * time.Second

// Version returns the API server's version (such as v1.37.2) once
// it answers, asking every apiServerPollInterval until then. The manager
// cannot be built without the API server (its cache asks discovery for the
// scope of each kind it caches), and a process that exits is restarted by
// the kubelet with a back-off doubling from 10 s to 5 minutes: the leader
// loses its Lease in an outage and exits, so after a long outage the
// controllers would come back up to 5 minutes after the API server. While
// it waits it serves /healthz, so the liveness probe does not restart it
// either, and a /readyz that fails, on probeAddr ("" or "0": none). It
// fails with ctx's error when ctx ends first, or when probeAddr cannot be
// bound.
func Version(ctx context.Context, cfg *rest.Config, probeAddr string) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("failed to make the API server's discovery client: %w", err)
	}
	log := ctrl.Log.WithName("startup")
	kubeVersion, err := serverVersion(ctx, dc)
	if err == nil {
		return kubeVersion, nil
	}
	start, last := time.Now(), err.Error()
	log.Info("Waiting for the API server", "reason", last)
	stopProbes, err := serveWaitingProbes(probeAddr)
	if err != nil {
		return "", err
	}
	defer stopProbes()
	err = wait.PollUntilContextCancel(ctx, apiServerPollInterval, false, func(ctx context.Context) (bool, error) {
		v, err := serverVersion(ctx, dc)
		if err != nil && err.Error() != last { // one line per kind of failure, not one every 2 s
			log.Info("Still waiting for the API server", "reason", err.Error())
			last = err.Error()
		}
		kubeVersion = v
		return err == nil, nil
	})
	if err != nil {
		return "", err
	}
	log.Info("API server reached", "version", kubeVersion, "waited", time.Since(start).Round(time.Second).String())
	return kubeVersion, nil
}

// serverVersion asks the API server its version (GET /version), within
// apiServerAttemptTimeout.
func serverVersion(ctx context.Context, dc *discovery.DiscoveryClient) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, apiServerAttemptTimeout)
	defer cancel()
	body, err := dc.RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("failed to read the API server's version: %w", err)
	}
	var info apiversion.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("failed to read the API server's version: %w", err)
	}
	return info.GitVersion, nil
}

// serveWaitingProbes serves the probes of a process waiting for the API
// server on addr ("" or "0": none) until the returned stop: /healthz
// answers, /readyz fails. stop frees addr for the manager's own probes.
func serveWaitingProbes(addr string) (stop func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to serve the probes on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", healthz.CheckHandler{Checker: healthz.Ping})
	mux.Handle("/readyz", healthz.CheckHandler{Checker: func(*http.Request) error { return errAwaitingAPIServer }})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(l) }()
	return func() { _ = server.Close() }, nil
}

// errAwaitingAPIServer is /readyz's answer before the API server first
// answers.
var errAwaitingAPIServer = errors.New("waiting for the API server")
