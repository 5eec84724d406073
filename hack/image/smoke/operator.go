package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	// kooperNamespace is kooper's own namespace in the smoke cluster.
	kooperNamespace = "kooper-system"
	// kubeconfigInContainer is where the kubeconfig is mounted, as a
	// Secret volume would be.
	kubeconfigInContainer = "/var/run/kooper/kubeconfig"
	// noKubeConfigMessage starts what kooper says when it finds no
	// Kubernetes configuration (main.go, errNoKubeConfig).
	noKubeConfigMessage = "no Kubernetes configuration found"
	// readyTimeout bounds the wait for /readyz; the machine may be busy.
	readyTimeout = 2 * time.Minute
	// stopTimeout bounds the wait for an exit after SIGTERM: a kubelet's
	// default grace period is 30 s, kooper's own shutdown allows 10 s.
	stopTimeout = 20 * time.Second
)

// operator smoke-tests kooper's image.
func (s *smoke) operator(archive string) error {
	fmt.Println("kooper image:")
	var cfg *v1.ConfigFile
	var rootfs, version string
	err := step("unpack the linux/"+hostArch()+" image", func() (err error) {
		cfg, rootfs, version, err = s.hostImage(archive, "kooper")
		return err
	})
	if err != nil {
		return err
	}
	if err := step("--version prints "+version+" and exits 0", func() error { return s.versionFlag(cfg, rootfs, version) }); err != nil {
		return err
	}
	if err := step("without a kubeconfig: exits 1, saying why", func() error { return s.noKubeConfig(cfg, rootfs) }); err != nil {
		return err
	}
	return s.againstAPIServer(cfg, rootfs)
}

func (s *smoke) versionFlag(cfg *v1.ConfigFile, rootfs, version string) error {
	dir, id, err := s.bundle(cfg, rootfs, "version", container{args: []string{"--version"}})
	if err != nil {
		return err
	}
	stdout, stderr, code, err := s.runc.runToExit(id, dir, time.Minute)
	if err != nil {
		return err
	}
	if code != 0 || !strings.HasPrefix(stdout, "kooper "+version+" ") {
		return fmt.Errorf("want exit 0 and %q, got exit %d:\n%s%s", "kooper "+version+" ...", code, stdout, stderr)
	}
	fmt.Printf("       %s", stdout)
	return nil
}

func (s *smoke) noKubeConfig(cfg *v1.ConfigFile, rootfs string) error {
	dir, id, err := s.bundle(cfg, rootfs, "no-kubeconfig", container{})
	if err != nil {
		return err
	}
	stdout, stderr, code, err := s.runc.runToExit(id, dir, time.Minute)
	if err != nil {
		return err
	}
	if code != 1 || !strings.Contains(stderr, noKubeConfigMessage) {
		return fmt.Errorf("want exit 1 and %q on stderr, got exit %d:\n%s%s", noKubeConfigMessage, code, stdout, stderr)
	}
	return nil
}

// againstAPIServer starts kooper's both components against a real API
// server with the chart's default flags where they matter here (secure
// metrics, leader election off to need no Lease wait), on free loopback
// ports of the host's network namespace.
func (s *smoke) againstAPIServer(cfg *v1.ConfigFile, rootfs string) error {
	ctx, cancel := smokeContext()
	defer cancel()
	var api *apiServer
	err := step("start etcd and kube-apiserver, CRDs, namespaces", func() (err error) {
		api, err = startAPIServer(ctx, s.root, s.assets, s.work, kooperNamespace, kooperNamespace+"-directory")
		return err
	})
	if err != nil {
		return err
	}
	defer func() { _ = api.stop() }()

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	probes, metrics, receiver := ports[0], ports[1], ports[2]
	dir, id, err := s.bundle(cfg, rootfs, "run", container{
		args: []string{
			"--namespace=" + kooperNamespace, "--leader-elect=false",
			"--health-probe-bind-address=" + probes, "--metrics-bind-address=" + metrics, "--receiver-bind-address=" + receiver,
		},
		env:    []string{"KUBECONFIG=" + kubeconfigInContainer},
		mounts: []bindMount{{host: api.kubeconfig, container: kubeconfigInContainer, readOnly: true}},
	})
	if err != nil {
		return err
	}
	defer s.runc.remove(id)
	var c *running
	err = step("with a kubeconfig: ready on its probe port (/readyz 200)", func() (err error) {
		if c, err = s.runc.start(id, dir); err != nil {
			return err
		}
		return waitForStatus(c, "http://"+probes+"/readyz", http.StatusOK, nil)
	})
	if err != nil {
		return withOutput(err, c)
	}
	err = step("serves metrics over TLS (401 to anonymous) and callbacks", func() error {
		if err := waitForStatus(c, "https://"+metrics+"/metrics", http.StatusUnauthorized, nil); err != nil {
			return err
		}
		return waitForStatus(c, "http://"+receiver+"/koogallery/crm", http.StatusOK, nil)
	})
	if err != nil {
		return withOutput(err, c)
	}
	return withOutput(step("SIGTERM: exits 0", func() error { return stop(s.runc, c) }), c)
}

// stop sends SIGTERM to the container and wants exit code 0 within
// stopTimeout.
func stop(r runc, c *running) error {
	if err := r.signal(c.id, "TERM"); err != nil {
		return err
	}
	code, err := c.wait(stopTimeout)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit code %d", code)
	}
	return nil
}

// withOutput adds the container's output to a failure.
func withOutput(err error, c *running) error {
	if err == nil || c == nil {
		return err
	}
	return fmt.Errorf("%w\n%s", err, c.output())
}

// httpClient calls the containers; TLS is accepted unverified (kooper's
// metrics certificate is self-signed: what is checked is that it serves).
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // see above
}

// waitForStatus polls url until it answers want, failing early if the
// container exits; header is added to each request.
func waitForStatus(c *running, url string, want int, header http.Header) error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		code, body, err := get(url, header)
		if err == nil && code == want {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the container exited (code %d) before %s answered %d", c.exitCode(), url, want)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %d within %s (last: %s)", url, want, readyTimeout, last)
		}
	}
}

func get(url string, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), err
}

// freePorts returns n loopback addresses nothing listens on right now.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// hostArch is the architecture of this machine, whose image is run.
func hostArch() string { return runtime.GOARCH }
