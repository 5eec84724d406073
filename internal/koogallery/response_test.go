package koogallery

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestEncodeResponse(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{
			name: "plain success",
			in:   &Response{ResultCode: ResultSuccess, ResultMsg: "success."},
			want: `{"resultCode":"000000","resultMsg":"success."}`,
		},
		{
			name: "empty message is left out",
			in:   Response{ResultCode: ResultInternalError},
			want: `{"resultCode":"000005"}`,
		},
		{
			name: "newInstance with memo in Chinese, as in §3.2",
			in: &NewInstanceResponse{
				Response:    Response{ResultCode: ResultSuccess, ResultMsg: "success."},
				EncryptType: string(EncryptAES256),
				InstanceID:  "87b94795-0603-4e24-8ae5-69420d60e3c8",
				AppInfo: &AppInfo{
					FrontEndURL: "https://www.isvwebsite.com/app",
					AdminURL:    "https://www.isvwebsite.com/admin",
					UserName:    "AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==",
					Memo:        "请使用初始密码登录",
				},
			},
			want: `{"resultCode":"000000","resultMsg":"success.","encryptType":"1","instanceId":"87b94795-0603-4e24-8ae5-69420d60e3c8",` +
				`"appInfo":{"frontEndUrl":"https://www.isvwebsite.com/app","adminUrl":"https://www.isvwebsite.com/admin",` +
				`"userName":"AbCdEf01234567891uZWlt7qGY5l95RVFUEcCQ==","memo":"\u8bf7\u4f7f\u7528\u521d\u59cb\u5bc6\u7801\u767b\u5f55"}}`,
		},
		{
			name: "pending newInstance",
			in:   &NewInstanceResponse{Response: Response{ResultCode: ResultProcessing}, InstanceID: "i"},
			want: `{"resultCode":"000004","instanceId":"i"}`,
		},
		{
			name: "no HTML escaping",
			in:   &AppInfo{FrontEndURL: "https://x.example/app?a=1&b=<2>"},
			want: `{"frontEndUrl":"https://x.example/app?a=1&b=<2>"}`,
		},
		{
			name: "astral characters become surrogate pairs; U+2028 is escaped",
			in:   &Response{ResultCode: ResultSuccess, ResultMsg: "ok 😀 é \u2028"},
			want: `{"resultCode":"000000","resultMsg":"ok \ud83d\ude00 \u00e9 \u2028"}`,
		},
		{
			name: "queryInstance with usage",
			in: &QueryInstanceResponse{
				Response:    Response{ResultCode: ResultSuccess, ResultMsg: "success."},
				EncryptType: "1",
				Info: []InstanceInfo{{
					InstanceID: "87b94795-0603-4e24-8ae5-69420d60e3c8",
					AppInfo:    &AppInfo{FrontEndURL: "https://www.isvwebsite.com/app"},
					UsageInfo:  []UsageInfo{{RelatedInstanceID: "pkg-0001", UsageValue: "12.5", StatisticalTime: "20240101120000000", DashboardURL: "https://www.isvwebsite.com/usage"}},
				}, {InstanceID: "other"}},
			},
			want: `{"resultCode":"000000","resultMsg":"success.","encryptType":"1","info":[{"instanceId":"87b94795-0603-4e24-8ae5-69420d60e3c8",` +
				`"appInfo":{"frontEndUrl":"https://www.isvwebsite.com/app"},"usageInfo":[{"relatedInstanceId":"pkg-0001","usageValue":12.5,` +
				`"statisticalTime":"20240101120000000","dashboardUrl":"https://www.isvwebsite.com/usage"}]},{"instanceId":"other"}]}`,
		},
		{
			name: "zero usage",
			in:   UsageInfo{StatisticalTime: "20240101120000000"},
			want: `{"usageValue":0,"statisticalTime":"20240101120000000"}`,
		},
		{
			name: "empty query answer",
			in:   &QueryInstanceResponse{Response: Response{ResultCode: ResultInstanceNotFound, ResultMsg: "instance \"x\" does not exist"}},
			want: `{"resultCode":"000003","resultMsg":"instance \"x\" does not exist"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := EncodeResponse(tt.in)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(tt.want))
			g.Expect(json.Valid(got)).To(BeTrue())
			for _, b := range got {
				g.Expect(b).To(BeNumerically("<", 0x80), "output is pure ASCII")
			}
		})
	}
}

func TestEncodeResponseRoundTrip(t *testing.T) {
	g := NewWithT(t)
	in := &NewInstanceResponse{Response: Response{ResultCode: ResultSuccess}, AppInfo: &AppInfo{FrontEndURL: "u", Memo: "请 😀 <&> \x01 \"q\""}}
	data, err := EncodeResponse(in)
	g.Expect(err).NotTo(HaveOccurred())
	var out NewInstanceResponse
	g.Expect(json.Unmarshal(data, &out)).To(Succeed())
	g.Expect(&out).To(Equal(in))
}

func TestEncodeResponseError(t *testing.T) {
	_, err := EncodeResponse(map[string]any{"bad": make(chan int)})
	NewWithT(t).Expect(err).To(HaveOccurred())
}

func TestTruncateMessage(t *testing.T) {
	g := NewWithT(t)
	g.Expect(TruncateMessage("success.")).To(Equal("success."))
	g.Expect(TruncateMessage(strings.Repeat("a", 255))).To(Equal(strings.Repeat("a", 255)))
	g.Expect(TruncateMessage(strings.Repeat("a", 300))).To(Equal(strings.Repeat("a", 255)))
	g.Expect(TruncateMessage(strings.Repeat("请", 300))).To(Equal(strings.Repeat("请", 255)))
}
