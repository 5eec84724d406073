package koogallery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestUploadLicenseSendsASignedMultipartPart(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	var got licenseUploadRequest
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		lookup := func(ak string) (string, bool) { return "sk", ak == "ak" }
		if err := VerifyAPIGSignature(r, body, lookup, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		g.Expect(r.URL.EscapedPath()).To(Equal(LicenseUploadPathPrefix + "evt%201" + LicenseUploadPathSuffix))
		g.Expect(r.ParseMultipartForm(1 << 20)).To(Succeed())
		g.Expect(json.Unmarshal([]byte(r.FormValue(LicenseUploadPart)), &got)).To(Succeed())
		_, _ = w.Write([]byte(`{"error_code":"MKT.0000","error_msg":"success"}`))
	}))
	defer server.Close()
	err := NewClient("ak", "sk", server.URL).UploadLicense(context.Background(), "evt 1", "kl1.payload.sig")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(calls.Load()).To(BeEquivalentTo(1))
	sum := sha256.Sum256([]byte("kl1.payload.sig"))
	g.Expect(got).To(Equal(licenseUploadRequest{Type: "CHARACTERS", Characters: "kl1.payload.sig", SHA256: hex.EncodeToString(sum[:])}))

	err = NewClient("ak", "wrong", server.URL).UploadLicense(context.Background(), "evt 1", "kl1.payload.sig")
	g.Expect(err).To(MatchError(ContainSubstring("HTTP 401")))
}

// TestUploadSettingsOverrideThePathPrefixAndPart: the upload's path prefix
// and part name are inferred (§8 item 26); a client's Upload settings
// replace them, and the empty settings are the defaults.
func TestUploadSettingsOverrideThePathPrefixAndPart(t *testing.T) {
	g := NewWithT(t)
	var paths, parts []string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			for name := range r.MultipartForm.Value {
				parts = append(parts, name)
			}
		}
		_, _ = w.Write([]byte(`{"error_code":"MKT.0000","error_msg":"success"}`))
	}))
	defer server.Close()
	c := NewClient("ak", "sk", server.URL)
	c.Upload = LicenseUploadSettings{PathPrefix: "/api/mkp-openapi/v2/market-event", Part: "isvUploadFileReq"}
	g.Expect(c.UploadLicense(context.Background(), "evt 1", "kl1.payload.sig")).To(Succeed())
	c.Upload = LicenseUploadSettings{}
	g.Expect(c.UploadLicense(context.Background(), "evt 2", "kl1.payload.sig")).To(Succeed())
	g.Expect(paths).To(Equal([]string{"/api/mkp-openapi/v2/market-event/evt%201/file", LicenseUploadPathPrefix + "evt%202" + LicenseUploadPathSuffix}))
	g.Expect(parts).To(Equal([]string{"isvUploadFileReq", LicenseUploadPart}))
}

func TestLicenseUploadSettingsAreChecked(t *testing.T) {
	g := NewWithT(t)
	g.Expect(CheckLicenseUploadPathPrefix(LicenseUploadPathPrefix)).To(Succeed())
	g.Expect(CheckLicenseUploadPathPrefix("/v1/market-event")).To(Succeed())
	for _, bad := range []string{"", "api/x/", "/x?y=1/", "/x#/", "/a b/"} {
		g.Expect(CheckLicenseUploadPathPrefix(bad)).NotTo(Succeed(), "%q", bad)
	}
	g.Expect(CheckLicenseUploadPart(LicenseUploadPart)).To(Succeed())
	for _, bad := range []string{"", "a b", `a"b`, "ä", string(make([]byte, 65))} {
		g.Expect(CheckLicenseUploadPart(bad)).NotTo(Succeed(), "%q", bad)
	}
}
