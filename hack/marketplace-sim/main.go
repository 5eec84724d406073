// Command marketplace-sim stands in for Huawei Cloud KooGallery (云商店), the
// way `stripe listen` and `stripe trigger` stand in for Stripe. It sends
// every basic callback signed exactly as the marketplace signs it, serves the
// marketplace's side of the open APIs (Query Order, usage push, licence
// upload) on loopback, polls queryInstance like the marketplace does after a
// purchase, and runs the Seller Console's debug scenarios as a conformance
// check that CI can gate on.
//
// Run `go run ./hack/marketplace-sim help` for the subcommands. The contract
// is spec/koogallery-saas-v2.md; section numbers (§2.1, ...) refer to it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit statuses.
const (
	// exitOK: the command did what was asked and the answer was a success.
	exitOK = 0
	// exitFailed: a failure answer, a failed scenario, a timeout or an error.
	exitFailed = 1
	// exitUsage: the command line is wrong.
	exitUsage = 2
)

// Environment variables that supply flags, so that keys stay out of shell
// history and process listings.
const (
	envURL = "KOOPER_SIM_URL"
	envKey = "KOOPER_SIM_KEY"
	envAK  = "KOOPER_SIM_AK"
	envSK  = "KOOPER_SIM_SK"
)

// programName is how the usage text names the command.
const programName = "marketplace-sim"

// main runs one command line; Ctrl-C or SIGTERM ends a serve or a wait.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newCLI(os.Getenv, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// cli is what every subcommand works with; tests replace each part.
type cli struct {
	// getenv reads the environment.
	getenv func(string) string
	// stdout receives results; stderr receives usage and errors.
	stdout, stderr io.Writer
	// now is the clock for signatures and IDs.
	now func() time.Time
	// ids makes fresh order, business and event IDs.
	ids *idGenerator
}

// newCLI returns a cli on the real clock.
func newCLI(getenv func(string) string, stdout, stderr io.Writer) *cli {
	return &cli{getenv: getenv, stdout: stdout, stderr: stderr, now: time.Now, ids: newIDGenerator(time.Now)}
}

// command is one subcommand.
type command struct {
	// name is what is typed, e.g. new-instance.
	name string
	// summary is one line for the command list.
	summary string
	// example is a copy-paste example for the usage text.
	example string
	// run parses args and does the work.
	run func(ctx context.Context, c *cli, args []string) error
}

// commands lists the subcommands in the order the usage text shows them.
func commands() []command {
	return []command{
		serveCommand(),
		newInstanceCommand(),
		queryInstanceCommand(),
		refreshInstanceCommand(),
		statusCommand("freeze", "FREEZE", "Freeze an instance on expiry (updateInstanceStatus FREEZE)."),
		statusCommand("unfreeze", "UNFREEZE", "Unfreeze an instance renewed during its freeze (updateInstanceStatus UNFREEZE)."),
		upgradeInstanceCommand(),
		releaseInstanceCommand(),
		changeInstanceCheckCommand(),
		getLicenseAsyncCommand(),
		orderNotifyCommand(),
		kitCommand(),
		conformanceCommand(),
	}
}

// findCommand returns the named subcommand.
func findCommand(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 {
		printUsage(c.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, args[1:], c)
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "%s: unknown command %q\n\n", programName, args[0])
		printUsage(c.stderr)
		return exitUsage
	}
	return exitStatus(c, cmd.run(ctx, c, args[1:]))
}

// runHelp prints the command list, or one command's flags and example.
func runHelp(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 {
		printUsage(c.stdout)
		return exitOK
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "%s: unknown command %q\n", programName, args[0])
		return exitUsage
	}
	helpCLI := *c
	helpCLI.stderr = c.stdout
	return exitStatus(&helpCLI, cmd.run(ctx, &helpCLI, []string{"-h"}))
}

// exitStatus maps a command's error to the exit status, printing it.
func exitStatus(c *cli, err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(c.stderr, "%s: %v\nRun '%s help' for usage.\n", programName, err, programName)
		return exitUsage
	case errors.Is(err, errReported):
		return exitFailed
	}
	fmt.Fprintf(c.stderr, "%s: %v\n", programName, err)
	return exitFailed
}

// errReported means the failure has already been printed (a conformance
// table, say); the command only needs to exit 1.
var errReported = errors.New("failure already reported")

// usageError is a problem with the command line.
type usageError struct {
	msg string
}

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// printUsage writes the command list.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, `%[1]s stands in for Huawei Cloud KooGallery when testing a kooper receiver.

Usage:
  go run ./hack/marketplace-sim <command> [flags]

Commands:
`, programName)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-22s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, `
Callback commands take --url (or $%s) and --key (or $%s). Run
'%s help <command>' for a command's flags and a copy-paste example.

Example:
  export %s=http://127.0.0.1:8082/koogallery/crm %s=test-access-key
  go run ./hack/marketplace-sim new-instance --wait 2m
  go run ./hack/marketplace-sim conformance
`, envURL, envKey, programName, envURL, envKey)
}

// newFlagSet returns the flag set of a subcommand, with usage text that
// shows its summary, flags and example.
func (c *cli) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		cmd, _ := findCommand(name)
		out := fs.Output()
		fmt.Fprintf(out, "Usage: go run ./hack/marketplace-sim %s [flags]\n\n%s\n\nFlags:\n", name, cmd.summary)
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nExample:\n%s\n", cmd.example)
	}
	return fs
}

// parse parses args and refuses stray positional arguments, which are
// almost always a flag typed without its dashes.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q; every value is passed with a flag", fs.Name(), fs.Arg(0))
	}
	return nil
}

// timeRounding picks a rounding unit that keeps durations readable.
func timeRounding(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Millisecond
	}
	return 10 * time.Millisecond
}
