// Command kubectl-kooper is `kubectl kooper`, the merchant's command line
// for kooper, as a kubectl plugin (krew's naming: kubectl finds
// kubectl-kooper on the PATH). The commands live in internal/kubectlkooper;
// docs/kubectl-kooper.md documents them. Build it for every platform with
// make dist.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kooper-io/kooper/internal/kubectlkooper"
)

// version is the release this binary is, set when it is built:
//
//	go build -ldflags "-X main.version=v0.5.0" ./hack/kubectl-kooper
//
// make dist sets it; a plain go build leaves it empty ("(devel)").
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kubectlkooper.Run(ctx, os.Args[1:], kubectlkooper.Options{
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Version: version,
	})
	stop()
	os.Exit(code)
}
