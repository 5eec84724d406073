// Command kooper-license issues signing keys for, inspects and verifies
// kooper licence keys, in either format (JWS or Legacy), for merchants and
// operators, and issues test keys and revocation lists to try a verifier
// with:
//
//	kooper-license keygen      --private signing.pem --public public.pem
//	kooper-license inspect     <key | ->
//	kooper-license verify      --public public.pem [--fingerprint FP] [--revoked FILE|URL] [--max-revocation-age D] [--at TIME] <key | ->
//	kooper-license issue       --private signing.pem --product ID --instance ID [--sku SKU] [--feature F]... [--fingerprint FP] [--not-after TIME | --days N] [--format JWS|Legacy]
//	kooper-license revocations --private signing.pem --product ID [--frozen ID]... [--released ID]... [--format JWS|Legacy]
//
// It verifies with api/licensekey and signs with internal/licenseissue, as
// kooper does; the formats are in docs/licence-keys.md.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/kooper-io/kooper/internal/licenseissue"
)

const usage = `Usage:
  kooper-license keygen  --private FILE --public FILE
      Create an Ed25519 signing key (PEM, PKCS #8, mode 0600) and its public key (PEM).
      Put the private key in the product's keys Secret under licenseSigningKey;
      ship the public key with your software.
  kooper-license inspect KEY|-
      Print what a licence key (JWS or Legacy) says, without checking its signature.
  kooper-license verify --public FILE [--public FILE...] [--fingerprint FP] [--revoked FILE|URL]
                        [--max-revocation-age DURATION] [--at RFC3339] KEY|-
      Check signature, window, device and revocation; exit 1 if the key is not valid.
  kooper-license issue --private FILE --product ID --instance ID [--sku SKU] [--feature F...]
                       [--fingerprint FP] [--not-before RFC3339] [--not-after RFC3339 | --days N] [--format JWS|Legacy]
      Sign a licence key, as kooper would, to test your software's verifier with.
  kooper-license revocations --private FILE --product ID [--frozen ID...] [--released ID...] [--format JWS|Legacy]
      Sign a revocation list, as kooper's receiver would, to test your software's verifier with.
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
		"keygen": keygen, "inspect": inspect, "verify": verify, "issue": issue, "revocations": revocations,
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
	fmt.Fprintf(stdout, "key ID %s\npublic key (raw, base64url) %s\nAdd the private key to the product's keys Secret, for example:\n"+
		"  kubectl -n kooper-system patch secret <keys Secret> --type merge -p \"$(printf '{\"data\":{\"licenseSigningKey\":\"%%s\"}}' \"$(base64 -w0 %s)\")\"\n",
		licensekey.KeyID(pub), base64.RawURLEncoding.EncodeToString(pub), *private)
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
	KeyFormat     licensekey.Format `json:"format"`
	NotBeforeTime string            `json:"notBefore"`
	NotAfterTime  string            `json:"notAfter"`
	IssuedAtTime  string            `json:"issuedAt"`
}

func printClaims(w io.Writer, c *licensekey.Claims) error {
	rfc := func(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(claimsView{Claims: *c, KeyFormat: c.Format,
		NotBeforeTime: rfc(c.NotBefore), NotAfterTime: rfc(c.NotAfter), IssuedAtTime: rfc(c.IssuedAt)})
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
	maxAge := fs.Duration("max-revocation-age", 0, "refuse the key when the revocation list is older than this (0: any age)")
	at := fs.String("at", "", "verify as of this RFC 3339 time instead of now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(publics) == 0 {
		return fmt.Errorf("%w: verify needs at least one --public", errUsage)
	}
	opts := licensekey.VerifyOptions{Keys: licensekey.KeySet{}, Now: time.Now(), Fingerprint: *fingerprint, MaxRevocationAge: *maxAge}
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

// issuerFrom reads a PEM private signing key.
func issuerFrom(file string) (*licenseissue.Issuer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	priv, err := licensekey.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return licenseissue.New(priv)
}

// formatFlag parses --format.
func formatFlag(value string) (licensekey.Format, error) {
	switch f := licensekey.Format(value); f {
	case licensekey.FormatJWS, licensekey.FormatLegacy:
		return f, nil
	}
	return "", fmt.Errorf("%w: --format is JWS or Legacy, not %q", errUsage, value)
}

// rfc3339Flag parses an optional RFC 3339 time, def when empty.
func rfc3339Flag(name, value string, def time.Time) (time.Time, error) {
	if value == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s %q is not RFC 3339", errUsage, name, value)
	}
	return t, nil
}

func issue(args []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("issue", flag.ContinueOnError)
	private := fs.String("private", "", "the private signing key (PEM)")
	format := fs.String("format", string(licensekey.FormatJWS), "JWS or Legacy")
	product := fs.String("product", "", "KooGallery product ID (iss)")
	instance := fs.String("instance", "", "instance ID (sub)")
	licence := fs.String("licence", "", "licence ID (jti); defaults to the instance ID")
	sku := fs.String("sku", "", "specification code")
	var features listFlag
	fs.Var(&features, "feature", "a feature the key grants; repeat for more")
	fingerprint := fs.String("fingerprint", "", "bind the key to this device fingerprint")
	notBefore := fs.String("not-before", "", "RFC 3339 start of the window (default now)")
	notAfter := fs.String("not-after", "", "RFC 3339 end of the window (default --days after the start)")
	days := fs.Int("days", 365, "length of the window in days, without --not-after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *private == "" || *product == "" || *instance == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: issue needs --private, --product and --instance, and no arguments", errUsage)
	}
	f, err := formatFlag(*format)
	if err != nil {
		return err
	}
	now := time.Now()
	start, err := rfc3339Flag("not-before", *notBefore, now)
	if err != nil {
		return err
	}
	end, err := rfc3339Flag("not-after", *notAfter, start.AddDate(0, 0, *days))
	if err != nil {
		return err
	}
	issuer, err := issuerFrom(*private)
	if err != nil {
		return err
	}
	if *licence == "" {
		*licence = *instance
	}
	token, err := issuer.Sign(licensekey.Claims{LicenseID: *licence, InstanceID: *instance, ProductID: *product, SKU: *sku,
		Features: features, NotBefore: start.Unix(), NotAfter: end.Unix(), Device: *fingerprint, IssuedAt: now.Unix()}, f)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

func revocations(args []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("revocations", flag.ContinueOnError)
	private := fs.String("private", "", "the private signing key (PEM)")
	format := fs.String("format", string(licensekey.FormatJWS), "JWS or Legacy")
	product := fs.String("product", "", "KooGallery product ID (iss)")
	var frozen, released listFlag
	fs.Var(&frozen, "frozen", "a frozen instance ID; repeat for more")
	fs.Var(&released, "released", "a released instance ID; repeat for more")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *private == "" || *product == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: revocations needs --private and --product, and no arguments", errUsage)
	}
	f, err := formatFlag(*format)
	if err != nil {
		return err
	}
	issuer, err := issuerFrom(*private)
	if err != nil {
		return err
	}
	list := licensekey.RevocationList{ProductID: *product, IssuedAt: time.Now().Unix()}
	for _, id := range frozen {
		list.Revoked = append(list.Revoked, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonFrozen})
	}
	for _, id := range released {
		list.Revoked = append(list.Revoked, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonReleased})
	}
	token, err := issuer.SignRevocationList(list, f)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
