package koogallery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzParseLicenseTime: getLicenseAsync's times come from the marketplace.
// A time that parses is UTC, and the documented form of it, written again,
// parses to the same instant.
func FuzzParseLicenseTime(f *testing.F) {
	for _, seed := range []string{
		"2023-10-27 10:30:15 z", "2024-10-27 10:30:15 z", "2023-10-27 10:30:15Z", " 2023-10-27 10:30:15 ",
		"2023-10-27T18:30:15+08:00", "2023-10-27T10:30:15.123456789Z", "0000-01-01T00:00:00+01:00",
		"9999-12-31T23:59:59-01:00", "2023-02-30 10:30:15 z", "20231027103015", "", "z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseLicenseTime(s)
		if err != nil {
			// The value is quoted clipped to 40 characters, each at most
			// ten once escaped: a long value does not make a long error.
			if len(err.Error()) > 512 {
				t.Fatalf("the error repeats the value at length: %v", err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q parsed in %s", s, got.Location())
		}
		if y := got.Year(); y < 0 || y > 9999 {
			return // the documented form has four digits; the receiver refuses these
		}
		written := got.Truncate(time.Second).Format(time.DateTime) + " z"
		if back, err := ParseLicenseTime(written); err != nil || !back.Equal(got.Truncate(time.Second)) {
			t.Fatalf("%q parsed as %s, written as %q, parsed back as %s (%v)", s, got, written, back, err)
		}
	})
}

// smallRSAKey is a 1024-bit key, the smallest crypto/rsa makes:
// DecryptClientSecret takes any size, and each fuzzed decryption with it
// costs about a sixth of a 2048-bit one's (make test runs 20,000: about a
// minute with 2048 bits on two cores).
var smallRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })

// FuzzParseRSAPrivateKey: the key comes from a Secret the merchant fills by
// hand. A key that parses is an RSA key of at least MinRSABits that can
// decrypt what its public key encrypts.
func FuzzParseRSAPrivateKey(f *testing.F) {
	good, err := PrivateKeyPEM(testRSAKey())
	if err != nil {
		f.Fatal(err)
	}
	small, err := smallRSAKey()
	if err != nil {
		f.Fatal(err)
	}
	smallPEM, _ := PrivateKeyPEM(small)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey())})
	pub, _ := PublicKeyPEM(&testRSAKey().PublicKey)
	for _, seed := range [][]byte{good, pkcs1, smallPEM, pub, good[:len(good)/2], []byte("-----BEGIN PRIVATE KEY-----\n\n-----END PRIVATE KEY-----\n"), nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseRSAPrivateKey(data)
		if err != nil {
			return
		}
		if bits := key.N.BitLen(); bits < MinRSABits {
			t.Fatalf("a %d-bit key was accepted", bits)
		}
		ciphertext, err := EncryptClientSecret(&key.PublicKey, "probe", OAEPSHA256)
		if err != nil {
			t.Fatalf("the accepted key's public key does not encrypt: %v", err)
		}
		if plain, _, err := DecryptClientSecret(key, ciphertext, DefaultOAEPHashes); err != nil || plain != "probe" {
			t.Fatalf("the accepted key does not decrypt its own ciphertext: %q, %v", plain, err)
		}
	})
}

// FuzzDecryptClientSecret: clientSecret and the configured variants come
// from outside. Decryption succeeds only with a configured variant, and
// every failure is ErrClientSecret or names the unknown variant.
func FuzzDecryptClientSecret(f *testing.F) {
	key, err := smallRSAKey()
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range DefaultOAEPHashes {
		ciphertext, err := EncryptClientSecret(&key.PublicKey, "s3cr3t-client", h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ciphertext, "sha256,sha256-mgf1-sha1,sha1")
		f.Add(strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(ciphertext), string(h))
		f.Add(ciphertext[:64]+"\r\n"+ciphertext[64:], "sha1,sha256")
	}
	f.Add("", "sha256")
	f.Add("%%%", "sha256")
	f.Add("AAAA", "md5")
	f.Fuzz(func(t *testing.T, ciphertext, variants string) {
		hashes, err := ParseOAEPHashes(variants)
		if err != nil {
			return
		}
		_, used, err := DecryptClientSecret(key, ciphertext, hashes)
		switch {
		case err == nil && !slices.Contains(hashes, used):
			t.Fatalf("decrypted with %q, which is not among %v", used, hashes)
		case err != nil && !errors.Is(err, ErrClientSecret):
			t.Fatalf("a failure that is not ErrClientSecret: %v", err)
		}
	})
}

// FuzzDecodeBase64: whatever the encoding, padding and line breaks the
// marketplace chose, the bytes come back; and what is accepted holds
// nothing but Base64 once the breaks are gone.
func FuzzDecodeBase64(f *testing.F) {
	f.Add([]byte("s3cr3t"), 3, "")
	f.Add([]byte{0xfb, 0xff, 0xfe}, 0, "QR==")
	f.Add([]byte{}, 1, "a b\r\nc=")
	f.Fuzz(func(t *testing.T, raw []byte, brk int, text string) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(raw)
			if brk > 0 && brk < len(s) {
				s = s[:brk] + "\r\n " + s[brk:]
			}
			if got, err := decodeBase64(s); err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("%q decodes as %x (%v), not %x", s, got, err, raw)
			}
		}
		if _, err := decodeBase64(text); err == nil {
			cleaned := strings.NewReplacer("\r", "", "\n", "", " ", "").Replace(text)
			if strings.Trim(cleaned, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=") != "" {
				t.Fatalf("%q was accepted as Base64", text)
			}
		}
	})
}

// answering is an httptest server whose every answer is the status and body
// last set: the marketplace's answer, as the fuzzer writes it.
type answering struct {
	mu     sync.Mutex
	status int
	body   []byte
	srv    *httptest.Server
}

func newAnswering(f *testing.F) *answering {
	a := &answering{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		status, body := a.status, a.body
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	f.Cleanup(a.srv.Close)
	return a
}

// set makes the next answers status (mapped into 200-599) and body.
func (a *answering) set(status uint16, body []byte) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.body = 200+int(status)%400, body
	return a.status
}

// succeeded reports whether an answer is one the open APIs' envelope
// calls success (§6.7), read independently of the client.
func succeeded(status int, body []byte) bool {
	var result openAPIResult
	if status != http.StatusOK || json.Unmarshal(body, &result) != nil {
		return false
	}
	code := result.ResultCode
	if code == "" {
		code = result.ErrorCode
	}
	return code == OpenAPISuccess
}

// answerSeeds are the spec's answers (§6.4, §6.6, §6.7) and broken ones.
var answerSeeds = []string{
	`{"error_code":"MKT.0000","error_msg":"success"}`,
	`{"error_code":"MKT.0000","error_msg":"ok","failed_records":[{"metering_sn":"a1b2c3d4e5f6","result_code":"005","result_msg":"duplicate"}]}`,
	`{"error_code":"MKT.9003","error_msg":"too many records"}`,
	`{"error_code":"MKT.0000","failed_records":"x"}`,
	`{"error_code":"MKT.0000","failed_records":[null,1]}`,
	`{"resultCode":"MKT.0000","resultMsg":"success"}`,
	`{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}`,
	`<html>Bad Gateway</html>`, ``, `null`, `[]`, `{"error_code":0}`,
}

// FuzzPushUsageAnswer: the usage push answer is outside input. A push is
// reported done only when the answer says success, and then the refused
// records are exactly the answer's, so no record is taken as accepted
// that was not, and each result code of digits is in its three-digit
// form, so a duplicate is told from a refusal whichever JSON type
// carried it.
func FuzzPushUsageAnswer(f *testing.F) {
	for _, seed := range answerSeeds {
		f.Add(uint16(0), []byte(seed))
	}
	for _, code := range []string{`5`, `"5"`, `10`, `" 13 "`, `1e1`, `-5`, `null`, `{}`} {
		f.Add(uint16(0), []byte(`{"error_code":"MKT.0000","failed_records":[{"metering_sn":"a1b2c3d4e5f6","result_code":`+code+`}]}`))
	}
	f.Add(uint16(100), []byte(answerSeeds[0]))
	f.Add(uint16(300), []byte(answerSeeds[0]))
	a := newAnswering(f)
	client := NewClient("ak", "sk", a.srv.URL)
	records := []UsageRecord{{InstanceID: "7f141bf1-aec8-4859-8323-fb3a8ad50721", RecordTime: "20220809T091000Z",
		BeginTime: "20220809T080000Z", EndTime: "20220809T090000Z", UsageValue: "99", MeteringSN: "a1b2c3d4e5f6"}}
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		code := a.set(status, body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		failed, err := client.PushUsage(ctx, "test-access-key", records)
		if err == nil && !succeeded(code, body) {
			t.Fatalf("HTTP %d %q: the push was taken as done", code, body)
		}
		// A success whose refused records do not decode may be an error:
		// the push is then sent again, and a repeat is a duplicate (005).
		if err != nil {
			if failed != nil {
				t.Fatalf("a failed push returned records: %v", failed)
			}
			return
		}
		var want usagePushAnswer
		if json.Unmarshal(body, &want) != nil || !slices.Equal(failed, want.FailedRecords) {
			t.Fatalf("HTTP %d %q: refused records %v, the answer says %v", code, body, failed, want.FailedRecords)
		}
		for _, r := range failed {
			if digits := strings.TrimSpace(r.ResultCode); digits != "" && len(digits) < 3 && strings.Trim(digits, "0123456789") == "" {
				t.Fatalf("HTTP %d %q: result code %q is not in its three-digit form", code, body, r.ResultCode)
			}
		}
	})
}

// FuzzUploadLicenseAnswer: a licence counts as delivered only when the
// marketplace's answer says success; anything else is an error, so the
// upload is retried, not lost.
func FuzzUploadLicenseAnswer(f *testing.F) {
	for _, seed := range answerSeeds {
		f.Add(uint16(0), []byte(seed))
	}
	f.Add(uint16(201), []byte(answerSeeds[0]))
	a := newAnswering(f)
	client := NewClient("ak", "sk", a.srv.URL)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		code := a.set(status, body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := client.UploadLicense(ctx, "8e5694c8", "kl1.payload.sig")
		if ok := succeeded(code, body); (err == nil) != ok {
			t.Fatalf("HTTP %d %q: the upload gave %v, though the answer's success is %v", code, body, err, ok)
		}
	})
}
