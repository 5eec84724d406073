package metering

import (
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// The marketplace answers in Chinese: a refusal's message cut at 128
// bytes must end on a character, or the Metered condition and the Event
// quoting it hold invalid UTF-8 (U+FFFD once stored as JSON).
func TestRefusalSummaryKeepsUTF8(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("用量值异常", 20) // 15 bytes a repeat: 128 falls inside a character
	summary := RefusalSummary([]koogallery.UsageRecordError{{MeteringSN: "a", ResultCode: "003", ResultMsg: long}})
	g.Expect(utf8.ValidString(summary)).To(BeTrue(), "%q", summary)
	quoted := strings.TrimSuffix(strings.TrimPrefix(summary, "The marketplace refused 1 usage record(s), which are not retried: 003 ×1 ("), ")")
	g.Expect(long).To(HavePrefix(quoted))
	g.Expect(len(quoted)).To(And(BeNumerically("<=", 128), BeNumerically(">", 128-utf8.UTFMax)))
}
