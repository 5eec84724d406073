package kubectlkooper

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kooper-io/kooper/api/licensekey"
	"github.com/kooper-io/kooper/internal/licenseissue"
	"github.com/kooper-io/kooper/webhook"
)

// newLicenseCommand is `license`: licence keys and revocation lists, in
// either format (JWS or Legacy, docs/licence-keys.md), verified with
// api/licensekey and signed with internal/licenseissue, as kooper does.
func newLicenseCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "license",
		Short: "Make signing keys, and issue, inspect and verify licence keys and revocation lists",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newLicenseKeygenCommand(e), newLicenseInspectCommand(e), newLicenseVerifyCommand(e),
		newLicenseIssueCommand(e), newRevocationsCommand(e))
	return cmd
}

func newLicenseKeygenCommand(e *env) *cobra.Command {
	var private, public string
	cmd := &cobra.Command{
		Use:   "keygen --private FILE --public FILE",
		Short: "Create an Ed25519 signing key (PEM, PKCS #8, mode 0600) and its public key (PEM)",
		Long: `Create an Ed25519 signing key (PEM, PKCS #8, mode 0600, never overwriting a file) and its
public key (PEM). Put the private key in the product's keys Secret under licenseSigningKey;
ship the public key with your software.`,
		Example: "  kubectl kooper license keygen --private signing.pem --public public.pem",
		Args:    noArgs,
		RunE: runE(func(_ *cobra.Command, _ []string) error {
			if filepath.Clean(private) == filepath.Clean(public) {
				return usagef("--private and --public name the same file, %s: the public key would overwrite the private one", private)
			}
			return licenseKeygen(e.Streams.Out, private, public)
		}),
	}
	cmd.Flags().StringVar(&private, "private", "", "file to write the private signing key to (created, mode 0600)")
	cmd.Flags().StringVar(&public, "public", "", "file to write the public key to")
	markRequired(cmd, "private", "public")
	return cmd
}

// markRequired marks flags required; cobra's "required flag(s) not set" is
// a usage error (see Run).
func markRequired(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		if err := cmd.MarkFlagRequired(name); err != nil {
			panic(err) // a flag name typed wrong here: a bug, caught by every test
		}
	}
}

// licenseKeygen writes a new signing key pair to private and public and
// prints the key ID, the raw public key and how to store the private key.
func licenseKeygen(out io.Writer, private, public string) error {
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
	if err := writeNewFile(private, privPEM); err != nil {
		return err
	}
	if err := os.WriteFile(public, pubPEM, 0o644); err != nil {
		// Without its public key and ID the new private key is of no use,
		// and left in place it would make every rerun fail on "file exists".
		_ = os.Remove(private)
		return err
	}
	fmt.Fprintf(out, "key ID %s\npublic key (raw, base64url) %s\nAdd the private key to the product's keys Secret, for example:\n"+
		"  kubectl -n kooper-system patch secret <keys Secret> --type merge -p \"$(printf '{\"data\":{\"licenseSigningKey\":\"%%s\"}}' \"$(base64 -w0 %s)\")\"\n",
		licensekey.KeyID(pub), base64.RawURLEncoding.EncodeToString(pub), private)
	return nil
}

func newLicenseInspectCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect KEY|-",
		Short: "Print what a licence key (JWS or Legacy) says, without checking its signature",
		Long: `Print what a licence key says, without checking its signature, under the claim names
of its own format: iss, sub, jti, iat, nbf, exp, sku, features, fingerprint for a JWS;
pid, iid, lid, iat, nbf, exp, sku, features, dev for a Legacy key. Use verify to trust it.`,
		Example: `  kubectl kooper license inspect "$KEY"
  kubectl get secret -n kooper-system license-i-0123456789abcdef0123 -o jsonpath='{.data.licenseKey}' | base64 -d | kubectl kooper license inspect -`,
		Args: exactArgs(1, "one licence key, or - to read it from stdin"),
		RunE: runE(func(_ *cobra.Command, args []string) error {
			key, err := readToken(args[0], e.Streams.In)
			if err != nil {
				return err
			}
			t, err := licensekey.Parse(key)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Streams.Out, "# signature NOT checked; use verify to trust this key")
			return printClaims(e.Streams.Out, &t.Claims)
		}),
	}
}

// readToken is a licence key or revocation list argument, or stdin for "-".
func readToken(arg string, stdin io.Reader) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, licensekey.MaxTokenLength+1))
	return strings.TrimSpace(string(data)), err
}

// jwsClaimsView is a JWS licence's claims under their JWS names
// (docs/licence-keys.md), with the times also in RFC 3339.
type jwsClaimsView struct {
	Format        licensekey.Format `json:"format"`
	KeyID         string            `json:"kid"`
	Issuer        string            `json:"iss"`
	Subject       string            `json:"sub"`
	ID            string            `json:"jti"`
	IssuedAt      int64             `json:"iat"`
	NotBefore     int64             `json:"nbf"`
	Expiry        int64             `json:"exp"`
	SKU           string            `json:"sku"`
	Features      []string          `json:"features"`
	Fingerprint   string            `json:"fingerprint,omitempty"`
	IssuedAtTime  string            `json:"issuedAt"`
	NotBeforeTime string            `json:"notBefore"`
	NotAfterTime  string            `json:"notAfter"`
}

// legacyClaimsView is a Legacy key's claims under its own names.
type legacyClaimsView struct {
	licensekey.Claims
	Format        licensekey.Format `json:"format"`
	IssuedAtTime  string            `json:"issuedAt"`
	NotBeforeTime string            `json:"notBefore"`
	NotAfterTime  string            `json:"notAfter"`
}

// printClaims prints c as indented JSON under its format's claim names.
func printClaims(w io.Writer, c *licensekey.Claims) error {
	rfc := func(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }
	var view any = legacyClaimsView{Claims: *c, Format: c.Format,
		IssuedAtTime: rfc(c.IssuedAt), NotBeforeTime: rfc(c.NotBefore), NotAfterTime: rfc(c.NotAfter)}
	if c.Format == licensekey.FormatJWS {
		view = jwsClaimsView{Format: c.Format, KeyID: c.KeyID, Issuer: c.ProductID, Subject: c.InstanceID, ID: c.LicenseID,
			IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Expiry: c.NotAfter, SKU: c.SKU, Features: c.Features, Fingerprint: c.Device,
			IssuedAtTime: rfc(c.IssuedAt), NotBeforeTime: rfc(c.NotBefore), NotAfterTime: rfc(c.NotAfter)}
	}
	return printJSON(w, view)
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// publicKeys reads each --public: a file (PEM or base64), or the key itself
// (the raw key in base64url, as keygen prints it, or a PEM block).
func publicKeys(values []string) (licensekey.KeySet, error) {
	keys := licensekey.KeySet{}
	for _, value := range values {
		data, err := os.ReadFile(value)
		source := value
		if err != nil {
			if strings.ContainsAny(value, "/\\") && !strings.Contains(value, "-----BEGIN") {
				return nil, err // a path that does not exist, not a key
			}
			data, source = []byte(value), "the --public value"
		}
		pub, err := licensekey.ParsePublicKey(data)
		switch {
		case err != nil && source == "the --public value":
			return nil, fmt.Errorf("%s %q is no file here, and as a key: %w", source, value, err)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		keys.Add(pub)
	}
	return keys, nil
}

// verifyFlags are verify's flags.
type verifyFlags struct {
	publics          []string
	product          string
	fingerprint      string
	revoked          string
	maxRevocationAge time.Duration
	at               string
}

func newLicenseVerifyCommand(e *env) *cobra.Command {
	f := &verifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify --public KEY|FILE [--public ...] --product ID [--fingerprint FP] [--revoked FILE|URL] KEY|-",
		Short: "Check a licence key's signature, window, device and revocation; exit 1 if it is not valid",
		Example: `  kubectl kooper license verify --public public.pem --product OFFI846204237451911168 --fingerprint 8f2c-01 "$KEY"
  kubectl kooper license verify --public 0wRk...raw-base64url... --product OFFI846204237451911168 --revoked https://cad.example.com/koogallery/cad-desktop/licenses/revoked "$KEY"`,
		Args: exactArgs(1, "one licence key, or - to read it from stdin"),
		RunE: runE(func(_ *cobra.Command, args []string) error {
			return f.verify(e, args[0])
		}),
	}
	cmd.Flags().StringArrayVar(&f.publics, "public", nil, "a public key: a file (PEM or base64), or the key itself (base64url raw, as keygen prints); repeat to trust retired keys too")
	cmd.Flags().StringVar(&f.product, "product", "", "your KooGallery product ID (the key's iss, or pid); a key or a revocation list of another product is refused")
	cmd.Flags().StringVar(&f.fingerprint, "fingerprint", "", "this device's fingerprint")
	cmd.Flags().StringVar(&f.revoked, "revoked", "", "revocation list: a file, or the receiver's http(s) URL")
	cmd.Flags().DurationVar(&f.maxRevocationAge, "max-revocation-age", 0, "refuse the key when the revocation list is older than this (0: any age)")
	cmd.Flags().StringVar(&f.at, "at", "", "verify as of this RFC 3339 time instead of now")
	markRequired(cmd, "public", "product")
	return cmd
}

// verify checks the key arg and prints its claims.
func (f *verifyFlags) verify(e *env, arg string) error {
	keys, err := publicKeys(f.publics)
	if err != nil {
		return err
	}
	opts := licensekey.VerifyOptions{ProductID: f.product, Keys: keys, Now: e.Now(), Fingerprint: f.fingerprint, MaxRevocationAge: f.maxRevocationAge}
	if opts.Now, err = rfc3339Flag("at", f.at, opts.Now); err != nil {
		return err
	}
	if f.revoked != "" {
		if opts.Revoked, err = loadRevocations(f.revoked, e.Streams.In, keys); err != nil {
			return fmt.Errorf("revocation list: %w", err)
		}
	}
	key, err := readToken(arg, e.Streams.In)
	if err != nil {
		return err
	}
	claims, err := licensekey.Verify(key, opts)
	if err != nil {
		if errors.Is(err, licensekey.ErrWrongDevice) && f.fingerprint == "" {
			return fmt.Errorf("licence key NOT valid: %w: it is bound to a device: pass --fingerprint <the device's fingerprint>", err)
		}
		return fmt.Errorf("licence key NOT valid: %w", err)
	}
	fmt.Fprintln(e.Streams.Out, "# licence key valid")
	return printClaims(e.Streams.Out, claims)
}

// loadRevocations reads a revocation list from a file, an http(s) URL or
// stdin ("-"), and verifies it with keys.
func loadRevocations(source string, stdin io.Reader, keys licensekey.KeySet) (*licensekey.RevocationList, error) {
	var data []byte
	var err error
	isURL := strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
	switch {
	case source == "-":
		data, err = io.ReadAll(io.LimitReader(stdin, licensekey.MaxTokenLength+1))
	case isURL:
		return fetchRevocations(source, keys)
	default:
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return nil, err
	}
	return licensekey.ParseRevocationList(strings.TrimSpace(string(data)), keys)
}

// revocationsURLHint is the next step when a URL gave no revocation list.
var revocationsURLHint = "the receiver serves a License product's list (a SaaS product has none) at https://<receiver>" + webhookRevocationPath

// webhookRevocationPath is webhook.RevocationListPath as a person writes it.
var webhookRevocationPath = strings.ReplaceAll(webhook.RevocationListPath, "{product}", "<product>")

// fetchRevocations GETs a revocation list, at most MaxTokenLength bytes, in
// 10 s, and verifies it with keys. When the answer is not a list (an error
// status, or the receiver's JSON answer to a URL it serves no list at), the
// error says the HTTP status, the answer's resultCode and resultMsg, and
// where the list is.
func fetchRevocations(url string, keys licensekey.KeySet) (*licensekey.RevocationList, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, licensekey.MaxTokenLength+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered HTTP %s%s, not a revocation list: %s", url, resp.Status, envelopeOf(data), revocationsURLHint)
	}
	list, err := licensekey.ParseRevocationList(strings.TrimSpace(string(data)), keys)
	if err != nil {
		if envelope := envelopeOf(data); envelope != "" {
			return nil, fmt.Errorf("GET %s answered HTTP %s%s, not a revocation list: %s", url, resp.Status, envelope, revocationsURLHint)
		}
		return nil, err
	}
	return list, nil
}

// envelopeOf is ` with resultCode X "msg"` when data is the receiver's JSON
// answer envelope, else empty.
func envelopeOf(data []byte) string {
	var answer struct {
		ResultCode string `json:"resultCode"`
		ResultMsg  string `json:"resultMsg"`
	}
	if json.Unmarshal(data, &answer) != nil || answer.ResultCode == "" {
		return ""
	}
	return fmt.Sprintf(" with resultCode %s %q", answer.ResultCode, answer.ResultMsg)
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
	return "", usagef("--format is JWS or Legacy, not %q", value)
}

// rfc3339Flag parses an optional RFC 3339 time, def when empty.
func rfc3339Flag(name, value string, def time.Time) (time.Time, error) {
	if value == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, usagef("--%s %q is not RFC 3339", name, value)
	}
	return t, nil
}

// issueFlags are issue's flags.
type issueFlags struct {
	private, format, product, instance, licence, sku, fingerprint, notBefore, notAfter string
	features                                                                           []string
	days                                                                               int
}

func newLicenseIssueCommand(e *env) *cobra.Command {
	f := &issueFlags{}
	cmd := &cobra.Command{
		Use:   "issue --private FILE --product ID --instance ID [--sku SKU] [--feature F]... [--fingerprint FP] [--not-after TIME | --days N] [--format JWS|Legacy]",
		Short: "Sign a licence key, as kooper would, to test your software's verifier with; prints the key",
		Example: `  kubectl kooper license issue --private signing.pem --product OFFI846204237451911168 \
    --instance i-test --sku basic --feature reports --days 30`,
		Args: noArgs,
		RunE: runE(func(_ *cobra.Command, _ []string) error { return f.issue(e) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.private, "private", "", "the private signing key (PEM)")
	fs.StringVar(&f.format, "format", string(licensekey.FormatJWS), "JWS or Legacy")
	fs.StringVar(&f.product, "product", "", "KooGallery product ID (iss)")
	fs.StringVar(&f.instance, "instance", "", "instance ID (sub)")
	fs.StringVar(&f.licence, "licence", "", "licence ID (jti); defaults to the instance ID")
	fs.StringVar(&f.sku, "sku", "", "specification code")
	fs.StringArrayVar(&f.features, "feature", nil, "a feature the key grants; repeat for more")
	fs.StringVar(&f.fingerprint, "fingerprint", "", "bind the key to this device fingerprint")
	fs.StringVar(&f.notBefore, "not-before", "", "RFC 3339 start of the window (default now)")
	fs.StringVar(&f.notAfter, "not-after", "", "RFC 3339 end of the window (default --days after the start)")
	fs.IntVar(&f.days, "days", 365, "length of the window in days, without --not-after")
	markRequired(cmd, "private", "product", "instance")
	return cmd
}

// issue signs the key and prints it: printing it is the command's purpose.
func (f *issueFlags) issue(e *env) error {
	format, err := formatFlag(f.format)
	if err != nil {
		return err
	}
	if f.notAfter == "" && f.days <= 0 {
		return usagef("--days must be at least 1, not %d (or give --not-after)", f.days)
	}
	now := e.Now()
	start, err := rfc3339Flag("not-before", f.notBefore, now)
	if err != nil {
		return err
	}
	// Days of 24 hours, as the controller's validityDays: start may be in
	// the local zone, where a day may have 23 or 25 hours.
	end, err := rfc3339Flag("not-after", f.notAfter, start.UTC().AddDate(0, 0, f.days))
	if err != nil {
		return err
	}
	issuer, err := issuerFrom(f.private)
	if err != nil {
		return err
	}
	licence := f.licence
	if licence == "" {
		licence = f.instance
	}
	token, err := issuer.Sign(licensekey.Claims{LicenseID: licence, InstanceID: f.instance, ProductID: f.product, SKU: f.sku,
		Features: f.features, NotBefore: start.Unix(), NotAfter: end.Unix(), Device: f.fingerprint, IssuedAt: now.Unix()}, format)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.Streams.Out, token)
	return err
}

// writeNewFile creates path with mode 0600 and writes data to it. It never
// overwrites a file (O_EXCL: a key in use stays), and removes what it
// created when the write fails, so no partial key is left behind.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
