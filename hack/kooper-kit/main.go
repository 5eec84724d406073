// Command kooper-kit prepares a joint-operation (联营) product's RSA key pair:
//
//	kooper-kit keygen [--bits 3072] [--secret NAME] [--namespace NS] [--private FILE]
//	kooper-kit pubkey [--pem] [FILE|-]
//
// keygen writes a Secret manifest holding the private key under
// rsaPrivateKey (merge it into the product's keys Secret, beside basicKey
// and kitKey) and prints the public key to register in the Seller Console
// (应用凭证申请). pubkey prints the public key of an existing private key, a
// PEM file or a Secret manifest such as `kubectl get secret -o yaml` prints.
package main

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

const usage = `Usage:
  kooper-kit keygen [--bits 3072] [--secret NAME] [--namespace NS] [--private FILE]
      Create an RSA key pair (at least 3072 bits). Print a Secret manifest with the
      private key under rsaPrivateKey (or write the PEM to --private, mode 0600),
      and the public key to register in the Seller Console on stderr.
  kooper-kit pubkey [--pem] [FILE|-]
      Print the public key (Base64 DER, or PEM with --pem) of a PEM private key
      or of a Secret manifest holding rsaPrivateKey.
`

var errUsage = errors.New("wrong usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command, with its streams, so tests can drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func([]string, io.Reader, io.Writer, io.Writer) error{"keygen": keygen, "pubkey": pubkey}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err := cmd(args[1:], stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "kooper-kit:", err)
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func keygen(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bits := fs.Int("bits", koogallery.MinRSABits, "key size in bits, at least 3072")
	secret := fs.String("secret", "kooper-product-kit-key", "name of the Secret in the manifest")
	namespace := fs.String("namespace", "kooper-system", "namespace of the Secret in the manifest")
	private := fs.String("private", "", "write the private key PEM to this file instead of printing a manifest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := koogallery.GenerateRSAKey(*bits)
	if err != nil {
		return err
	}
	pemKey, err := koogallery.PrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if *private != "" {
		if err := os.WriteFile(*private, pemKey, 0o600); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\ntype: Opaque\ndata:\n  %s: %s\n",
			*secret, *namespace, saasv1alpha1.RSAPrivateKeySecretKey, base64.StdEncoding.EncodeToString(pemKey))
	}
	fmt.Fprintln(stderr, "Register this public key (RSA, OAEP) in the Seller Console:")
	return printPublic(stderr, &key.PublicKey, false)
}

func pubkey(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pubkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asPEM := fs.Bool("pem", false, "print PEM (SubjectPublicKeyInfo) rather than one line of Base64 DER")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("at most one file: %w", errUsage)
	}
	data, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		return err
	}
	key, err := privateKeyFrom(data)
	if err != nil {
		return err
	}
	return printPublic(stdout, &key.PublicKey, *asPEM)
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "" || name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// secretEntry finds "rsaPrivateKey: <base64>" in a Secret manifest (YAML or
// JSON); a regular expression is enough for the one value needed.
var secretEntry = regexp.MustCompile(`"?` + saasv1alpha1.RSAPrivateKeySecretKey + `"?\s*:\s*"?([A-Za-z0-9+/=]+)"?`)

// privateKeyFrom reads a PEM private key, or a Secret manifest holding one.
func privateKeyFrom(data []byte) (*rsa.PrivateKey, error) {
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

func printPublic(w io.Writer, pub *rsa.PublicKey, asPEM bool) error {
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
