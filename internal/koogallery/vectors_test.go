package koogallery

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// The vectors below are copied from spec §2.1.4, §2.2, §2.3, §4.1, §6.1 and §6.4.
const (
	b1Key       = "test-access-key"
	b1Timestamp = "1680508066618"
	b1Nonce     = "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA"
	b1Body      = `{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","testFlag":"1"}`
	b1Payload   = `{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}`
	b1Inner     = "933006ebc2ad4994c0e2e02a628049e35eb61dd2998bc94bc2efae7b23cb8ea7"
	b1Signature = "271544acdac82601d0a6615631c4db54120d5ea32fc968493c8064281e125c7a"

	k1Key       = "test-kit-key"
	k1Body      = `{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","tenantCode":"huawei","name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`
	k1Payload   = `{"domainName":"https://example.tenantaccount.com","flag":1,"instanceId":"huaiweitest123456","name":"huaiweitest","orderId":"CS1906666666ABCDE","tenantCode":"huawei","tenantId":"68cbc86f5b8e4d2f9d0a880d92f36422","testFlag":0,"timeStamp":"20220413093539534"}`
	k1Signature = "a5165ebba99cb091ea403f1947dfd70aab9edef79efeef3f05978f12673990d2"

	upgradeBody = `{"activity":"upgradeInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}`
	refreshBody = `{"activity":"refreshInstance","scene":"RENEWAL","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","expireTime":"20221124023618256","testFlag":"1"}`
	statusBody  = `{"activity":"updateInstanceStatus","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","status":"FREEZE","testFlag":"1"}`
	licenseBody = `{"activity":"getLicenseAsync","eventId":"8****e5694*****c8","instanceId":"RA2****4LVS","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"8******6034e2*****60e1"}`
)

// b1Time is the instant of the B1 timestamp, so that B1 is fresh.
var b1Time = time.UnixMilli(1680508066618)

func TestVectorB1(t *testing.T) {
	g := NewWithT(t)
	payload, err := CanonicalPayload([]byte(b1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(payload)).To(Equal(b1Payload))
	g.Expect(hex.EncodeToString(hmacSHA256([]byte(b1Key), payload))).To(Equal(b1Inner))
	g.Expect(b1Key + b1Nonce + b1Timestamp + b1Inner).To(Equal(
		"test-access-key50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA1680508066618933006ebc2ad4994c0e2e02a628049e35eb61dd2998bc94bc2efae7b23cb8ea7"))
	g.Expect(SignBasic(b1Key, b1Nonce, b1Timestamp, payload)).To(Equal(b1Signature))

	v := Verifier{Now: func() time.Time { return b1Time }}
	for _, sig := range []string{b1Signature, strings.ToUpper(b1Signature)} {
		idx, canonical, err := v.VerifyBasic([]string{b1Key}, SignedQuery{Signature: sig, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(b1Body))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(idx).To(Equal(0))
		g.Expect(string(canonical)).To(Equal(b1Payload))
	}
}

func TestVectorK1(t *testing.T) {
	g := NewWithT(t)
	payload, err := CanonicalKitPayload([]byte(k1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(payload)).To(Equal(k1Payload))
	g.Expect(SignKit(k1Key, b1Nonce, b1Timestamp, payload)).To(Equal(k1Signature))

	v := Verifier{Now: func() time.Time { return b1Time }}
	idx, _, err := v.VerifyKit([]string{"other", k1Key}, SignedQuery{Signature: strings.ToUpper(k1Signature), Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(k1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(idx).To(Equal(1))
	// A kit signature is not a basic signature.
	_, _, err = v.VerifyBasic([]string{k1Key}, SignedQuery{Signature: k1Signature, Timestamp: b1Timestamp, Nonce: b1Nonce}, []byte(k1Body))
	g.Expect(err).To(MatchError(ErrBadSignature))
}

func TestVectorR1(t *testing.T) {
	g := NewWithT(t)
	g.Expect(BodySign("test-access-key", []byte(`{"resultCode":"000000","resultMsg":"success."}`))).To(Equal(
		`sign_type="HMAC-SHA256", signature="gw4QPFTQi+z0h6e2a3LogBWbT+b5cyVCeQdEdWUPCd4="`))
	g.Expect(BodySignHeader).To(Equal("Body-Sign"))
}

func TestVectorSHA1PRNGKeys(t *testing.T) {
	tests := []struct {
		secret, key128, key256 string
	}{
		{"test-access-key", "6f536770920007a4ebdbab7bc4237f83", "6f536770920007a4ebdbab7bc4237f83791e4c2f4d2ac6d51629c1f18c7aaeed"},
		{"0123456789abcdef0123456789abcdef", "2d703e10a32f30251a2370355793e786", "2d703e10a32f30251a2370355793e78659958b312e3999221d27765b6fb35fce"},
		{"k", "69a7bae3d37a83849ecef8f3ff9260b3", "69a7bae3d37a83849ecef8f3ff9260b35e01555d75554530cfad8b045e55c714"},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(hex.EncodeToString(SHA1PRNG([]byte(tt.secret), 16))).To(Equal(tt.key128))
			g.Expect(hex.EncodeToString(SHA1PRNG([]byte(tt.secret), 32))).To(Equal(tt.key256))
			for typ, want := range map[EncryptType]string{EncryptAES128: tt.key128, EncryptAES256: tt.key256, "": tt.key256} {
				key, err := AESKey(tt.secret, typ)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(hex.EncodeToString(key)).To(Equal(want), "encryptType %q", typ)
			}
		})
	}
}

func TestVectorsE1E2(t *testing.T) {
	tests := []struct {
		name string
		typ  EncryptType
		want string
	}{
		{"E1", EncryptAES256, "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ=="},
		{"E2", EncryptAES128, "AbCdEf0123456789TjaOqohZTv953LAxuKMRcQ=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := EncryptWithIV("test-access-key", tt.typ, "admin", "AbCdEf0123456789")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
			plain, err := Decrypt("test-access-key", tt.typ, tt.want)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(plain).To(Equal("admin"))
		})
	}
}

func TestVectorA1(t *testing.T) {
	g := NewWithT(t)
	req, err := http.NewRequest(http.MethodGet, "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sdk-Date", "20191115T033655Z")

	signed := SignedHeaders(req)
	g.Expect(signed).To(Equal([]string{"content-type", "host", "x-sdk-date"}))
	canonical := CanonicalRequest(req, nil, signed)
	g.Expect(canonical).To(Equal("GET\n" +
		"/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n" +
		"limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n" +
		"content-type:application/json\n" +
		"host:service.region.example.com\n" +
		"x-sdk-date:20191115T033655Z\n" +
		"\n" +
		"content-type;host;x-sdk-date\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
	sum := sha256.Sum256([]byte(canonical))
	g.Expect(hex.EncodeToString(sum[:])).To(Equal("b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"))
	sts := StringToSign(canonical, "20191115T033655Z")
	g.Expect(sts).To(Equal("SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"))
	g.Expect(APIGSignature("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", sts)).To(Equal("7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"))

	signer := Signer{AccessKeyID: "QTWAOYTTINDUT2QVKYUC", SecretAccessKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"}
	g.Expect(signer.Sign(req, nil)).To(Succeed())
	g.Expect(req.Header.Get("Authorization")).To(Equal("SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"))
	g.Expect(req.URL.Path).To(Equal("/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"), "the real path is unchanged")

	lookup := func(ak string) (string, bool) { return signer.SecretAccessKey, ak == signer.AccessKeyID }
	now := time.Date(2019, 11, 15, 3, 37, 0, 0, time.UTC)
	g.Expect(VerifyAPIGSignature(req, nil, lookup, now, 15*time.Minute)).To(Succeed())
}

func TestVectorA2(t *testing.T) {
	g := NewWithT(t)
	req, err := http.NewRequest(http.MethodPost, "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate", nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("x-stage", "RELEASE")
	req.Header.Set("X-Sdk-Date", "20240317T144237Z")
	req.Header.Set("Content-Type", "application/json")

	signed := SignedHeaders(req)
	g.Expect(strings.Join(signed, ";")).To(Equal("content-type;host;x-sdk-date;x-stage"))
	canonical := CanonicalRequest(req, []byte{}, signed)
	sum := sha256.Sum256([]byte(canonical))
	g.Expect(hex.EncodeToString(sum[:])).To(Equal("9a33b07351104f6c775075faa7dc0db58ec18bc532feaa8fd0b8fcf7990b1a9e"))
	g.Expect(APIGSignature("123", StringToSign(canonical, "20240317T144237Z"))).To(Equal("77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d"))

	g.Expect(Signer{AccessKeyID: "ak", SecretAccessKey: "123"}.Sign(req, nil)).To(Succeed())
	g.Expect(req.Header.Get("Authorization")).To(HaveSuffix("SignedHeaders=content-type;host;x-sdk-date;x-stage, Signature=77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d"))
}

func TestVectorU1(t *testing.T) {
	g := NewWithT(t)
	body := `{"usage_records":[{"begin_time":"20220809T080000Z","end_time":"20220809T090000Z","instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","metering_sn":"a1b2c3d4e5f6","record_time":"20220809T091000Z","usage_value":"99"}]}`
	g.Expect(SignUsagePush("test-access-key", "1660036200000", "3f1c9a7e-5b2d-4e8f-9a61-0c7d2e4b8f10", []byte(body))).To(Equal("bYZqxO3R4WUhY1TsHgr25fsr1TsYZpFB1VABJZIWEGU="))
}
