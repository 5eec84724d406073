package leakcheck

import (
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
)

func TestFindsEachFormOfAValue(t *testing.T) {
	for _, tc := range []struct {
		name, value, record string
	}{
		{"as is", "13812345678", `{"userName": "13812345678"}`},
		{"Chinese, as is", "韩梅梅", `name=韩梅梅`},
		{"JSON-escaped", `a"b@example.cn`, `{"userName":"a\"b@example.cn"}`},
		{"\\u-escaped, lower case", "韩梅梅", `"\u97e9\u6885\u6885"`},
		{"\\u-escaped, upper case", "韩梅梅", `"\u97E9\u6885\u6885"`},
		{"every character \\u-escaped", "li@x.cn", `"\u006c\u0069\u0040\u0078\u002e\u0063\u006e"`},
		{"Base64, as a Secret's data", "韩梅梅", `"tenantName":"6Z+p5qKF5qKF"`},
		{"a phone number's digits", "+86 139 8765 4321", `mobile=13987654321`},
		{"a phone number without spaces", "+86 139 8765 4321", `mobile=+8613987654321`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			found := Find(map[string]string{"logs": "before " + tc.record + " after"}, []string{tc.value})
			g.Expect(found).NotTo(BeEmpty())
			g.Expect(found[0]).To(HavePrefix("logs holds " + strconv.Quote(tc.value)))
		})
	}
}

func TestFindsNothingInCleanRecords(t *testing.T) {
	records := map[string]string{
		"logs":   `Callback answered {"activity": "authSync", "reason": "userList[0].userName must be at most 64 characters"}`,
		"Events": `{"reason":"DirectorySynced","note":"authSync flag 1 with 4 entries: 4 users, 2 departments"}`,
	}
	NewWithT(t).Expect(Find(records, []string{"13812345678", "韩梅梅", "+86 139 8765 4321", "li.lei@example.cn"})).To(BeEmpty())
}
