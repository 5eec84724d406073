package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// answering is a receiver that answers every call with code.
func answering(t *testing.T, code string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"resultCode": code, "resultMsg": "msg"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/koogallery/crm"
}

func TestSelfTestExitCodes(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "basicKey")
	if err := os.WriteFile(keyFile, []byte("the-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"the receiver answers 000003", []string{"--url", answering(t, "000003"), "--key-file", keyFile}, 0, "PASS"},
		{"the receiver refuses the key", []string{"--url", answering(t, "000001"), "--key-file", keyFile}, 1, "000001: the key differs"},
		{"no key file", []string{"--url", answering(t, "000003"), "--key-file", keyFile + ".missing"}, 1, "failed to read the key"},
		{"no URL", []string{"--key-file", keyFile}, 2, "--url and --key-file are required"},
		{"an unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := runSelfTest(c.args, &out); got != c.code || !strings.Contains(out.String(), c.says) {
				t.Fatalf("exit %d, output %q; want %d and %q", got, out.String(), c.code, c.says)
			}
			if strings.Contains(out.String(), "the-key") {
				t.Fatal("the key reached the output")
			}
		})
	}
}
