package kubectlkooper

import (
	"testing"

	. "github.com/onsi/gomega"
)

// Every command's exit codes: 0 success (--help and --version included),
// 1 the command failed, 2 wrong usage, each with what it prints.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int
		says string
	}{
		{"help", []string{"--help"}, ExitOK, "Available Commands"},
		{"a command's help", []string{"license", "issue", "--help"}, ExitOK, "--private"},
		{"version", []string{"--version"}, ExitOK, "kubectl-kooper v0.0.0-test go"},
		{"kubectl's -v is the log level, not --version", []string{"-v=0", "license", "--help"}, ExitOK, "Available Commands"},
		{"-v wants a level", []string{"-v"}, ExitUsage, "flag needs an argument: 'v' in -v"},
		{"check's help lists only what -o takes", []string{"check", "--help"}, ExitOK, "output format: json or yaml (default"},
		{"unknown command", []string{"rotate"}, ExitUsage, `unknown command "rotate"`},
		{"unknown flag", []string{"tenants", "--colour"}, ExitUsage, "unknown flag: --colour"},
		{"an argument too many", []string{"tenants", "crm"}, ExitUsage, "takes no arguments"},
		{"bad --state", []string{"tenants", "--state", "Paused"}, ExitUsage, "--state is Active, Frozen or Released"},
		{"bad -o", []string{"tenants", "-o", "xml"}, ExitUsage, "-o is wide, json, yaml, name or jsonpath=TEMPLATE"},
		{"bad -o jsonpath", []string{"tenants", "-o", "jsonpath={.items[*"}, ExitUsage, "-o jsonpath={.items[*:"},
		{"describe without a tenant", []string{"describe"}, ExitUsage, "want one tenant"},
		{"describe -o wide", []string{"describe", "i-x", "-o", "wide"}, ExitUsage, "-o is json or yaml"},
		{"describe an unknown tenant", []string{"describe", "i-never-issued"}, ExitFailed, `SaaSTenant "i-never-issued" not found: list tenants with kubectl kooper tenants`},
		{"check -o wide", []string{"check", "-o", "wide"}, ExitUsage, "-o is json or yaml"},
		{"buy without --product", []string{"buy"}, ExitUsage, `required flag(s) "product" not set`},
		{"buy an unknown product", []string{"buy", "--product", "nothing"}, ExitFailed, "failed to read SaaSProduct nothing: no SaaSProduct of that name"},
		{"license without a command: its help, as kubectl config", []string{"license"}, ExitOK, "Available Commands"},
		{"kit without a command", []string{"kit"}, ExitOK, "Available Commands"},
		{"license, unknown command", []string{"license", "rotate"}, ExitUsage, `unknown command "rotate"`},
		{"verify without --public", []string{"license", "verify", "--product", "OFFL1", "KEY"}, ExitUsage, `required flag(s) "public" not set`},
		{"verify without --product", []string{"license", "verify", "--public", "nothere.pem", "KEY"}, ExitUsage, `required flag(s) "product" not set`},
		{"issue, bad --format", []string{"license", "issue", "--private", "p", "--product", "P", "--instance", "i", "--format", "PASETO"}, ExitUsage, "--format is JWS or Legacy"},
		{"issue, --days 0", []string{"license", "issue", "--private", "p", "--product", "P", "--instance", "i", "--days", "0"}, ExitUsage, "--days must be at least 1, not 0"},
		{"verify, --public names no file and no key", []string{"license", "verify", "--public", "nothere.pem", "--product", "OFFL1", "KEY"}, ExitFailed, `the --public value "nothere.pem" is no file here`},
		{"check, --max-clock-skew 0", []string{"check", "--max-clock-skew", "0s"}, ExitUsage, "--max-clock-skew must be more than 0, not 0s"},
		{"revocations without a command", []string{"license", "revocations"}, ExitOK, "Available Commands"},
		{"kit pubkey, two files", []string{"kit", "pubkey", "a", "b"}, ExitUsage, "at most one"},
		{"kit keygen, short key", []string{"kit", "keygen", "--bits", "2048"}, ExitUsage, "--bits must be at least 3072 (spec §4.2), not 2048"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := kooper(tc.args...)
			g.Expect(r.code).To(Equal(tc.want), r.output())
			g.Expect(r.output()).To(ContainSubstring(tc.says))
		})
	}
}

// A plain go build (no -X main.version) reports (devel), as
// docs/kubectl-kooper.md says; make dist stamps the release.
func TestVersionOfADevBuild(t *testing.T) {
	g := NewWithT(t)
	g.Expect(versionLine("")).To(HavePrefix("kubectl-kooper (devel) go"))
	g.Expect(versionLine("v0.5.0")).To(HavePrefix("kubectl-kooper v0.5.0 go"))
}
