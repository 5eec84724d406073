package tenantobjects

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

var sampleConfigData = ConfigData{InstanceID: "i-1", Namespace: "tenant-i-1", Product: "crm", SKUCode: "basic"}

func TestRenderConfig(t *testing.T) {
	cases := []struct {
		name       string
		templates  map[string]string
		binary     map[string][]byte
		want       map[string]string
		wantReason string
		wantInMsg  string
	}{
		{
			name:      "every template value",
			templates: map[string]string{"app.conf": "id={{.InstanceID}} ns={{.Namespace}} product={{.Product}} sku={{.SKUCode}}"},
			want:      map[string]string{"app.conf": "id=i-1 ns=tenant-i-1 product=crm sku=basic"},
		},
		{
			name:      "binary files are copied, not rendered",
			templates: map[string]string{"a": "{{.SKUCode}}"},
			binary:    map[string][]byte{"logo.png": []byte("{{.SKUCode}}\x89")},
			want:      map[string]string{"a": "basic"},
		},
		{
			name:       "a template that does not parse",
			templates:  map[string]string{"ok.conf": "x", "broken.conf": "{{.InstanceID"},
			wantReason: saasv1alpha1.ConfigTemplateInvalidReason,
			wantInMsg:  `configuration file "broken.conf" of test source does not render: template: broken.conf:1: unclosed action`,
		},
		{
			name:       "a value URL templates have and configuration templates do not",
			templates:  map[string]string{"app.conf": "{{.Tenant}}"},
			wantReason: saasv1alpha1.ConfigTemplateInvalidReason,
			wantInMsg:  "can't evaluate field Tenant",
		},
		{
			name:      "1 MiB exactly, names included",
			templates: map[string]string{"a.conf": strings.Repeat("x", maxConfigBytes-len("a.conf")-len("b")-1)},
			binary:    map[string][]byte{"b": []byte("y")},
			want:      map[string]string{"a.conf": strings.Repeat("x", maxConfigBytes-len("a.conf")-len("b")-1)},
		},
		{
			name:       "one byte over 1 MiB",
			templates:  map[string]string{"a.conf": strings.Repeat("x", maxConfigBytes-len("a.conf")-len("b"))},
			binary:     map[string][]byte{"b": []byte("y")},
			wantReason: saasv1alpha1.ConfigTooLargeReason,
			wantInMsg:  `pass 1 MiB (names included) at file "a.conf"`,
		},
		{
			name:       "binary files alone over 1 MiB",
			binary:     map[string][]byte{"big.bin": make([]byte, maxConfigBytes)},
			wantReason: saasv1alpha1.ConfigTooLargeReason,
			wantInMsg:  "at its binary files",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, p := RenderConfig(ConfigSource{Templates: tc.templates, Binary: tc.binary, Origin: "test source"}, sampleConfigData)
			if tc.wantReason != "" {
				g.Expect(got).To(BeNil())
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Reason).To(Equal(tc.wantReason))
				g.Expect(p.Message).To(ContainSubstring(tc.wantInMsg))
				return
			}
			g.Expect(p).To(BeNil())
			g.Expect(got.data).To(Equal(tc.want))
			g.Expect(got.binary).To(Equal(tc.binary))
			g.Expect(got.checksum).To(HaveLen(64))
		})
	}
}

func TestConfigChecksumFollowsTheContentOnly(t *testing.T) {
	g := NewWithT(t)
	a := &Config{data: map[string]string{"a": "1", "b": "2"}, binary: map[string][]byte{"c": {3}}}
	same := &Config{data: map[string]string{"b": "2", "a": "1"}, binary: map[string][]byte{"c": {3}}}
	sum := func(c *Config) string { return ConfigChecksum(c.data, c.binary) }
	g.Expect(sum(a)).To(Equal(sum(same)))
	for _, other := range []*Config{
		{data: map[string]string{"a": "1", "b": "3"}, binary: map[string][]byte{"c": {3}}},
		{data: map[string]string{"a": "1", "B": "2"}, binary: map[string][]byte{"c": {3}}},
		{data: map[string]string{"a": "1", "b": "2"}, binary: map[string][]byte{"c": {4}}},
		{data: map[string]string{"a": "1", "b": "2", "c": "\x03"}},
	} {
		g.Expect(sum(other)).NotTo(Equal(sum(a)), "%v", other)
	}
}
