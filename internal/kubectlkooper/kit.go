package kubectlkooper

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// newKitCommand is `kit`: a joint-operation (联营) product's RSA key pair,
// which decrypts the kit's clientSecret (docs/concepts.md).
func newKitCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kit",
		Short: "Make and show a joint-operation product's RSA key pair (rsaPrivateKey)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(newKitKeygenCommand(e), newKitPubkeyCommand(e))
	return cmd
}

// kitKeygenFlags are `kit keygen`'s flags.
type kitKeygenFlags struct {
	bits              int
	secret, namespace string
	private           string
	patch             bool
}

func newKitKeygenCommand(e *env) *cobra.Command {
	f := &kitKeygenFlags{}
	cmd := &cobra.Command{
		Use:   "keygen [--bits 3072] [--patch | --secret NAME | --private FILE]",
		Short: "Create an RSA key pair; print a merge patch or Secret manifest holding the private key, and the public key to register",
		Long: `Create an RSA key pair (at least 3072 bits). kooper reads the private key from the product's keys
Secret (spec.keysSecretName), under rsaPrivateKey, beside basicKey and kitKey. With --patch,
print a JSON merge patch that adds it there (kubectl patch secret <keys Secret> --type merge
--patch-file ...); else print a Secret manifest named --secret in kooper's namespace (-n,
default kooper-system), whose rsaPrivateKey must still be merged into the keys Secret; or write
the PEM to --private (mode 0600). The public key to register in the Seller Console
(应用凭证申请) goes to stderr.`,
		Example: `  kubectl kooper kit keygen --patch > rsa-patch.json
  kubectl -n kooper-system patch secret crm-marketplace-keys --type merge --patch-file rsa-patch.json
  kubectl kooper kit pubkey --secret crm-marketplace-keys`,
		Args: noArgs,
		RunE: runE(func(_ *cobra.Command, _ []string) error {
			f.namespace = defaultNamespace
			if e.kube.Namespace != nil && *e.kube.Namespace != "" {
				f.namespace = *e.kube.Namespace
			}
			if f.bits < koogallery.MinRSABits {
				return usagef("--bits must be at least %d (spec §4.2), not %d", koogallery.MinRSABits, f.bits)
			}
			return f.keygen(e.Streams.Out, e.Streams.ErrOut)
		}),
	}
	cmd.Flags().IntVar(&f.bits, "bits", koogallery.MinRSABits, "key size in bits, at least 3072")
	cmd.Flags().StringVar(&f.secret, "secret", "kooper-product-kit-key", "name of the Secret in the manifest")
	cmd.Flags().StringVar(&f.private, "private", "", "write the private key PEM to this new file (mode 0600, never over an existing one) instead of printing a manifest")
	cmd.Flags().BoolVar(&f.patch, "patch", false, "print a JSON merge patch adding rsaPrivateKey to the product's keys Secret instead of a manifest")
	cmd.MarkFlagsMutuallyExclusive("patch", "private")
	cmd.MarkFlagsMutuallyExclusive("patch", "secret")
	return cmd
}

// keygen prints the manifest (its purpose: the private key goes into the
// cluster through it) or writes the PEM file, then the public key.
func (f *kitKeygenFlags) keygen(out, errOut io.Writer) error {
	key, err := koogallery.GenerateRSAKey(f.bits)
	if err != nil {
		return err
	}
	pemKey, err := koogallery.PrivateKeyPEM(key)
	if err != nil {
		return err
	}
	switch {
	case f.private != "":
		// Never over a file: it may hold the key the Seller Console has.
		if err := writeNewFile(f.private, pemKey); err != nil {
			return err
		}
	case f.patch:
		fmt.Fprintf(out, "{\"data\":{\"%s\":\"%s\"}}\n", saasv1alpha1.RSAPrivateKeySecretKey, base64.StdEncoding.EncodeToString(pemKey))
	default:
		fmt.Fprintf(out, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\ntype: Opaque\ndata:\n  %s: %s\n",
			f.secret, f.namespace, saasv1alpha1.RSAPrivateKeySecretKey, base64.StdEncoding.EncodeToString(pemKey))
	}
	fmt.Fprintln(errOut, "Register this public key (RSA, OAEP) in the Seller Console:")
	return printRSAPublic(errOut, &key.PublicKey, false)
}

func newKitPubkeyCommand(e *env) *cobra.Command {
	var asPEM bool
	var secret string
	cmd := &cobra.Command{
		Use:   "pubkey [--pem] [--secret NAME | FILE | -]",
		Short: "Print the public key of a PEM private key, a Secret manifest, or a Secret in kooper's namespace",
		Example: `  kubectl kooper kit pubkey --secret crm-marketplace-keys
  kubectl -n kooper-system get secret crm-marketplace-keys -o yaml | kubectl kooper kit pubkey`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 || (secret != "" && len(args) > 0) {
				return usagef("give at most one of --secret, a file, or -")
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if secret != "" {
				data, err = e.secretValue(cmd.Context(), secret, saasv1alpha1.RSAPrivateKeySecretKey)
			} else {
				data, err = readInput(args, e.Streams.In)
			}
			if err != nil {
				return err
			}
			key, err := rsaPrivateKeyFrom(data)
			if err != nil {
				return err
			}
			return printRSAPublic(e.Streams.Out, &key.PublicKey, asPEM)
		}),
	}
	cmd.Flags().BoolVar(&asPEM, "pem", false, "print PEM (SubjectPublicKeyInfo) rather than one line of Base64 DER")
	cmd.Flags().StringVar(&secret, "secret", "", "read rsaPrivateKey from this Secret in kooper's namespace")
	return cmd
}

// secretValue reads one key of a Secret in kooper's namespace.
func (e *env) secretValue(ctx context.Context, name, key string) ([]byte, error) {
	c, err := e.clients()
	if err != nil {
		return nil, err
	}
	ns := e.namespace(ctx, c)
	s := &corev1.Secret{}
	if err := c.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		return nil, fmt.Errorf("failed to read Secret %s/%s: %w", ns, name, err)
	}
	value, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no %s", ns, name, key)
	}
	return value, nil
}

// readInput reads the file args names, or stdin for none or "-".
func readInput(args []string, stdin io.Reader) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(args[0])
}

// secretEntry finds "rsaPrivateKey: <base64>" in a Secret manifest (YAML or
// JSON); a regular expression is enough for the one value needed.
var secretEntry = regexp.MustCompile(`"?` + saasv1alpha1.RSAPrivateKeySecretKey + `"?\s*:\s*"?([A-Za-z0-9+/=]+)"?`)

// rsaPrivateKeyFrom reads a PEM private key, or a Secret manifest holding one.
func rsaPrivateKeyFrom(data []byte) (*rsa.PrivateKey, error) {
	if !strings.Contains(string(data), "-----BEGIN") {
		m := secretEntry.FindSubmatch(data)
		if m == nil {
			return nil, errors.New("the input is neither a PEM private key nor a Secret with rsaPrivateKey")
		}
		decoded, err := base64.StdEncoding.DecodeString(string(m[1]))
		if err != nil {
			return nil, fmt.Errorf("rsaPrivateKey is not Base64: %w", err)
		}
		data = decoded
	}
	return koogallery.ParseRSAPrivateKey(data)
}

// printRSAPublic prints pub as PEM or one line of Base64 DER.
func printRSAPublic(w io.Writer, pub *rsa.PublicKey, asPEM bool) error {
	if asPEM {
		out, err := koogallery.PublicKeyPEM(pub)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	out, err := koogallery.PublicKeyBase64(pub)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, out)
	return err
}
