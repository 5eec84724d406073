package koogallery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
)

// TestAKitIdentifierWithAControlCharacterIsRefused: a kit identifier or
// name reaches places that interpret it (the SSO gateway sets tenantCode
// as a header, which Go's transport refuses with a control character in
// it, and every user of the tenant would get a 502), so a control
// character refuses the call (000002) naming the field. clientSecret is
// Base64 that may come wrapped in lines, which decodeBase64 drops.
func TestAKitIdentifierWithAControlCharacterIsRefused(t *testing.T) {
	tests := []struct {
		name      string
		iface     KitInterface
		body      string
		wantField string
	}{
		{"tenantCode with U+0001", KitTenantSync, withField(k1Body, "tenantCode", quoted("a\u0001b")), "tenantCode"},
		{"tenantCode with a newline", KitTenantSync, withField(k1Body, "tenantCode", quoted("acme\nX")), "tenantCode"},
		{"tenantCode with DEL", KitTenantSync, withField(k1Body, "tenantCode", quoted("a\u007fb")), "tenantCode"},
		{"name with a carriage return", KitTenantSync, withField(k1Body, "name", quoted("ACME\r")), "name"},
		{"domainName with a tab", KitTenantSync, withField(k1Body, "domainName", quoted("https://a\t.example")), "domainName"},
		{"tenantId with a newline", KitTenantSync, withField(k1Body, "tenantId", quoted("t\n1")), "tenantId"},
		{"appId with a tab", KitApplicationSync, withField(kitApp, "appId", quoted("app\t1")), "appId"},
		{"clientId with a NUL", KitApplicationSync, withField(kitApp, "clientId", quoted("c\u0000id")), "clientId"},
		{"orgName with a newline", KitSingleOrgSync, withField(kitOrg, "orgName", quoted("Sales\nX")), "orgName"},
		{"an org's orgCode with U+001B", KitAllOrgSync, withField(kitAllOrgs, "orgInfoList", `[{"orgCode":"d\u001b1","orgName":"HQ"}]`), "orgInfoList[0].orgCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := DecodeKitRequest(tt.iface, []byte(tt.body))
			g.Expect(req).To(BeNil())
			var verr *ValidationError
			g.Expect(errors.As(err, &verr)).To(BeTrue(), "error %v is a *ValidationError", err)
			g.Expect(verr.Field).To(Equal(tt.wantField))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}

	g := NewWithT(t)
	wrapped := withField(kitApp, "clientSecret", quoted("c2Vj\r\ncmV0"))
	req, err := DecodeKitRequest(KitApplicationSync, []byte(wrapped))
	g.Expect(err).NotTo(HaveOccurred(), "a clientSecret in Base64 lines is accepted")
	g.Expect(req.(*ApplicationSyncRequest).ClientSecret).To(Equal("c2Vj\r\ncmV0"))
	_, err = DecodeKitRequest(KitTenantSync, []byte(withField(k1Body, "name", quoted("华为 Cloud"))))
	g.Expect(err).NotTo(HaveOccurred(), "spaces and non-ASCII letters are not control characters")
}

// TestAnAppIDWithASlashIsRefused: directory.UserKey is appId + "/" +
// userName, so with "/" in appId the users ("A/x", "y") and ("A", "x/y")
// would share a key and the gateway of application A could admit "x/y".
func TestAnAppIDWithASlashIsRefused(t *testing.T) {
	for iface, body := range map[KitInterface]string{KitApplicationSync: kitApp, KitAuthSync: kitAuth} {
		g := NewWithT(t)
		req, err := DecodeKitRequest(iface, []byte(withField(body, "appId", quoted("a/b"))))
		g.Expect(req).To(BeNil())
		var verr *ValidationError
		g.Expect(errors.As(err, &verr)).To(BeTrue(), "%s: error %v is a *ValidationError", iface, err)
		g.Expect(verr.Field).To(Equal("appId"))
		g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
	}
}

// TestAnEventIDThatIsADotSegmentIsRefused: url.PathEscape leaves "." and
// ".." as they are, so as the upload path's element they would name the
// event directory or its parent: getLicenseAsync refuses them (000002) and
// UploadLicense sends nothing for them.
func TestAnEventIDThatIsADotSegmentIsRefused(t *testing.T) {
	g := NewWithT(t)
	for _, id := range []string{".", ".."} {
		_, req, err := DecodeRequest([]byte(withField(licenseBody, "eventId", quoted(id))))
		g.Expect(req).To(BeNil())
		var verr *ValidationError
		g.Expect(errors.As(err, &verr)).To(BeTrue(), "%q: error %v is a *ValidationError", id, err)
		g.Expect(verr.Field).To(Equal("eventId"))
		g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
	}
	_, _, err := DecodeRequest([]byte(withField(licenseBody, "eventId", quoted("...e"))))
	g.Expect(err).NotTo(HaveOccurred(), "dots within an eventId are fine")

	var calls atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(`{"error_code":"MKT.0000","error_msg":"success"}`))
	}))
	defer server.Close()
	client := NewClient("ak", "sk", server.URL)
	for _, id := range []string{".", ".."} {
		g.Expect(client.UploadLicense(context.Background(), id, "kl1.payload.sig")).NotTo(Succeed(), "%q", id)
	}
	g.Expect(calls.Load()).To(BeZero())
}
