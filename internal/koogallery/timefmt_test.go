package koogallery

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestParseExpireTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "20221124023618", want: time.Date(2022, 11, 24, 2, 36, 18, 0, time.UTC)},
		{in: "20221124023618256", want: time.Date(2022, 11, 24, 2, 36, 18, 256e6, time.UTC)},
		{in: "20251121235959", want: time.Date(2025, 11, 21, 23, 59, 59, 0, time.UTC)},
		{in: "20240229000000000", want: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{in: "", wantErr: true},
		{in: "2022112402361", wantErr: true},
		{in: "202211240236182", wantErr: true},
		{in: "2022112402361825", wantErr: true},
		{in: "202211240236182560", wantErr: true},
		{in: "2022-11-24 02:36:18", wantErr: true},
		{in: "2022112402361a", wantErr: true},
		{in: "+0221124023618", wantErr: true},
		{in: "20221324023618", wantErr: true},
		{in: "20230229000000", wantErr: true},
		{in: "20221124243618", wantErr: true},
		{in: "20221124026018", wantErr: true},
		{in: "20221100023618", wantErr: true},
		// Go's zero time, which a metav1.Time stores as no time at all: the
		// order would be recorded without its expiry.
		{in: "00010101000000", wantErr: true},
		{in: "00010101000000000", wantErr: true},
		{in: "00001231235959", wantErr: true},
		{in: "00010101000001", want: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseExpireTime(tt.in)
			if tt.wantErr {
				g.Expect(err).To(HaveOccurred())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
			g.Expect(got.Location()).To(Equal(time.UTC))
		})
	}
}

func TestFormatTimestamp17(t *testing.T) {
	g := NewWithT(t)
	shanghai := time.FixedZone("UTC+8", 8*3600)
	g.Expect(FormatTimestamp17(time.Date(2024, 1, 1, 20, 0, 0, 5e6, shanghai))).To(Equal("20240101120000005"))
	g.Expect(FormatTimestamp17(time.Date(2024, 1, 1, 12, 0, 0, 999999999, time.UTC))).To(Equal("20240101120000999"))
	ts := time.Date(2022, 11, 24, 2, 36, 18, 256e6, time.UTC)
	back, err := ParseExpireTime(FormatTimestamp17(ts))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back).To(Equal(ts))
}

func TestParseLicenseTime(t *testing.T) {
	want := time.Date(2023, 10, 27, 10, 30, 15, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2023-10-27 10:30:15 z", want: want},
		{in: "2023-10-27 10:30:15 Z", want: want},
		{in: "2023-10-27 10:30:15Z", want: want},
		{in: "2023-10-27 10:30:15", want: want},
		{in: " 2023-10-27 10:30:15 z ", want: want},
		{in: "2023-10-27T10:30:15Z", want: want},
		{in: "2023-10-27T18:30:15+08:00", want: want},
		{in: "2023-10-27T10:30:15.5Z", want: want.Add(500 * time.Millisecond)},
		// The spec's example "2023-10-27 10:30:15 z" reads as Java's
		// SimpleDateFormat "yyyy-MM-dd HH:mm:ss z", whose z prints a zone
		// name (UTC, GMT) or GMT+hh:mm: every spelling that names one
		// instant is that instant (spec §8 item 26).
		{in: "2023-10-27 10:30:15 UTC", want: want},
		{in: "2023-10-27 10:30:15 utc", want: want},
		{in: "2023-10-27 10:30:15 GMT", want: want},
		{in: "2023-10-27 10:30:15 gmt", want: want},
		{in: "2023-10-27 10:30:15 UT", want: want},
		{in: "2023-10-27  10:30:15  UTC ", want: want},
		{in: "2023-10-27 10:30:15.5 UTC", want: want.Add(500 * time.Millisecond)},
		{in: "2023-10-27 18:30:15 GMT+08:00", want: want},
		{in: "2023-10-27 18:30:15 gmt+08:00", want: want},
		{in: "2023-10-27 05:30:15 GMT-05:00", want: want},
		{in: "2023-10-27 18:30:15 UTC+08:00", want: want},
		{in: "2023-10-27 10:30:15 GMT+00:00", want: want},
		// A numeric offset after a space: Java's XXX, Z and X.
		{in: "2023-10-27 18:30:15 +08:00", want: want},
		{in: "2023-10-27 18:30:15 +0800", want: want},
		{in: "2023-10-27 18:30:15 +08", want: want},
		{in: "2023-10-27 10:30:15 +00:00", want: want},
		{in: "2023-10-27 16:00:15 +05:30", want: want},
		{in: "2023-10-27 05:30:15 -0500", want: want},
		{in: "2023-10-28 00:30:15 +14:00", want: want},
		{in: "", wantErr: true},
		{in: "2023-10-27", wantErr: true},
		{in: "2023-02-30 10:30:15 z", wantErr: true},
		{in: "2023-02-30 10:30:15 UTC", wantErr: true},
		{in: "20231027103015", wantErr: true},
		// Abbreviations that name several zones (CST is China, US Central
		// or Cuba; IST India, Ireland or Israel), and names of zones with
		// daylight saving: which instant is meant cannot be told.
		{in: "2023-10-27 18:30:15 CST", wantErr: true},
		{in: "2023-10-27 16:00:15 IST", wantErr: true},
		{in: "2023-10-27 06:30:15 EST", wantErr: true},
		{in: "2023-10-27 18:30:15 Asia/Shanghai", wantErr: true},
		// Not one of the forms: an offset run on to the time, one without
		// its sign, a name with a trailing word, a zone given twice.
		{in: "2023-10-27 18:30:15+0800", wantErr: true},
		{in: "2023-10-27 18:30:15UTC", wantErr: true},
		{in: "2023-10-27 18:30:15 0800", wantErr: true},
		{in: "2023-10-27 18:30:15 GMT 08:00", wantErr: true},
		{in: "2023-10-27 18:30:15 GMT +08:00", wantErr: true},
		{in: "2023-10-27 10:30:15 UTCX", wantErr: true},
		{in: "2023-10-27 10:30:15 UTC z", wantErr: true},
		{in: "2023-10-27 10:30:15 Z+08:00", wantErr: true},
		{in: "2023-10-27 10:30:15 zz", wantErr: true},
		{in: "2023-10-27 10:30:15 +08:0", wantErr: true},
		{in: "2023-10-27 10:30:15 +25:00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseLicenseTime(tt.in)
			if tt.wantErr {
				g.Expect(err).To(HaveOccurred(), "got %s", got)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Equal(tt.want)).To(BeTrue(), "got %s", got)
			g.Expect(got.Location()).To(Equal(time.UTC))
		})
	}
}
