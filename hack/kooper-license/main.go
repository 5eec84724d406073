// Command kooper-license issues signing keys for, inspects and verifies
// kooper licence keys, for merchants and operators:
//
//	kooper-license keygen  --private signing.pem --public public.pem
//	kooper-license inspect <key | ->
//	kooper-license verify  --public public.pem [--fingerprint FP] [--revoked FILE|URL] [--at TIME] <key | ->
//
// It uses only api/licensekey and the standard library; the token format is
// in docs/licence-keys.md.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kooper-io/kooper/api/licensekey"
)

const usage = `Usage:
  kooper-license keygen  --private FILE --public FILE
      Create an Ed25519 signing key (PEM, PKCS #8, mode 0600) and its public key (PEM).
      Put the private key in the product's keys Secret under licenseSigningKey;
      ship the public key with your software.
  kooper-license inspect KEY|-
      Print what a licence key says, without checking its signature.
  kooper-license verify --public FILE [--public FILE...] [--fingerprint FP] [--revoked FILE|URL] [--at RFC3339] KEY|-
      Check signature, window, device and revocation; exit 1 if the key is not valid.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command, with its streams, so tests can drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func([]string, io.Reader, io.Writer) error{
		"keygen": keygen, "inspect": inspect, "verify": verify,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err := cmd(args[1:], stdin, stdout); err != nil {
		fmt.Fprintln(stderr, "kooper-license:", err)
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage error")

func keygen(args []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	private := fs.String("private", "", "file to write the private signing key to (created, mode 0600)")
	public := fs.String("public", "", "file to write the public key to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *private == "" || *public == "" {
		return fmt.Errorf("%w: keygen needs --private and --public", errUsage)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privPEM, err := licensekey.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	pubPEM, err := licensekey.MarshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	// O_EXCL: never overwrite a signing key in use.
	f, err := os.OpenFile(*private, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(privPEM); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(*public, pubPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key ID %s\nAdd it to the product's keys Secret, for example:\n"+
		"  kubectl -n kooper-system patch secret <keys Secret> --type merge -p \"$(printf '{\"data\":{\"licenseSigningKey\":\"%%s\"}}' \"$(base64 -w0 %s)\")\"\n",
		licensekey.KeyID(pub), *private)
	return nil
}

// readKey reads the licence key argument, or stdin for "-".
func readKey(args []string, stdin io.Reader) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("%w: give one licence key, or - to read it from stdin", errUsage)
	}
	if args[0] != "-" {
		return args[0], nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, licensekey.MaxTokenLength+1))
	return strings.TrimSpace(string(data)), err
}

// claimsView is the human-readable form of the claims.
type claimsView struct {
	licensekey.Claims
	NotBeforeTime string `json:"notBefore"`
	NotAfterTime  string `json:"notAfter"`
	IssuedAtTime  string `json:"issuedAt"`
}

func printClaims(w io.Writer, c *licensekey.Claims) error {
	rfc := func(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(claimsView{Claims: *c, NotBeforeTime: rfc(c.NotBefore), NotAfterTime: rfc(c.NotAfter), IssuedAtTime: rfc(c.IssuedAt)})
}

func inspect(args []string, stdin io.Reader, stdout io.Writer) error {
	key, err := readKey(args, stdin)
	if err != nil {
		return err
	}
	t, err := licensekey.Parse(key)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "# signature NOT checked; use verify to trust this key")
	return printClaims(stdout, &t.Claims)
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func verify(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var publics listFlag
	fs.Var(&publics, "public", "public key file (PEM or base64); repeat to trust retired keys too")
	fingerprint := fs.String("fingerprint", "", "this device's fingerprint")
	revoked := fs.String("revoked", "", "revocation list: a file, or the receiver's http(s) URL")
	at := fs.String("at", "", "verify as of this RFC 3339 time instead of now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(publics) == 0 {
		return fmt.Errorf("%w: verify needs at least one --public", errUsage)
	}
	opts := licensekey.VerifyOptions{Keys: licensekey.KeySet{}, Now: time.Now(), Fingerprint: *fingerprint}
	for _, file := range publics {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		pub, err := licensekey.ParsePublicKey(data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		opts.Keys.Add(pub)
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("%w: --at %q is not RFC 3339", errUsage, *at)
		}
		opts.Now = t
	}
	if *revoked != "" {
		list, err := loadRevocations(*revoked, opts.Keys)
		if err != nil {
			return fmt.Errorf("revocation list: %w", err)
		}
		opts.Revoked = list
	}
	key, err := readKey(fs.Args(), stdin)
	if err != nil {
		return err
	}
	claims, err := licensekey.Verify(key, opts)
	if err != nil {
		return fmt.Errorf("licence key NOT valid: %w", err)
	}
	fmt.Fprintln(stdout, "# licence key valid")
	return printClaims(stdout, claims)
}

// loadRevocations reads a revocation list from a file or URL and verifies it.
func loadRevocations(source string, keys licensekey.KeySet) (*licensekey.RevocationList, error) {
	var data []byte
	var err error
	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		data, err = fetch(source)
	} else {
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return nil, err
	}
	return licensekey.ParseRevocationList(string(data), keys)
}

func fetch(url string) ([]byte, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET answered %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, licensekey.MaxTokenLength+1))
}
