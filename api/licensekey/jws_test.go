package licensekey

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// signJWS writes a compact JWS by hand (RFC 7515 §7.1), for headers and
// payloads no issuer would write. kooper issues JWS with golang-jwt
// (internal/licenseissue, whose tests check the two agree).
func signJWS(priv ed25519.PrivateKey, header, payload string) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input)))
}

// jwsHeaderOf is the header kooper writes for typ, signed by s.
func jwsHeaderOf(s *Signer, typ string) string {
	return fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, s.KeyID(), typ)
}

// jwsPayload is testClaims as kooper writes them in a JWS key, changed by
// replacing each old with its new in turn.
func jwsPayload(replace ...string) string {
	c := testClaims()
	payload := fmt.Sprintf(`{"iss":%q,"sub":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":%q,"sku":%q,"features":["export","sso"]}`,
		c.ProductID, c.InstanceID, c.NotAfter, c.NotBefore, c.IssuedAt, c.LicenseID, c.SKU)
	return strings.NewReplacer(replace...).Replace(payload)
}

func jwsList(s *Signer, productID string, revoked ...string) string {
	entries := make([]string, 0, len(revoked))
	for _, id := range revoked {
		entries = append(entries, fmt.Sprintf(`{"sub":%q,"reason":"Frozen"}`, id))
	}
	return signJWS(s.key, jwsHeaderOf(s, RevocationJWSType),
		fmt.Sprintf(`{"iss":%q,"iat":%d,"revoked":[%s]}`, productID, t0.Unix(), strings.Join(entries, ",")))
}

func TestJWSKeyVerifies(t *testing.T) {
	g := NewWithT(t)
	s := newTestSigner(t)
	token := signJWS(s.key, jwsHeaderOf(s, LicenseJWSType), jwsPayload())
	c, err := Verify(token, VerifyOptions{Keys: NewKeySet(s.PublicKey()), ProductID: "OFFI1", Now: t0.Add(time.Hour)})
	g.Expect(err).NotTo(HaveOccurred())
	want := testClaims()
	want.Features, want.KeyID, want.Format = []string{"export", "sso"}, s.KeyID(), FormatJWS
	g.Expect(*c).To(Equal(want))

	list, err := ParseRevocationList(jwsList(s, "OFFI1", "i-b", "i-abc"), NewKeySet(s.PublicKey()))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*list).To(Equal(RevocationList{KeyID: s.KeyID(), ProductID: "OFFI1", IssuedAt: t0.Unix(), Format: FormatJWS,
		Revoked: []Revocation{{InstanceID: "i-b", Reason: ReasonFrozen}, {InstanceID: "i-abc", Reason: ReasonFrozen}}}))
}

// The rules of docs/licence-keys.md for a JWS key, one case each.
func TestVerifyJWSRefusesEveryWrongKey(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	keys := NewKeySet(s.PublicKey())
	header := jwsHeaderOf(s, LicenseJWSType)
	sign := func(header, payload string) string { return signJWS(s.key, header, payload) }
	good := sign(header, jwsPayload())
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(jwsPayload(`"pro"`, `"max"`))) + "." + parts[2]
	otherKID := strings.Replace(header, s.KeyID(), other.KeyID(), 1)
	list := func(token string) *RevocationList {
		l, err := ParseRevocationList(token, keys)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	legacyList, _ := s.SignRevocationList(RevocationList{ProductID: "OFFI1", Revoked: []Revocation{{InstanceID: "i-abc", Reason: ReasonReleased}}})

	tests := []struct {
		name    string
		token   string
		opts    func(*VerifyOptions)
		wantErr error
	}{
		{"valid", good, nil, nil},
		{"unknown claims and header parameters are ignored", sign(`{"alg":"EdDSA","cty":"x","kid":"`+s.KeyID()+`","typ":"kooper-licence+jwt"}`,
			jwsPayload(`"sku"`, `"aud":["x"],"sku"`)), nil, nil},
		{"no jti", sign(header, jwsPayload(`"jti":"i-abc",`, ``)), nil, nil},
		{"expired", good, func(o *VerifyOptions) { o.Now = t0.AddDate(1, 0, 0) }, ErrExpired},
		{"not yet valid", good, func(o *VerifyOptions) { o.Now = t0.Add(-DefaultLeeway - time.Second) }, ErrNotYetValid},
		{"bound, right device", sign(header, jwsPayload(`]}`, `],"fingerprint":"fp-1"}`)), func(o *VerifyOptions) { o.Fingerprint = "fp-1" }, nil},
		{"bound, wrong device", sign(header, jwsPayload(`]}`, `],"fingerprint":"fp-1"}`)), func(o *VerifyOptions) { o.Fingerprint = "fp-2" }, ErrWrongDevice},
		{"revoked by a JWS list", good, func(o *VerifyOptions) { o.Revoked = list(jwsList(s, "OFFI1", "i-abc")) }, ErrRevoked},
		{"revoked by a legacy list", good, func(o *VerifyOptions) { o.Revoked = list(legacyList) }, ErrRevoked},
		{"revoked in another product", good, func(o *VerifyOptions) { o.Revoked = list(jwsList(s, "OFFI2", "i-abc")) }, ErrWrongProduct},
		{"list fresh enough", good, func(o *VerifyOptions) {
			o.Revoked, o.MaxRevocationAge = list(jwsList(s, "OFFI1")), time.Hour
		}, nil},
		{"list too old", good, func(o *VerifyOptions) {
			o.Revoked, o.MaxRevocationAge = list(jwsList(s, "OFFI1")), time.Minute
		}, ErrStaleRevocationList},
		{"tampered claim", tampered, nil, ErrBadSignature},
		{"tampered header: kid of another trusted key", strings.Replace(good, parts[0], b64.EncodeToString([]byte(otherKID)), 1),
			func(o *VerifyOptions) { o.Keys.Add(other.PublicKey()) }, ErrBadSignature},
		{"signed by an unknown key", signJWS(other.key, otherKID, jwsPayload()), nil, ErrUnknownKey},
		{"alg none, no signature", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+s.KeyID()+`","typ":"kooper-licence+jwt"}`)) + "." + parts[1] + ".", nil, ErrMalformed},
		{"alg HS256", sign(strings.Replace(header, "EdDSA", "HS256", 1), jwsPayload()), nil, ErrMalformed},
		{"alg in another case", sign(strings.Replace(header, "EdDSA", "eddsa", 1), jwsPayload()), nil, ErrMalformed},
		{"alg Ed25519 (not a JWS alg)", sign(strings.Replace(header, "EdDSA", "Ed25519", 1), jwsPayload()), nil, ErrMalformed},
		{"no alg", sign(strings.Replace(header, `"alg":"EdDSA",`, "", 1), jwsPayload()), nil, ErrMalformed},
		{"typ JWT", sign(strings.Replace(header, LicenseJWSType, "JWT", 1), jwsPayload()), nil, ErrMalformed},
		{"no typ", sign(strings.Replace(header, `,"typ":"kooper-licence+jwt"`, "", 1), jwsPayload()), nil, ErrMalformed},
		{"a revocation list for a key", jwsList(s, "OFFI1"), nil, ErrMalformed},
		{"no kid", sign(`{"alg":"EdDSA","typ":"kooper-licence+jwt"}`, jwsPayload()), nil, ErrMalformed},
		{"crit", sign(strings.Replace(header, `}`, `,"crit":["exp"]}`, 1), jwsPayload()), nil, ErrMalformed},
		{"header not JSON", sign("nope", jwsPayload()), nil, ErrMalformed},
		{"payload not JSON", sign(header, "nope"), nil, ErrMalformed},
		{"payload with trailing data", sign(header, jwsPayload()+"{}"), nil, ErrMalformed},
		{"no exp", sign(header, jwsPayload(`"exp":`+fmt.Sprint(t0.AddDate(1, 0, 0).Unix())+`,`, ``)), nil, ErrMalformed},
		{"no nbf", sign(header, jwsPayload(`"nbf":`+fmt.Sprint(t0.Unix())+`,`, ``)), nil, ErrMalformed},
		{"exp not an integer", sign(header, jwsPayload(fmt.Sprint(t0.AddDate(1, 0, 0).Unix()), "1.8e9")), nil, ErrMalformed},
		{"exp a string", sign(header, jwsPayload(fmt.Sprint(t0.AddDate(1, 0, 0).Unix()), `"2027"`)), nil, ErrMalformed},
		{"empty window", sign(header, jwsPayload(fmt.Sprint(t0.AddDate(1, 0, 0).Unix()), fmt.Sprint(t0.Unix()))), nil, ErrMalformed},
		{"no sub", sign(header, jwsPayload(`"sub":"i-abc",`, ``)), nil, ErrMalformed},
		{"no iss", sign(header, jwsPayload(`"iss":"OFFI1",`, ``)), nil, ErrMalformed},
		{"bad encoding: padding", good + "=", nil, ErrMalformed},
		{"bad encoding: standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", nil, ErrMalformed},
		{"bad encoding: two parts", parts[0] + "." + parts[1], nil, ErrMalformed},
		{"bad encoding: four parts", good + "." + parts[2], nil, ErrMalformed},
		{"bad encoding: short signature", parts[0] + "." + parts[1] + "." + parts[2][:43], nil, ErrMalformed},
		{"too long", good + strings.Repeat("a", MaxTokenLength), nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			opts := VerifyOptions{Keys: NewKeySet(s.PublicKey()), ProductID: "OFFI1", Now: t0.Add(time.Hour)}
			expectVerify(g, tt.token, opts, tt.opts, tt.wantErr)
		})
	}
}

func TestParseJWSRevocationListRefuses(t *testing.T) {
	s, other := newTestSigner(t), newTestSigner(t)
	header := jwsHeaderOf(s, RevocationJWSType)
	good := jwsList(s, "OFFI1", "i-abc")
	parts := strings.Split(good, ".")
	key, _ := s.Sign(testClaims())
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"tampered", parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"OFFI1","iat":1,"revoked":[]}`)) + "." + parts[2], ErrBadSignature},
		{"unknown key", jwsList(other, "OFFI1"), ErrUnknownKey},
		{"a licence key for a list", signJWS(s.key, jwsHeaderOf(s, LicenseJWSType), jwsPayload()), ErrMalformed},
		{"a legacy licence key for a list", key, ErrMalformed},
		{"no revoked", signJWS(s.key, header, `{"iss":"OFFI1","iat":1}`), ErrMalformed},
		{"revoked null", signJWS(s.key, header, `{"iss":"OFFI1","iat":1,"revoked":null}`), ErrMalformed},
		{"no iat", signJWS(s.key, header, `{"iss":"OFFI1","revoked":[]}`), ErrMalformed},
		{"no iss", signJWS(s.key, header, `{"iat":1,"revoked":[]}`), ErrMalformed},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+s.KeyID()+`","typ":"kooper-revocations+jwt"}`)) + "." + parts[1] + ".", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRevocationList(tt.token, NewKeySet(s.PublicKey()))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
}
