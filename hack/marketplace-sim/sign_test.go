package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// The spec's vectors (§2.1.4 B1, §2.3 R1, §4.1 E1/E2), copied from the
// spec rather than computed, so the simulator is checked against values
// made by an independent implementation.
const (
	vectorKey       = "test-access-key"
	b1Timestamp     = "1680508066618"
	b1Nonce         = "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA"
	b1Body          = `{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","testFlag":"1"}`
	b1Payload       = `{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}`
	b1Inner         = "933006ebc2ad4994c0e2e02a628049e35eb61dd2998bc94bc2efae7b23cb8ea7"
	b1Signature     = "271544acdac82601d0a6615631c4db54120d5ea32fc968493c8064281e125c7a"
	r1Body          = `{"resultCode":"000000","resultMsg":"success."}`
	r1BodySign      = `sign_type="HMAC-SHA256", signature="gw4QPFTQi+z0h6e2a3LogBWbT+b5cyVCeQdEdWUPCd4="`
	e1              = "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ=="
	e2              = "AbCdEf0123456789TjaOqohZTv953LAxuKMRcQ=="
	aes256KeyHex    = "6f536770920007a4ebdbab7bc4237f83791e4c2f4d2ac6d51629c1f18c7aaeed"
	aes128KeyHex    = "6f536770920007a4ebdbab7bc4237f83"
	vectorPlaintext = "admin"
)

// independentHMACHex computes HMAC-SHA256 in the test itself, with neither
// the simulator's code nor koogallery's.
func independentHMACHex(key, msg string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// TestNumericTestFlagSignedAsAStringMapIsVectorB1: B1's body with
// "testFlag":1 (a number) is sent with the number and, signed as the
// marketplace's Map<String,String> writes it, carries B1's own signature.
func TestNumericTestFlagSignedAsAStringMapIsVectorB1(t *testing.T) {
	g := NewWithT(t)
	body := append(newInstanceBody("CS2211181819B4LVS", "CS2211181819B4LVS-000001", "87b94795-0603-4e24-8ae5-69420d60e3c8", false),
		field{"testFlag", jsonNumber("1")})
	req, err := signBodyAs(vectorKey, body, body.canonicalStringMap, time.UnixMilli(1680508066618), b1Nonce)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(req.body)).To(Equal(strings.Replace(b1Body, `"testFlag":"1"`, `"testFlag":1`, 1)))
	g.Expect(req.query.Get("signature")).To(Equal(b1Signature))

	asSent, err := body.canonical()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(asSent)).To(Equal(strings.Replace(b1Payload, `"testFlag":"1"`, `"testFlag":1`, 1)))
	want := independentHMACHex(vectorKey, vectorKey+b1Nonce+b1Timestamp+independentHMACHex(vectorKey, string(asSent)))
	req, err = signBody(vectorKey, body, time.UnixMilli(1680508066618), b1Nonce)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.query.Get("signature")).To(Equal(want))
}

func TestSigningReproducesVectorB1(t *testing.T) {
	g := NewWithT(t)
	body := newInstanceBody("CS2211181819B4LVS", "CS2211181819B4LVS-000001", "87b94795-0603-4e24-8ae5-69420d60e3c8", true)
	req, err := signBody(vectorKey, body, time.UnixMilli(1680508066618), b1Nonce)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(string(req.body)).To(Equal(b1Body), "the body is sent in the docs' order")
	payload, err := body.canonical()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(payload)).To(Equal(b1Payload))
	g.Expect(req.query.Get("timestamp")).To(Equal(b1Timestamp))
	g.Expect(req.query.Get("nonce")).To(Equal(b1Nonce))
	g.Expect(req.query.Get("signature")).To(Equal(b1Signature))

	// The same steps computed independently agree with the spec and the simulator.
	inner := independentHMACHex(vectorKey, b1Payload)
	g.Expect(inner).To(Equal(b1Inner))
	g.Expect(independentHMACHex(vectorKey, vectorKey+b1Nonce+b1Timestamp+inner)).To(Equal(req.query.Get("signature")))
}

// TestSigningAgreesWithTheReceiversVerifier cross-checks the simulator's
// own canonicalisation and signing with koogallery's, which the receiver
// uses, on bodies that stress the differences between JSON writers.
func TestSigningAgreesWithTheReceiversVerifier(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		body callbackBody
	}{
		{"newInstance", newInstanceBody("CS1", "CS1-000001", "b-1", false)},
		{"refreshInstance with productId", refreshInstanceBody(refreshRequest{scene: "RENEWAL", orderID: "o", orderLineID: "o-1", instanceID: "i", productID: "p", expireTime: "20281121235959"}, true)},
		{"changeInstanceCheck with a nested object", changeInstanceCheckBody(changeCheckRequest{instanceID: "i", productID: "p", skuCode: "s", linearValue: "50"}, true)},
		{"getLicenseAsync", getLicenseAsyncBody(licenseRequest{eventID: "e", instanceID: "i", effectiveTime: "2023-10-27 10:30:15 z", fingerprint: "f"}, false)},
		{"non-ASCII, HTML and line separators", queryInstanceBody("实例<a&b>\u2028\u2029é", false)},
		{"quotes, backslashes and control characters", queryInstanceBody("a\"b\\c\n\t\x01\x1f", false)},
		{"invalid UTF-8", queryInstanceBody("bad\xff\xfebytes", false)},
		{"a null member", append(queryInstanceBody("i", false), field{"extra", nil})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := signBody(vectorKey, tc.body, now, newNonce())
			g.Expect(err).NotTo(HaveOccurred())
			ours, err := tc.body.canonical()
			g.Expect(err).NotTo(HaveOccurred())
			theirs, err := koogallery.CanonicalPayload(req.body)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(ours)).To(Equal(string(theirs)))

			q := koogallery.SignedQuery{Signature: req.query.Get("signature"), Timestamp: req.query.Get("timestamp"), Nonce: req.query.Get("nonce")}
			_, _, err = koogallery.Verifier{Now: func() time.Time { return now }}.VerifyBasic([]string{vectorKey}, q, req.body)
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}

func TestSignRawSignsTheBytesAsGiven(t *testing.T) {
	g := NewWithT(t)
	raw := []byte(`{"activity":"newInstance","orderId":"CS`)
	req := signRaw(vectorKey, "newInstance", raw, time.UnixMilli(1680508066618), b1Nonce)
	g.Expect(req.body).To(Equal(raw))
	inner := independentHMACHex(vectorKey, string(raw))
	g.Expect(req.query.Get("signature")).To(Equal(independentHMACHex(vectorKey, vectorKey+b1Nonce+b1Timestamp+inner)))
}

func TestDecryptionReadsVectorsE1AndE2(t *testing.T) {
	cases := []struct {
		name, encryptType, value, keyHex string
	}{
		{"E1, encryptType 1", "1", e1, aes256KeyHex},
		{"E1, encryptType absent means 1", "", e1, aes256KeyHex},
		{"E2, encryptType 2", "2", e2, aes128KeyHex},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			creds, err := decryptAppInfo(vectorKey, tc.encryptType, &appInfo{FrontEndURL: "https://x", UserName: tc.value, Password: tc.value})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(creds).To(Equal(credentials{userName: vectorPlaintext, password: vectorPlaintext}))

			// Independently: the spec's AES key (from its Java/Python table)
			// and the standard library alone decrypt the vector too.
			g.Expect(independentDecrypt(t, tc.keyHex, tc.value)).To(Equal(vectorPlaintext))
		})
	}
}

// independentDecrypt decrypts iv+Base64 with crypto/aes and a hex key.
func independentDecrypt(t *testing.T, keyHex, value string) string {
	t.Helper()
	g := NewWithT(t)
	key, err := hex.DecodeString(keyHex)
	g.Expect(err).NotTo(HaveOccurred())
	block, err := aes.NewCipher(key)
	g.Expect(err).NotTo(HaveOccurred())
	data, err := base64.StdEncoding.DecodeString(value[16:])
	g.Expect(err).NotTo(HaveOccurred())
	cipher.NewCBCDecrypter(block, []byte(value[:16])).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	return string(data[:len(data)-pad])
}

func TestDecryptionFailsWithTheWrongKeyOrType(t *testing.T) {
	cases := []struct {
		name, key, encryptType string
	}{
		{"wrong key", "another-key", "1"},
		{"AES-128 value read as AES-256", vectorKey, "1"},
		{"unknown encryptType", vectorKey, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decryptAppInfo(tc.key, tc.encryptType, &appInfo{UserName: e2})
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
}

func TestAnswerOutputSaysCredentialsDecryptButShowsThemOnlyWhenAsked(t *testing.T) {
	g := NewWithT(t)
	raw := `{"resultCode":"000000","resultMsg":"success.","encryptType":"2","instanceId":"i-1",` +
		`"appInfo":{"frontEndUrl":"https://i-1.example.com","userName":"` + e2 + `","password":"` + e2 + `"}}`
	a := &answer{status: 200, contentType: "application/json", raw: []byte(raw), bodySign: bodySignVerified}
	g.Expect(json.Unmarshal([]byte(raw), &a.body)).To(Succeed())

	var out strings.Builder
	printAnswer(&out, a, vectorKey, false)
	g.Expect(out.String()).To(ContainSubstring(`appInfo of i-1 (encryptType 2): userName and password decrypt with the key`))
	g.Expect(out.String()).NotTo(ContainSubstring(`"admin"`))
	// Nor encrypted: the demo prints the key that decrypts them.
	g.Expect(out.String()).NotTo(ContainSubstring(e2))
	g.Expect(out.String()).To(ContainSubstring(`"password": "(encrypted; --show-credentials prints it)"`))
	g.Expect(out.String()).To(ContainSubstring(`"frontEndUrl": "https://i-1.example.com"`))
	g.Expect(out.String()).To(ContainSubstring("Body-Sign: verified"))
	g.Expect(out.String()).NotTo(ContainSubstring(vectorKey))

	out.Reset()
	printAnswer(&out, a, vectorKey, true)
	g.Expect(out.String()).To(ContainSubstring(`appInfo of i-1 (encryptType 2) decrypted: userName "admin", password "admin"`))
	g.Expect(out.String()).To(ContainSubstring(`"password": "` + e2 + `"`))
	g.Expect(out.String()).NotTo(ContainSubstring(vectorKey))

	out.Reset()
	printAnswer(&out, a, "another key of 32 bytes, not its", false)
	g.Expect(out.String()).To(ContainSubstring("appInfo of i-1: cannot decrypt"))
}

// TestAnswerOutputShowsALicenceKeyOnlyWhenAsked: a License product's
// appInfo.memo is its licence key, in plain text; any other memo is a note
// to the buyer, printed as it is.
func TestAnswerOutputShowsALicenceKeyOnlyWhenAsked(t *testing.T) {
	g := NewWithT(t)
	_, priv, err := ed25519.GenerateKey(nil)
	g.Expect(err).NotTo(HaveOccurred())
	signer, err := licensekey.NewSigner(priv)
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now()
	licence, err := signer.Sign(licensekey.Claims{InstanceID: "i-1", ProductID: "OFFL1", SKU: "pro",
		NotBefore: now.Unix(), NotAfter: now.Add(time.Hour).Unix(), IssuedAt: now.Unix()})
	g.Expect(err).NotTo(HaveOccurred())
	answerWithMemo := func(memo string) *answer {
		raw := `{"resultCode":"000000","resultMsg":"success.","instanceId":"i-1","appInfo":{"memo":` + strconv.Quote(memo) + `}}`
		return &answer{status: 200, contentType: "application/json", raw: []byte(raw), bodySign: bodySignVerified}
	}

	var out strings.Builder
	printAnswer(&out, answerWithMemo(licence), vectorKey, false)
	g.Expect(out.String()).NotTo(ContainSubstring(licence))
	g.Expect(out.String()).To(ContainSubstring(fmt.Sprintf(`"memo": "(a licence key, %d characters; --show-credentials prints it)"`, len(licence))))

	out.Reset()
	printAnswer(&out, answerWithMemo(licence), vectorKey, true)
	g.Expect(out.String()).To(ContainSubstring(licence))

	out.Reset()
	printAnswer(&out, answerWithMemo("Log in with the initial password"), vectorKey, false)
	g.Expect(out.String()).To(ContainSubstring(`"memo": "Log in with the initial password"`))
}

func TestBodySignCheckReproducesVectorR1(t *testing.T) {
	// Independently: the spec's R1 signature is the Base64 HMAC of the body.
	sig, err := hex.DecodeString(independentHMACHex(vectorKey, r1Body))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	NewWithT(t).Expect(r1BodySign).To(ContainSubstring(base64.StdEncoding.EncodeToString(sig)))

	cases := []struct {
		name, header, body string
		want               bodySignResult
	}{
		{"R1", r1BodySign, r1Body, bodySignVerified},
		{"R1 without the space", strings.ReplaceAll(r1BodySign, ", ", ","), r1Body, bodySignVerified},
		{"body changed", r1BodySign, strings.Replace(r1Body, "success.", "success!", 1), bodySignMismatch},
		{"absent", "", r1Body, bodySignAbsent},
		{"quotes missing", `sign_type=HMAC-SHA256, signature=gw4QPFTQi+z0h6e2a3LogBWbT+b5cyVCeQdEdWUPCd4=`, r1Body, bodySignMalformed},
		{"another algorithm", strings.Replace(r1BodySign, "HMAC-SHA256", "HMAC-SHA1", 1), r1Body, bodySignMalformed},
		{"hex instead of Base64", `sign_type="HMAC-SHA256", signature="zz"`, r1Body, bodySignMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(checkBodySign(vectorKey, tc.header, []byte(tc.body))).To(Equal(tc.want))
		})
	}
}

// TestWithoutCredentialsKeepsTheRestAsItWas: every userName and password
// value goes, wherever it sits and whatever it escapes; JSON stays valid;
// nothing else changes, and a body that is not JSON is only filtered.
func TestWithoutCredentialsKeepsTheRestAsItWas(t *testing.T) {
	const note = `"(encrypted; --show-credentials prints it)"`
	cases := []struct{ name, body, want string }{
		{"newInstance", `{"resultCode":"000000","appInfo":{"userName":"u1","password":"p1","memo":"hi"}}`,
			`{"resultCode":"000000","appInfo":{"userName":` + note + `,"password":` + note + `,"memo":"hi"}}`},
		{"queryInstance, each instance", `{"info":[{"appInfo":{"password":"p1"}},{"appInfo":{"password" : "p2"}}]}`,
			`{"info":[{"appInfo":{"password":` + note + `}},{"appInfo":{"password" : ` + note + `}}]}`},
		{"escapes in the value", `{"password":"a\"b\\c","userName":"\u0061"}`, `{"password":` + note + `,"userName":` + note + `}`},
		// Found by a fuzz run: encoding/json, which decrypts appInfo, reads
		// a member's name in any case.
		{"a name in another case", `{"appInfo":{"pAssword":"p1","USERNAME":"u1","Memo":"note"}}`,
			`{"appInfo":{"pAssword":` + note + `,"USERNAME":` + note + `,"Memo":"note"}}`},
		{"empty values kept", `{"userName":"","password":""}`, `{"userName":"","password":""}`},
		{"not a string", `{"password":null,"memo":7}`, `{"password":null,"memo":7}`},
		{"not JSON", `password: "p1", "password":"p2`, `password: "p1", "password":"p2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := string(withoutCredentials([]byte(tc.body)))
			g.Expect(got).To(Equal(tc.want))
			g.Expect(json.Valid([]byte(got))).To(Equal(json.Valid([]byte(tc.body))))
		})
	}
}
