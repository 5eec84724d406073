// Package productkeys judges a product's keys Secret by what the parts of
// kooper using each key accept, for the product controller's KeysAvailable
// and `kubectl kooper check` alike.
package productkeys

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// Unusable names the first key product requires (RequiredSecretKeys) that
// secret holds but the part using it would refuse, and says why without
// its value: licences stall on a licenseSigningKey that is not a PEM
// Ed25519 private key, and the revocation list answers 503; applicationSync
// is answered 000005 on an rsaPrivateKey that is not a PEM RSA key of at
// least 3072 bits; a marketplace key (basicKey, kitKey, accessKeyId,
// secretAccessKey, or one of their name.<suffix> rotations) that is not
// printable ASCII (NotPrintableASCII) signs what the marketplace never
// does, and every call with it fails (000001). "" when every key there is
// usable (a missing key is the caller's to report).
func Unusable(product *saasv1alpha1.SaaSProduct, secret *corev1.Secret) (name, why string) {
	for _, name := range product.RequiredSecretKeys() {
		data, ok := secret.Data[name]
		if !ok {
			continue
		}
		switch name {
		case saasv1alpha1.LicenseSigningKeySecretKey:
			if _, err := licensekey.ParsePrivateKeyPEM(data); err != nil {
				return name, "it is not a PEM Ed25519 private key"
			}
		case saasv1alpha1.RSAPrivateKeySecretKey:
			if _, err := koogallery.ParseRSAPrivateKey(data); err != nil {
				return name, err.Error() // names no part of the key
			}
		case saasv1alpha1.BasicKeySecretKey, saasv1alpha1.KitKeySecretKey,
			saasv1alpha1.AccessKeyIDSecretKey, saasv1alpha1.SecretAccessKeySecretKey:
			if bad := notPrintableASCII(secret, name); bad != "" {
				return bad, NotPrintableASCII
			}
		}
	}
	return "", ""
}

// NotPrintableASCII is why Unusable refuses a marketplace key holding a
// byte outside printable ASCII (space to ~). The keys the Seller Console
// shows are letters and digits; other bytes come from the file the Secret
// was made from: UTF-16 (Windows PowerShell 5's Out-File and >, Notepad's
// "Unicode") or a second byte order mark. KeyText drops white space and one
// leading UTF-8 byte order mark.
const NotPrintableASCII = "it holds a byte that is not printable ASCII (a file saved as UTF-16?): " +
	"re-create the Secret from a UTF-8 file without BOM, or with --from-literal"

// notPrintableASCII returns the first of name and its name.<suffix>
// rotations, in name order, whose text (KeyText) holds a byte outside
// printable ASCII; "" when none does.
func notPrintableASCII(secret *corev1.Secret, name string) string {
	names := []string{name}
	var rotated []string
	for n := range secret.Data {
		if strings.HasPrefix(n, name+".") {
			rotated = append(rotated, n)
		}
	}
	slices.Sort(rotated)
	for _, n := range append(names, rotated...) {
		if !printableASCII(koogallery.KeyText(secret.Data[n])) {
			return n
		}
	}
	return ""
}

// printableASCII reports whether every byte of s is printable ASCII.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Key is one key of a product's keys Secret: its name there (basicKey, or
// basicKey.<suffix> during a rotation), which may be logged, and its value,
// which must never be.
type Key struct {
	Name, Value string
}

// Named returns the keys of secret called name: name itself, then every
// name.<suffix> in name order (a rotation adds the new key beside the old,
// docs/concepts.md), each without white space around it
// (koogallery.KeyText); empty ones are left out. The receiver verifies
// callbacks with each, and the metering controller signs usage pushes with
// each in turn.
func Named(secret *corev1.Secret, name string) []Key {
	var keys []Key
	if primary := koogallery.KeyText(secret.Data[name]); primary != "" {
		keys = append(keys, Key{Name: name, Value: primary})
	}
	var rotated []string
	for n, value := range secret.Data {
		if strings.HasPrefix(n, name+".") && koogallery.KeyText(value) != "" {
			rotated = append(rotated, n)
		}
	}
	slices.Sort(rotated)
	for _, n := range rotated {
		keys = append(keys, Key{Name: n, Value: koogallery.KeyText(secret.Data[n])})
	}
	return keys
}
