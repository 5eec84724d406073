// Command sample-app is a tenant application to try kooper with: the kind
// of image a merchant's SaaSProduct names (config/samples). It serves HTTP
// on :8080 (PORT), answers the sample product's probes (/healthz, /ready),
// echoes who a request comes from, and records every visit in a file on
// its volume (/data, DATA_DIR), which kooper gives each tenant as a PVC.
//
// Its image has no shell, so two subcommands reach the volume from
// `kubectl exec` (the real-node lane, make e2e-node, checks a frozen
// tenant's data with them): `sample-app record USER` appends a visit as GET
// / would and prints the count, `sample-app visits` prints the visits file;
// and `sample-app dial HOST:PORT` tells whether a TCP connection there
// opens within 3 seconds (exit 1 if not), for the lane's NetworkPolicy checks.
//
// make image builds it into bin/images/sample-app.oci.tar; make image-test
// runs it with runc.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	app := &app{
		dataDir:    envOr("DATA_DIR", "/data"),
		instanceID: os.Getenv("KOOPER_INSTANCE_ID"),
		skuCode:    os.Getenv("KOOPER_SKU_CODE"),
	}
	if len(os.Args) > 1 {
		if err := app.command(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "sample-app:", err)
			os.Exit(1)
		}
		return
	}
	server := &http.Server{
		Addr:              ":" + envOr("PORT", "8080"),
		Handler:           app.routes(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	log.Printf("sample-app serving on %s, data in %s", server.Addr, app.dataDir)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err) //nolint:gocritic // exitAfterDefer: the deferred call only stops signal notification, which exiting stops too
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// command runs a subcommand: record USER or visits.
func (a *app) command(args []string) error {
	switch {
	case args[0] == "record" && len(args) == 2:
		n, err := a.record(time.Now().UTC(), args[1])
		if err != nil {
			return err
		}
		fmt.Println(n)
		return nil
	case args[0] == "visits" && len(args) == 1:
		data, err := os.ReadFile(filepath.Join(a.dataDir, visitsFile))
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	case args[0] == "dial" && len(args) == 2:
		conn, err := net.DialTimeout("tcp", args[1], 3*time.Second)
		if err != nil {
			return err
		}
		fmt.Println("connected to", args[1])
		return conn.Close()
	default:
		return fmt.Errorf("usage: sample-app [record USER | visits | dial HOST:PORT]")
	}
}
