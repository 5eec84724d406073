package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// defaultListen is loopback only: the simulator accepts the documentation
// credentials and records what it receives, so it must not face a network.
const defaultListen = "127.0.0.1:9099"

// serveCommand is `serve`.
func serveCommand() command {
	return command{
		name:    "serve",
		summary: "Serve the marketplace's open APIs on loopback: Query Order (mock and registered orders), usage push, licence upload.",
		example: `  go run ./hack/marketplace-sim serve --listen 127.0.0.1:9099
  # then put the same AK/SK in the product's keys Secret (defaults: the spec's documentation
  # example pair) and start kooper with --marketplace-url http://127.0.0.1:9099`,
		run: runServe,
	}
}

// runServe serves until ctx ends, then shuts down gracefully.
func runServe(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("serve")
	listen := fs.String("listen", defaultListen, "address to listen on; loopback only unless --allow-remote")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --listen address (the simulator has no real security)")
	ak := fs.String("ak", "", "access key ID requests must be signed with (default $"+envAK+", else the spec's example "+defaultAccessKeyID+")")
	sk := fs.String("sk", "", "secret access key (default $"+envSK+", else the spec's documentation example SK)")
	usageKey := fs.String("usage-key", "", "key of the usage push's signature header (default "+defaultUsageKey+")")
	usageMaxRecords := fs.Int("usage-max-records", maxRecordsPerPush, "most records one usage push may carry, 1 to 1000: the API page says 1000, an error code's description 100 (spec 8 item 19); more: MKT.9003")
	sso := defaultSSOConfig()
	fs.StringVar(&sso.clientID, "sso-client-id", sso.clientID, "the kit's OAuth server: the client ID it knows (the kit command's --client-id)")
	fs.StringVar(&sso.clientSecret, "sso-client-secret", sso.clientSecret, "the kit's OAuth server: the client's secret (the kit command's --client-secret)")
	fs.StringVar(&sso.password, "sso-password", sso.password, "the kit's OAuth server: the password of every account sim.userNNNNN")
	fs.StringVar(&sso.tenantID, "sso-tenant-id", sso.tenantID, "the kit's OAuth server: the enterprise's tenantId (the kit command's --tenant-id)")
	fs.StringVar(&sso.tenantCode, "sso-tenant-code", sso.tenantCode, "the kit's OAuth server: the tenant a portal login names (the kit command's --tenant-code)")
	fs.DurationVar(&sso.tokenLifetime, "sso-token-lifetime", sso.tokenLifetime, "the kit's OAuth server: access tokens' lifetime (expires_in)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkListen(*listen, *allowRemote); err != nil {
		return err
	}
	cfg := defaultServerConfig()
	cfg.accessKeyID = firstNonEmpty(*ak, c.getenv(envAK), cfg.accessKeyID)
	cfg.secretAccessKey = firstNonEmpty(*sk, c.getenv(envSK), cfg.secretAccessKey)
	cfg.usageKey = firstNonEmpty(*usageKey, cfg.usageKey)
	if *usageMaxRecords < 1 || *usageMaxRecords > maxRecordsPerPush {
		return usagef("--usage-max-records must be 1 to %d", maxRecordsPerPush)
	}
	cfg.usageMaxRecords = *usageMaxRecords
	cfg.now, cfg.log, cfg.sso = c.now, c.stdout, sso
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", *listen, err)
	}
	printEndpoints(c, "http://"+listener.Addr().String(), cfg.accessKeyID)
	return serveUntilDone(ctx, listener, newSimServer(cfg))
}

// serveUntilDone serves handler on listener until ctx ends.
func serveUntilDone(ctx context.Context, listener net.Listener, handler http.Handler) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(listener) }()
	select {
	case err := <-served:
		return fmt.Errorf("the simulator stopped: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("failed to shut the simulator down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("the simulator stopped: %w", err)
	}
	return nil
}

// printEndpoints tells the user where everything is. It names the AK, which
// is sent in clear anyway, never the SK.
func printEndpoints(c *cli, base, ak string) {
	fmt.Fprintf(c.stdout, "KooGallery simulator listening on %s (plain HTTP; requests must be signed with AK %s)\n", base, ak)
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  Query Order\tGET  %s?orderId=MOCKPERIODYEARNEW\tAK/SK\n", koogallery.QueryOrderPath)
	fmt.Fprintf(tw, "  usage push\tPOST %s\tsignature/ts/nonce headers (and AK/SK if sent)\n", usageDataPath)
	fmt.Fprintf(tw, "  licence upload\tPOST %s\tAK/SK, multipart\n", licenseUploadPath)
	fmt.Fprintf(tw, "  kit SSO (§7)\tGET  %s, POST %s\tthe kit's OAuth server; use %s as the tenantSync domain\n", ssoAuthorizePath, ssoTokenPath, base)
	fmt.Fprintf(tw, "  \tGET  %s, %s\tbearer token; redirect_url\n", ssoUserinfoPath, ssoLogoutPath)
	fmt.Fprintf(tw, "  simulator\tPOST %s\tregister an order for Query Order\n", simOrdersPath)
	fmt.Fprintf(tw, "  \tGET  %s, %s, %s\twhat was registered and received\n", simOrdersPath, simUsagePath, simUploadsPath)
	fmt.Fprintf(tw, "  \tPOST %s, GET %s\ttest-only: Query Order outage, calls per order\n", simQueryOrderOutagePath, simQueryOrderCallsPath)
	_ = tw.Flush()
	fmt.Fprintln(c.stdout, "Press Ctrl-C to stop. One line per request follows.")
}

// checkListen refuses addresses that are not loopback unless allowed. An
// empty host means every interface, which is not loopback.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--listen %q is not host:port: %v", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usagef("--listen %q is not a loopback address; the simulator accepts public example keys, so pass --allow-remote only on a network you trust", addr)
}

// firstNonEmpty returns the first non-empty value.
func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
