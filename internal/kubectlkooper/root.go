// Package kubectlkooper is `kubectl kooper`, the merchant's command line for
// kooper (hack/kubectl-kooper is its main package): tenants and what
// queryInstance would answer about them, the preflight before the
// production URL is registered, a debug purchase, licence keys and the
// joint-operation kit's RSA key. It follows kubectl's conventions
// (k8s.io/cli-runtime: --kubeconfig, --context, -o json|yaml|wide) and
// krew's (docs/kubectl-kooper.md).
//
// Exit codes: 0 success, 1 a check or command failed, 2 wrong usage;
// --help and --version exit 0.
package kubectlkooper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// Exit codes of Run.
const (
	// ExitOK: the command did what it was asked; every check passed.
	ExitOK = 0
	// ExitFailed: a check failed, or the command could not do its work.
	ExitFailed = 1
	// ExitUsage: the command line is wrong (an unknown command or flag, a
	// missing or extra argument, a bad flag value).
	ExitUsage = 2
)

// Options are what Run works with beyond its arguments.
type Options struct {
	// Streams are stdin, stdout and stderr.
	Streams genericiooptions.IOStreams
	// Now is the clock; nil means time.Now. Tests move it to break the
	// clock-skew check.
	Now func() time.Time
	// Version is what --version prints first: the release the binary was
	// built as (hack/kubectl-kooper's main.version), empty for a dev build.
	Version string
}

// usageError is wrong usage: Run exits ExitUsage with it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errChecksFailed is returned by a command whose report already says what
// failed: Run exits ExitFailed without printing it again.
var errChecksFailed = errors.New("checks failed")

// Run runs `kubectl kooper` with args (without the program name) and
// returns its exit code. Errors go to opts.Streams.ErrOut, one line each.
func Run(ctx context.Context, args []string, opts Options) int {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	root := newRootCommand(&opts)
	root.SetArgs(args)
	root.SetIn(opts.Streams.In)
	root.SetOut(opts.Streams.Out)
	root.SetErr(opts.Streams.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errChecksFailed) {
		return ExitFailed
	}
	fmt.Fprintf(opts.Streams.ErrOut, "error: %v\n", err)
	var usage usageError
	if errors.As(err, &usage) || !ran(cmd) {
		fmt.Fprintf(opts.Streams.ErrOut, "See '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitFailed
}

// ranAnnotation marks a command whose RunE started: an error from any other
// came from cobra's parsing (an unknown command, flag or argument count),
// which is wrong usage.
const ranAnnotation = "kubectl-kooper/ran"

func ran(cmd *cobra.Command) bool {
	return cmd != nil && cmd.Annotations[ranAnnotation] == "true"
}

// runE marks cmd as ran and calls run.
func runE(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[ranAnnotation] = "true"
		return run(cmd, args)
	}
}

// env is what every command shares: the options and kubectl's flags.
type env struct {
	*Options
	kube *genericclioptions.ConfigFlags
}

// newRootCommand builds the command tree.
func newRootCommand(opts *Options) *cobra.Command {
	e := &env{Options: opts, kube: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "kubectl-kooper",
		Short: "Manage kooper, the KooGallery SaaS operator: tenants, preflight checks, debug purchases, licence keys",
		Long: `kubectl kooper manages kooper, which sells a containerised app as SaaS on Huawei Cloud KooGallery.

-n selects kooper's own namespace (where its Deployments, the products' keys Secrets and its
Lease live); without it, the namespace holding kooper's Deployments, else kooper-system.
Exit codes: 0 success, 1 a check or command failed, 2 wrong usage.`,
		Version:       versionLine(opts.Version),
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl kooper"},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	// --version has no -v shorthand: kubectl's -v is the log level, which
	// kubectl passes on to plugins (kubectl kooper -v=6 tenants).
	root.Flags().Bool("version", false, "print the version of kubectl-kooper and exit")
	addVerbosityFlag(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	e.kube.AddFlags(root.PersistentFlags())
	root.PersistentFlags().Lookup("namespace").Usage = "kooper's own namespace (default: the namespace of kooper's Deployments, else " + defaultNamespace + ")"
	root.AddCommand(
		newTenantsCommand(e), newDescribeCommand(e), newCheckCommand(e), newBuyCommand(e),
		newLicenseCommand(e), newKitCommand(e),
	)
	return root
}

// versionLine is what --version prints, e.g.
// "kubectl-kooper v0.5.0 go1.26.8 linux/arm64".
func versionLine(version string) string {
	if version == "" {
		version = "(devel)"
	}
	return fmt.Sprintf("kubectl-kooper %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// exactArgs is cobra.ExactArgs as a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d arguments", what, len(args))
		}
		return nil
	}
}

// noArgs refuses any argument, as a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usagef("takes no arguments, got %q", args)
	}
	return nil
}

// groupRunE makes a command that only groups others print its help and
// exit ExitOK when run without one, as kubectl's groups do (kubectl
// config), and exit ExitUsage with one it does not know.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// addVerbosityFlag adds kubectl's -v (--v), klog's log level: client-go
// logs its requests at 6 and above, as with kubectl.
func addVerbosityFlag(fs *pflag.FlagSet) {
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	v := pflag.PFlagFromGoFlag(klogFlags.Lookup("v"))
	v.Shorthand = "v"
	fs.AddFlag(v)
}
