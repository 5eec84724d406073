package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/internal/ssogateway"
)

// gatewayCommand is the first argument that runs the SSO login gateway
// instead of the operator: a joint-operation tenant's pod runs kooper's
// image with it beside the app (spec.workload.sso.gateway,
// docs/sso-gateway.md).
const gatewayCommand = "gateway"

// runGateway is `kooper gateway`: it serves internal/ssogateway until the
// process is signalled. It returns the exit code: 0 after a clean
// shutdown, 1 when the gateway cannot start or stops, 2 on a usage error.
func runGateway(args []string, out io.Writer) int {
	fs := flag.NewFlagSet(gatewayCommand, flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", ":4180", "Address to listen on.")
	upstream := fs.String("upstream", "", "The app, e.g. http://127.0.0.1:8080.")
	var cfg ssogateway.Config
	fs.StringVar(&cfg.SSODir, "sso-dir", "/etc/kooper/sso", "Directory of the kooper-sso Secret's files.")
	fs.StringVar(&cfg.DirectoryDir, "directory-dir", "/etc/kooper/directory", "Directory of the joint-operation directory's users-NNN.json shards.")
	fs.StringVar(&cfg.AppID, "app-id", "", "Application whose authorised users are admitted (default: the appId of --sso-dir).")
	fs.StringVar(&cfg.ExternalURL, "external-url", "", "The app's URL as browsers see it; its /oauth2/callback is the redirect URI (default: https:// and the request's Host).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
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
		cfg.Log.Error(err, "Failed to listen", "address", *listen)
		return 1
	}
	cfg.Log.Info("Serving the SSO gateway", "address", listener.Addr().String(), "upstream", target.Redacted())
	if err := ssogateway.Serve(ctrl.SetupSignalHandler(), listener, g); err != nil {
		cfg.Log.Error(err, "The gateway stopped")
		return 1
	}
	return 0
}
