package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

// -help is no error: it prints the usage and exits 0.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-help", "-h", "--help"} {
		if err := run([]string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%s) = %v, want flag.ErrHelp", arg, err)
		}
	}
	if err := run([]string{}); err == nil || errors.Is(err, flag.ErrHelp) {
		t.Errorf("run() = %v, want a missing command", err)
	}
}

// A real node's cluster is reached from inside its network namespace.
func TestUpMessage(t *testing.T) {
	t.Setenv("KOOPER_NODE_NETNS", "kooper-1234abcd")
	msg := upMessage("/d/kubeconfig", "/d/logs", true)
	if want := "ip netns exec kooper-1234abcd kubectl --kubeconfig /d/kubeconfig get nodes"; !strings.Contains(msg, want) {
		t.Errorf("node message %q lacks %q", msg, want)
	}
	if msg := upMessage("/d/kubeconfig", "/d/logs", false); !strings.Contains(msg, "export KUBECONFIG=/d/kubeconfig") {
		t.Errorf("message %q lacks the export", msg)
	}
}
