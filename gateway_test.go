package main

import (
	"bytes"
	"flag"
	"net"
	"strings"
	"testing"
)

func TestGatewayCommandUsageErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Close() })
	dirs := []string{"--sso-dir", t.TempDir(), "--directory-dir", t.TempDir()}
	ok := append([]string{"--upstream", "http://127.0.0.1:8080"}, dirs...)
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no upstream", dirs, 2, "--upstream must be a URL"},
		{"an upstream without a host", append([]string{"--upstream", "/app"}, dirs...), 2, "--upstream must be a URL"},
		{"an unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"a positional argument", with("serve"), 2, `unexpected argument "serve"`},
		{"a listen address without a port", with("--listen=bad"), 2, `--listen must be host:port or :port, not "bad"`},
		{"an external URL that is not one", with("--external-url=notaurl"), 2, "--external-url must be an absolute http(s) URL"},
		{"an external URL of another scheme", with("--external-url=ftp://crm.example.com"), 2, "--external-url must be an absolute http(s) URL"},
		{"a missing SSO directory", with("--sso-dir=/nonexistent"), 2, `--sso-dir "/nonexistent" is not a directory`},
		{"a missing user directory", with("--directory-dir=/nonexistent"), 2, `--directory-dir "/nonexistent" is not a directory`},
		{"an address in use", with("--listen", busy.Addr().String()), 1, "kooper gateway: failed to listen on " + busy.Addr().String()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			got := runGateway(c.args, &out)
			if got != c.code {
				t.Fatalf("exit %d, output %q; want %d", got, out.String(), c.code)
			}
			if !strings.Contains(out.String(), c.says) {
				t.Fatalf("output %q; want %q", out.String(), c.says)
			}
			if strings.Contains(out.String(), "goroutine") || strings.Contains(out.String(), ".go:") {
				t.Fatalf("output %q has a stack trace", out.String())
			}
		})
	}
}

func TestGatewayCommandHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out bytes.Buffer
		if got := runGateway([]string{arg}, &out); got != 0 {
			t.Fatalf("%s: exit %d, want 0", arg, got)
		}
		for _, want := range []string{"Usage: kooper gateway", "SSO login gateway", "docs/sso-gateway.md", "-upstream", "-workplace-logins"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: help %q lacks %q", arg, out.String(), want)
			}
		}
	}
}

func TestTheTopLevelUsageListsTheGatewayCommand(t *testing.T) {
	fs := flag.NewFlagSet("kooper", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	var o options
	bindTestOnlyFlags(fs, &o)
	fs.Usage()
	for _, want := range []string{"kooper gateway", "kooper self-test"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage %q lacks %q", out.String(), want)
		}
	}
}
