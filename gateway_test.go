package main

import (
	"bytes"
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
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no upstream", nil, 2, "--upstream must be a URL"},
		{"an upstream without a host", []string{"--upstream", "/app"}, 2, "--upstream must be a URL"},
		{"an unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"an address in use", []string{"--upstream", "http://127.0.0.1:8080", "--listen", busy.Addr().String()}, 1, "Failed to listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			got := runGateway(c.args, &out)
			if got != c.code {
				t.Fatalf("exit %d, output %q; want %d", got, out.String(), c.code)
			}
			if c.code == 2 && !strings.Contains(out.String(), c.says) {
				t.Fatalf("output %q; want %q", out.String(), c.says)
			}
		})
	}
}
