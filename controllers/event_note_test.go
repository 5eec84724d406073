package controllers

import (
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestCutNoteKeepsEventNotesWithinTheAPIServersLimit(t *testing.T) {
	chinese := strings.Repeat("中", 400) // 3 bytes each: 1200 bytes
	for _, tc := range []struct {
		name, note, want string
	}{
		{name: "short ASCII is kept", note: "Applied SaaSProduct crm", want: "Applied SaaSProduct crm"},
		{name: "exactly 1024 bytes is kept", note: strings.Repeat("a", 1024), want: strings.Repeat("a", 1024)},
		{name: "exactly 1024 bytes of mixed text is kept", note: "a" + strings.Repeat("中", 341), want: "a" + strings.Repeat("中", 341)},
		// 1021 bytes of text and the 3-byte marker make 1024.
		{name: "long ASCII is cut before the marker", note: strings.Repeat("a", 1025), want: strings.Repeat("a", 1021) + "…"},
		// 1021 bytes would end inside the 341st character: it is left out
		// whole rather than split, so the note stays valid UTF-8.
		{name: "Chinese cut mid-character backs off to the character", note: chinese, want: strings.Repeat("中", 340) + "…"},
		// Invalid bytes would each become a 3-byte U+FFFD in JSON and push
		// a note that looked short enough over the limit.
		{name: "invalid UTF-8 is counted as sent", note: strings.Repeat("a", 1000) + "\xff" + strings.Repeat("b", 22),
			want: strings.Repeat("a", 1000) + "\uFFFD" + strings.Repeat("b", 18) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got := cutNote(tc.note, maxEventNote)
			g.Expect(got).To(Equal(tc.want))
			g.Expect(len(got)).To(BeNumerically("<=", maxEventNote))
			g.Expect(utf8.ValidString(got)).To(BeTrue())
		})
	}
}

// noteCapture records what a recorder was last asked to record.
type noteCapture struct {
	note        string
	args        []any
	annotations map[string]string
}

func (c *noteCapture) Eventf(_, _ runtime.Object, _, _, _, note string, args ...any) {
	c.note, c.args, c.annotations = note, args, nil
}

func (c *noteCapture) AnnotatedEventf(_, _ runtime.Object, annotations map[string]string, _, _, _, note string, args ...any) {
	c.note, c.args, c.annotations = note, args, annotations
}

func TestBoundedRecorderFormatsAndCutsTheNote(t *testing.T) {
	g := NewWithT(t)
	inner := &noteCapture{}
	rec := BoundedRecorder(inner)
	obj := &corev1.ConfigMap{}

	// The arguments are formatted here; what is passed on is the finished
	// note, as one %s argument, so a % in outside text is not read again
	// as a verb.
	rec.Eventf(obj, nil, corev1.EventTypeWarning, InvalidProductReason, "Apply", "Not applied: %s (%d)", "quota 100%", 3)
	g.Expect(inner.note).To(Equal("%s"))
	g.Expect(inner.args).To(Equal([]any{"Not applied: quota 100% (3)"}))

	rec.Eventf(obj, nil, corev1.EventTypeWarning, InvalidProductReason, "Apply", "Not applied: %s", strings.Repeat("x", 5000))
	g.Expect(inner.args).To(HaveLen(1))
	g.Expect(inner.args[0]).To(HaveLen(maxEventNote))
	g.Expect(inner.args[0]).To(And(HavePrefix("Not applied: xxx"), HaveSuffix("x…")))

	// Annotations pass through untouched; the note is bounded the same way.
	rec.AnnotatedEventf(obj, nil, map[string]string{"k": "v"}, corev1.EventTypeNormal, ProductsAppliedReason, "Apply", "%s", strings.Repeat("中", 400))
	g.Expect(inner.annotations).To(Equal(map[string]string{"k": "v"}))
	g.Expect(inner.note).To(Equal("%s"))
	g.Expect(inner.args).To(Equal([]any{strings.Repeat("中", 340) + "…"}))
}
