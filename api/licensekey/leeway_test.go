package licensekey

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A key's nbf is the API server's clock; the device checking it runs its
// own, often offline and minutes behind. A fresh key must verify on such a
// device, while the paid time (exp) is never stretched.
func TestAKeyIsValidWithinTheLeewayBeforeItsStart(t *testing.T) {
	s := newTestSigner(t)
	legacy, err := s.Sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"legacy": legacy,
		"JWS":    signJWS(s.key, jwsHeaderOf(s, LicenseJWSType), jwsPayload()),
	}
	nbf, exp := t0, t0.AddDate(1, 0, 0)
	tests := []struct {
		name    string
		now     time.Time
		leeway  time.Duration
		wantErr error
	}{
		{name: "a minute early, default leeway", now: nbf.Add(-time.Minute)},
		{name: "exactly the default leeway early", now: nbf.Add(-DefaultLeeway)},
		{name: "a second more than the default leeway early", now: nbf.Add(-DefaultLeeway - time.Second), wantErr: ErrNotYetValid},
		{name: "six minutes early, default leeway", now: nbf.Add(-6 * time.Minute), wantErr: ErrNotYetValid},
		{name: "six minutes early, ten minutes' leeway", now: nbf.Add(-6 * time.Minute), leeway: 10 * time.Minute},
		{name: "a second early, no leeway", now: nbf.Add(-time.Second), leeway: NoLeeway, wantErr: ErrNotYetValid},
		{name: "at the start, no leeway", now: nbf, leeway: NoLeeway},
		{name: "the last second, default leeway", now: exp.Add(-time.Second)},
		{name: "at expiry, default leeway", now: exp, wantErr: ErrExpired},
		{name: "at expiry, ten minutes' leeway", now: exp, leeway: 10 * time.Minute, wantErr: ErrExpired},
	}
	for format, token := range tokens {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				g := NewWithT(t)
				_, err := Verify(token, VerifyOptions{Keys: NewKeySet(s.PublicKey()), ProductID: "OFFI1", Now: tt.now, Leeway: tt.leeway})
				if tt.wantErr == nil {
					g.Expect(err).NotTo(HaveOccurred())
					return
				}
				g.Expect(err).To(MatchError(tt.wantErr))
			})
		}
	}
}
