package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/internal/ssogateway"
)

// gatewayCommand is the first argument that runs the SSO login gateway
// instead of the operator: a joint-operation tenant's pod runs kooper's
// image with it beside the app (spec.workload.sso.gateway,
// docs/sso-gateway.md).
const gatewayCommand = "gateway"

// gatewayUsage heads `kooper gateway --help`.
const gatewayUsage = `Usage: kooper gateway --upstream=URL [flags]

The joint-operation kit SSO login gateway: it signs the tenant's users in
with their joint-operation account (OAuth 2.0 against the enterprise's
unified authentication, spec section 7), admits those the directory
authorises for the application, and forwards their requests to the app with
X-Forwarded-User, X-Forwarded-Email and X-Forwarded-Tenant. kooper runs it
as the kooper-gateway container of a tenant pod whose product sets
spec.workload.sso.gateway; see docs/sso-gateway.md.

Flags:
`

// runGateway is `kooper gateway`: it serves internal/ssogateway until the
// process is signalled. It returns the exit code: 0 after a clean
// shutdown or --help, 1 when the gateway cannot start or stops, 2 on a
// usage error.
func runGateway(args []string, out io.Writer) int {
	fs := flag.NewFlagSet(gatewayCommand, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), gatewayUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", ":4180", "Address to listen on, host:port.")
	upstream := fs.String("upstream", "", "The app, e.g. http://127.0.0.1:8080.")
	var cfg ssogateway.Config
	fs.StringVar(&cfg.SSODir, "sso-dir", "/etc/kooper/sso", "Directory of the kooper-sso Secret's files.")
	fs.StringVar(&cfg.DirectoryDir, "directory-dir", "/etc/kooper/directory", "Directory of the joint-operation directory's users-NNN.json shards.")
	fs.StringVar(&cfg.AppID, "app-id", "", "Application whose authorised users are admitted (default: the appId of --sso-dir).")
	fs.StringVar(&cfg.ExternalURL, "external-url", "", "The app's URL as browsers see it, http(s)://host[/path]; its /oauth2/callback is the redirect URI (default: https:// and the request's Host).")
	fs.BoolVar(&cfg.WorkplaceLogins, "workplace-logins", false, "Accept a callback with a state the gateway did not issue and no tenant (the enterprise workplace's own login, spec 7.2), with the login-CSRF trade-off of docs/sso-gateway.md.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := checkGatewayFlags(fs, *listen, cfg); err != nil {
		fmt.Fprintf(out, "kooper gateway: %v\n", err)
		return 2
	}
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fmt.Fprintln(out, "kooper gateway: --upstream must be a URL such as http://127.0.0.1:8080")
		return 2
	}
	cfg.Upstream = target
	cfg.Log = newLogger(&zapOpts).WithName("gateway")
	g, err := ssogateway.New(cfg)
	if err != nil {
		fmt.Fprintf(out, "kooper gateway: %v\n", err)
		return 2
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(out, "kooper gateway: failed to listen on %s: %v\n", *listen, unwrapOpError(err))
		return 1
	}
	cfg.Log.Info("Serving the SSO gateway", "address", listener.Addr().String(), "upstream", target.Redacted())
	if err := ssogateway.Serve(ctrl.SetupSignalHandler(), listener, g); err != nil {
		fmt.Fprintf(out, "kooper gateway: %v\n", err)
		return 1
	}
	return 0
}

// checkGatewayFlags refuses what cannot work: positional arguments, a
// listen address without a port, an external URL that is not an absolute
// http(s) URL, and a directory that does not exist (in the pod both are
// Secret volumes, which exist, empty if need be, before the container
// starts: a missing one is a wrong flag).
func checkGatewayFlags(fs *flag.FlagSet, listen string, cfg ssogateway.Config) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (the gateway takes flags only; see --help)", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen must be host:port or :port, not %q", listen)
	}
	if cfg.ExternalURL != "" {
		u, err := url.Parse(cfg.ExternalURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--external-url must be an absolute http(s) URL without query, such as https://crm.example.com, not %q", cfg.ExternalURL)
		}
	}
	for flagName, dir := range map[string]string{"--sso-dir": cfg.SSODir, "--directory-dir": cfg.DirectoryDir} {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return fmt.Errorf("%s %q is not a directory", flagName, dir)
		}
	}
	return nil
}

// unwrapOpError is err without the net.OpError's repetition of the
// address.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
