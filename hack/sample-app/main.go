// Command sample-app is a tenant application to try kooper with: the kind
// of image a merchant's SaaSProduct names (config/samples). It serves HTTP
// on :8080 (PORT), answers the sample product's probes (/healthz, /ready),
// echoes who a request comes from, and records every visit in a file on
// its volume (/data, DATA_DIR), which kooper gives each tenant as a PVC.
//
// make image builds it into bin/images/sample-app.oci.tar; make image-test
// runs it with runc.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	app := &app{
		dataDir:    envOr("DATA_DIR", "/data"),
		instanceID: os.Getenv("KOOPER_INSTANCE_ID"),
		skuCode:    os.Getenv("KOOPER_SKU_CODE"),
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
