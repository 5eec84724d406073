package productkeys

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

// usableKeys are a workload product's keys as the Seller Console shows
// them: printable ASCII.
func usableKeys() map[string][]byte {
	return map[string][]byte{
		saasv1alpha1.BasicKeySecretKey:        []byte("test-access-key\n"),
		saasv1alpha1.AccessKeyIDSecretKey:     []byte("QTWAOYTTINDUT2QVKYUC"),
		saasv1alpha1.SecretAccessKeySecretKey: []byte("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"),
	}
}

// A marketplace key saved from Windows in UTF-16 (PowerShell 5's
// Out-File, Notepad's "Unicode") signs with bytes the marketplace never
// used: every callback would be answered 000001 and every AK/SK call
// refused, while KeysAvailable and `kubectl kooper check` passed. Such a key
// is named, with how to mend it, and its value never quoted; a UTF-8 byte
// order mark alone is no fault (KeyText drops it).
func TestAKeyThatIsNotPrintableASCIIIsUnusable(t *testing.T) {
	product := &saasv1alpha1.SaaSProduct{}
	for _, tc := range []struct {
		name     string
		key      string
		data     string
		wantName string
	}{
		{"a UTF-16 basicKey", saasv1alpha1.BasicKeySecretKey, "\xFF\xFEa\x00b\x00", saasv1alpha1.BasicKeySecretKey},
		{"a UTF-16 secretAccessKey", saasv1alpha1.SecretAccessKeySecretKey, "\xFF\xFEa\x00b\x00\r\x00\n\x00", saasv1alpha1.SecretAccessKeySecretKey},
		{"a big-endian UTF-16 rotated key", "basicKey.next", "\xFE\xFF\x00a\x00b", "basicKey.next"},
		{"a byte order mark after another", saasv1alpha1.AccessKeyIDSecretKey, "\uFEFF\uFEFFQTWAOYTTINDUT2QVKYUC", saasv1alpha1.AccessKeyIDSecretKey},
		{"a NUL", saasv1alpha1.BasicKeySecretKey, "test\x00key", saasv1alpha1.BasicKeySecretKey},
		{"a UTF-8 byte order mark", saasv1alpha1.BasicKeySecretKey, "\uFEFFtest-access-key", ""},
		{"a UTF-8 byte order mark on a rotated key", "basicKey.next", "\uFEFFnext-access-key\r\n", ""},
		{"an empty rotated key", "basicKey.next", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := usableKeys()
			data[tc.key] = []byte(tc.data)
			name, why := Unusable(product, &corev1.Secret{Data: data})
			if name != tc.wantName {
				t.Fatalf("Unusable named %q (%s), want %q", name, why, tc.wantName)
			}
			if tc.wantName == "" {
				return
			}
			if !strings.Contains(why, "not printable ASCII") || !strings.Contains(why, "without BOM") {
				t.Errorf("Unusable says %q, which does not say what is wrong and how to mend it", why)
			}
			notASCII := func(r rune) bool { return r < ' ' || r > '~' }
			if strings.IndexFunc(why, notASCII) >= 0 || strings.Contains(why, "QTWA") || strings.Contains(why, "test") {
				t.Errorf("Unusable says %q, which quotes the key", why)
			}
		})
	}
}
