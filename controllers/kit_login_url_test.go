package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
)

// The unified login portal's address is the spec's example, which may
// differ between Huawei Cloud's sites (spec §8 item 25): it is a setting,
// a template whose {appId} is the application's ID, query-escaped.
func TestKitLoginURL(t *testing.T) {
	for _, tc := range []struct {
		name, template, appID, want string
	}{
		{name: "the default", appID: "app-1",
			want: "https://macroverse.huaweicloud.com/unified-login/#/portal-login?ind=UNOP&appId=app-1"},
		{name: "another site's portal", template: "https://login.example.com/portal?app={appId}&ind=UNOP", appID: "a b&c",
			want: "https://login.example.com/portal?app=a+b%26c&ind=UNOP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(DirectoryOptions{LoginURL: tc.template}.loginURL(tc.appID)).To(Equal(tc.want))
		})
	}
}

func TestCheckKitLoginURL(t *testing.T) {
	for _, tc := range []struct {
		template string
		ok       bool
	}{
		{template: DefaultKitLoginURL, ok: true},
		{template: "https://login.example.com/#/portal?appId={appId}", ok: true},
		{template: "http://login.example.com/?appId={appId}"},        // the buyer's users sign in over it: HTTPS only
		{template: "https://login.example.com/portal"},               // the application would be lost
		{template: "https://login.example.com/?a={appId}&b={appId}"}, // once only
		{template: "login.example.com/?appId={appId}"},
		{template: ""},
	} {
		err := CheckKitLoginURL(tc.template)
		if tc.ok {
			NewWithT(t).Expect(err).NotTo(HaveOccurred(), tc.template)
		} else {
			NewWithT(t).Expect(err).To(HaveOccurred(), tc.template)
		}
	}
}
