package kubectlkooper

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kooper-io/kooper/api/licensekey"
)

// newRevocationsCommand is `license revocations`: sign a revocation list as
// kooper's receiver would, or read and verify one.
func newRevocationsCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revocations",
		Short: "Sign a revocation list to test your verifier with, or verify and print one",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newRevocationsIssueCommand(e), newRevocationsVerifyCommand(e))
	return cmd
}

// revocationsIssueFlags are `revocations issue`'s flags.
type revocationsIssueFlags struct {
	private, product, format string
	frozen, released         []string
}

func newRevocationsIssueCommand(e *env) *cobra.Command {
	f := &revocationsIssueFlags{}
	cmd := &cobra.Command{
		Use:     "issue --private FILE --product ID [--frozen ID]... [--released ID]... [--format JWS|Legacy]",
		Short:   "Sign a revocation list, as kooper's receiver would; prints it",
		Example: "  kubectl kooper license revocations issue --private signing.pem --product OFFI846204237451911168 --frozen i-test > revoked.jws",
		Args:    noArgs,
		RunE:    runE(func(_ *cobra.Command, _ []string) error { return f.issue(e) }),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.private, "private", "", "the private signing key (PEM)")
	fs.StringVar(&f.product, "product", "", "KooGallery product ID (iss)")
	fs.StringVar(&f.format, "format", string(licensekey.FormatJWS), "JWS or Legacy")
	fs.StringArrayVar(&f.frozen, "frozen", nil, "a frozen instance ID; repeat for more")
	fs.StringArrayVar(&f.released, "released", nil, "a released instance ID; repeat for more")
	markRequired(cmd, "private", "product")
	return cmd
}

func (f *revocationsIssueFlags) issue(e *env) error {
	format, err := formatFlag(f.format)
	if err != nil {
		return err
	}
	issuer, err := issuerFrom(f.private)
	if err != nil {
		return err
	}
	list := licensekey.RevocationList{ProductID: f.product, IssuedAt: e.Now().Unix()}
	for _, id := range f.frozen {
		list.Revoked = append(list.Revoked, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonFrozen})
	}
	for _, id := range f.released {
		list.Revoked = append(list.Revoked, licensekey.Revocation{InstanceID: id, Reason: licensekey.ReasonReleased})
	}
	token, err := issuer.SignRevocationList(list, format)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.Streams.Out, token)
	return err
}

func newRevocationsVerifyCommand(e *env) *cobra.Command {
	var publics []string
	cmd := &cobra.Command{
		Use:   "verify --public KEY|FILE [--public ...] FILE|URL|-",
		Short: "Verify a revocation list's signature and print what it revokes; exit 1 if it does not verify",
		Example: `  kubectl kooper license revocations verify --public public.pem https://cad.example.com/koogallery/cad-desktop/licenses/revoked
  kubectl kooper license revocations verify --public public.pem revoked.jws`,
		Args: exactArgs(1, "one revocation list: a file, an http(s) URL, or - for stdin"),
		RunE: runE(func(_ *cobra.Command, args []string) error {
			keys, err := publicKeys(publics)
			if err != nil {
				return err
			}
			list, err := loadRevocations(args[0], e.Streams.In, keys)
			if err != nil {
				return fmt.Errorf("revocation list NOT valid: %w", err)
			}
			fmt.Fprintln(e.Streams.Out, "# revocation list valid")
			return printJSON(e.Streams.Out, revocationsView(list))
		}),
	}
	cmd.Flags().StringArrayVar(&publics, "public", nil, "a public key: a file (PEM or base64), or the key itself (base64url raw); repeat to trust retired keys too")
	markRequired(cmd, "public")
	return cmd
}

// revokedView is one revoked instance under its format's names.
type revokedView struct {
	Subject    string `json:"sub,omitempty"`
	InstanceID string `json:"iid,omitempty"`
	Reason     string `json:"reason"`
}

// revocationListView is a list under its format's claim names (iss and sub
// for a JWS; pid and iid for a Legacy list), with its time in RFC 3339.
type revocationListView struct {
	Format       licensekey.Format `json:"format"`
	KeyID        string            `json:"kid,omitempty"`
	Issuer       string            `json:"iss,omitempty"`
	ProductID    string            `json:"pid,omitempty"`
	IssuedAt     int64             `json:"iat"`
	IssuedAtTime string            `json:"issuedAt"`
	Revoked      []revokedView     `json:"revoked"`
}

func revocationsView(l *licensekey.RevocationList) revocationListView {
	v := revocationListView{Format: l.Format, KeyID: l.KeyID, IssuedAt: l.IssuedAt,
		IssuedAtTime: time.Unix(l.IssuedAt, 0).UTC().Format(time.RFC3339), Revoked: []revokedView{}}
	jws := l.Format == licensekey.FormatJWS
	if jws {
		v.Issuer = l.ProductID
	} else {
		v.ProductID = l.ProductID
	}
	for _, r := range l.Revoked {
		entry := revokedView{InstanceID: r.InstanceID, Reason: r.Reason}
		if jws {
			entry = revokedView{Subject: r.InstanceID, Reason: r.Reason}
		}
		v.Revoked = append(v.Revoked, entry)
	}
	return v
}
